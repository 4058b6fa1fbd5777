"""Two alerts worker processes, history in PostgreSQL, a rebalance in the middle: a second
worker joins while risk updates stream in. Every update of every ticker flips its rule
(fire, resolve, fire, ...), so a decision lost, repeated or applied twice shows: the alerts
in SQL must be exactly sequence 1..n per ticker, each delivered once by event id, in firing
order per ticker.

A second run pauses the first worker (SIGSTOP) past its session timeout while it may hold a
batch, a claim and a POST in flight: the group moves its partitions, its claims expire, and
when it resumes (SIGCONT) it is a zombie for a moment: its state writes conflict (version
check) and its delivery results are refused (fencing token). Duplicates at the receiver are
then possible, only with the same webhook-id."""

from __future__ import annotations

import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaProducer

from alerts.decision import event_id, fingerprint
from alerts.signing import generate_secret
from alerts.store.repository import AlertStore
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

RULES = one_rule()
TICKERS = [f"RB{n}" for n in range(8)]
SECOND_JOINS_AT = 10  # round at which the second worker starts
ROUNDS_AFTER = 25  # rounds sent after the second worker decided its first alerts
MAX_ROUNDS = 240  # updates per ticker at most, alternately 80 (fire) and 50 (resolve)
PAUSE_ROUNDS = 40  # rounds (0.3 s each) the first worker stays stopped: past session_timeout


@dataclass
class Run:
    store: AlertStore
    receiver: Receiver
    logs: list[Path]
    rounds: int


def run_two_workers(
    tmp_path: Path, bootstrap: str, db_url: str, *, pause_first: bool
) -> Run:
    receiver = Receiver(generate_secret(), free_port(),
                        behaviour=lambda _i, _b, _n: (204, 0.05 if pause_first else 0.0)).start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    prefix = unique("rb") + "."
    env = worker_env(bootstrap=bootstrap, db_url=db_url, rules=rules, receiver=receiver,
                     prefix=prefix, group=unique("alerts-"), partitions=4,
                     TICKERPULSE_ALERTS__RETRY__CLAIM_S="3" if pause_first else "120")
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    store = AlertStore(db_url, migrate=True)
    workers = [start_worker(env, logs[0])]
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        wait_until(lambda: "alerts worker reading" in logs[0].read_text()
                   or workers[0].poll() is not None, 60, "first worker start")
        assert workers[0].poll() is None, logs[0].read_text()
        rounds, second_decided, paused_at = 0, None, None
        after = ROUNDS_AFTER + (PAUSE_ROUNDS + 5 if pause_first else 0)
        while rounds < MAX_ROUNDS and (second_decided is None
                                       or rounds < second_decided + after):
            if rounds == SECOND_JOINS_AT:
                workers.append(start_worker(env, logs[1]))
            if pause_first and second_decided is not None and rounds == second_decided + 5:
                workers[0].send_signal(signal.SIGSTOP)  # mid-batch, mid-claim, mid-POST
                paused_at = rounds
            if paused_at is not None and rounds == paused_at + PAUSE_ROUNDS:
                workers[0].send_signal(signal.SIGCONT)  # back as a zombie for a moment
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
        wait_until(lambda: {a.delivery_status for a in store.list_alerts(limit=10_000)}
                   == {"delivered"}, 120, "every alert delivered")
        time.sleep(2.0)  # a duplicate would arrive here
        assert all(w.poll() is None for w in workers), [p.read_text()[-2000:] for p in logs]
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGCONT)
            stop_worker(w)
        producer.close()
        receiver.stop()
    for log in logs:  # both decided, the first also after the second joined
        assert log.read_text().count("decided") >= 2, "no rebalance in the middle was tested"
    return Run(store, receiver, logs, rounds)


def check_sequences(run: Run, *, at_most_per_id: int) -> None:
    """SQL: sequence 1..n per ticker, alternating; receiver: every id, in order per ticker,
    each at most ``at_most_per_id`` times."""
    alerts = sorted(run.store.list_alerts(limit=10_000), key=lambda a: a.id)  # firing order
    assert len(alerts) == len(TICKERS) * run.rounds
    delivered = run.receiver.delivered()
    counts = Counter(r.webhook_id for r in delivered)
    assert max(counts.values()) <= at_most_per_id, [i for i, c in counts.items() if c > 1]
    assert set(counts) == {a.event_id for a in alerts}
    for ticker in TICKERS:
        fp = fingerprint("high", ticker)
        in_sql = [a.event_id for a in alerts if a.ticker == ticker]
        assert in_sql == [event_id(fp, n) for n in range(1, run.rounds + 1)], ticker
        got = list(dict.fromkeys(r.webhook_id for r in delivered if r.body["ticker"] == ticker))
        assert got == in_sql, f"{ticker} out of order"
        statuses = [a.status for a in alerts if a.ticker == ticker]
        assert statuses == [("firing", "resolved")[n % 2] for n in range(run.rounds)]
    run.store.close()


def test_a_second_worker_joins_mid_stream_every_alert_once_in_order(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    run = run_two_workers(tmp_path, kafka_bootstrap, postgres_url, pause_first=False)
    check_sequences(run, at_most_per_id=1)


def test_a_paused_worker_comes_back_as_a_zombie_and_changes_nothing(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    run = run_two_workers(tmp_path, kafka_bootstrap, postgres_url, pause_first=True)
    check_sequences(run, at_most_per_id=2)
