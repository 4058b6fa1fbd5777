"""Outbox queue operations: claim the due head of each (channel, ticker) queue, record attempts.

Ordering: a delivery is only offered when no older pending delivery exists for the same
channel and ticker, so alerts reach each receiver in firing order per ticker. Claiming is a
conditional UPDATE, so two workers never send the same delivery at the same time.

Claims expire on the database's clock (``claimed_until`` is written and compared as
``now() + claim_s`` on the server, never a worker's clock), and every claim and every release
(a recorded result) increments the row's ``claim_token``: a fencing token. A worker whose
claim expired (a stalled process, a receiver slower than ``claim_s``) may still finish its
attempt, but :meth:`OutboxQueue.record` only stores a result for the current token; a stale
holder's result is dropped and logged, so it can neither overwrite the new holder's outcome
nor release the new holder's claim.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, sessionmaker

from alerts.store.dbclock import db_after, db_now
from alerts.store.tables import Alert, Delivery, DeliveryAttempt

log = logging.getLogger(__name__)


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
    token: int = 0  # the claim's fencing token; only its holder may record the result


AttemptOutcome = Literal["ok", "retryable", "fatal"]
"""How one delivery attempt ended: delivered; failed but worth retrying; failed for good."""


@dataclass(frozen=True)
class AttemptResult:
    outcome: AttemptOutcome
    latency_ms: float
    http_status: int | None = None
    error: str | None = None


class OutboxQueue:
    def __init__(self, session: sessionmaker[Session]) -> None:
        self.session = session

    def claim_heads(
        self, now: datetime, holder: str, claim_for: timedelta, limit: int = 100
    ) -> list[Claimed]:
        """Claim the due head of every (channel, ticker) queue for ``claim_for``.

        ``now`` (the worker's clock) only decides which retries are due; whether an earlier
        claim has expired is decided on the database's clock.
        """
        earlier = aliased(Delivery)
        older_pending = (
            sa.select(earlier.id)
            .where(earlier.channel == Delivery.channel, earlier.ticker == Delivery.ticker,
                   earlier.status == "pending", earlier.alert_id < Delivery.alert_id)
            .exists()
        )
        free = sa.or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < db_now())
        q = (
            sa.select(Delivery.id)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now, free,
                   ~older_pending)
            .order_by(Delivery.alert_id)
            .limit(limit)
        )
        seconds = claim_for.total_seconds()
        claimed: list[Claimed] = []
        with self.session.begin() as s:
            for delivery_id in list(s.scalars(q)):
                taken = s.execute(
                    sa.update(Delivery)
                    .where(Delivery.id == delivery_id, Delivery.status == "pending", free)
                    .values(claimed_until=db_after(seconds), claimed_by=holder,
                            claim_token=Delivery.claim_token + 1)
                ).rowcount  # type: ignore[attr-defined]
                if taken != 1:
                    continue
                d = s.execute(
                    sa.select(Delivery.id, Delivery.event_id, Delivery.channel, Delivery.ticker,
                              Delivery.attempts, Delivery.created_at, Delivery.deadline_at,
                              Delivery.claim_token, Alert.payload)
                    .join(Alert, Alert.id == Delivery.alert_id)
                    .where(Delivery.id == delivery_id)
                ).one()
                claimed.append(Claimed(d.id, d.event_id, d.channel, d.ticker, d.attempts + 1,
                                       d.created_at, d.deadline_at, d.payload or "",
                                       d.claim_token))
        return claimed

    def record(
        self, item: Claimed, result: AttemptResult, now: datetime, next_at: datetime | None
    ) -> str:
        """Store one attempt; ``next_at`` None means no retry. Returns the delivery's status,
        or ``"stale"`` when ``item``'s claim is no longer the current one (nothing stored)."""
        if result.outcome == "ok":
            status = "delivered"
        elif result.outcome == "retryable" and next_at is not None:
            status = "pending"
        else:
            status = "failed"
        values: dict[str, object] = {"attempts": item.attempt, "status": status,
                                     "claimed_until": None, "claimed_by": None,
                                     "last_error": result.error,
                                     "claim_token": Delivery.claim_token + 1}  # released
        if status == "delivered":
            values["delivered_at"] = now
        if status == "pending" and next_at is not None:
            values["next_attempt_at"] = next_at
        with self.session.begin() as s:
            # the alert row is locked first: results of its channels recorded at the same time
            # roll up one after the other (each sees the others' statuses), never both "pending"
            alert_id = int(s.scalar(sa.select(Delivery.alert_id)
                                    .where(Delivery.id == item.delivery_id)) or 0)
            s.execute(sa.select(Alert.id).where(Alert.id == alert_id).with_for_update())
            current = s.execute(
                sa.update(Delivery)
                .where(Delivery.id == item.delivery_id, Delivery.claim_token == item.token,
                       Delivery.status == "pending")
                .values(**values)
            ).rowcount  # type: ignore[attr-defined]
            if current != 1:
                log.warning("%s %s attempt %d (%s) not recorded: claim token %d is no longer "
                            "current (the claim expired and was retaken)", item.channel,
                            item.event_id, item.attempt, result.outcome, item.token)
                return "stale"
            s.add(DeliveryAttempt(delivery_id=item.delivery_id, event_id=item.event_id,
                                  channel=item.channel, attempt=item.attempt, started_at=now,
                                  latency_ms=result.latency_ms, outcome=result.outcome,
                                  http_status=result.http_status, error=result.error))
            s.flush()
            self._roll_up(s, alert_id)
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

    def backlog(self) -> tuple[int, datetime | None]:
        """Pending deliveries (due or backing off) and when the oldest was created."""
        q = sa.select(sa.func.count(), sa.func.min(Delivery.created_at)).where(
            Delivery.status == "pending")
        with self.session() as s:
            count, oldest = s.execute(q).one()
        return int(count or 0), oldest
