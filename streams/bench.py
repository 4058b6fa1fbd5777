"""Pipeline benchmark machinery: produce a feed, follow docs/scored/risk, time the results.

A :class:`Tracker` reads the ``docs``, ``scored`` and ``risk`` topics from the start (it counts
what arrives; it never asks the broker for end offsets) and notes when each document's risk
updates arrive. Phases are told apart by the ``run_id`` in the document ids.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.feed import FeedMessage
from streams.kafka_config import aiokafka_kwargs
from streams.settings import KafkaSettings
from streams.topics import Topics


def _run_of(doc_id: str) -> str:
    return doc_id.rsplit(":", 1)[-1].rsplit("-", 1)[0]


@dataclass
class Tracker:
    kafka: KafkaSettings
    docs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    scored: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    risk: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    risk_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    last_at: dict[str, float] = field(default_factory=dict)
    _seen_docs: set[str] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        t = Topics(self.kafka.topic_prefix)
        self._names = {t.docs: "docs", t.scored: "scored", t.risk: "risk"}
        self._consumer = AIOKafkaConsumer(**aiokafka_kwargs(self.kafka),
                                          enable_auto_commit=False,
                                          auto_offset_reset="earliest",
                                          fetch_max_wait_ms=self.kafka.fetch_max_wait_ms)
        await self._consumer.start()
        parts = [TopicPartition(n, p) for n in self._names
                 for p in (self._consumer.partitions_for_topic(n) or range(self.kafka.partitions))]
        self._consumer.assign(parts)
        await self._consumer.seek_to_beginning()
        self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=10_000)
            now = time.monotonic()
            for tp, records in batch.items():
                kind = self._names[tp.topic]
                for r in records:
                    self._note(kind, r.key, r.value, now)

    def _note(self, kind: str, key: bytes, value: bytes, now: float) -> None:
        if kind == "docs":
            doc_id = key.decode()
            if doc_id not in self._seen_docs:
                self._seen_docs.add(doc_id)
                self.docs[_run_of(doc_id)] += 1
            return
        if kind == "scored":
            self.scored[_run_of(json.loads(value)["doc_id"])] += 1
            return
        for doc_id in json.loads(value)["trigger_doc_ids"]:
            run = _run_of(doc_id)
            self.risk[run] += 1  # mentions folded into risk updates
            self.risk_at[doc_id].append(now)
            self.last_at[run] = now

    async def wait_done(self, run: str, n_docs: int, timeout_s: float = 600) -> float:
        """Monotonic time of the run's last risk update once all its documents are through."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            if self._task is not None and self._task.done():
                self._task.result()
            done = (self.docs[run] >= n_docs and self.risk[run] >= self.scored[run] > 0)
            if done and time.monotonic() - self.last_at.get(run, 0) > 1.0:
                return self.last_at[run]
        raise TimeoutError(f"run {run}: {self.docs[run]}/{n_docs} docs, "
                           f"{self.risk[run]}/{self.scored[run]} risk updates")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._consumer.stop()


async def produce(
    messages: list[FeedMessage], kafka: KafkaSettings, rate: float | None
) -> dict[str, float]:
    """Send messages (at ``rate``/s, or at once); returns doc_id -> monotonic send time."""
    topics = Topics(kafka.topic_prefix)
    prod = AIOKafkaProducer(**aiokafka_kwargs(kafka), linger_ms=2)
    await prod.start()
    sent: dict[str, float] = {}
    start = time.monotonic()
    try:
        for i, m in enumerate(messages):
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent[m.truth.doc_id] = time.monotonic()
            await prod.send(topics.raw(m.topic_kind), m.value, key=m.key)
        await prod.flush()
    finally:
        await prod.stop()
    return sent


def latencies(tracker: Tracker, sent: dict[str, float]) -> list[float]:
    """Per document: its last risk update's arrival minus its send time."""
    return [max(tracker.risk_at[d]) - t for d, t in sent.items() if tracker.risk_at.get(d)]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")
