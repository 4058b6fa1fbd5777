"""Reading a range of the live raw topics for a replay: an assigned consumer, no group.

No consumer group is joined and no offset is committed, so the live groups and their offsets
are untouched. Each partition is read from its start (the beginning, or ``START`` of an
``--offsets TOPIC:PARTITION:START-END`` range) up to its end: ``END`` (exclusive), or the high
watermark seen at the start of the replay. The high watermark is taken from the fetch response
(``highwater``), which every broker reports right, with ``end_offsets()`` only as the fallback
for a partition no fetch has answered (Tansu's ListOffsets is wrong for multi-record batches).

A time range (``--from``/``--to``) filters on each record's event time (``published_at``,
``created_at``, ``filed_at``): the broker's record timestamps are produce times, not event
times, so ``offsets_for_times`` cannot bound it and is not used. Records are handed on in
event-time order across partitions (a k-way merge on each partition's latest event time, with
a bounded buffer), as a live worker reading in real time would have seen them.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.contracts import DocumentKind
from streams.errors import ConfigurationError
from streams.kafka_config import aiokafka_kwargs
from streams.processing import RawMessage
from streams.settings import KafkaSettings
from streams.sources import source_of

log = logging.getLogger(__name__)
_RANGE = re.compile(r"^(?P<topic>.+):(?P<partition>\d+):(?P<start>\d+)-(?P<end>\d*)$")
MERGE_BUFFER = 50_000  # records held for ordering at most; beyond, the oldest go on anyway


@dataclass(frozen=True)
class OffsetRange:
    """``topic`` (without the live prefix), ``partition``, offsets ``start`` .. ``end``
    (exclusive; None = the high watermark at the start)."""

    topic: str
    partition: int
    start: int
    end: int | None = None


def parse_offset_range(text: str) -> OffsetRange:
    """``news.raw:0:100-200`` -> OffsetRange("news.raw", 0, 100, 200); ``news.raw:1:5-``:
    from 5 to the end."""
    match = _RANGE.fullmatch(text.strip())
    if not match:
        raise ConfigurationError(f"offset range {text!r}: use TOPIC:PARTITION:START-END "
                                 "(END exclusive, may be empty: to the end)")
    start, end = int(match["start"]), int(match["end"]) if match["end"] else None
    if end is not None and end < start:
        raise ConfigurationError(f"offset range {text!r}: END is before START")
    return OffsetRange(match["topic"], int(match["partition"]), start, end)


@dataclass(frozen=True)
class TimeRange:
    """Event times ``start`` <= t < ``end`` (None: open)."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if t is not None and t.tzinfo is None:
                raise ConfigurationError(f"{t.isoformat()}: give a time zone (e.g. Z, +00:00)")
        if self.start and self.end and self.end <= self.start:
            raise ConfigurationError("--to must be after --from")

    def holds(self, t: float | None) -> bool:
        """Whether event time ``t`` (epoch s) is in range; None (undecodable) only when the
        range is open at both ends (it is dead-lettered in the shadow, as it was live)."""
        if t is None:
            return self.start is None and self.end is None
        return ((self.start is None or t >= self.start.timestamp())
                and (self.end is None or t < self.end.timestamp()))


def event_time(value: bytes | None, kind: DocumentKind) -> float | None:
    """The record's event time (epoch s), or None when it does not decode as its contract."""
    if value is None:
        return None
    source = source_of(kind)
    try:
        return float(source.facts(source.contract.model_validate_json(value))
                     .event_time.timestamp())
    except Exception:  # noqa: BLE001 - a bad record becomes a dead letter at ingest
        return None


class EventTimeMerge:
    """Records of several partitions in event-time order: a record is released once every
    unfinished partition has been read past its time (or the buffer is full)."""

    def __init__(self, partitions: Sequence[TopicPartition], limit: int = MERGE_BUFFER) -> None:
        self.read_to: dict[TopicPartition, float] = {tp: float("-inf") for tp in partitions}
        self.open = set(partitions)
        self.heap: list[tuple[float, int, RawMessage]] = []
        self.limit, self._seq = limit, 0

    def add(self, tp: TopicPartition, t: float | None, msg: RawMessage) -> None:
        at = self.read_to[tp] if t is None else t  # undecodable: where its partition is
        self.read_to[tp] = max(self.read_to[tp], at)
        self._seq += 1
        heapq.heappush(self.heap, (at, self._seq, msg))

    def finish(self, tp: TopicPartition) -> None:
        self.open.discard(tp)

    def release(self) -> list[RawMessage]:
        mark = min((self.read_to[tp] for tp in self.open), default=float("inf"))
        out = []
        while self.heap and (self.heap[0][0] <= mark or len(self.heap) > self.limit):
            out.append(heapq.heappop(self.heap)[2])
        return out


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        await consumer._client.force_metadata_update()  # noqa: SLF001
        await asyncio.sleep(0.1)
    return set()


@dataclass
class RawRead:
    """What a read saw: records read and those in range."""

    read: int = 0
    in_range: int = 0
    planned: int = 0  # records between the start and end offsets of every partition


async def read_raw(
    kafka: KafkaSettings, kinds: Mapping[str, DocumentKind], offsets: Sequence[OffsetRange],
    times: TimeRange, batch: int, stats: RawRead,
    on_planned: Callable[[int], None] | None = None,
) -> AsyncIterator[list[RawMessage]]:
    """Batches of the raw records of the topics ``kinds`` names (full names -> kind), in
    event-time order. ``offsets`` (names without prefix) restricts the partitions read."""
    consumer = AIOKafkaConsumer(**aiokafka_kwargs(kafka), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        bounds = await _assign(consumer, kafka.topic_prefix, kinds, offsets)
        ends = await _ends(consumer, bounds)
        stats.planned = sum(max(0, ends[tp] - bounds[tp][0]) for tp in bounds)
        if on_planned is not None:
            on_planned(stats.planned)
        merge = EventTimeMerge(list(bounds))
        for tp in bounds:
            if ends[tp] <= bounds[tp][0]:
                merge.finish(tp)
        async for out in _drain(consumer, merge, ends, kinds, times, batch, stats):
            yield out
    finally:
        await consumer.stop()


async def _assign(
    consumer: AIOKafkaConsumer, prefix: str, kinds: Mapping[str, DocumentKind],
    offsets: Sequence[OffsetRange],
) -> dict[TopicPartition, tuple[int, int | None]]:
    bounds: dict[TopicPartition, tuple[int, int | None]] = {}
    if offsets:
        for r in offsets:
            topic = prefix + r.topic
            if topic not in kinds:
                raise ConfigurationError(f"{r.topic}: not a raw topic being replayed "
                                         f"({', '.join(t.removeprefix(prefix) for t in kinds)})")
            bounds[TopicPartition(topic, r.partition)] = (r.start, r.end)
    else:
        for topic in kinds:
            for p in sorted(await _partitions(consumer, topic)):
                bounds[TopicPartition(topic, p)] = (0, None)
    consumer.assign(list(bounds))
    for tp, (start, _) in bounds.items():
        consumer.seek(tp, start)
    if not offsets:
        await consumer.seek_to_beginning(*bounds)
        starts = await consumer.beginning_offsets(list(bounds))
        bounds = {tp: (int(starts[tp]), None) for tp in bounds}
    return bounds


async def _ends(
    consumer: AIOKafkaConsumer, bounds: Mapping[TopicPartition, tuple[int, int | None]]
) -> dict[TopicPartition, int]:
    """Each partition's last offset (exclusive) to read: END, else the fetch high watermark
    now (``end_offsets()`` only where no fetch answered within a few seconds)."""
    ends: dict[TopicPartition, int] = {tp: e for tp, (_, e) in bounds.items() if e is not None}
    todo = [tp for tp in bounds if tp not in ends]
    if not todo:
        return ends
    fallback = await consumer.end_offsets(todo)
    consumer.pause(*[tp for tp in bounds if tp in ends])
    held: dict[TopicPartition, list[Any]] = {}
    for _ in range(30):  # the first fetches tell the high watermark; keep what they brought
        got = await consumer.getmany(*todo, timeout_ms=100, max_records=1)
        for tp, records in got.items():
            held.setdefault(tp, []).extend(records)
        for tp in todo:
            hw = consumer.highwater(tp)
            if hw is not None and tp not in ends:
                ends[tp] = int(hw)
        if all(tp in ends for tp in todo):
            break
    for tp in todo:
        if tp not in ends:
            ends[tp] = int(fallback[tp])
            log.warning("%s[%d]: no fetch high watermark; using end_offsets %d", tp.topic,
                        tp.partition, ends[tp])
    consumer.resume(*consumer.paused())
    for tp in bounds:  # read again from the start (the probe's records are dropped)
        consumer.seek(tp, bounds[tp][0])
    return ends


async def _drain(
    consumer: AIOKafkaConsumer, merge: EventTimeMerge, ends: Mapping[TopicPartition, int],
    kinds: Mapping[str, DocumentKind], times: TimeRange, batch: int, stats: RawRead,
) -> AsyncIterator[list[RawMessage]]:
    pending: list[RawMessage] = []
    while merge.open:
        got = await consumer.getmany(*merge.open, timeout_ms=500, max_records=5000)
        for tp, records in got.items():
            for r in records:
                if r.offset >= ends[tp]:
                    continue
                stats.read += 1
                kind = kinds[tp.topic]
                t = event_time(r.value, kind)
                if not times.holds(t):
                    continue
                stats.in_range += 1
                merge.add(tp, t, RawMessage(r.topic, r.partition, r.offset, r.key, r.value,
                                            kind))
        for tp in list(merge.open):
            if await consumer.position(tp) >= ends[tp]:
                merge.finish(tp)
                consumer.pause(tp)
        pending.extend(merge.release())
        while len(pending) >= batch:
            yield pending[:batch]
            pending = pending[batch:]
    pending.extend(merge.release())
    for start in range(0, len(pending), batch):
        yield pending[start:start + batch]


async def read_topic_records(
    kafka: KafkaSettings, topic: str, timeout_s: float = 600.0
) -> list[Any]:
    """Every record of ``topic`` up to its high watermark now (assigned consumer, no group):
    what ``tickerpulse replay report`` reads the live and shadow topics with."""
    consumer = AIOKafkaConsumer(**aiokafka_kwargs(kafka), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    out: list[Any] = []
    try:
        parts = await _partitions(consumer, topic)
        if not parts:
            return out
        bounds: dict[TopicPartition, tuple[int, int | None]] = {
            TopicPartition(topic, p): (0, None) for p in sorted(parts)}
        consumer.assign(list(bounds))
        await consumer.seek_to_beginning(*bounds)
        starts = await consumer.beginning_offsets(list(bounds))
        bounds = {tp: (int(starts[tp]), None) for tp in bounds}
        ends = await _ends(consumer, bounds)
        open_ = {tp for tp in bounds if ends[tp] > bounds[tp][0]}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while open_ and loop.time() < deadline:
            got = await consumer.getmany(*open_, timeout_ms=500, max_records=5000)
            for tp, records in got.items():
                out.extend(r for r in records if r.offset < ends[tp])
            for tp in list(open_):
                if await consumer.position(tp) >= ends[tp]:
                    open_.discard(tp)
                    consumer.pause(tp)
        if open_:
            raise TimeoutError(f"{topic}: not read to its end in {timeout_s}s")
    finally:
        await consumer.stop()
    return out
