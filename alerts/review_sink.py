"""The review queue's consumer: ``review`` topic -> SQL (:class:`alerts.store.review.ReviewStore`).

Per batch: decode every record (one that is not a ReviewCandidate goes to ``<review>.dlq``
with its reason and coordinates, as the risk consumer does), store the candidates (idempotent,
retried while SQL is unreachable), produce the dead letters, then commit the offsets. A crash
in between replays the batch, and the store skips what it holds already.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from alerts.service import dead_letter_of, decode_failure, send_dead_letters
from alerts.store.review import ReviewStore
from streams.codec import DeadLetter
from streams.contracts import ReviewCandidate, utc_now

log = logging.getLogger(__name__)


class ReviewSink:
    def __init__(self, store: ReviewStore, *, new_consumer: Callable[[], Any],
                 dead_letter_producer: Any, topic: str,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store, self.topic, self.clock = store, topic, clock
        self._new_consumer = new_consumer
        self._dlq_producer = dead_letter_producer
        self.stored = 0
        self.duplicates = 0
        self.evicted = 0
        self.dead_letters = 0

    async def consume(self, stop: asyncio.Event) -> None:
        """Read the review topic until ``stop``; offsets are committed after the SQL write."""
        from aiokafka.errors import KafkaError

        consumer = self._new_consumer()
        consumer.subscribe([self.topic])
        await consumer.start()
        log.info("review queue reading %s", self.topic)
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                if not batches:
                    continue
                candidates, letters = self.decode(m for msgs in batches.values() for m in msgs)
                if not await self._store(candidates, stop):
                    break  # stopping while SQL was unreachable: the batch is not committed
                await self._send_dead_letters(letters)
                try:
                    await consumer.commit()
                except KafkaError as exc:  # a rebalance took the partitions: replay is harmless
                    log.warning("review offset commit refused (%s)", exc)
        finally:
            await consumer.stop()

    def decode(self, messages: Any) -> tuple[list[ReviewCandidate], list[DeadLetter]]:
        candidates: list[ReviewCandidate] = []
        letters: list[DeadLetter] = []
        for message in messages:
            try:
                candidates.append(ReviewCandidate.model_validate_json(message.value))
            except Exception as exc:  # noqa: BLE001 - whatever the bytes, the consumer goes on
                reason, detail = decode_failure(exc)
                log.error("invalid ReviewCandidate at %s[%s]@%s: %s: %s", message.topic,
                          message.partition, message.offset, reason, detail)
                letters.append(dead_letter_of(message, reason, detail))
        return candidates, letters

    async def _store(self, candidates: list[ReviewCandidate], stop: asyncio.Event) -> bool:
        if not candidates:
            return True
        delay = 0.5
        while True:
            try:
                result = await asyncio.to_thread(self.store.add, candidates, self.clock())
            except SQLAlchemyError as exc:
                log.warning("review queue unreachable, retrying in %.1fs: %s", delay, exc)
            else:
                self.stored += result.added
                self.duplicates += result.duplicates
                self.evicted += result.evicted
                return True
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return False
            except TimeoutError:
                delay = min(delay * 2, 10.0)

    async def _send_dead_letters(self, letters: list[DeadLetter]) -> None:
        self.dead_letters += await send_dead_letters(self._dlq_producer, self.topic, letters)
