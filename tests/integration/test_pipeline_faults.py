"""Faults on the real broker and Redis: kill -9 mid-stream, malformed input, Redis outage.

The worker is a subprocess (``tickerpulse worker``) serving the tiny random model with small
batches, so these tests are about the plumbing, not the model.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest

from streams.contracts import Document, ScoredMention
from streams.errors import DLQ_REASONS
from streams.feed import Feed, FeedMessage, Truth, malformed
from streams.producer import publish
from streams.settings import KafkaSettings, RedisSettings, RiskSettings
from streams.store import RedisKeys, RiskStore, connect
from streams.testing import WorkerProcess, pipeline_env, read_topic
from streams.topics import Topics, ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Run:
    """One isolated pipeline: topics, consumer group and Redis keys of its own."""

    def __init__(self, bootstrap: str, redis_url: str, prefix: str, model: tuple[str, str],
                 tmp: Path, **env: str) -> None:
        self.name = f"f{uuid.uuid4().hex[:8]}"
        self.bootstrap, self.tmp = bootstrap, tmp
        self.kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"{self.name}.")
        self.topics = Topics(self.kafka.topic_prefix)
        ensure_topics(self.kafka, self.topics.all())
        self.env = {**pipeline_env(bootstrap, redis_url, prefix, self.name, model[0], model[1],
                                   str(tmp / "faust"), batch=32), **env}
        self.redis = connect(RedisSettings(url=redis_url))
        self.store = RiskStore(self.redis, RedisKeys(prefix), RiskSettings())
        self.worker = WorkerProcess(self.env, tmp / "worker.log")

    async def scored_pairs(self) -> tuple[list[ScoredMention], set[tuple[str, str]]]:
        records = await read_topic(self.bootstrap, self.topics.scored, idle_s=1.5)
        scored = [ScoredMention.model_validate_json(r.value) for r in records]
        return scored, {(m.ticker, m.doc_id) for m in scored}

    async def wait_all_counted(self, doc_ids: set[str], timeout_s: float = 240) -> set:
        """Until every document is on ``docs`` and Redis counted every scored pair."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            await asyncio.sleep(2)
            docs = await read_topic(self.bootstrap, self.topics.docs, idle_s=1.0)
            seen = {Document.model_validate_json(r.value).doc_id for r in docs}
            if not doc_ids <= seen:
                continue
            _, pairs = await self.scored_pairs()
            if await self.store.mentions_counted() == len(pairs):
                return pairs
        raise AssertionError(f"not all counted in {timeout_s}s: {self.worker.tail()}")

    async def assert_exactly_once(self, pairs: set[tuple[str, str]]) -> None:
        per_ticker = Counter(t for t, _ in pairs)
        assert await self.store.mentions_counted() == len(pairs)
        for ticker, n in per_ticker.items():
            latest = await self.store.latest(ticker)
            assert latest is not None and latest.mentions_total == n, ticker
            counted = await self.store.counted_doc_ids(ticker)
            assert sorted(counted) == sorted(d for t, d in pairs if t == ticker), ticker

    async def close(self) -> None:
        self.worker.stop()
        await self.redis.close()


def explicit_pairs(messages: list[FeedMessage]) -> set[tuple[str, str]]:
    """(ticker, doc) pairs the linker must find: a cashtag or a producer's hint."""
    return {(m.truth.ticker, m.truth.doc_id) for m in messages
            if f"${m.truth.ticker}" in m.value.decode()
            or m.truth.ticker in json.loads(m.value).get("tickers", [])}


async def test_kill_9_mid_stream_then_restart_counts_every_document_once(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    run = Run(kafka_bootstrap, redis_url, redis_prefix, tiny_model, tmp_path)
    try:
        messages = list(Feed(seed=5, run_id=run.name).messages(10_000))
        await publish(messages, run.kafka)
        run.worker.start().wait_ready()
        deadline = time.monotonic() + 120
        while await run.store.mentions_counted() < 3_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        before = await run.store.mentions_counted()
        assert 3_000 <= before < 10_000, "kill must land mid-stream"
        run.worker.kill9()
        run.worker.start().wait_ready(after=1)
        pairs = await run.wait_all_counted({m.truth.doc_id for m in messages})
        await run.assert_exactly_once(pairs)
        assert explicit_pairs(messages) <= pairs
        scored, _ = await run.scored_pairs()
        print(f"killed at {before} counted; {len(scored) - len(pairs)} scored records replayed")
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
            reason, kind = DLQ_REASONS[i % len(DLQ_REASONS)], ("news", "social")[i % 2]
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
        counted = sum(int(line.rsplit(" ", 1)[1]) for line in metrics.decode().splitlines()
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
        assert "Redis unreachable" in run.worker.log_path.read_text(), "outage not observed"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=5).read()
        outages = [line for line in metrics.decode().splitlines()
                   if line.startswith("tickerpulse_redis_outages_total ")]
        assert outages and int(outages[0].split()[1]) >= 1
    finally:
        await run.close()
        server.terminate()
        server.wait()
