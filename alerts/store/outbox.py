"""Outbox queue operations: claim the due head of each (channel, ticker) queue, record attempts.

Ordering: a delivery is only offered when no older pending delivery exists for the same
channel and ticker, so alerts reach each receiver in firing order per ticker. Claiming is a
conditional UPDATE, so two workers never send the same delivery at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, sessionmaker

from alerts.store.tables import Alert, Delivery, DeliveryAttempt


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    event_id: str
    channel: str
    ticker: str
    attempt: int  # 1-based number of the attempt about to be made
    created_at: datetime
    deadline_at: datetime
    payload: str


@dataclass(frozen=True)
class AttemptResult:
    outcome: str  # ok | retryable | fatal
    latency_ms: float
    http_status: int | None = None
    error: str | None = None


class OutboxQueue:
    def __init__(self, session: sessionmaker[Session]) -> None:
        self.session = session

    def claim_heads(
        self, now: datetime, holder: str, claim_for: timedelta, limit: int = 100
    ) -> list[Claimed]:
        earlier = aliased(Delivery)
        older_pending = (
            sa.select(earlier.id)
            .where(earlier.channel == Delivery.channel, earlier.ticker == Delivery.ticker,
                   earlier.status == "pending", earlier.alert_id < Delivery.alert_id)
            .exists()
        )
        q = (
            sa.select(Delivery.id)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now,
                   sa.or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
                   ~older_pending)
            .order_by(Delivery.alert_id)
            .limit(limit)
        )
        claimed: list[Claimed] = []
        with self.session.begin() as s:
            for delivery_id in list(s.scalars(q)):
                taken = s.execute(
                    sa.update(Delivery)
                    .where(Delivery.id == delivery_id, Delivery.status == "pending",
                           sa.or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now))
                    .values(claimed_until=now + claim_for, claimed_by=holder)
                ).rowcount  # type: ignore[attr-defined]
                if taken != 1:
                    continue
                d = s.get_one(Delivery, delivery_id)
                payload = s.scalar(sa.select(Alert.payload).where(Alert.id == d.alert_id)) or ""
                claimed.append(Claimed(d.id, d.event_id, d.channel, d.ticker, d.attempts + 1,
                                       d.created_at, d.deadline_at, payload))
        return claimed

    def record(
        self, item: Claimed, result: AttemptResult, now: datetime, next_at: datetime | None
    ) -> str:
        """Store one attempt; ``next_at`` None means no retry. Returns the delivery's status."""
        if result.outcome == "ok":
            status = "delivered"
        elif result.outcome == "retryable" and next_at is not None:
            status = "pending"
        else:
            status = "failed"
        with self.session.begin() as s:
            s.add(DeliveryAttempt(delivery_id=item.delivery_id, event_id=item.event_id,
                                  channel=item.channel, attempt=item.attempt, started_at=now,
                                  latency_ms=result.latency_ms, outcome=result.outcome,
                                  http_status=result.http_status, error=result.error))
            d = s.get_one(Delivery, item.delivery_id)
            d.attempts, d.status = item.attempt, status
            d.claimed_until, d.claimed_by = None, None
            d.last_error = result.error
            if status == "delivered":
                d.delivered_at = now
            if status == "pending" and next_at is not None:
                d.next_attempt_at = next_at
            s.flush()
            self._roll_up(s, d.alert_id)
        return status

    @staticmethod
    def _roll_up(s: Session, alert_id: int) -> None:
        statuses = set(s.scalars(sa.select(Delivery.status).where(Delivery.alert_id == alert_id)))
        if "failed" in statuses:
            overall = "failed"
        elif statuses == {"delivered"}:
            overall = "delivered"
        else:
            overall = "pending"
        s.execute(sa.update(Alert).where(Alert.id == alert_id).values(delivery_status=overall))

    def pending_count(self) -> int:
        with self.session() as s:
            q = sa.select(sa.func.count()).select_from(Delivery).where(Delivery.status == "pending")
            return int(s.scalar(q) or 0)
