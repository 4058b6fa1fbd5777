"""The alert payload (versioned) sent to webhooks and the Kafka ``alerts`` topic.

``schema_version`` changes only with incompatible changes; the JSON Schema is exported to
``alerts/schemas/alert.v1.schema.json`` by :func:`export_schema` (kept in sync by a test).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.decision import Notification
from alerts.rules import Rule, parse_duration
from streams.contracts import RiskUpdate

PAYLOAD_VERSION: Literal[1] = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / f"alert.v{PAYLOAD_VERSION}.schema.json"


class _P(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleRef(_P):
    name: str = Field(description="Rule name from the rules file.")
    family: str = Field(description="Inhibition family (defaults to the name).")
    description: str = ""
    metric: str = Field(description="score, sentiment, sentiment_change, buzz_z, ...")
    direction: Literal["above", "below"]
    enter: float
    exit: float
    horizon: str | None = None
    value: float = Field(description="The metric's value when this was decided.")


class Risk(_P):
    score: float = Field(ge=0, le=100, description="Risk 0-100.")
    components: dict[str, float]
    sentiment: dict[str, float] = Field(description="Decayed sentiment per horizon, -1..1.")
    volume: dict[str, float]
    buzz_z: float
    negative_mentions: dict[str, float]
    as_of: AwareDatetime


class Window(_P):
    horizon: str | None = Field(description="The horizon the rule looks at, if any.")
    start: AwareDatetime
    end: AwareDatetime


class TopDocument(_P):
    id: str
    source: str
    kind: str
    excerpt: str = Field(description="Headline or text excerpt.")
    sentiment: str
    weight: float
    url: str | None = None


class AlertPayload(_P):
    """One notification: firing or resolved."""

    type: Literal["tickerpulse.alert"] = "tickerpulse.alert"
    timestamp: AwareDatetime = Field(description="When the alert was decided (Standard Webhooks "
                                                 "payload convention; equals decided_at).")
    schema_version: Literal[1] = PAYLOAD_VERSION
    event_id: str = Field(description="Idempotency key: equals webhook-id and the Kafka header.")
    fingerprint: str = Field(description="Stable per rule + ticker.")
    ticker: str
    rule: RuleRef
    severity: Literal["info", "warning", "critical"]
    status: Literal["firing", "resolved"]
    repeat: bool = Field(description="A reminder of an alert that is still firing.")
    started_at: AwareDatetime
    decided_at: AwareDatetime
    risk: Risk
    window: Window
    top_documents: list[TopDocument]
    model_version: str
    rules_version: str
    dashboard_url: str

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


def build_payload(
    note: Notification,
    rule: Rule,
    update: RiskUpdate,
    *,
    rules_version: str,
    public_url: str,
    max_documents: int = 5,
) -> AlertPayload:
    c = rule.condition
    span = parse_duration(c.horizon) if c.horizon else None
    end = update.as_of
    start = end - (span or timedelta(0)) if span else min(note.started_at, end)
    docs = sorted(update.top_documents, key=lambda d: abs(d.weight), reverse=True)
    return AlertPayload(
        timestamp=note.decided_at,
        event_id=note.event_id,
        fingerprint=note.fingerprint,
        ticker=note.ticker,
        rule=RuleRef(name=rule.name, family=rule.group, description=rule.description,
                     metric=c.metric, direction=c.direction, enter=c.enter, exit=c.exit,
                     horizon=c.horizon, value=note.value),
        severity=rule.severity,
        status=note.status,
        repeat=note.repeat,
        started_at=note.started_at,
        decided_at=note.decided_at,
        risk=Risk(score=update.score, components=dict(update.components),
                  sentiment=dict(update.sentiment), volume=dict(update.volume),
                  buzz_z=update.buzz_z, negative_mentions=dict(update.negative_mentions),
                  as_of=update.as_of),
        window=Window(horizon=c.horizon, start=start, end=end),
        top_documents=[TopDocument(id=d.doc_id, source=d.source, kind=d.kind, excerpt=d.excerpt,
                                   sentiment=d.sentiment, weight=d.weight, url=d.url)
                       for d in docs[:max_documents]],
        model_version=update.model_version,
        rules_version=rules_version,
        dashboard_url=f"{public_url.rstrip('/')}/tickers/{note.ticker}",
    )


def sample_payload(
    public_url: str = "http://127.0.0.1:8080", event: str = "evt_test"
) -> AlertPayload:
    """A realistic sample alert for `webhook send-test` and the README."""
    at = datetime.fromisoformat("2026-01-05T14:30:00+00:00")
    return AlertPayload(
        timestamp=at, event_id=event, fingerprint="0000000000000000", ticker="ACME",
        rule=RuleRef(name="send-test", family="send-test", description="A test alert.",
                     metric="score", direction="above", enter=70, exit=60, value=82.5),
        severity="warning", status="firing", repeat=False, started_at=at, decided_at=at,
        risk=Risk(score=82.5, components={"sentiment": 0.7, "buzz": 0.2, "negative_share": 0.1},
                  sentiment={"15m": -0.62, "1h": -0.48, "1d": -0.1}, volume={"1h": 42.0},
                  buzz_z=3.1, negative_mentions={"1h": 17.0}, as_of=at),
        window=Window(horizon=None, start=at, end=at),
        top_documents=[TopDocument(id="news:wire:1", source="wire", kind="news",
                                   excerpt="ACME misses earnings, cuts guidance",
                                   sentiment="negative", weight=0.41)],
        model_version="sample", rules_version="sample",
        dashboard_url=f"{public_url.rstrip('/')}/tickers/ACME",
    )


def export_schema(path: Path = SCHEMA_PATH) -> Path:
    schema = AlertPayload.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://tickerpulse.dev/schemas/alert.v{PAYLOAD_VERSION}.schema.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
