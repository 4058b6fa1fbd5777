"""The alerts worker is killed (kill -9) and restarted, history in PostgreSQL:

- after deciding and before delivering: every decided alert is delivered exactly once;
- while webhook POSTs are in flight (a slow receiver): each is delivered after the restart,
  at most once more with the same `webhook-id` (the documented duplicate);
- while a `for:` is pending: it fires after the restart without any new input.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from kafka import KafkaProducer

from alerts.signing import generate_secret
from alerts.store.repository import AlertStore
from alerts.store.tables import Delivery
from support.alerts import (
    Receiver,
    one_rule,
    risk_update,
    start_worker,
    stop_worker,
    unique,
    wait_until,
    worker_env,
)
from tickerpulse.embedded import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = one_rule("critical")


def env_for(tmp_path: Path, bootstrap: str, db_url: str, receiver: Receiver, rules: str,
            **extra: str) -> tuple[dict[str, str], str]:
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    prefix = unique("k") + "."
    env = worker_env(bootstrap=bootstrap, db_url=db_url, rules=path, receiver=receiver,
                     prefix=prefix, group=unique("alerts-"), **extra)
    return env, prefix


def send(producer: KafkaProducer, prefix: str, tickers: list[str], score: float) -> None:
    for ticker in tickers:
        producer.send(f"{prefix}risk", risk_update(ticker, score).to_json_bytes(),
                      key=ticker.encode())
    producer.flush()


def webhook_attempts(store: AlertStore) -> list:  # type: ignore[type-arg]
    return [a for a in store.attempts() if a.channel == "webhook:ops"]


def outbox(store: AlertStore) -> list[tuple[object, ...]]:
    with store.session() as s:
        rows = s.execute(sa.select(Delivery.event_id, Delivery.channel, Delivery.status,
                                   Delivery.claimed_by, Delivery.claimed_until,
                                   Delivery.claim_token, Delivery.attempts)).all()
    return [tuple(r) for r in rows]


def test_kill_9_between_deciding_and_delivering(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    receiver = Receiver(generate_secret(), free_port())  # down until after the crash
    env, prefix = env_for(tmp_path, kafka_bootstrap, postgres_url, receiver, RULES,
                          TICKERPULSE_ALERTS__RETRY__CLAIM_S="5")
    log = tmp_path / "worker.log"
    store = AlertStore(postgres_url, migrate=True)
    worker = start_worker(env, log)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        wait_until(lambda: store.rules_in_force() is not None or worker.poll() is not None, 30,
                   "worker start")
        assert worker.poll() is None, log.read_text()
        send(producer, prefix, ["KILL1", "KILL2", "KILL3"], 90)
        wait_until(lambda: len(store.list_alerts()) == 3, 40, "decisions stored")
        wait_until(lambda: len(webhook_attempts(store)) >= 3, 10,
                   "failed attempts (receiver down)")
        stop_worker(worker, signal.SIGKILL)
        decided = {a.event_id for a in store.list_alerts()}
        assert {a.delivery_status for a in store.list_alerts()} == {"pending"}
        assert {a.outcome for a in webhook_attempts(store)} == {"retryable"}
        assert receiver.requests == []

        receiver.start()
        worker = start_worker(env, log)
        wait_until(lambda: len(receiver.delivered()) >= 3, 40, "delivery after restart")
        time.sleep(2.0)  # a duplicate would arrive here
        ids = [r.webhook_id for r in receiver.delivered()]
        assert sorted(ids) == sorted(decided) and len(ids) == 3
        # the other channel (the alerts topic) may have been claimed by the killed worker:
        # it is sent again once that claim expires (claim_s, 5 s on the database clock)
        wait_until(lambda: {a.delivery_status for a in store.list_alerts()} == {"delivered"},
                   30, "every channel delivered")
        assert len(store.list_alerts()) == 3  # the replayed risk records decided nothing new
    finally:
        stop_worker(worker)
        producer.close()
        receiver.stop()
        store.close()


def test_kill_9_while_webhook_posts_are_in_flight(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    """The receiver holds each first POST for 20 s; the worker is killed meanwhile. After
    the restart the claims expire (claim_s, database clock) and each alert is sent again
    with the same webhook-id: two requests per alert, never a third, never another id."""
    slow_s = 20.0
    receiver = Receiver(generate_secret(), free_port(),
                        behaviour=lambda _id, _b, n: (204, slow_s if n == 0 else 0.0)).start()
    env, prefix = env_for(tmp_path, kafka_bootstrap, postgres_url, receiver, RULES,
                          TICKERPULSE_ALERTS__RETRY__CLAIM_S="4")
    log = tmp_path / "worker.log"
    store = AlertStore(postgres_url, migrate=True)
    worker = start_worker(env, log)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    tickers = ["FLY1", "FLY2", "FLY3"]
    try:
        wait_until(lambda: store.rules_in_force() is not None or worker.poll() is not None, 30,
                   "worker start")
        send(producer, prefix, tickers, 90)
        wait_until(lambda: len(receiver.ids()) == 3, 40, "three POSTs in flight")
        killed_at = time.time()
        stop_worker(worker, signal.SIGKILL)
        decided = {a.event_id for a in store.list_alerts()}
        assert set(receiver.ids()) == decided and len(decided) == 3
        assert webhook_attempts(store) == []  # nothing recorded: the POSTs never returned
        assert {a.delivery_status for a in store.list_alerts()} == {"pending"}

        worker = start_worker(env, log)
        wait_until(lambda: {a.delivery_status for a in store.list_alerts()} == {"delivered"},
                   60, lambda: f"delivery after the restart: {outbox(store)}")
        time.sleep(2.0)  # a third copy would arrive here
        counts = Counter(receiver.ids())
        assert set(counts) == decided and set(counts.values()) == {2}, counts
        resent = [r for r in receiver.requests if r.at > killed_at]
        assert sorted(r.webhook_id for r in resent) == sorted(decided)
        assert all(r.verified and r.body["event_id"] == r.webhook_id for r in resent)
        ok = [a for a in webhook_attempts(store) if a.outcome == "ok"]
        assert sorted(a.event_id for a in ok) == sorted(decided)  # one recorded success each
    finally:
        stop_worker(worker)
        producer.close()
        receiver.stop()
        store.close()


def test_a_pending_for_fires_after_a_restart_without_new_input(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    """The rule holds for 8 s; the worker that saw the input is killed after 2 s. The new
    worker reads nothing from the topic (the offset was committed) and still fires it."""
    receiver = Receiver(generate_secret(), free_port()).start()
    env, prefix = env_for(tmp_path, kafka_bootstrap, postgres_url, receiver,
                          RULES + "    for: 8s\n")
    log = tmp_path / "worker.log"
    store = AlertStore(postgres_url, migrate=True)
    worker = start_worker(env, log)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        wait_until(lambda: store.rules_in_force() is not None or worker.poll() is not None, 30,
                   "worker start")
        sent_at = time.time()
        send(producer, prefix, ["HOLD"], 90)

        def pending() -> bool:
            rules = store.load_states(["HOLD"])["HOLD"].rules
            return "high" in rules and rules["high"].phase == "pending"

        wait_until(pending, 30, "the pending state stored")
        time.sleep(2.0)  # the offset commit follows the SQL commit
        assert store.list_alerts() == []
        stop_worker(worker, signal.SIGKILL)
        log.write_text("")

        worker = start_worker(env, log)
        wait_until(lambda: len(receiver.delivered()) == 1, 60, "the held alert after restart")
        (got,) = receiver.delivered()
        assert got.body["ticker"] == "HOLD" and got.body["status"] == "firing"
        assert got.at - sent_at >= 8.0
        (alert,) = store.list_alerts()
        since = store.load_states(["HOLD"])["HOLD"].rules["high"].since
        assert since is not None and (alert.decided_at - since).total_seconds() >= 8.0
        assert "decided 1 alert" not in log.read_text()  # not from a replayed input
    finally:
        stop_worker(worker)
        producer.close()
        receiver.stop()
        store.close()
