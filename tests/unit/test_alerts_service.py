"""The alerts worker's loop with its collaborators injected (SQLite alert history, in-memory
consumer and producer): decisions are stored and dead letters produced before the offset
commit, and the committed positions follow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from alerts.dispatch import Dispatcher
from alerts.pipeline import AlertPipeline
from alerts.rules import load_rules
from alerts.service import AlertService
from alerts.settings import AlertSettings
from alerts.store.outbox import OutboxQueue
from alerts.store.repository import AlertStore
from streams.codec import HEADER_REASON, HEADER_TOPIC
from streams.contracts import utc_now
from support.alerts import one_rule, risk_update

RISK = "t.risk"


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class FakeConsumer:
    """Hands out one batch, then sets ``stop``; records what the loop does with it."""

    batch: list[Record]
    stop_event: asyncio.Event
    events: list[str]
    subscribed: list[str] = field(default_factory=list)

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.subscribed = topics

    async def start(self) -> None:
        self.events.append("start")

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TP, list[Record]]:
        if "getmany" in self.events:
            await asyncio.sleep(0)
            return {}
        self.events.append("getmany")
        self.stop_event.set()  # the loop finishes this batch, then ends
        return {TP(RISK, 0): self.batch}

    async def commit(self) -> None:
        self.events.append("commit")

    async def stop(self) -> None:
        self.events.append("stop")


@dataclass
class FakeProducer:
    events: list[str]
    sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None,
                            headers: list[tuple[str, bytes]]) -> None:
        self.events.append(f"send {topic}")
        self.sent.append((topic, key, headers))


async def test_decisions_and_dead_letters_go_before_the_offset_commit(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(one_rule())
    settings = AlertSettings(database_url=f"sqlite:///{tmp_path / 'alerts.db'}",
                             rules_path=str(tmp_path / "rules.yaml"), migrate_on_start=True)
    rules = load_rules(settings.rules_path)
    store = AlertStore(settings.database_url, migrate=True)
    pipeline = AlertPipeline(rules, store, [], public_url="http://x", clock=utc_now,
                             deadline=timedelta(minutes=5))
    dispatcher = Dispatcher(OutboxQueue(store.session), {}, settings.retry, utc_now)
    events: list[str] = []
    stop = asyncio.Event()
    batch = [Record(RISK, 0, 0, b"HIGH", risk_update("HIGH", 90).to_json_bytes()),
             Record(RISK, 0, 1, b"x", b"not json {"),
             Record(RISK, 0, 2, b"LOW", risk_update("LOW", 10).to_json_bytes())]
    consumer = FakeConsumer(batch, stop, events)
    producer = FakeProducer(events)
    service = AlertService(settings, rules=rules, store=store, pipeline=pipeline,
                           dispatcher=dispatcher, new_consumer=lambda: consumer,
                           dead_letter_producer=producer, risk_topic=RISK)
    try:
        await asyncio.wait_for(service.consume(stop), 10)
    finally:
        store.close()

    assert consumer.subscribed == [RISK]
    assert events == ["start", "getmany", f"send {RISK}.dlq", "commit", "stop"]
    [(topic, key, headers)] = producer.sent
    assert (topic, key) == (f"{RISK}.dlq", b"x")
    assert dict(headers)[HEADER_REASON] == b"invalid_json"
    assert dict(headers)[HEADER_TOPIC] == RISK.encode()
    assert service.committed == {TP(RISK, 0): 3}
    assert (service.invalid_updates, service.dead_letters) == (1, 1)
    assert [a.ticker for a in AlertStore(settings.database_url).list_alerts()] == ["HIGH"]
