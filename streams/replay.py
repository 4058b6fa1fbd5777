"""Replay / backfill: re-score a range of the live raw topics with another model, into a
shadow namespace (:mod:`streams.shadow`), never touching live state.

The live stages run in-process, as the worker runs them, on the shadow's own keys and
topics: :class:`~streams.processing.Ingest` with a novelty index under the shadow key prefix,
:class:`~streams.processing.Score` with the given engine, :class:`~streams.processing.Aggregate`
with a risk store under the shadow prefix; docs, scored, risk and dead letters go to the
shadow topics. Three tasks overlap (read + ingest, score, aggregate) through bounded queues,
so Redis and the broker work while the model thread predicts.

**Event-time clock.** The replay runs the stages on a clock that follows the event time of
the records replayed (the newest seen so far), as if a worker had processed them the moment
they happened: a document a day old is not refused as too old, novelty windows and risk decay
are measured in event time, and every ``RiskUpdate.as_of`` is an event time.

The live raw topics are read with an assigned consumer (:mod:`streams.replay_source`): no
consumer group, no offset commit. The manifest (``replay:manifest`` under the shadow prefix,
:mod:`streams.store.replay_manifest`) says what was replayed, with which model, and counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from streams.app import dead_letter_message
from streams.contracts import DocumentKind
from streams.errors import ConfigurationError
from streams.metrics import Metrics
from streams.processing import (
    Aggregate,
    Engine,
    Ingest,
    Output,
    RawMessage,
    Score,
    isolated,
)
from streams.producer import producer
from streams.replay_source import OffsetRange, RawRead, TimeRange, event_time, read_raw
from streams.settings import KafkaSettings, NoveltySettings, RiskSettings, StreamSettings
from streams.shadow import Shadow
from streams.sources import SOURCES
from streams.store import RedisNoveltyIndex, RetryingRedis, RiskStore
from streams.store.replay_manifest import ReplayManifestStore
from streams.topics import Topics, ensure_topics

log = logging.getLogger(__name__)
QUEUE_BATCHES = 2  # batches waiting between two stages at most
DONE = None
HOUR = 3600.0


class EventClock:
    """The replay's clock: the newest event time handed to it (epoch seconds)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = start if start is not None else float("-inf")

    def advance(self, t: float | None) -> None:
        if t is not None and t > self.now:
            self.now = t

    def __call__(self) -> float:
        return self.now if self.now > float("-inf") else time.time()


@dataclass(frozen=True)
class ReplayRequest:
    shadow: Shadow
    model_dir: str
    kinds: tuple[DocumentKind, ...] = tuple(s.kind for s in SOURCES)
    offsets: tuple[OffsetRange, ...] = ()
    times: TimeRange = field(default_factory=TimeRange)
    batch: int = 512
    live_model_version: str = ""


@dataclass
class ReplaySummary:
    raw: RawRead = field(default_factory=RawRead)
    documents: int = 0
    mentions: int = 0
    risk_updates: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    event_time_min: float | None = None
    event_time_max: float | None = None

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"raw_read": self.raw.read, "raw_in_range": self.raw.in_range,
                "raw_planned": self.raw.planned, "documents": self.documents,
                "mentions": self.mentions, "risk_updates": self.risk_updates,
                "dead_letters": self.dead_letters, "seconds": round(self.seconds, 3),
                "docs_per_s": round(self.docs_per_s, 1),
                "event_time_min": iso(self.event_time_min),
                "event_time_max": iso(self.event_time_max)}


@dataclass
class _Stages:
    ingest: Ingest
    score: Score
    aggregate: Aggregate
    clocks: tuple[EventClock, EventClock, EventClock]  # one per stage: its batch's time
    metrics: Metrics


def _stages(
    engine: Engine, redis: RetryingRedis, shadow: Shadow, stream: StreamSettings,
    novelty: NoveltySettings, risk: RiskSettings,
) -> _Stages:
    metrics, keys = Metrics(), shadow.keys
    clocks = (EventClock(), EventClock(), EventClock())
    index = RedisNoveltyIndex(redis, keys, novelty.window_s, novelty.near_duplicate_threshold,
                              clock=clocks[0])
    store = RiskStore(redis, keys, risk, clock=clocks[2])
    return _Stages(Ingest(index, stream, metrics, clock=clocks[0]),
                   Score(engine, metrics, clock=clocks[1], limits=stream),
                   Aggregate(store, metrics, limits=stream, clock=clocks[2]), clocks, metrics)


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


def manifest_of(request: ReplayRequest, kafka: KafkaSettings, engine: Engine, status: str,
                started: datetime, summary: ReplaySummary | None = None) -> dict[str, Any]:
    shadow = request.shadow
    out: dict[str, Any] = {
        "name": shadow.name, "status": status, "model_dir": request.model_dir,
        "model_version": engine.model_version, "live_model_version": request.live_model_version,
        "kinds": list(request.kinds),
        "offsets": [f"{r.topic}:{r.partition}:{r.start}-{'' if r.end is None else r.end}"
                    for r in request.offsets],
        "from": request.times.start.isoformat() if request.times.start else None,
        "to": request.times.end.isoformat() if request.times.end else None,
        "live_topic_prefix": shadow.live_topic_prefix, "topic_prefix": shadow.topic_prefix,
        "live_key_prefix": shadow.live_key_prefix, "key_prefix": shadow.key_prefix,
        "bootstrap_servers": kafka.bootstrap_servers, "started_at": started.isoformat(),
        "finished_at": None,
    }
    if summary is not None:
        out["counts"] = summary.to_json()
        out["finished_at"] = datetime.now(UTC).isoformat()
    return out


class _Sender:
    """Sends a stage's output to the shadow topics; returns what was sent to ``topic`` as
    RawMessages with the coordinates the broker gave them (the next stage's input)."""

    def __init__(self, prod: AIOKafkaProducer) -> None:
        self.prod = prod

    async def send(self, topic: str, out: Output) -> list[RawMessage]:
        futures = [await self.prod.send(topic, value, key=key) for key, value in out.records]
        extra = [await self.prod.send(t, v, key=k, headers=h)
                 for t, k, v, h in map(dead_letter_message, out.dead)]
        extra += [await self.prod.send(t, v, key=k) for t, k, v in out.side]
        sent = await asyncio.gather(*futures)
        await asyncio.gather(*extra)
        return [RawMessage(topic, md.partition, md.offset, key, value)
                for md, (key, value) in zip(sent, out.records, strict=True)]


async def run_replay(
    request: ReplayRequest, engine: Engine, redis: RetryingRedis, kafka: KafkaSettings,
    stream: StreamSettings, novelty: NoveltySettings, risk: RiskSettings,
    on_planned: Callable[[int], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ReplaySummary:
    """Replay the range into the shadow namespace; ``on_progress(raw records, documents)``
    after each batch scored."""
    shadow = request.shadow
    manifests = ReplayManifestStore(redis, shadow.keys)
    if await manifests.read() is not None:
        raise ConfigurationError(f"a replay named {shadow.name!r} exists already (its manifest "
                                 f"is {shadow.keys.replay_manifest}): choose another --name")
    live = shadow.live_topics
    kinds: Mapping[str, DocumentKind] = {live.raw(k): k for k in request.kinds}
    topics = shadow.topics
    await asyncio.to_thread(ensure_topics, kafka, topics.all())
    started = datetime.now(UTC)
    await manifests.write(manifest_of(request, kafka, engine, "running", started))
    stages = _stages(engine, redis, shadow, stream, novelty, risk)
    summary = ReplaySummary()
    prod = producer(kafka, max_request_size=1_000_000)
    await prod.start()
    t0 = time.monotonic()
    try:
        await _pipeline(request, kafka, kinds, topics, stages, _Sender(prod), summary,
                        on_planned, on_progress)
        await prod.flush()
    finally:
        await prod.stop()
    summary.seconds = time.monotonic() - t0
    await manifests.write(manifest_of(request, kafka, engine, "finished", started, summary))
    return summary


async def _pipeline(
    request: ReplayRequest, kafka: KafkaSettings, kinds: Mapping[str, DocumentKind],
    topics: Topics, stages: _Stages, sender: _Sender, summary: ReplaySummary,
    on_planned: Callable[[int], None] | None, on_progress: Callable[[int, int], None] | None,
) -> None:
    Item = tuple[list[RawMessage], float | None]  # a batch and its newest event time
    to_score: asyncio.Queue[Item | None] = asyncio.Queue(QUEUE_BATCHES)
    to_aggregate: asyncio.Queue[Item | None] = asyncio.Queue(QUEUE_BATCHES)
    m = stages.metrics
    ingest_clock, score_clock, aggregate_clock = stages.clocks

    async def ingest() -> None:
        async for batch in read_raw(kafka, kinds, request.offsets, request.times,
                                    request.batch, summary.raw, on_planned):
            newest = _newest(batch, summary)
            ingest_clock.advance(newest)
            out = await isolated(stages.ingest.handle, batch, stages.ingest.limits, m)
            summary.dead_letters += len(out.dead)
            await to_score.put((await sender.send(topics.docs, out), newest))
        await to_score.put(DONE)

    async def score() -> None:
        while (item := await to_score.get()) is not DONE:
            docs, newest = item
            score_clock.advance(newest)
            out = await isolated(stages.score.handle, docs, stages.score.limits, m)
            summary.documents += len(docs)
            summary.dead_letters += len(out.dead)
            summary.mentions += len(out.records)
            await to_aggregate.put((await sender.send(topics.scored, out), newest))
            if on_progress is not None:
                on_progress(summary.raw.in_range, summary.documents)
        await to_aggregate.put(DONE)

    async def aggregate() -> None:
        while (item := await to_aggregate.get()) is not DONE:
            for scored, newest in by_hour(item[0], item[1]):
                aggregate_clock.advance(newest)
                out = await isolated(stages.aggregate.handle, scored, stages.aggregate.limits,
                                     m)
                summary.dead_letters += len(out.dead)
                summary.risk_updates += len(out.records)
                await sender.send(topics.risk, out)

    tasks = [asyncio.create_task(f()) for f in (ingest, score, aggregate)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


def _published(value: bytes | None) -> float | None:
    try:
        return datetime.fromisoformat(json.loads(value or b"")["published_at"]).timestamp()
    except Exception:  # noqa: BLE001 - dead-lettered by the aggregate stage
        return None


def by_hour(
    scored: list[RawMessage], newest: float | None
) -> list[tuple[list[RawMessage], float | None]]:
    """A batch of scored records cut where their event time enters another hour, each part
    with its newest event time: the risk topic gets (at least) one update per ticker per hour
    of event time, as from a worker that ran then, whatever the batch size."""
    parts: list[tuple[list[RawMessage], float | None]] = []
    hour: float | None = None
    for msg in scored:
        t = _published(msg.value)
        h = None if t is None else t // HOUR
        if not parts or (h is not None and hour is not None and h != hour):
            parts.append(([], None))
        if h is not None:
            hour = h
        chunk, top = parts[-1]
        parts[-1] = (chunk + [msg], top if t is None or (top is not None and top >= t) else t)
    return [(chunk, top if top is not None else newest) for chunk, top in parts]


def _newest(batch: Sequence[RawMessage], summary: ReplaySummary) -> float | None:
    """The batch's newest event time; widens the range of event times seen."""
    times = [t for t in (event_time(m.value, m.kind or "news") for m in batch) if t is not None]
    if not times:
        return None
    lo, hi = min(times), max(times)
    summary.event_time_min = lo if summary.event_time_min is None else min(
        summary.event_time_min, lo)
    summary.event_time_max = hi if summary.event_time_max is None else max(
        summary.event_time_max, hi)
    return hi
