"""SQL tables of the alert history and the delivery outbox (schema changes go via Alembic)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from streams.contracts import MAX_DOC_ID_LENGTH, MAX_MODEL_VERSION_LENGTH


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite returns naive ones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the alert store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class RulesVersion(Base):
    __tablename__ = "rules_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(32), unique=True)
    source: Mapped[str] = mapped_column(sa.String(1024))
    text: Mapped[str] = mapped_column(sa.Text)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    in_force: Mapped[bool] = mapped_column(default=False)


class Alert(Base):
    """One decided notification; ``id`` orders alerts in firing order."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(32), index=True)
    rule: Mapped[str] = mapped_column(sa.String(64))
    family: Mapped[str] = mapped_column(sa.String(64))
    ticker: Mapped[str] = mapped_column(sa.String(32), index=True)
    severity: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    repeat: Mapped[bool] = mapped_column(default=False)
    muted_by: Mapped[str | None] = mapped_column(sa.String(64))
    value: Mapped[float]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    rules_version: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[str] = mapped_column(sa.Text)
    delivery_status: Mapped[str] = mapped_column(sa.String(16), index=True)


class Delivery(Base):
    """The outbox: one row per alert and channel (``webhook:<endpoint>`` or ``kafka``)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "channel", name="uq_deliveries_event_channel"),
        sa.Index("ix_deliveries_queue", "status", "channel", "ticker", "alert_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alerts.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(sa.String(64))
    channel: Mapped[str] = mapped_column(sa.String(80))
    ticker: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    # fencing token: incremented by every claim; only the current token may record a result
    claim_token: Mapped[int] = mapped_column(default=0, server_default="0")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    channel: Mapped[str] = mapped_column(sa.String(80))
    attempt: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    latency_ms: Mapped[float]
    outcome: Mapped[str] = mapped_column(sa.String(16))  # ok | retryable | fatal
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.Text)


class SilenceRow(Base):
    __tablename__ = "silences"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticker: Mapped[str | None] = mapped_column(sa.String(32))
    rule: Mapped[str | None] = mapped_column(sa.String(64))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_by: Mapped[str] = mapped_column(sa.String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RuleStateRow(Base):
    """The decision state of one ticker, written in the same transaction as its alerts.

    ``version`` is the optimistic-concurrency check (every write is ``WHERE version = read
    version``); ``kafka_topic``/``kafka_partition`` name the ``risk`` partition the ticker's
    last input came from, so a worker assigned that partition finds the tickers whose timers
    (``pending_timers``: some rule pending or firing) it must run without new input.
    """

    __tablename__ = "rule_states"
    __table_args__ = (
        sa.Index("ix_rule_states_timers", "pending_timers", "kafka_topic", "kafka_partition"),
    )
    ticker: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    state: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=0, server_default="0")
    kafka_topic: Mapped[str | None] = mapped_column(sa.String(255))
    kafka_partition: Mapped[int | None]
    pending_timers: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class RiskSnapshot(Base):
    __tablename__ = "risk_snapshots"
    __table_args__ = (sa.Index("ix_risk_snapshots_ticker_taken", "ticker", "taken_at"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticker: Mapped[str] = mapped_column(sa.String(32))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    score: Mapped[float]
    buzz_z: Mapped[float]
    components: Mapped[str] = mapped_column(sa.Text)
    sentiment: Mapped[str] = mapped_column(sa.Text)
    negative_mentions: Mapped[str] = mapped_column(sa.Text)
    model_version: Mapped[str] = mapped_column(sa.String(128))


class SchedulerLease(Base):
    __tablename__ = "scheduler_leases"
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Digest(Base):
    __tablename__ = "digests"
    __table_args__ = (sa.UniqueConstraint("endpoint", "day", name="uq_digests_endpoint_day"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(sa.String(64))
    day: Mapped[str] = mapped_column(sa.String(10))
    event_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    http_status: Mapped[int | None]
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    alerts_count: Mapped[int]


class ApiToken(Base):
    """A dashboard API bearer token: only its SHA-256 is stored (see tokens.py)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))  # read | admin
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReviewItem(Base):
    """A text in the review queue (see docs/review.md); ``labelled_at`` is set once any
    label is recorded: labelled items are never evicted."""

    __tablename__ = "review_items"
    __table_args__ = (
        sa.Index("ix_review_items_queue", "labelled_at", "exported_at", "priority"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    doc_id: Mapped[str] = mapped_column(sa.String(MAX_DOC_ID_LENGTH), unique=True)
    text_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(128))
    text: Mapped[str] = mapped_column(sa.Text)
    model_version: Mapped[str] = mapped_column(sa.String(MAX_MODEL_VERSION_LENGTH))
    predicted: Mapped[str] = mapped_column(sa.String(16))
    confidence: Mapped[float]
    probabilities: Mapped[str] = mapped_column(sa.Text)  # JSON object
    reasons: Mapped[str] = mapped_column(sa.String(255))  # ";"-separated
    priority: Mapped[float]
    entities: Mapped[str] = mapped_column(sa.Text)  # JSON list of ReviewTarget
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    labelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


MAX_ENTITY_LENGTH = 256  # of a labelled entity (the import refuses a longer one)


class ReviewLabel(Base):
    """A human label of a review item: of the document (``entity`` "") or of one entity."""

    __tablename__ = "review_labels"
    __table_args__ = (sa.UniqueConstraint("item_id", "entity", name="uq_review_labels_entity"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("review_items.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(sa.String(MAX_ENTITY_LENGTH), default="")
    label: Mapped[str] = mapped_column(sa.String(16))
    labelled_by: Mapped[str] = mapped_column(sa.String(128))
    labelled_at: Mapped[datetime] = mapped_column(UTCDateTime)
