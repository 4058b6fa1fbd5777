"""Test helpers: a stand-in engine, topic readers and a worker subprocess.

- :class:`StandInEngine`: the ``InferenceEngine.predict`` interface with keyword sentiment and
  cashtag/name linking, for fast in-process tests of the stages (no model).
- :func:`read_topic`: everything on a topic (all partitions, from the start) until a count is
  reached or nothing new arrives; counts what arrives (never trusts ``end_offsets``).
- :class:`WorkerProcess`: ``tickerpulse worker`` as a subprocess that tests can kill -9.
- :class:`PipelineRun`: topics, consumer group and Redis keys of one isolated test run, with
  waits and exactly-once checks.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from models.records import Prediction, TargetSentiment, TickerLink
from streams.contracts import Document, ScoredMention
from streams.feed import FeedMessage
from streams.kafka_config import aiokafka_kwargs
from streams.settings import KafkaSettings, RedisSettings, RiskSettings
from streams.store import RedisKeys, RiskStore, connect
from streams.topics import Topics, ensure_topics

NEGATIVE = re.compile(r"fall|plunge|miss|cut|loss|crash|fraud|investigation|weak|down|sink|dump"
                      r"|slump|tumble|drop|probe")
POSITIVE = re.compile(r"rise|beat|record|upgrade|strong|raise|long|breakout|crushing|lift|jump"
                      r"|soar|gain|rall")
CLAUSES = re.compile(r"\s+while\s+|\s+whereas\s+|;\s*|,\s+but\s+|\s+as\s+rival\s+", re.I)
NAMES = {"apple": "AAPL", "microsoft": "MSFT", "nvidia": "NVDA", "amazon": "AMZN",
         "tesla": "TSLA", "alphabet": "GOOGL", "meta": "META", "jpmorgan": "JPM",
         "intel": "INTC", "boeing": "BA", "pfizer": "PFE", "goldman sachs": "GS",
         "exxon": "XOM", "chevron": "CVX", "coca-cola": "KO", "pepsico": "PEP"}
LABELS = ("negative", "neutral", "positive")


def _label(text: str) -> str:
    low = text.lower()
    return "negative" if NEGATIVE.search(low) else "positive" if POSITIVE.search(low) else "neutral"


def _target(label: str, source: str) -> TargetSentiment:
    return TargetSentiment(label, {k: (0.8 if k == label else 0.1) for k in LABELS}, 0.8, source)


class StandInEngine:
    """Deterministic, instant stand-in for ``models.api.InferenceEngine`` (unit tests only):
    keyword sentiment for the document and, for each ticker named in the text, for the clause
    that names it ("A rises while B sinks"); cashtag, name and hint links."""

    model_version = "stand-in-1"

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def predict(
        self, texts: Sequence[str], hints: Sequence[Sequence[str]] | None = None
    ) -> list[Prediction]:
        self.calls.append(len(texts))
        return [self._one(t, list(h)) for t, h in
                zip(texts, hints or [[]] * len(texts), strict=True)]

    def _one(self, text: str, hints: list[str]) -> Prediction:
        document = _target(_label(text), "document")
        found: dict[str, tuple[str, str, tuple[int, int] | None]] = {}  # ticker -> method, span
        for m in re.finditer(r"\$([A-Za-z]{1,5})\b", text):
            found.setdefault(m.group(1).upper(), ("cashtag", m.group(0), m.span()))
        low = text.lower()
        for name, ticker in NAMES.items():
            at = low.find(name)
            if at >= 0:
                found.setdefault(ticker, ("name", text[at:at + len(name)], (at, at + len(name))))
        for h in hints:
            found.setdefault(h, ("hint", "", None))
        clauses = [(m.start(), m.end()) for m in CLAUSES.finditer(text)]
        links = []
        named_first = sorted(found.items(), key=lambda kv: kv[1][2] or (len(text), 0))
        for i, (ticker, (method, surface, span)) in enumerate(named_first):
            sentiment = document
            if span is not None and clauses:
                bounds = [0] + [e for _, e in clauses] + [len(text)]
                starts = [0] + [st for st, _ in clauses] + [len(text)]
                k = max(j for j in range(len(bounds) - 1) if bounds[j] <= span[0])
                sentiment = _target(_label(text[bounds[k]:starts[k + 1]]), "entity")
            elif span is not None:
                sentiment = replace(document, source="entity")
            links.append(TickerLink(
                ticker=ticker, confidence=0.9, relevance=1.0 if i == 0 else 0.5,
                relevance_kind="subject" if i == 0 else "mention", method=method, text=surface,
                spans=(span,) if span else (), sentiment=sentiment))
        return Prediction(document.label, document.probabilities, document.confidence,
                          tickers=tuple(links), model_version=self.model_version)


async def read_topic(
    bootstrap: str, topic: str, expect: int | None = None, timeout_s: float = 30.0,
    idle_s: float = 2.0, kafka: KafkaSettings | None = None,
) -> list[ConsumerRecord]:
    """Records of every partition from offset 0: stops at ``expect`` records, at the timeout,
    or (without ``expect``) once nothing arrived for ``idle_s``. ``kafka`` carries the
    security settings (TLS/SASL) when the broker needs them."""
    kafka = (kafka or KafkaSettings()).model_copy(update={"bootstrap_servers": bootstrap})
    consumer = AIOKafkaConsumer(**aiokafka_kwargs(kafka), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    out: list[ConsumerRecord] = []
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        for _ in range(50):
            if parts:
                break
            await asyncio.sleep(0.1)
            await consumer._client.force_metadata_update()  # noqa: SLF001
            parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in parts])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        last = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            got = [r for records in batch.values() for r in records]
            out.extend(got)
            if got:
                last = time.monotonic()
            if expect is not None and len(out) >= expect:
                break
            if expect is None and time.monotonic() - last > idle_s:
                break
    finally:
        await consumer.stop()
    return out


@dataclass
class WorkerProcess:
    """``tickerpulse worker`` in a subprocess with ``env`` overrides; log in ``log_path``."""

    env: dict[str, str]
    log_path: Path
    agents: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: object = field(default=None, init=False, repr=False)

    def start(self) -> WorkerProcess:
        cmd = [sys.executable, "-m", "tickerpulse.cli.main", "worker", "--loglevel", "info"]
        if self.agents:
            cmd += ["--agents", self.agents]
        self._close_log()
        log = self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop/kill9
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env={**os.environ, **self.env})
        return self

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None

    def wait_ready(self, timeout_s: float = 90.0, after: int = 0) -> None:
        """Wait for the ``after``+1-th 'Worker ready' in the log (faust's line)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}): {self.tail()}")
            if self.log_path.exists() and self.log_path.read_text(
                    errors="replace").count("Worker ready") > after:
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready in {timeout_s}s: {self.tail()}")

    def tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.proc is not None  # noqa: S101
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._close_log()

    def stop(self, timeout_s: float = 20.0) -> int | None:
        try:
            if self.proc is None or self.proc.poll() is not None:
                return self.proc.returncode if self.proc else None
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        finally:
            self._close_log()


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
        "TICKERPULSE_STREAM__SCORE_BATCH_SIZE": str(batch),
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


PROBS = {
    "negative": {"negative": 0.9, "neutral": 0.08, "positive": 0.02},
    "neutral": {"negative": 0.1, "neutral": 0.8, "positive": 0.1},
    "positive": {"negative": 0.02, "neutral": 0.08, "positive": 0.9},
}


def mention(i: int, sentiment: str = "negative", at: datetime | None = None,
            **kw: object) -> ScoredMention:
    """A scored mention (v2) of AAPL in news doc ``news:w:<i>`` (fields overridable); the
    document's sentiment is the ticker's unless ``document_sentiment`` is given."""
    at = at or datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    document = str(kw.pop("document_sentiment", sentiment))
    base = dict(
        doc_id=f"news:w:{i}", ticker="AAPL", kind="news", source="w", published_at=at,
        excerpt=f"doc {i}", sentiment=sentiment, probabilities=PROBS[sentiment],
        confidence=max(PROBS[sentiment].values()), sentiment_source="entity",
        document_sentiment=document, document_probabilities=PROBS[document],
        document_confidence=max(PROBS[document].values()), relevance=1.0,
        relevance_kind="subject", link_confidence=1.0, model_version="m1", scored_at=at,
    )
    base.update(kw)
    return ScoredMention.model_validate(base)
