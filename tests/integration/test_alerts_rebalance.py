"""Two alerts worker processes, history in PostgreSQL, a rebalance in the middle: a second
worker joins while risk updates stream in. Every update of every ticker flips its rule
(fire, resolve, fire, ...), so a decision lost, repeated or applied twice shows: the alerts
in SQL must be exactly sequence 1..n per ticker, each delivered once by event id, in firing
order per ticker."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from alerts_support import (
    Receiver,
    risk_update,
    start_worker,
    stop_worker,
    unique,
    wait_until,
    worker_env,
)
from kafka import KafkaProducer

from alerts.decision import event_id, fingerprint
from alerts.signing import generate_secret
from alerts.store.repository import AlertStore
from tickerpulse.embedded import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = """version: 1
rules:
  - name: high
    severity: warning
    scope: {all: true}
    condition: {metric: score, enter: 70, exit: 60}
"""
TICKERS = [f"RB{n}" for n in range(8)]
SECOND_JOINS_AT = 10  # round at which the second worker starts
ROUNDS_AFTER = 25  # rounds sent after the second worker decided its first alerts
MAX_ROUNDS = 240  # updates per ticker at most, alternately 80 (fire) and 50 (resolve)


def test_a_second_worker_joins_mid_stream_every_alert_once_in_order(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    receiver = Receiver(generate_secret(), free_port()).start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    prefix = unique("rb") + "."
    env = worker_env(bootstrap=kafka_bootstrap, db_url=postgres_url, rules=rules,
                     receiver=receiver, prefix=prefix, group=unique("alerts-"), partitions=4)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    store = AlertStore(postgres_url, migrate=True)
    workers = [start_worker(env, logs[0])]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    try:
        wait_until(lambda: "alerts worker reading" in logs[0].read_text()
                   or workers[0].poll() is not None, 60, "first worker start")
        assert workers[0].poll() is None, logs[0].read_text()
        rounds, second_decided = 0, None
        while rounds < MAX_ROUNDS and (second_decided is None
                                       or rounds < second_decided + ROUNDS_AFTER):
            if rounds == SECOND_JOINS_AT:
                workers.append(start_worker(env, logs[1]))
            for ticker in TICKERS:
                score = 80 if rounds % 2 == 0 else 50
                update = risk_update(ticker, score, doc=f"{ticker}-{rounds}")
                producer.send(f"{prefix}risk", update.to_json_bytes(), key=ticker.encode())
            producer.flush()
            rounds += 1
            if second_decided is None and len(workers) == 2 and "decided" in logs[1].read_text():
                second_decided = rounds  # the rebalance happened: keep both busy a while
            time.sleep(0.3)
        assert second_decided is not None, "the second worker never got partitions"
        expected = len(TICKERS) * rounds
        wait_until(lambda: len(store.list_alerts(limit=10_000)) >= expected, 120,
                   lambda: f"{expected} alerts decided, {len(store.list_alerts(limit=10_000))}")
        wait_until(lambda: len(receiver.delivered()) >= expected, 120,
                   lambda: f"{expected} delivered, got {len(receiver.delivered())}")
        time.sleep(2.0)  # a duplicate would arrive here
        assert all(w.poll() is None for w in workers), [p.read_text()[-2000:] for p in logs]
    finally:
        for w in workers:
            stop_worker(w)
        producer.close()
        receiver.stop()

    for log in logs:  # both decided, the first also after the second joined
        assert log.read_text().count("decided") >= 2, "no rebalance in the middle was tested"
    alerts = sorted(store.list_alerts(limit=10_000), key=lambda a: a.id)  # firing order
    assert len(alerts) == expected
    delivered = receiver.delivered()
    counts = Counter(r.webhook_id for r in delivered)
    assert set(counts.values()) == {1}, [i for i, c in counts.items() if c > 1]
    assert set(counts) == {a.event_id for a in alerts}
    assert {a.delivery_status for a in alerts} == {"delivered"}
    for ticker in TICKERS:
        fp = fingerprint("high", ticker)
        in_sql = [a.event_id for a in alerts if a.ticker == ticker]
        assert in_sql == [event_id(fp, n) for n in range(1, rounds + 1)], ticker
        got = [r.webhook_id for r in delivered if r.body["ticker"] == ticker]
        assert got == in_sql, f"{ticker} out of order"
        statuses = [r.body["status"] for r in delivered if r.body["ticker"] == ticker]
        assert statuses == [("firing", "resolved")[n % 2] for n in range(rounds)]
    store.close()
