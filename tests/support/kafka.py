"""Reading a topic back in tests: counts what arrives, never trusts ``end_offsets``."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from streams.kafka_config import aiokafka_kwargs
from streams.settings import KafkaSettings


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
