"""In-process harness: pipeline + outbox + dispatcher on SQLite with httpx.MockTransport;
the claim fencing token, claim expiry on the database clock, the state version check between
two writers, and isolation of updates the history cannot store."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jsonschema
import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from alerts.decision import event_id, fingerprint
from alerts.dispatch import Dispatcher
from alerts.notifiers import WebhookNotifier, classify_status
from alerts.payload import SCHEMA_PATH, AlertPayload, export_schema
from alerts.pipeline import AlertPipeline
from alerts.retry import backoff_s, next_attempt_at
from alerts.rules import parse_rules
from alerts.settings import RetrySettings, WebhookEndpointSettings
from alerts.signing import generate_secret
from alerts.store.dbclock import db_after
from alerts.store.outbox import AttemptResult, OutboxQueue
from alerts.store.repository import AlertStore, StateConflict
from alerts.store.tables import Delivery
from streams.contracts import ContributingDocument, RiskUpdate

RULES = parse_rules("""
version: 1
rules:
  - name: high
    severity: warning
    scope: {all: true}
    condition: {metric: score, enter: 70, exit: 60}
""", "mem.yaml")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def risk(ticker: str, score: float, clock: Clock) -> RiskUpdate:
    doc = ContributingDocument(doc_id="news:w:1", source="wire", kind="news",
                               excerpt="Profit warning", sentiment="negative", weight=0.8)
    return RiskUpdate(ticker=ticker, as_of=clock(), score=score, components={"sentiment": 0.9},
                      sentiment={"1h": -0.7}, volume={"1h": 12.0}, buzz_z=2.0,
                      negative_mentions={"1h": 9.0}, mentions_total=12, top_documents=[doc],
                      model_version="m-test", trigger_doc_id="news:w:1")


def build(tmp_path: Path, handler, clock: Clock, **retry):  # type: ignore[no-untyped-def]
    secret = generate_secret()
    store = AlertStore(f"sqlite:///{tmp_path}/a.db", migrate=True)
    endpoint = WebhookEndpointSettings(name="ops", url="http://receiver.test/hook", secret=secret,
                                       timeout_s=1)
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    notifier = WebhookNotifier(endpoint, client)
    policy = RetrySettings(initial_backoff_s=1, max_backoff_s=4, jitter=0.0, **retry)
    pipeline = AlertPipeline(RULES, store, [notifier.channel], public_url="http://dash",
                             deadline=timedelta(seconds=policy.deadline_s), clock=clock)
    dispatcher = Dispatcher(OutboxQueue(store.session), {notifier.channel: notifier}, policy,
                            clock, rng=random.Random(1))
    return store, pipeline, dispatcher, secret


async def test_decide_store_deliver_signed_and_schema_valid(tmp_path: Path) -> None:
    clock = Clock()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    store, pipeline, dispatcher, secret = build(tmp_path, handler, clock)
    ids = pipeline.process([risk("AAPL", 80, clock), risk("MSFT", 10, clock)])
    assert len(ids) == 1
    assert pipeline.process([risk("AAPL", 80, clock)]) == []  # still firing: nothing new
    assert await dispatcher.run_once() == 1
    (req,) = seen
    body = Webhook(secret).verify(req.content, dict(req.headers))
    assert req.headers["webhook-id"] == ids[0] == body["event_id"]
    jsonschema.validate(body, json.loads(SCHEMA_PATH.read_text()))
    assert body["dashboard_url"] == "http://dash/tickers/AAPL"
    assert body["top_documents"][0]["excerpt"] == "Profit warning"
    alert, deliveries, attempts = store.get_alert(ids[0])
    assert alert.delivery_status == "delivered" and deliveries[0].status == "delivered"
    assert [(a.outcome, a.http_status) for a in attempts] == [("ok", 204)]
    # resolution goes out too, after the firing one
    clock.advance(60)
    (resolved_id,) = pipeline.process([risk("AAPL", 50, clock)])
    await dispatcher.run_once()
    assert json.loads(seen[-1].content)["status"] == "resolved"
    assert seen[-1].headers["webhook-id"] == resolved_id


async def test_retry_backoff_then_fatal_and_deadline(tmp_path: Path) -> None:
    clock = Clock()
    answers = {"AAA": [503, 503, 200], "BBB": [400], "CCC": [500] * 50}
    calls: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        ticker = json.loads(request.content)["ticker"]
        calls[ticker] = calls.get(ticker, 0) + 1
        return httpx.Response(answers[ticker][calls[ticker] - 1])

    store, pipeline, dispatcher, _ = build(tmp_path, handler, clock, deadline_s=10)
    pipeline.process([risk(t, 90, clock) for t in answers])
    await dispatcher.run_once()
    assert calls == {"AAA": 1, "BBB": 1, "CCC": 1}
    for _ in range(12):
        clock.advance(1.0)
        await dispatcher.run_once()
    assert calls["AAA"] == 3 and calls["BBB"] == 1
    assert 3 <= calls["CCC"] <= 6  # 1s, 2s, 4s, 4s ... until the 10 s deadline
    by_ticker = {a.ticker: a.delivery_status for a in store.list_alerts()}
    assert by_ticker == {"AAA": "delivered", "BBB": "failed", "CCC": "failed"}
    ticker_of = {a.event_id: a.ticker for a in store.list_alerts()}
    statuses: dict[str, list[int | None]] = {}
    for attempt in store.attempts():
        statuses.setdefault(ticker_of[attempt.event_id], []).append(attempt.http_status)
    assert statuses["AAA"] == [503, 503, 200] and statuses["BBB"] == [400]
    assert set(statuses["CCC"]) == {500}


def test_pure_retry_timing() -> None:
    policy = RetrySettings(initial_backoff_s=1, multiplier=2, max_backoff_s=10, jitter=0.5)
    rng = random.Random(3)
    for attempt, base in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)]:
        delays = [backoff_s(attempt, policy, rng) for _ in range(50)]
        assert all(base * 0.5 <= d <= base for d in delays)
        assert len(set(delays)) > 40  # jittered
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_attempt_at(now, 1, now, policy, rng) is None
    last = next_attempt_at(now, 9, now + timedelta(seconds=1), policy, rng)
    assert last == now + timedelta(seconds=1)


@pytest.mark.parametrize(("status", "outcome"), [(200, "ok"), (204, "ok"), (500, "retryable"),
                                                 (503, "retryable"), (408, "retryable"),
                                                 (429, "retryable"), (400, "fatal"),
                                                 (401, "fatal"), (404, "fatal"), (301, "fatal")])
def test_status_classification(status: int, outcome: str) -> None:
    assert classify_status(status) == outcome


def test_schema_file_is_in_sync(tmp_path: Path) -> None:
    fresh = export_schema(tmp_path / "alert.schema.json")
    assert fresh.read_text() == SCHEMA_PATH.read_text(), (
        "run `tickerpulse alerts schema alerts/schemas/alert.v1.schema.json`")
    assert AlertPayload.model_json_schema()["properties"]["schema_version"]["const"] == 1


async def test_replayed_batch_after_a_crash_decides_nothing_new(tmp_path: Path) -> None:
    """Crash after the SQL commit but before the offset commit: the batch comes again."""
    clock = Clock()
    store, pipeline, _, _ = build(tmp_path, lambda r: httpx.Response(204), clock)
    batch = [risk("AAPL", 80, clock), risk("AAPL", 50, clock), risk("AAPL", 80, clock)]
    where = [("risk/0", 10), ("risk/0", 11), ("risk/0", 12)]
    first = pipeline.process(batch, where)
    assert len(first) == 3
    restarted = AlertPipeline(RULES, store, ["webhook:ops"], public_url="http://dash",
                              deadline=timedelta(hours=1), clock=clock)
    assert restarted.process(batch, where) == []
    assert [a.event_id for a in store.list_alerts()][::-1] == first
    # without positions the advanced state would decide again: the positions matter
    assert len(restarted.process(batch[1:])) == 2


async def test_pipeline_tick_fires_held_rule_from_stored_state(tmp_path: Path) -> None:
    held = parse_rules("""
version: 1
rules:
  - name: held
    severity: warning
    scope: {all: true}
    condition: {metric: score, enter: 70, exit: 60}
    for: 2m
""", "held.yaml")
    clock = Clock()
    store = AlertStore(f"sqlite:///{tmp_path}/t.db", migrate=True)
    pipeline = AlertPipeline(held, store, ["kafka"], public_url="http://dash",
                             deadline=timedelta(hours=1), clock=clock)
    assert pipeline.process([risk("AAPL", 80, clock)]) == []
    clock.advance(60)
    assert pipeline.tick(["AAPL", "NOPE"]) == []
    clock.advance(61)
    (event_id,) = AlertPipeline(held, store, ["kafka"], public_url="http://dash",
                                deadline=timedelta(hours=1), clock=clock).tick(["AAPL"])
    alert, deliveries, _ = store.get_alert(event_id)
    payload = json.loads(alert.payload)
    assert payload["risk"]["score"] == 80 and payload["top_documents"][0]["id"] == "news:w:1"
    assert [d.channel for d in deliveries] == ["kafka"]


# ---- fencing, the database clock, optimistic concurrency, isolation -----------------------


def decided_alert(tmp_path: Path, clock: Clock):  # type: ignore[no-untyped-def]
    store, pipeline, _, _ = build(tmp_path, lambda r: httpx.Response(204), clock)
    (event_id,) = pipeline.process([risk("AAPL", 80, clock)])
    return store, OutboxQueue(store.session), event_id


def test_only_the_current_claim_records_a_result(tmp_path: Path) -> None:
    """A worker whose claim expired (and was retaken) cannot record its outcome: the fencing
    token it holds is no longer current."""
    clock = Clock()
    store, queue, event_id = decided_alert(tmp_path, clock)
    (stale,) = queue.claim_heads(clock(), "a", timedelta(seconds=0.3))
    time.sleep(0.6)  # a's claim expires on the database's clock
    (current,) = queue.claim_heads(clock(), "b", timedelta(seconds=60))
    assert current.event_id == stale.event_id == event_id
    assert current.token == stale.token + 1
    ok = AttemptResult("ok", 5.0, 204)
    assert queue.record(stale, ok, clock(), None) == "stale"
    _, (delivery,), attempts = store.get_alert(event_id)
    assert delivery.status == "pending" and delivery.claimed_by == "b" and attempts == []
    assert queue.record(current, AttemptResult("retryable", 5.0, 503), clock(),
                        clock() + timedelta(seconds=1)) == "pending"
    assert queue.record(current, ok, clock(), None) == "stale"  # a token records once
    _, (delivery,), attempts = store.get_alert(event_id)
    assert delivery.status == "pending" and [a.http_status for a in attempts] == [503]


def test_claim_expiry_uses_the_database_clock(tmp_path: Path) -> None:
    """Claims are written and compared on the database's clock: a worker whose clock runs a
    day ahead does not see a fresh claim as expired, and one whose clock stands still sees
    an old one expire."""
    clock = Clock()
    store, queue, _ = decided_alert(tmp_path, clock)
    assert len(queue.claim_heads(clock(), "a", timedelta(seconds=60))) == 1
    assert queue.claim_heads(clock() + timedelta(days=1), "b", timedelta(seconds=60)) == []
    with store.session.begin() as s:  # make a's claim one that ends in 0.3 s, server time
        s.execute(sa.update(Delivery).values(claimed_until=db_after(0.3)))
    assert queue.claim_heads(clock(), "b", timedelta(seconds=60)) == []
    time.sleep(0.6)
    (taken,) = queue.claim_heads(clock(), "b", timedelta(seconds=60))  # clock did not move
    assert taken.token == 2


def test_two_writers_on_one_ticker_never_reuse_a_sequence_number(tmp_path: Path) -> None:
    """Writer A reads AAPL's state, writer B commits a newer one, A's commit conflicts: A
    reloads and decides again from B's state. Without the version check A would overwrite
    B's state with an older sequence number, and the next firing would reuse an event id
    that exists already: dropped."""
    clock = Clock()
    store_a, a, _, _ = build(tmp_path, lambda r: httpx.Response(204), clock)
    store_b = AlertStore(store_a.url)
    b = AlertPipeline(RULES, store_b, ["webhook:ops"], public_url="http://dash",
                      deadline=timedelta(hours=1), clock=clock)
    first = a.process([risk("AAPL", 80, clock)])  # firing, seq 1
    read = store_a.load_states
    interleaved = []

    def load_then_b_writes(tickers):  # type: ignore[no-untyped-def]
        states = read(tickers)
        if not interleaved:
            interleaved.append(b.process([risk("AAPL", 50, clock), risk("AAPL", 80, clock)]))
        return states

    store_a.load_states = load_then_b_writes  # type: ignore[method-assign]
    mine = a.process([risk("AAPL", 50, clock)])  # resolves B's new firing: seq 4
    assert a.conflicts == 1 and len(interleaved[0]) == 2 and len(mine) == 1
    later = b.process([risk("AAPL", 80, clock)])  # fires again: seq 5, stored, not dropped
    assert len(later) == 1
    fp = fingerprint("high", "AAPL")
    stored = sorted(store_a.list_alerts(), key=lambda r: r.id)
    assert [r.event_id for r in stored] == [event_id(fp, n) for n in range(1, 6)]
    assert [r.event_id for r in stored] == first + interleaved[0] + mine + later
    assert [r.status for r in stored] == ["firing", "resolved", "firing", "resolved", "firing"]
    state = store_a.load_states(["AAPL"])["AAPL"]
    assert state.rules["high"].seq == 5 and state.version == 4  # four writes
    with pytest.raises(StateConflict):  # a write from a stale read changes nothing
        store_b.commit_decisions({"AAPL": replace(state, version=3)}, [], [], clock(),
                                 timedelta(hours=1))
    assert store_a.load_states(["AAPL"])["AAPL"].version == 4
    store_b.close()


def test_a_ticker_the_database_cannot_store_is_rejected_alone(tmp_path: Path) -> None:
    clock = Clock()
    store, pipeline, _, _ = build(tmp_path, lambda r: httpx.Response(204), clock)
    batch = [risk(t, 90, clock) for t in ["AAA", "\x00", "X" * 33, "ß" * 17, "BAD", "BBB"]]
    where = [("risk/0", n) for n in range(len(batch))]
    commit = store.commit_decisions

    def refuse_bad(states, *args, **kw):  # type: ignore[no-untyped-def]
        if "BAD" in states:  # as PostgreSQL refuses a value: a DataError on this batch
            raise sa.exc.DataError("INSERT ...", {}, Exception("invalid byte sequence"))
        return commit(states, *args, **kw)

    store.commit_decisions = refuse_bad  # type: ignore[method-assign]
    out = pipeline.run(batch, where)
    assert sorted(a.ticker for a in store.list_alerts()) == ["AAA", "BBB"]
    assert len(out.new_ids) == 2
    assert [(r.index, r.reason) for r in out.rejected] == [
        (1, "invalid_ticker"), (2, "invalid_ticker"), (3, "invalid_ticker"), (4, "unstorable")]
    assert "NUL" in out.rejected[0].detail and "33" in out.rejected[1].detail
    assert pipeline.run(batch, where).new_ids == []  # a replay: nothing new


def test_timers_run_for_the_partitions_owned_from_stored_state(tmp_path: Path) -> None:
    held = parse_rules(RULES.text + "    for: 2m\n", "held.yaml")
    clock = Clock()
    store = AlertStore(f"sqlite:///{tmp_path}/t.db", migrate=True)
    pipeline = AlertPipeline(held, store, ["kafka"], public_url="http://dash",
                             deadline=timedelta(hours=1), clock=clock)
    assert pipeline.run([risk("AAA", 80, clock), risk("BBB", 80, clock), risk("CCC", 10, clock)],
                        [("risk/0", 1), ("risk/1", 1), ("risk/1", 2)]).new_ids == []
    assert store.tickers_with_timers({"risk": {1}}) == ["BBB"]  # CCC: nothing pending
    assert store.tickers_with_timers({"risk": {0, 1}}) == ["AAA", "BBB"]
    assert store.tickers_with_timers({"other": {0, 1}}) == []
    clock.advance(121)
    restarted = AlertPipeline(held, store, ["kafka"], public_url="http://dash",
                              deadline=timedelta(hours=1), clock=clock)
    (fired,) = restarted.tick_owned({"risk": {1}})
    assert store.get_alert(fired)[0].ticker == "BBB"
    assert store.tickers_with_timers({"risk": {1}}) == ["BBB"]  # firing: repeats, resolves
    (other,) = restarted.tick_owned({"risk": {0}})
    assert store.get_alert(other)[0].ticker == "AAA"
