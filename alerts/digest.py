"""The optional daily digest per endpoint: one signed message summarising yesterday's alerts."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa

from alerts.notifiers import post_signed
from alerts.settings import WebhookEndpointSettings
from alerts.store.outbox import AttemptResult
from alerts.store.repository import AlertStore
from alerts.store.tables import Alert, Digest


def digest_body(endpoint: str, day: str, alerts: list[Alert], event_id: str) -> bytes:
    return json.dumps({
        "type": "tickerpulse.digest",
        "schema_version": 1,
        "event_id": event_id,
        "endpoint": endpoint,
        "day": day,
        "total": len(alerts),
        "by_severity": dict(Counter(a.severity for a in alerts)),
        "by_ticker": dict(Counter(a.ticker for a in alerts)),
        "failed_deliveries": sum(1 for a in alerts if a.delivery_status == "failed"),
        "alerts": [{"event_id": a.event_id, "ticker": a.ticker, "rule": a.rule,
                    "severity": a.severity, "status": a.status,
                    "decided_at": a.decided_at.isoformat(),
                    "delivery_status": a.delivery_status} for a in alerts],
    }, sort_keys=True).encode()


async def send_digest(
    store: AlertStore,
    endpoint: WebhookEndpointSettings,
    client: httpx.AsyncClient,
    now: datetime,
) -> AttemptResult | None:
    """Send the digest of the previous UTC day once; None when it was sent already."""
    day_start = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day = day_start.date().isoformat()
    event_id = "dig_" + hashlib.sha256(f"{endpoint.name}:{day}".encode()).hexdigest()[:28]
    with store.session() as s:
        if s.scalar(sa.select(Digest.id).where(Digest.event_id == event_id)) is not None:
            return None
        alerts = list(s.scalars(sa.select(Alert).where(
            Alert.decided_at >= day_start, Alert.decided_at < day_start + timedelta(days=1)
        ).order_by(Alert.id)))
    body = digest_body(endpoint.name, day, alerts, event_id)
    result = await post_signed(client, endpoint.url, endpoint.signing_secrets(),
                               event_id, body, endpoint.timeout_s)
    if result.outcome == "ok":
        with store.session.begin() as s:
            s.add(Digest(endpoint=endpoint.name, day=day, event_id=event_id, status="delivered",
                         http_status=result.http_status, sent_at=now, alerts_count=len(alerts)))
    return result
