"""Real broker, real worker, real receiver: the receiver is down while alerts fire (30 s by
default; TICKERPULSE_TEST_OUTAGE_S), then up: every alert arrives exactly once by id, in
firing order per ticker; a real Kafka consumer reads the same ids from the `alerts` topic."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alerts.signing import generate_secret
from alerts.store.repository import AlertStore
from streams.contracts import RiskUpdate, utc_now
from streams.settings import KafkaSettings
from streams.topics import Topics
from support.alerts import Receiver, one_rule
from tickerpulse.alerts_worker import serve
from tickerpulse.embedded import free_port
from tickerpulse.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = float(os.environ.get("TICKERPULSE_TEST_OUTAGE_S", "30"))
TICKERS = ["AAA", "BBB", "CCC"]
SCORES = [80, 50, 80, 50, 80]  # fire, resolve, fire, resolve, fire: 5 alerts per ticker
RULES = one_rule()


def worker_settings(tmp_path: Path, db_url: str, bootstrap: str, receiver: Receiver) -> Settings:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    tag = uuid.uuid4().hex[:8]
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"t{tag}.", partitions=2,
                            rebalance_timeout_s=3, session_timeout_s=6),
        alerts={
            "database_url": db_url, "rules_path": str(rules), "consumer_group": f"alerts-{tag}",
            "endpoints": [{"name": "ops", "url": receiver.url, "secret": receiver.secret,
                           "timeout_s": 2}],
            "retry": {"initial_backoff_s": 0.3, "max_backoff_s": 1.5, "deadline_s": 600},
            "scheduler": {"delivery_interval_s": 0.5, "lease_s": 5},
        },
    )


def risk(ticker: str, score: float) -> RiskUpdate:
    return RiskUpdate(ticker=ticker, as_of=utc_now(), score=score, components={"s": 1.0},
                      sentiment={"1h": -0.5}, volume={"1h": 5.0}, buzz_z=1.0,
                      negative_mentions={"1h": 3.0}, mentions_total=5, model_version="m",
                      trigger_doc_id=f"d{time.time_ns()}")


async def wait_for(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


async def read_alerts_topic(bootstrap: str, topic: str, expected: int) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    records = []
    try:
        end = time.monotonic() + 30
        while len(records) < expected and time.monotonic() < end:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(msgs)
        for msgs in (await consumer.getmany(timeout_ms=1000)).values():
            records.extend(msgs)  # anything extra would be a duplicate
    finally:
        await consumer.stop()
    return records


async def test_outage_then_exactly_once_in_order_and_kafka_ids_match(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    receiver = Receiver(generate_secret(), free_port())  # down: not started
    settings = worker_settings(tmp_path, f"sqlite:///{tmp_path}/alerts.db", kafka_bootstrap,
                               receiver)
    topics = Topics(settings.kafka.topic_prefix)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, stop))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    store = AlertStore(settings.alerts.database_url)
    outage_started = time.monotonic()
    try:
        await asyncio.sleep(1.0)  # the worker creates the topics
        for score in SCORES:
            for ticker in TICKERS:
                update = risk(ticker, score)
                await producer.send_and_wait(topics.risk, update.to_json_bytes(),
                                             key=ticker.encode())
            await asyncio.sleep(0.3)
        expected = len(TICKERS) * len(SCORES)
        await wait_for(lambda: len(store.list_alerts(limit=1000)) == expected, 60,
                       "all alerts decided")
        assert receiver.requests == []
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))
        assert {a.delivery_status for a in store.list_alerts(limit=1000)} == {"pending"}
        receiver.start()
        await wait_for(lambda: len(receiver.delivered()) >= expected, 30, "all delivered")
        await asyncio.sleep(1.5)  # a duplicate would show up here
    finally:
        stop.set()
        await asyncio.wait_for(worker, 20)
        await producer.stop()
        receiver.stop()

    alerts = sorted(store.list_alerts(limit=1000), key=lambda a: a.id)  # firing order
    delivered = receiver.delivered()
    ids = [r.webhook_id for r in delivered]
    assert len(ids) == len(set(ids)) == expected, "each alert exactly once"
    assert set(ids) == {a.event_id for a in alerts}
    assert all(a.delivery_status == "delivered" for a in alerts)
    for ticker in TICKERS:
        fired = [a.event_id for a in alerts if a.ticker == ticker]
        got = [r.webhook_id for r in delivered if r.body["ticker"] == ticker]
        assert got == fired, f"{ticker} out of firing order"
        statuses = [r.body["status"] for r in delivered if r.body["ticker"] == ticker]
        assert statuses == ["firing", "resolved", "firing", "resolved", "firing"]

    records = await read_alerts_topic(kafka_bootstrap, topics.alerts, expected)
    kafka_ids = [dict(r.headers)["event-id"].decode() for r in records]
    assert len(kafka_ids) == expected and set(kafka_ids) == set(ids)
    for r in records:
        body = json.loads(r.value)
        assert r.key.decode() == body["ticker"] and dict(r.headers)["event-id"].decode() == \
            body["event_id"]
    for ticker in TICKERS:
        in_topic = [json.loads(r.value)["event_id"] for r in records
                    if r.key.decode() == ticker]
        assert in_topic == [a.event_id for a in alerts if a.ticker == ticker]
    store.close()


async def test_worker_fires_a_held_rule_without_further_input(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    receiver = Receiver(generate_secret(), free_port()).start()
    settings = worker_settings(tmp_path, f"sqlite:///{tmp_path}/alerts.db", kafka_bootstrap,
                               receiver)
    (tmp_path / "rules.yaml").write_text(RULES + "    for: 3s\n")
    settings.alerts.timer_interval_s = 0.5
    topics = Topics(settings.kafka.topic_prefix)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, stop))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await asyncio.sleep(1.0)
        sent_at = time.monotonic()
        await producer.send_and_wait(topics.risk, risk("HOLD", 90).to_json_bytes(), key=b"HOLD")
        await wait_for(lambda: len(receiver.delivered()) == 1, 40, "the held alert")
        assert time.monotonic() - sent_at >= 3.0
        (got,) = receiver.delivered()
        assert got.body["ticker"] == "HOLD" and got.body["status"] == "firing"
    finally:
        stop.set()
        await asyncio.wait_for(worker, 20)
        await producer.stop()
        receiver.stop()
