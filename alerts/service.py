"""The alerts worker: reads RiskUpdates from the ``risk`` topic, decides, stores, delivers.

Order of side effects per batch: decisions and outbox rows are committed to SQL first, the
consumer offset after (a crash in between replays the batch; the stored state and the
deterministic event ids make the replay change nothing), delivery last, from the outbox.

Timers (`for`, cooldown, repeats, expiring silences) run for every ticker with pending state
whose last input came from a partition this worker is assigned, read from SQL: on start, on
every assignment and every ``timer_interval_s``; nothing depends on what this process saw.

No record stops the consumer: one that does not decode as a RiskUpdate, and one whose ticker
the alert history cannot store, go to ``<risk>.dlq`` with a reason and their source
coordinates (the ``tp-dlq-*`` / ``tp-source-*`` headers of :class:`streams.codec.DeadLetter`),
before the offset is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import ConsumerRebalanceListener
from sqlalchemy.exc import SQLAlchemyError

from alerts.dispatch import Dispatcher
from alerts.pipeline import AlertPipeline, Processed
from alerts.rules import RuleSet
from alerts.settings import AlertSettings
from alerts.store.repository import AlertStore, StateConflict
from streams.codec import MAX_KEY_BYTES, OVERSIZE_PREFIX_BYTES, DeadLetter, Limits
from streams.contracts import RiskUpdate
from streams.metrics import Metrics
from streams.topics import Topics

log = logging.getLogger(__name__)


class _OwnedPartitions(ConsumerRebalanceListener):  # type: ignore[misc]
    """Rebalance listener: timers run for the tickers of the partitions assigned, at once."""

    def __init__(self, owned: dict[str, set[int]]) -> None:
        self.owned = owned  # topic -> partition numbers assigned to this worker
        self.joined = False  # readiness: the consumer got its first assignment
        self.timers_due = False  # run the timers of newly assigned partitions now

    async def on_partitions_revoked(self, revoked: object) -> None:
        self.owned.clear()

    async def on_partitions_assigned(self, assigned: object) -> None:
        self.owned.clear()
        for tp in assigned:  # type: ignore[attr-defined]
            self.owned.setdefault(tp.topic, set()).add(tp.partition)
        self.joined = True
        self.timers_due = True


class AlertService:
    """One alerts worker's read-decide-store loop over the risk topic, and its timers.

    Every collaborator is built by the process's composition root
    (:mod:`tickerpulse.alerts_worker`) and injected: the rules in force, the alert history,
    the decision pipeline, the outbox dispatcher, a factory of the (unstarted) risk-topic
    consumer and a started producer for the dead letters.
    """

    def __init__(
        self,
        settings: AlertSettings,
        *,
        rules: RuleSet,
        store: AlertStore,
        pipeline: AlertPipeline,
        dispatcher: Dispatcher,
        new_consumer: Callable[[], Any],
        dead_letter_producer: Any,
        risk_topic: str,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.rules = rules
        self.store = store
        self.pipeline = pipeline
        self.dispatcher = dispatcher
        self.risk_topic = risk_topic
        self._new_consumer = new_consumer
        self._dlq_producer = dead_letter_producer
        self.invalid_updates = 0
        self.dead_letters = 0
        self.owned: dict[str, set[int]] = {}  # topic -> partitions this worker reads
        self.rebalance = _OwnedPartitions(self.owned)
        self.consumer: Any = None  # the running AIOKafkaConsumer (metrics, readiness)
        self.committed: dict[Any, int] = {}  # TopicPartition -> committed offset (lag)

    async def consume(self, stop: asyncio.Event) -> None:
        """Read the risk topic until ``stop`` is set; commit offsets after the SQL write."""
        consumer = self._new_consumer()
        consumer.subscribe([self.risk_topic], listener=self.rebalance)
        await consumer.start()
        self.consumer = consumer
        log.info("alerts worker reading %s", self.risk_topic)
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self.settings.timer_interval_s
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                if self.rebalance.timers_due or loop.time() >= next_tick:
                    self.rebalance.timers_due = False
                    next_tick = loop.time() + self.settings.timer_interval_s
                    await self._run_timers()
                if not batches:
                    continue
                updates, sources, letters = self._decode(
                    m for msgs in batches.values() for m in msgs)
                processed = await self._store_decisions(updates, sources, stop)
                if processed is None:
                    break  # stopping while SQL was unreachable: the batch is not committed
                letters += [self._letter(sources[r.index], r.reason, r.detail)
                            for r in processed.rejected]
                await self._send_dead_letters(letters)
                if await self._commit(consumer):
                    self.committed.update({tp: msgs[-1].offset + 1
                                           for tp, msgs in batches.items()})
                if processed.new_ids:
                    self.dispatcher.kick()
        finally:
            self.consumer = None
            await consumer.stop()

    async def _commit(self, consumer: Any) -> bool:
        """Commit the consumed offsets; a commit refused because a rebalance took the
        partitions away is harmless (the new owner skips what SQL already holds)."""
        from aiokafka.errors import KafkaError

        try:
            await consumer.commit()
        except KafkaError as exc:
            log.warning("offset commit refused (%s): the next owner replays from the last "
                        "commit; decisions already stored are skipped", exc)
            return False
        return True

    async def _run_timers(self) -> None:
        owned = {topic: set(numbers) for topic, numbers in self.owned.items()}
        if not owned:
            return
        try:
            new_ids = await asyncio.to_thread(self.pipeline.tick_owned, owned)
        except SQLAlchemyError as exc:
            log.warning("timers skipped, alert history unreachable: %s", exc)
            return
        if new_ids:
            self.dispatcher.kick()

    async def _store_decisions(
        self, updates: list[RiskUpdate], sources: list[Any], stop: asyncio.Event
    ) -> Processed | None:
        """Decide and store, retrying while SQL is unreachable (offsets wait meanwhile)."""
        positions = [(f"{m.topic}/{m.partition}", m.offset) for m in sources]
        delay = 0.5
        while True:
            try:
                return await asyncio.to_thread(self.pipeline.run, updates, positions)
            except (SQLAlchemyError, StateConflict) as exc:
                log.warning("alert history unreachable or busy, retrying in %.1fs: %s",
                            delay, exc)
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return None
            except TimeoutError:
                delay = min(delay * 2, 10.0)

    def _decode(self, messages: Any) -> tuple[list[RiskUpdate], list[Any], list[DeadLetter]]:
        """RiskUpdates and their source messages; every other record becomes a dead letter."""
        updates: list[RiskUpdate] = []
        sources: list[Any] = []
        letters: list[DeadLetter] = []
        for message in messages:
            try:
                update = RiskUpdate.model_validate_json(message.value)
            except Exception as exc:  # noqa: BLE001 - whatever the bytes, the consumer goes on
                # The risk topic is our own output: a bad record is a bug upstream; count it.
                self.invalid_updates += 1
                if self.metrics is not None:
                    self.metrics.inc("alert_risk_updates_total", result="invalid")
                reason, detail = decode_failure(exc)
                log.error("invalid RiskUpdate at %s[%s]@%s: %s: %s", message.topic,
                          message.partition, message.offset, reason, detail)
                letters.append(self._letter(message, reason, detail))
                continue
            updates.append(update)
            sources.append(message)
            if self.metrics is not None:
                self.metrics.inc("alert_risk_updates_total", result="ok")
        return updates, sources, letters

    @staticmethod
    def _letter(message: Any, reason: str, detail: str) -> DeadLetter:
        return dead_letter_of(message, reason, detail)

    async def _send_dead_letters(self, letters: list[DeadLetter]) -> None:
        self.dead_letters += await send_dead_letters(self._dlq_producer, self.risk_topic,
                                                     letters)


async def send_dead_letters(producer: Any, topic: str, letters: list[DeadLetter]) -> int:
    """Produce each dead letter of ``topic`` to ``<topic>.dlq`` and wait for the broker (before
    the offset commit: a crash repeats a letter, never loses one); how many were sent."""
    dlq = Topics.dlq(topic)
    for letter in letters:
        await producer.send_and_wait(dlq, value=letter.value, key=letter.key,
                                     headers=letter.headers())
        log.warning("dead-lettered %s[%d]@%d to %s: %s (%s)", letter.topic,
                    letter.partition, letter.offset, dlq, letter.reason, letter.detail)
    return len(letters)


def dead_letter_of(message: Any, reason: str, detail: str) -> DeadLetter:
    """The dead letter of a consumed ``message``, kept whole or, when too big to re-produce,
    as a prefix with the original size and digest (as the stream worker's dead letters)."""
    value: bytes = message.value or b""
    digest = ""
    if len(value) > Limits.max_message_bytes:
        digest = hashlib.sha256(value).hexdigest()
    key = message.key[:MAX_KEY_BYTES] if message.key else message.key
    return DeadLetter(reason, detail[:500], message.topic, message.partition,
                      message.offset, key, value[:OVERSIZE_PREFIX_BYTES] if digest else value,
                      len(value), digest)


def decode_failure(exc: Exception) -> tuple[str, str]:
    """The dead-letter reason and detail of a record that is not a RiskUpdate (the reason
    names of :mod:`streams.errors`)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return "invalid", repr(exc)[:500]
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "(record)"
    detail = f"{where}: {first['msg']}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1
                                          else "")
    kinds = {e["type"] for e in errors}
    if kinds & {"json_invalid", "json_type"}:
        return "invalid_json", detail
    if first["loc"][:1] == ("schema_version",):
        return "unknown_schema_version", detail
    if "missing" in kinds:
        return "missing_field", detail
    return "wrong_type", detail
