"""One isolated pipeline run in a test: its topics, consumer group and Redis keys, a worker
process, waits, and the exactly-once checks."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections import Counter
from pathlib import Path

from streams.contracts import Document, ScoredMention
from streams.feed import FeedMessage
from streams.settings import KafkaSettings, RedisSettings, RiskSettings
from streams.store import RedisKeys, RiskStore, connect
from streams.topics import Topics, ensure_topics
from support.kafka import read_topic
from tickerpulse.worker_process import WorkerProcess


def pipeline_env(
    bootstrap: str, redis_url: str, redis_prefix: str, run: str, model_path: str | None,
    cache_dir: str, data_dir: str, batch: int = 64,
) -> dict[str, str]:
    """Environment for a worker isolated by topic prefix, consumer group and key prefix."""
    env = {
        "TICKERPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "TICKERPULSE_KAFKA__TOPIC_PREFIX": f"{run}.",
        "TICKERPULSE_STREAM__APP_ID": f"tp-{run}",
        "TICKERPULSE_STREAM__WEB_PORT": "0",
        "TICKERPULSE_STREAM__DATA_DIR": data_dir,
        "TICKERPULSE_STREAM__BATCH__INGEST": str(batch),
        "TICKERPULSE_STREAM__BATCH__SCORE": str(batch),
        "TICKERPULSE_REDIS__URL": redis_url,
        "TICKERPULSE_REDIS__KEY_PREFIX": redis_prefix,
        "TICKERPULSE_MODEL__CACHE_DIR": cache_dir,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if model_path:
        env["TICKERPULSE_MODEL__PATH"] = model_path
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PipelineRun:
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

    async def counted_at_least(self, n: int, timeout_s: float, poll_s: float = 0.2) -> int:
        """Poll Redis until ``n`` mentions are counted or ``timeout_s`` passes; the count then."""
        deadline = time.monotonic() + timeout_s
        while await self.store.mentions_counted() < n and time.monotonic() < deadline:
            await asyncio.sleep(poll_s)
        return await self.store.mentions_counted()

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
