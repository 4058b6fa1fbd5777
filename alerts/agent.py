"""The alerts worker: reads RiskUpdates from the ``risk`` topic, decides, stores, delivers.

Order of side effects per batch: decisions and outbox rows are committed to SQL first, the
consumer offset after (a crash in between replays the batch; the stored state and the
deterministic event ids make the replay change nothing), delivery last, from the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from aiokafka import ConsumerRebalanceListener  # type: ignore[import-untyped]
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from alerts.dispatch import Dispatcher
from alerts.notifiers import KafkaAlertsNotifier, Notifier, WebhookNotifier
from alerts.pipeline import AlertPipeline
from alerts.rules import load_rules
from alerts.settings import AlertSettings
from alerts.store.outbox import OutboxQueue
from alerts.store.repository import AlertStore
from streams.contracts import RiskUpdate, utc_now
from streams.kafka_config import aiokafka_kwargs
from streams.metrics import Metrics
from streams.settings import KafkaSettings
from streams.topics import Topics, ensure_topics

log = logging.getLogger(__name__)


class _ForgetOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Rebalance listener: timers run only for tickers of partitions still assigned."""

    def __init__(self, owned: set[str]) -> None:
        self.owned = owned
        self.joined = False  # readiness: the consumer got its first assignment

    async def on_partitions_revoked(self, revoked: object) -> None:
        self.owned.clear()

    async def on_partitions_assigned(self, assigned: object) -> None:
        self.joined = True


class AlertService:
    """Owns the store, notifiers, pipeline and dispatcher of one alerts worker."""

    def __init__(
        self,
        settings: AlertSettings,
        kafka: KafkaSettings,
        *,
        public_url: str,
        clock: Callable[[], datetime] = utc_now,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.kafka = kafka
        self.topics = Topics(kafka.topic_prefix)
        self.public_url = public_url
        self.clock = clock
        self.rules = load_rules(settings.rules_path)  # fails fast: file, line, field
        self.store = AlertStore(settings.database_url, migrate=settings.migrate_on_start)
        self._http: httpx.AsyncClient | None = None
        self._producer: object | None = None
        self.pipeline: AlertPipeline | None = None
        self.dispatcher: Dispatcher | None = None
        self.invalid_updates = 0
        self.owned: set[str] = set()  # tickers of the partitions this worker reads
        self.rebalance = _ForgetOnRevoke(self.owned)
        self.consumer: Any = None  # the running AIOKafkaConsumer (metrics, readiness)
        self.committed: dict[Any, int] = {}  # TopicPartition -> committed offset (lag)

    async def start(self) -> AlertService:
        self.store.record_rules_version(self.rules, self.clock())
        self._http = httpx.AsyncClient(follow_redirects=False)
        notifiers: dict[str, Notifier] = {}
        for endpoint in self.settings.endpoints:
            if endpoint.enabled:
                notifier = WebhookNotifier(endpoint, self._http)
                notifiers[notifier.channel] = notifier
        if self.settings.kafka_enabled:
            from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

            await asyncio.to_thread(
                ensure_topics, self.kafka, [self.topics.risk, self.topics.alerts]
            )
            producer = AIOKafkaProducer(**aiokafka_kwargs(self.kafka), acks="all")
            await producer.start()
            self._producer = producer
            notifiers["kafka"] = KafkaAlertsNotifier(producer, self.topics.alerts)
        deadline = timedelta(seconds=self.settings.retry.deadline_s)
        self.pipeline = AlertPipeline(self.rules, self.store, sorted(notifiers),
                                      public_url=self.public_url, deadline=deadline,
                                      clock=self.clock)
        self.dispatcher = Dispatcher(OutboxQueue(self.store.session), notifiers,
                                     self.settings.retry, self.clock, metrics=self.metrics)
        return self

    async def close(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.wait_idle()
        if self._producer is not None:
            await self._producer.stop()  # type: ignore[attr-defined]
        if self._http is not None:
            await self._http.aclose()
        self.store.close()

    async def consume(self, stop: asyncio.Event) -> None:
        """Read the risk topic until ``stop`` is set; commit offsets after the SQL write."""
        from aiokafka import AIOKafkaConsumer

        assert self.pipeline is not None and self.dispatcher is not None
        consumer = AIOKafkaConsumer(
            **aiokafka_kwargs(self.kafka),
            group_id=self.settings.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            rebalance_timeout_ms=int(self.kafka.rebalance_timeout_s * 1000),
            session_timeout_ms=int(self.kafka.session_timeout_s * 1000),
            heartbeat_interval_ms=int(self.kafka.heartbeat_interval_s * 1000),
        )
        consumer.subscribe([self.topics.risk], listener=self.rebalance)
        await consumer.start()
        self.consumer = consumer
        log.info("alerts worker reading %s", self.topics.risk)
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self.settings.timer_interval_s
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                if loop.time() >= next_tick:
                    next_tick = loop.time() + self.settings.timer_interval_s
                    await self._run_timers()
                if not batches:
                    continue
                updates, positions = self._decode(m for msgs in batches.values() for m in msgs)
                self.owned.update(u.ticker.upper() for u in updates)
                new_ids = await self._store_decisions(updates, positions, stop)
                if new_ids is None:
                    break  # stopping while SQL was unreachable: the batch is not committed
                await consumer.commit()
                self.committed.update({tp: msgs[-1].offset + 1 for tp, msgs in batches.items()})
                if new_ids:
                    self.dispatcher.kick()
        finally:
            self.consumer = None
            await consumer.stop()

    async def _run_timers(self) -> None:
        assert self.pipeline is not None and self.dispatcher is not None
        try:
            new_ids = await asyncio.to_thread(self.pipeline.tick, sorted(self.owned))
        except SQLAlchemyError as exc:
            log.warning("timers skipped, alert history unreachable: %s", exc)
            return
        if new_ids:
            self.dispatcher.kick()

    async def _store_decisions(
        self, updates: list[RiskUpdate], positions: list[tuple[str, int]], stop: asyncio.Event
    ) -> list[str] | None:
        """Decide and store, retrying while SQL is unreachable (offsets wait meanwhile)."""
        assert self.pipeline is not None
        delay = 0.5
        while True:
            try:
                return await asyncio.to_thread(self.pipeline.process, updates, positions)
            except SQLAlchemyError as exc:
                log.warning("alert history unreachable, retrying in %.1fs: %s", delay, exc)
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return None
            except TimeoutError:
                delay = min(delay * 2, 10.0)

    def _decode(self, messages: object) -> tuple[list[RiskUpdate], list[tuple[str, int]]]:
        updates, positions = [], []
        for message in messages:  # type: ignore[attr-defined]
            try:
                updates.append(RiskUpdate.model_validate_json(message.value))
                positions.append((f"{message.topic}/{message.partition}", message.offset))
                if self.metrics is not None:
                    self.metrics.inc("alert_risk_updates_total", result="ok")
            except ValidationError as exc:
                # The risk topic is our own output: a bad record is a bug upstream; count it.
                self.invalid_updates += 1
                if self.metrics is not None:
                    self.metrics.inc("alert_risk_updates_total", result="invalid")
                log.error("invalid RiskUpdate at %s[%s]@%s: %s", message.topic,
                          message.partition, message.offset, exc.errors()[:1])
        return updates, positions
