"""Producing feed messages onto the input topics at a steady rate (aiokafka)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from streams.feed import FeedMessage
from streams.kafka_config import aiokafka_kwargs
from streams.settings import KafkaSettings
from streams.topics import Topics


def producer(kafka: KafkaSettings, **kw: object) -> AIOKafkaProducer:
    return AIOKafkaProducer(**aiokafka_kwargs(kafka), linger_ms=5, **kw)


async def publish(
    messages: Iterable[FeedMessage], kafka: KafkaSettings, rate: float | None = None
) -> int:
    """Send messages to their raw topics at ``rate`` per second (None = at once)."""
    topics = Topics(kafka.topic_prefix)
    prod = producer(kafka)
    await prod.start()
    sent = 0
    start = time.monotonic()
    try:
        for msg in messages:
            if rate:
                delay = start + sent / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await prod.send(topics.raw(msg.topic_kind), msg.value, key=msg.key)
            sent += 1
        await prod.flush()
    finally:
        await prod.stop()
    return sent
