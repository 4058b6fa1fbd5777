"""Scheduled jobs on SQLite and PostgreSQL: one leader at a time, snapshots, retention,
the daily digest, and the Alembic migrations themselves."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alerts.decision import Notification
from alerts.settings import AlertSettings
from alerts.signing import generate_secret
from alerts.store import migrate
from alerts.store.repository import AlertStore, Decided
from alerts.store.tables import Base
from streams.contracts import RiskUpdate
from support.alerts import Receiver
from tickerpulse.embedded import free_port
from tickerpulse.scheduler import LeaderJobs, build_scheduler

pytestmark = pytest.mark.integration
T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)




class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def risk(ticker: str, score: float) -> RiskUpdate:
    return RiskUpdate(ticker=ticker, as_of=T0, score=score, components={"s": 1.0},
                      sentiment={"1h": -0.25}, volume={"1h": 2.0}, buzz_z=0.5,
                      negative_mentions={"1h": 1.0}, mentions_total=2, model_version="m",
                      trigger_doc_id="d")


def note(ticker: str, seq: int, at: datetime) -> Notification:
    return Notification(event_id=f"evt_{ticker}_{seq}", fingerprint="f" * 16, rule="r",
                        family="r", severity="warning", ticker=ticker, status="firing",
                        value=80.0, started_at=at, decided_at=at)


def test_migrations_match_the_models_and_go_down(db_url: str) -> None:
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head() == "0004"
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)


def test_migration_0003_fills_versions_partitions_and_timers_of_existing_states(
    db_url: str,
) -> None:
    """States written before 0003 become version 1 (0 means "no row" to the writers), and a
    worker assigned their partition finds the pending ones."""
    from alerts.decision import RuleState, TickerState
    from alerts.store.codec import dump_state

    migrate.upgrade(db_url, "0002")
    pending = TickerState("OLDP", rules={"r": RuleState(phase="pending", since=T0, value=80.0)},
                          positions={"p.risk/3": 41})
    quiet = TickerState("OLDQ", rules={"r": RuleState()}, positions={"p.risk/1": 7})
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        for state in (pending, quiet):
            conn.execute(sa.text("INSERT INTO rule_states (ticker, state, updated_at) "
                                 "VALUES (:t, :s, :u)"),
                         {"t": state.ticker, "s": dump_state(state), "u": T0})
    engine.dispose()
    store = AlertStore(db_url, migrate=True)
    states = store.load_states(["OLDP", "OLDQ"])
    assert {t: s.version for t, s in states.items()} == {"OLDP": 1, "OLDQ": 1}
    assert states["OLDP"].rules == pending.rules
    assert store.tickers_with_timers({"p.risk": {3}}) == ["OLDP"]
    assert store.tickers_with_timers({"p.risk": {1, 2}}) == []
    store.close()


async def test_only_one_scheduler_acts_and_the_other_takes_over(db_url: str) -> None:
    """The lease runs on the database's clock: a follower whose own clock is an hour ahead
    still waits for the leader's lease to run out, and then takes over."""
    settings = AlertSettings(database_url=db_url, scheduler={"lease_s": 2})
    store = AlertStore(db_url, migrate=True)
    source = [risk("AAPL", 42.0), risk("MSFT", 7.5)]
    a = LeaderJobs(settings, store, None, lambda: source, clock=Clock(T0), holder="a")
    b = LeaderJobs(settings, store, None, lambda: source,
                   clock=Clock(T0 + timedelta(hours=1)), holder="b")
    for _ in range(3):
        await asyncio.gather(a.snapshots(), b.snapshots())
        await asyncio.sleep(0.2)
    assert a.runs.get("snapshots", 0) + b.runs.get("snapshots", 0) == 3
    assert {a.runs.get("snapshots", 0), b.runs.get("snapshots", 0)} == {0, 3}
    leader, follower = (a, b) if a.runs.get("snapshots") else (b, a)
    await follower.snapshots()
    assert "snapshots" not in follower.runs  # its clock says nothing: the lease holds
    await asyncio.sleep(2.5)  # the leader stopped renewing: its lease ran out
    await follower.snapshots()
    assert follower.runs["snapshots"] == 1
    await leader.snapshots()
    assert leader.runs["snapshots"] == 3  # the lease is now the follower's
    rows = store.snapshots("AAPL")
    assert [r.score for r in rows] == [42.0] * 4
    assert json.loads(rows[0].sentiment) == {"1h": -0.25}
    store.close()


async def test_retention_keeps_recent_and_pending(db_url: str) -> None:
    store = AlertStore(db_url, migrate=True)
    old, recent = T0 - timedelta(days=40), T0 - timedelta(days=1)
    for ticker, at, channels in [("OLD", old, []), ("NEW", recent, []), ("STUCK", old, ["x"])]:
        store.commit_decisions({}, [Decided(note(ticker, 1, at), "{}", "v")], channels, at,
                               timedelta(days=90))
    store.add_snapshots([risk("OLD", 1.0)], old)
    settings = AlertSettings(database_url=db_url, scheduler={"retention_days": 30})
    jobs = LeaderJobs(settings, store, None, None, clock=Clock(T0), holder="a")
    await jobs.retention()
    assert sorted(a.ticker for a in store.list_alerts()) == ["NEW", "STUCK"]
    assert store.snapshots("OLD") == []
    store.close()


async def test_daily_digest_once_per_endpoint_and_day(db_url: str) -> None:
    receiver = Receiver(generate_secret(), free_port()).start()
    store = AlertStore(db_url, migrate=True)
    try:
        yesterday = T0 - timedelta(days=1)
        store.commit_decisions({}, [Decided(note("AAPL", 1, yesterday), "{}", "v"),
                                    Decided(note("AAPL", 2, T0), "{}", "v")], [], yesterday,
                               timedelta(days=1))
        settings = AlertSettings(database_url=db_url, endpoints=[
            {"name": "ops", "url": receiver.url, "secret": receiver.secret, "digest": True}])
        jobs = LeaderJobs(settings, store, None, None, clock=Clock(T0), holder="a")
        await jobs.digests()
        await jobs.digests()
        (got,) = receiver.requests
        assert got.verified and got.body["type"] == "tickerpulse.digest"
        assert got.body["day"] == "2026-03-31" and got.body["total"] == 1
        assert [j.id for j in build_scheduler(jobs).get_jobs()] == [
            "deliveries", "snapshots", "retention", "digests"]
    finally:
        receiver.stop()
        store.close()


async def test_two_running_schedulers_one_acts(db_url: str) -> None:
    settings = AlertSettings(database_url=db_url,
                             scheduler={"snapshot_interval_min": 0.005, "lease_s": 5})
    stores = [AlertStore(db_url, migrate=True), AlertStore(db_url)]
    jobs = [LeaderJobs(settings, s, None, lambda: [risk("AAPL", 10.0)], holder=h)
            for s, h in zip(stores, ["one", "two"], strict=True)]
    schedulers = [build_scheduler(j) for j in jobs]
    for s in schedulers:
        s.start()
    await asyncio.sleep(2.5)
    for s in schedulers:
        s.shutdown(wait=False)
    runs = sorted(j.runs.get("snapshots", 0) for j in jobs)
    assert runs[0] == 0 and runs[1] >= 4
    assert len(stores[0].snapshots("AAPL")) == runs[1]
    for s in stores:
        s.close()


def test_workers_starting_together_migrate_once(db_url: str) -> None:
    import subprocess
    import sys

    code = "import sys; from alerts.store.migrate import upgrade; upgrade(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url],
                              stderr=subprocess.PIPE) for _ in range(6)]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    assert migrate.current(db_url) == migrate.head()
