"""`tickerpulse services` and `tickerpulse simulate` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from support.kafka import read_topic

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "tickerpulse.cli.main"]


def test_services_starts_a_broker_with_topics_then_simulate_feeds_it(
    tmp_path: Path, redis_url: str
) -> None:
    prefix = f"svc{uuid.uuid4().hex[:6]}."
    env = {**os.environ, "TICKERPULSE_KAFKA__TOPIC_PREFIX": prefix,
           "TICKERPULSE_KAFKA__PARTITIONS": "3", "TICKERPULSE_REDIS__URL": redis_url}
    proc = subprocess.Popen([*CLI, "services"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        bootstrap = proc.stdout.readline().decode().strip()
        assert bootstrap.startswith("127.0.0.1:"), proc.stderr.read().decode()  # type: ignore[union-attr]
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
        finally:
            admin.close()
        for name in ("news.raw", "social.raw", "docs", "scored", "risk", "news.raw.dlq"):
            assert described[prefix + name] == 3

        truth = tmp_path / "truth.jsonl"
        sim = subprocess.run(
            [*CLI, "simulate", "--rate", "0", "--count", "120", "--shock-at", "0.5",
             "--truth", str(truth)],
            env={**env, "TICKERPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap},
            capture_output=True, timeout=60, check=True)
        assert b"sent 120 messages" in sim.stdout
        rows = [json.loads(line) for line in truth.read_text().splitlines()]
        assert len(rows) == 120 and {r["event"] for r in rows} == {"baseline", "shock", "rumour"}
        got = asyncio.run(read_topic(bootstrap, prefix + "news.raw", idle_s=1.0))
        got += asyncio.run(read_topic(bootstrap, prefix + "social.raw", idle_s=1.0))
        assert sorted(r.key.decode() for r in got) == sorted(
            r["doc_id"].rsplit(":", 1)[1] for r in rows)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_services_refuses_an_unreachable_redis() -> None:
    env = {**os.environ, "TICKERPULSE_REDIS__URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run([*CLI, "services"], env=env, capture_output=True, timeout=30)
    assert result.returncode != 0
    assert b"not reachable" in result.stderr
