"""Faults on the real broker and Redis: kill -9 mid-stream, malformed input, Redis outage.

The worker is a subprocess (``tickerpulse worker``) serving the tiny random model with small
batches, so these tests are about the plumbing, not the model.
"""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from streams.feed import MALFORMED_REASONS, Feed, FeedMessage, Truth, malformed
from streams.producer import publish
from streams.topics import Topics
from support.kafka import read_topic
from support.pipeline import PipelineRun as Run
from support.pipeline import explicit_pairs, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


async def test_kill_9_mid_stream_then_restart_counts_every_document_once(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    web = free_port()
    run = Run(kafka_bootstrap, redis_url, redis_prefix, tiny_model, tmp_path,
              TICKERPULSE_STREAM__WEB_PORT=str(web))
    try:
        messages = list(Feed(seed=5, run_id=run.name).messages(10_000))
        await publish(messages, run.kafka)
        run.worker.start().wait_ready()
        before = await run.counted_at_least(3_000, timeout_s=120)
        assert 3_000 <= before < 10_000, "kill must land mid-stream"
        run.worker.kill9()
        run.worker.start().wait_ready(after=1)
        pairs = await run.wait_all_counted({m.truth.doc_id for m in messages})
        await run.assert_exactly_once(pairs)
        assert explicit_pairs(messages) <= pairs
        scored, _ = await run.scored_pairs()
        # the restarted worker was handed mentions the killed one had already committed (its
        # offsets were not): each was refused as a replay, and counted nowhere twice
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=5).read()
        replays = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.decode().splitlines()
                      if line.startswith('tickerpulse_risk_commits_total{result="replay"}'))
        assert replays > 0, "no replay after kill -9: the test did not test idempotency"
        assert len(scored) > len(pairs), "no scored record was re-produced after the kill"
        print(f"killed at {before} counted; {len(scored) - len(pairs)} scored records "
              f"re-produced, {replays:.0f} mentions refused as replays")
    finally:
        await run.close()


async def test_malformed_messages_go_to_the_dlq_with_reason_and_good_ones_are_scored(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    port = free_port()
    run = Run(kafka_bootstrap, redis_url, redis_prefix, tiny_model, tmp_path,
              TICKERPULSE_STREAM__WEB_PORT=str(port))
    try:
        good = list(Feed(seed=9, rumour=None, run_id=run.name).messages(10_000))
        bad = []
        for i in range(1_000):
            reason, kind = MALFORMED_REASONS[i % len(MALFORMED_REASONS)], ("news", "social")[i % 2]
            truth = Truth(f"bad-{i}", kind, "", reason, "baseline")
            bad.append(FeedMessage(kind, f"bad-{i}".encode(), malformed(i, reason, kind), truth))
        mixed = good + bad
        random.Random(1).shuffle(mixed)
        run.worker.start().wait_ready()
        await publish(mixed, run.kafka)
        pairs = await run.wait_all_counted({m.truth.doc_id for m in good})
        await run.assert_exactly_once(pairs)
        assert explicit_pairs(good) <= pairs

        source = {}
        for topic in (run.topics.news_raw, run.topics.social_raw):
            for r in await read_topic(kafka_bootstrap, topic, expect=len(mixed), timeout_s=10):
                source[(topic, r.partition, r.offset)] = r.value
        dead = []
        for topic in (run.topics.news_raw, run.topics.social_raw):
            dead += await read_topic(kafka_bootstrap, Topics.dlq(topic), idle_s=1.5)
        assert len(dead) == 1_000
        expected = {m.key: (m.truth.sentiment, m.topic_kind) for m in bad}
        for r in dead:
            h = {k: v.decode() for k, v in r.headers}
            reason, kind = expected[r.key]
            assert h["tp-dlq-reason"] == reason
            assert h["tp-source-topic"] == (run.topics.news_raw if kind == "news"
                                            else run.topics.social_raw)
            origin = (h["tp-source-topic"], int(h["tp-source-partition"]),
                      int(h["tp-source-offset"]))
            assert source[origin] == r.value
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.decode().splitlines()
                      if line.startswith("tickerpulse_dead_letters_total"))
        assert counted == 1_000
    finally:
        await run.close()


def redis_server(port: int, data: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError("private redis-server did not start")


async def test_redis_unreachable_for_10s_worker_waits_and_skips_nothing(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str,
) -> None:
    port, data = free_port(), tmp_path / "redis"
    data.mkdir()
    server = redis_server(port, data)
    url = f"redis://127.0.0.1:{port}/0"
    web = free_port()
    run = Run(kafka_bootstrap, url, "tp:", tiny_model, tmp_path,
              TICKERPULSE_STREAM__WEB_PORT=str(web))
    try:
        messages = list(Feed(seed=13, run_id=run.name).messages(3_000))
        run.worker.start().wait_ready()
        producing = asyncio.ensure_future(publish(messages, run.kafka, rate=200))
        await asyncio.sleep(3)
        server.terminate()
        server.wait()
        await asyncio.sleep(10)  # Redis unreachable; the producer keeps going
        server = redis_server(port, data)
        await producing
        pairs = await run.wait_all_counted({m.truth.doc_id for m in messages})
        await run.assert_exactly_once(pairs)
        assert run.worker.proc is not None and run.worker.proc.poll() is None, "worker died"
        assert "Redis unavailable" in run.worker.log_path.read_text(), "outage not observed"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=5).read()
        outages = [line for line in metrics.decode().splitlines()
                   if line.startswith("tickerpulse_redis_outages_total ")]
        assert outages and float(outages[0].split()[1]) >= 1
    finally:
        await run.close()
        server.terminate()
        server.wait()
