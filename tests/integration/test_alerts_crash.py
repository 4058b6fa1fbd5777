"""The alerts worker is killed (kill -9) after deciding and before delivering: after a
restart, every decided alert is delivered exactly once (history in PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from alerts_support import Receiver, wait_until
from kafka import KafkaProducer

from alerts.signing import generate_secret
from alerts.store.repository import AlertStore
from streams.contracts import RiskUpdate, utc_now
from tickerpulse.embedded import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = """version: 1
rules:
  - name: high
    severity: critical
    scope: {all: true}
    condition: {metric: score, enter: 70, exit: 60}
"""


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tickerpulse.cli.main", "-v", "alerts", "run"],
            env=env, stdout=out, stderr=out)


def test_kill_9_between_deciding_and_delivering(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    receiver = Receiver(generate_secret(), free_port())  # down until after the crash
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    tag = uuid.uuid4().hex[:8]
    prefix = f"k{tag}."
    env = {**os.environ,
           "TICKERPULSE_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
           "TICKERPULSE_KAFKA__TOPIC_PREFIX": prefix,
           "TICKERPULSE_KAFKA__REBALANCE_TIMEOUT_S": "3",
           "TICKERPULSE_KAFKA__SESSION_TIMEOUT_S": "6",
           "TICKERPULSE_ALERTS__DATABASE_URL": postgres_url,
           "TICKERPULSE_ALERTS__RULES_PATH": str(rules),
           "TICKERPULSE_ALERTS__CONSUMER_GROUP": f"alerts-{tag}",
           "TICKERPULSE_ALERTS__ENDPOINTS": json.dumps([{"name": "ops", "url": receiver.url,
                                                         "secret": receiver.secret}]),
           "TICKERPULSE_ALERTS__RETRY__INITIAL_BACKOFF_S": "0.3",
           "TICKERPULSE_ALERTS__RETRY__MAX_BACKOFF_S": "1",
           "TICKERPULSE_ALERTS__SCHEDULER__DELIVERY_INTERVAL_S": "0.5",
           "TICKERPULSE_ALERTS__SCHEDULER__LEASE_S": "3"}
    log = tmp_path / "worker.log"
    store = AlertStore(postgres_url, migrate=True)
    worker = start_worker(env, log)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        wait_until(lambda: store.rules_in_force() is not None or worker.poll() is not None, 30,
                   "worker start")
        assert worker.poll() is None, log.read_text()
        tickers = ["KILL1", "KILL2", "KILL3"]
        for ticker in tickers:
            update = RiskUpdate(ticker=ticker, as_of=utc_now(), score=90, components={},
                                sentiment={"1h": -0.9}, volume={}, buzz_z=0.0,
                                negative_mentions={}, mentions_total=1, model_version="m",
                                trigger_doc_id="d1")
            producer.send(f"{prefix}risk", update.to_json_bytes(), key=ticker.encode())
        producer.flush()
        wait_until(lambda: len(store.list_alerts()) == 3, 40, "decisions stored")
        def webhook_attempts() -> list:  # type: ignore[type-arg]
            return [a for a in store.attempts() if a.channel == "webhook:ops"]

        wait_until(lambda: len(webhook_attempts()) >= 3, 10, "failed attempts (receiver down)")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        decided = {a.event_id for a in store.list_alerts()}
        assert {a.delivery_status for a in store.list_alerts()} == {"pending"}
        assert {a.outcome for a in webhook_attempts()} == {"retryable"}
        assert receiver.requests == []

        receiver.start()
        worker = start_worker(env, log)
        wait_until(lambda: len(receiver.delivered()) >= 3, 40, "delivery after restart")
        time.sleep(2.0)  # a duplicate would arrive here
        ids = [r.webhook_id for r in receiver.delivered()]
        assert sorted(ids) == sorted(decided) and len(ids) == 3
        assert {a.delivery_status for a in store.list_alerts()} == {"delivered"}
        assert len(store.list_alerts()) == 3  # the replayed risk records decided nothing new
    finally:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        producer.close()
        receiver.stop()
        store.close()
