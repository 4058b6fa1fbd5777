"""AlertStore: alert history, decision state, silences, rules versions, snapshots, leases.

Every write that belongs to one decision (the new state of a ticker, its alerts and their
outbox rows) happens in one transaction, so a crash leaves either all of it or none.

Decision writes are optimistic: a state is written only if its row still has the version it
was read at (``UPDATE ... WHERE ticker = ? AND version = ?``; a first write is an INSERT that
the primary key refuses when another writer was first). Otherwise the whole transaction is
rolled back and :class:`StateConflict` raised; the caller reloads and decides again. Two
workers that both hold a ticker for a moment (a rebalance) therefore never both advance it
from the same state, so a notification sequence number is never used twice.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from alerts.decision import Notification, Silence, TickerState
from alerts.errors import AlertsError, NotFoundError
from alerts.rules import RuleSet
from alerts.store.codec import dump_state, load_state
from alerts.store.dbclock import db_after, db_now
from alerts.store.migrate import ensure_sqlite_dir, upgrade
from alerts.store.tables import (
    Alert,
    Delivery,
    DeliveryAttempt,
    RiskSnapshot,
    RuleStateRow,
    RulesVersion,
    SchedulerLease,
    SilenceRow,
)
from streams.contracts import RiskUpdate


@dataclass(frozen=True)
class Decided:
    """A notification ready to store: its payload bytes (None for muted ones)."""

    note: Notification
    payload: str
    rules_version: str


class StateConflict(AlertsError):
    """Another writer changed a ticker's state since it was read: reload and decide again."""

    def __init__(self, ticker: str, version: int) -> None:
        super().__init__(f"state of {ticker} changed since version {version}")
        self.ticker, self.version = ticker, version


def pending_timers(state: TickerState) -> bool:
    """Some rule is pending or firing: its timers (`for`, cooldown, repeat, expiring silence)
    must run even without new input."""
    return any(r.phase != "inactive" for r in state.rules.values())


def _rowcount(s: Session, statement: sa.Executable) -> int:
    """Rows matched by an UPDATE or DELETE."""
    return int(s.execute(statement).rowcount)  # type: ignore[attr-defined]


def make_engine(url: str) -> sa.Engine:
    ensure_sqlite_dir(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class AlertStore:
    def __init__(self, url: str, *, migrate: bool = False) -> None:
        if migrate:
            upgrade(url)
        self.url = url
        self.engine = make_engine(url)
        self.session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # ---- rules versions ------------------------------------------------------------------

    def record_rules_version(self, rules: RuleSet, now: datetime) -> None:
        with self.session.begin() as s:
            s.execute(sa.update(RulesVersion).values(in_force=False))
            row = s.scalar(sa.select(RulesVersion).where(RulesVersion.version == rules.version))
            if row is None:
                s.add(RulesVersion(version=rules.version, source=rules.source, text=rules.text,
                                   loaded_at=now, in_force=True))
            else:
                row.in_force, row.loaded_at = True, now

    def rules_in_force(self) -> RulesVersion | None:
        with self.session() as s:
            return s.scalar(sa.select(RulesVersion).where(RulesVersion.in_force.is_(True)))

    # ---- decisions ----------------------------------------------------------------------

    def load_states(self, tickers: Iterable[str]) -> dict[str, TickerState]:
        """Each ticker's stored state with the row version it was read at (0: no row)."""
        names = sorted({t.upper() for t in tickers})
        with self.session() as s:
            rows = s.execute(sa.select(RuleStateRow.ticker, RuleStateRow.state,
                                       RuleStateRow.version)
                             .where(RuleStateRow.ticker.in_(names))).all()
            found = {r.ticker: (r.state, r.version) for r in rows}
        return {t: load_state(t, *found.get(t, (None, 0))) for t in names}

    def tickers_with_timers(
        self, partitions: Mapping[str, Collection[int]] | None = None
    ) -> list[str]:
        """Tickers whose state has pending timers, limited to those last fed from one of
        ``partitions`` (topic -> partition numbers) and those whose partition is unknown;
        None: every such ticker."""
        q = sa.select(RuleStateRow.ticker).where(RuleStateRow.pending_timers.is_(True))
        if partitions is not None:
            owned = [sa.and_(RuleStateRow.kafka_topic == topic,
                             RuleStateRow.kafka_partition.in_(sorted(numbers)))
                     for topic, numbers in partitions.items() if numbers]
            q = q.where(sa.or_(RuleStateRow.kafka_partition.is_(None), *owned))
        with self.session() as s:
            return sorted(s.scalars(q.order_by(RuleStateRow.ticker)))

    def commit_decisions(
        self,
        states: Mapping[str, TickerState],
        decided: Sequence[Decided],
        channels: Sequence[str],
        now: datetime,
        deadline: timedelta,
        sources: Mapping[str, tuple[str, int]] | None = None,
    ) -> list[str]:
        """Store states, alerts and their outbox rows atomically; returns new event ids.

        Each state is written only if its row is still at ``state.version`` (else
        :class:`StateConflict`, nothing written). ``sources`` (ticker -> risk topic and
        partition of the input just applied) keeps each row findable by partition owner.
        """
        new_ids: list[str] = []
        with self.session.begin() as s:
            for ticker, state in states.items():
                self._write_state(s, ticker, state, now, (sources or {}).get(ticker))
            for item in decided:
                if self._insert_alert(s, item, channels, now, deadline):
                    new_ids.append(item.note.event_id)
        return new_ids

    @staticmethod
    def _write_state(
        s: Session, ticker: str, state: TickerState, now: datetime,
        source: tuple[str, int] | None,
    ) -> None:
        values: dict[str, object] = {"state": dump_state(state), "updated_at": now,
                                     "pending_timers": pending_timers(state),
                                     "version": state.version + 1}
        if source is not None:
            values["kafka_topic"], values["kafka_partition"] = source
        if state.version == 0:
            try:
                with s.begin_nested():
                    s.execute(sa.insert(RuleStateRow).values(ticker=ticker, **values))
            except sa.exc.IntegrityError:
                raise StateConflict(ticker, state.version) from None
            return
        matched = _rowcount(s, sa.update(RuleStateRow)
                            .where(RuleStateRow.ticker == ticker,
                                   RuleStateRow.version == state.version)
                            .values(**values))
        if matched != 1:
            raise StateConflict(ticker, state.version)

    def _insert_alert(
        self, s: Session, item: Decided, channels: Sequence[str], now: datetime, deadline: timedelta
    ) -> bool:
        n = item.note
        if s.scalar(sa.select(Alert.id).where(Alert.event_id == n.event_id)) is not None:
            return False  # replayed decision: the idempotency key says it is stored already
        muted = n.muted_by is not None
        status = "muted" if muted else ("pending" if channels else "none")
        alert = Alert(event_id=n.event_id, fingerprint=n.fingerprint, rule=n.rule, family=n.family,
                      ticker=n.ticker, severity=n.severity, status=n.status, repeat=n.repeat,
                      muted_by=n.muted_by, value=n.value, started_at=n.started_at,
                      decided_at=n.decided_at, rules_version=item.rules_version,
                      payload=item.payload, delivery_status=status)
        s.add(alert)
        s.flush()
        if not muted:
            for channel in channels:
                s.add(Delivery(alert_id=alert.id, event_id=n.event_id, channel=channel,
                               ticker=n.ticker, status="pending", attempts=0, created_at=now,
                               next_attempt_at=now, deadline_at=now + deadline))
        return True

    # ---- reading history ------------------------------------------------------------------

    def list_alerts(
        self,
        *,
        ticker: str | None = None,
        delivery_status: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        q = sa.select(Alert).order_by(Alert.id.desc()).limit(limit)
        if ticker:
            q = q.where(Alert.ticker == ticker.upper())
        if delivery_status:
            q = q.where(Alert.delivery_status == delivery_status)
        if status:
            q = q.where(Alert.status == status)
        with self.session() as s:
            return list(s.scalars(q))

    def get_alert(self, event_id: str) -> tuple[Alert, list[Delivery], list[DeliveryAttempt]]:
        with self.session() as s:
            alert = s.scalar(sa.select(Alert).where(Alert.event_id == event_id))
            if alert is None:
                raise NotFoundError(f"no alert {event_id!r}")
            deliveries = list(s.scalars(sa.select(Delivery).where(Delivery.alert_id == alert.id)
                                        .order_by(Delivery.id)))
            attempts = list(s.scalars(sa.select(DeliveryAttempt)
                                      .where(DeliveryAttempt.event_id == event_id)
                                      .order_by(DeliveryAttempt.id)))
        return alert, deliveries, attempts

    def attempts(self, event_id: str | None = None) -> list[DeliveryAttempt]:
        q = sa.select(DeliveryAttempt).order_by(DeliveryAttempt.id)
        if event_id:
            q = q.where(DeliveryAttempt.event_id == event_id)
        with self.session() as s:
            return list(s.scalars(q))

    # ---- silences -------------------------------------------------------------------------

    def add_silence(
        self, *, ticker: str | None, rule: str | None, starts_at: datetime, expires_at: datetime,
        comment: str = "", created_by: str = "", now: datetime,
    ) -> SilenceRow:
        if ticker is None and rule is None:
            raise ValueError("a silence needs a ticker, a rule or both")
        if expires_at < starts_at:
            raise ValueError("a silence must not expire before it starts")
        row = SilenceRow(ticker=ticker.upper() if ticker else None, rule=rule, comment=comment,
                         created_by=created_by, created_at=now, starts_at=starts_at,
                         expires_at=expires_at)
        with self.session.begin() as s:
            s.add(row)
        return row

    def list_silences(self, now: datetime, *, include_expired: bool = False) -> list[SilenceRow]:
        q = sa.select(SilenceRow).order_by(SilenceRow.id)
        if not include_expired:
            q = q.where(SilenceRow.expires_at > now)
        with self.session() as s:
            return list(s.scalars(q))

    def expire_silence(self, silence_id: int, now: datetime) -> SilenceRow:
        with self.session.begin() as s:
            row = s.get(SilenceRow, silence_id)
            if row is None:
                raise NotFoundError(f"no silence {silence_id}")
            if row.expires_at > now:
                row.expires_at = max(now, row.starts_at + timedelta(microseconds=1))
            return row

    def active_silences(self, now: datetime) -> list[Silence]:
        return [Silence(id=r.id, ticker=r.ticker, rule=r.rule, starts_at=r.starts_at,
                        expires_at=r.expires_at) for r in self.list_silences(now)]

    # ---- snapshots, retention, leases -------------------------------------------------------

    def add_snapshots(self, updates: Iterable[RiskUpdate], now: datetime) -> int:
        rows = [RiskSnapshot(ticker=u.ticker.upper(), taken_at=now, as_of=u.as_of, score=u.score,
                             buzz_z=u.buzz_z, components=json.dumps(u.components),
                             sentiment=json.dumps(u.sentiment),
                             negative_mentions=json.dumps(u.negative_mentions),
                             model_version=u.model_version) for u in updates]
        with self.session.begin() as s:
            s.add_all(rows)
        return len(rows)

    def snapshots(self, ticker: str, since: datetime | None = None) -> list[RiskSnapshot]:
        q = sa.select(RiskSnapshot).where(RiskSnapshot.ticker == ticker.upper())
        if since is not None:
            q = q.where(RiskSnapshot.taken_at >= since)
        with self.session() as s:
            return list(s.scalars(q.order_by(RiskSnapshot.taken_at)))

    def purge(self, before: datetime) -> dict[str, int]:
        """Delete history older than ``before``; alerts with pending deliveries are kept."""
        with self.session.begin() as s:
            pending = sa.select(Delivery.alert_id).where(Delivery.status == "pending")
            old = sa.select(Alert.id).where(Alert.decided_at < before, Alert.id.not_in(pending))
            old_ids = list(s.scalars(old))
            attempts = _rowcount(s, sa.delete(DeliveryAttempt).where(
                DeliveryAttempt.delivery_id.in_(
                    sa.select(Delivery.id).where(Delivery.alert_id.in_(old_ids)))))
            s.execute(sa.delete(Delivery).where(Delivery.alert_id.in_(old_ids)))
            alerts = _rowcount(s, sa.delete(Alert).where(Alert.id.in_(old_ids)))
            snaps = _rowcount(s, sa.delete(RiskSnapshot).where(RiskSnapshot.taken_at < before))
            silences = _rowcount(s, sa.delete(SilenceRow).where(SilenceRow.expires_at < before))
        return {"alerts": alerts, "attempts": attempts, "snapshots": snaps, "silences": silences}

    def try_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take or renew the named lease; True when ``holder`` holds it for ``ttl`` from now.

        Expiry is written and compared on the database's clock, never the worker's.
        """
        seconds = ttl.total_seconds()
        with self.session.begin() as s:
            taken = _rowcount(s,
                sa.update(SchedulerLease)
                .where(SchedulerLease.name == name)
                .where(sa.or_(SchedulerLease.holder == holder,
                              SchedulerLease.expires_at < db_now()))
                .values(holder=holder, expires_at=db_after(seconds))
            )
            if taken == 1:
                return True
            if s.scalar(sa.select(SchedulerLease.name).where(SchedulerLease.name == name)):
                return False
            try:
                with s.begin_nested():
                    s.execute(sa.insert(SchedulerLease).values(name=name, holder=holder,
                                                               expires_at=db_after(seconds)))
                return True
            except sa.exc.IntegrityError:
                return False
