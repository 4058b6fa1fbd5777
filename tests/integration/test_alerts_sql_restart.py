"""PostgreSQL restarted while the alerts worker delivers and decides: nothing is lost.

The test runs its own throwaway PostgreSQL cluster (tests/support/alerts.py), never the
shared server, stops it in the middle of a delivery stream for a few seconds while risk
updates keep arriving, and starts it again. Afterwards every decided alert is delivered
(the same webhook-id if twice), each ticker's alerts are sequence 1..n in firing order.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from alerts.decision import event_id, fingerprint
from alerts.signing import generate_secret
from alerts.store.repository import AlertStore
from support.alerts import (
    Receiver,
    ThrowawayPostgres,
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
TICKERS = ["PGA", "PGB", "PGC", "PGD"]
ROUNDS = 16  # alternately fire and resolve: one alert per update
DOWN_AT = 6  # round after which PostgreSQL goes down
DOWN_S = 5.0


@pytest.mark.skipif(not ThrowawayPostgres.available(), reason="no PostgreSQL binaries")
def test_postgresql_restarted_during_delivery_loses_nothing(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    pg = ThrowawayPostgres(free_port()).init()
    pg.start()
    receiver = Receiver(generate_secret(), free_port(),
                        behaviour=lambda _id, _b, _n: (204, 0.2)).start()  # deliveries take time
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    prefix = unique("pg") + "."
    env = worker_env(bootstrap=kafka_bootstrap, db_url=pg.url, rules=rules, receiver=receiver,
                     prefix=prefix, group=unique("alerts-"), partitions=2,
                     TICKERPULSE_ALERTS__RETRY__CLAIM_S="3")
    log = tmp_path / "worker.log"
    store = AlertStore(pg.url, migrate=True)
    worker = start_worker(env, log)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    expected = len(TICKERS) * ROUNDS
    try:
        wait_until(lambda: "alerts worker reading" in log.read_text()
                   or worker.poll() is not None, 60, "worker start")
        down_since: float | None = None
        for n in range(ROUNDS):
            for ticker in TICKERS:
                update = risk_update(ticker, 80 if n % 2 == 0 else 50, doc=f"{ticker}-{n}")
                producer.send(f"{prefix}risk", update.to_json_bytes(), key=ticker.encode())
            producer.flush()
            if n == DOWN_AT:
                wait_until(lambda: len(receiver.requests) >= 4, 30, "deliveries under way")
                pg.stop("fast")  # connections cut mid-transaction, mid-delivery
                down_since = time.monotonic()
            elif down_since is not None and time.monotonic() - down_since >= DOWN_S:
                pg.start()  # and updates keep coming
                down_since = None
            time.sleep(0.6)
        if down_since is not None:
            pg.start()
        wait_until(lambda: len(store.list_alerts(limit=1000)) >= expected, 90,
                   lambda: f"{expected} decided, {len(store.list_alerts(limit=1000))}")
        wait_until(lambda: {a.delivery_status for a in store.list_alerts(limit=1000)}
                   == {"delivered"}, 90, "every alert delivered")
        time.sleep(2.0)
        assert worker.poll() is None, log.read_text()[-3000:]
        alerts = sorted(store.list_alerts(limit=1000), key=lambda a: a.id)
        assert len(alerts) == expected
        seen = [r.webhook_id for r in receiver.delivered()]
        assert set(seen) == {a.event_id for a in alerts}  # nothing lost
        for ticker in TICKERS:
            fp = fingerprint("high", ticker)
            in_sql = [a.event_id for a in alerts if a.ticker == ticker]
            assert in_sql == [event_id(fp, n) for n in range(1, ROUNDS + 1)]
            got = [r.webhook_id for r in receiver.delivered() if r.body["ticker"] == ticker]
            first_seen = list(dict.fromkeys(got))
            assert first_seen == in_sql, f"{ticker} out of order"
        assert "unreachable" in log.read_text()  # the outage was real and was waited out
    finally:
        stop_worker(worker)
        producer.close()
        receiver.stop()
        store.close()
        pg.close()
