"""No record on `risk` stops the alerts worker (real broker, PostgreSQL): undecodable records
and updates whose ticker PostgreSQL cannot store go to `risk.dlq` with their reason and
source coordinates, and the records after them are decided by the same consumer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alerts.signing import generate_secret
from alerts.store.repository import AlertStore
from streams.codec import (
    HEADER_DETAIL,
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_REASON,
    HEADER_SHA256,
    HEADER_SIZE,
    HEADER_TOPIC,
)
from streams.settings import KafkaSettings
from streams.topics import Topics
from support.alerts import Receiver, one_rule, risk_update, unique
from tickerpulse.alerts_worker import serve
from tickerpulse.embedded import free_port
from tickerpulse.settings import Settings

pytestmark = pytest.mark.integration

RULES = one_rule()


def update_json(**changes: object) -> bytes:
    raw = json.loads(risk_update("OK", 90).to_json_bytes())
    raw.update(changes)
    return json.dumps(raw).encode()


# (key, value, the reason it is dead-lettered with; None: a good record)
RECORDS: list[tuple[bytes, bytes | None, set[str] | None]] = [
    (b"DLA", risk_update("DLA", 90).to_json_bytes(), None),
    (b"x", b"not json {", {"invalid_json"}),
    (b"x", b"\xff\xfe\x00", {"invalid_json"}),
    (b"x", b'{"a":' * 2000 + b"1" + b"}" * 2000, {"invalid_json"}),  # nested too deep
    (b"x", None, {"invalid_json"}),  # a tombstone
    (b"x", b"[" + b" " * 950_000 + b"]", {"wrong_type", "invalid_json"}),  # too big to re-produce
    (b"x", b'{"schema_version": 1}', {"missing_field"}),
    (b"x", update_json(schema_version=2), {"unknown_schema_version"}),
    (b"x", update_json(score="high"), {"wrong_type"}),
    # tickers PostgreSQL cannot store (the contract may refuse them first: wrong_type)
    (b"x", update_json(ticker="\x00"), {"invalid_ticker", "wrong_type"}),
    (b"x", update_json(ticker="X" * 40), {"invalid_ticker", "wrong_type"}),
    (b"x", update_json(ticker="ß" * 17), {"invalid_ticker", "wrong_type"}),  # 34 upper-cased
    (b"DLB", risk_update("DLB", 90).to_json_bytes(), None),
]


async def read_all(bootstrap: str, topic: str, expected: int) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    records: list = []  # type: ignore[type-arg]
    try:
        end = time.monotonic() + 30
        while len(records) < expected and time.monotonic() < end:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(msgs)
    finally:
        await consumer.stop()
    return records


async def test_bad_records_are_dead_lettered_and_the_consumer_goes_on(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    receiver = Receiver(generate_secret(), free_port()).start()
    (tmp_path / "rules.yaml").write_text(RULES)
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=unique("d") + ".",
                            partitions=1, rebalance_timeout_s=3, session_timeout_s=6),
        alerts={"database_url": postgres_url, "rules_path": str(tmp_path / "rules.yaml"),
                "consumer_group": unique("alerts-"), "http_port": 0,
                "endpoints": [{"name": "ops", "url": receiver.url, "secret": receiver.secret}]},
    )
    topics = Topics(settings.kafka.topic_prefix)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, stop))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2**20)
    await producer.start()
    store = AlertStore(postgres_url)
    bad = [(offset, reasons) for offset, (_, _, reasons) in enumerate(RECORDS) if reasons]
    try:
        await asyncio.sleep(1.0)  # the worker creates the topics
        for key, value, _ in RECORDS:
            await producer.send_and_wait(topics.risk, value, key=key)
        letters = await read_all(kafka_bootstrap, Topics.dlq(topics.risk), len(bad))
        end = time.monotonic() + 30
        while len(store.list_alerts()) < 2 and time.monotonic() < end:
            await asyncio.sleep(0.2)
        assert not worker.done(), worker
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
        await producer.stop()
        receiver.stop()
    assert sorted(a.ticker for a in store.list_alerts()) == ["DLA", "DLB"]
    assert len(letters) == len(bad)
    for letter, (offset, reasons) in zip(letters, bad, strict=True):
        headers = {k: v.decode() for k, v in letter.headers}
        assert headers[HEADER_REASON] in reasons, (offset, headers)
        assert headers[HEADER_TOPIC] == topics.risk and headers[HEADER_PARTITION] == "0"
        assert int(headers[HEADER_OFFSET]) == offset and headers[HEADER_DETAIL]
        original = RECORDS[offset][1] or b""
        assert int(headers[HEADER_SIZE]) == len(original)
        if len(original) > 900_000:  # kept as a prefix, with the digest of the whole
            assert letter.value == original[:65_536]
            assert headers[HEADER_SHA256] == hashlib.sha256(original).hexdigest()
        else:
            assert letter.value == original  # the original bytes, unchanged
    store.close()
