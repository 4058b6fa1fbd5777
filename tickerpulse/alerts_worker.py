"""Composition of the alerts worker: settings in, a started :class:`AlertService` out, and
the process around it (:func:`serve`: scheduler jobs, health server, shutdown).

Builds, in this order: the rules (a bad file fails here, before anything is opened), the
alert history, the HTTP client and its webhook notifiers, the topics and one producer (the
Kafka alerts channel when enabled, and the dead letters of the risk topic), the decision
pipeline, the outbox dispatcher, the risk-topic consumer factory and the review queue's
consumer of the review topic (:mod:`alerts.review_sink`). ``close`` undoes it in
reverse, after the dispatcher has finished what it was sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import click
import httpx

from alerts.dispatch import Dispatcher
from alerts.metrics import AlertMonitor, alert_metrics
from alerts.notifiers import KafkaAlertsNotifier, Notifier, WebhookNotifier
from alerts.pipeline import AlertPipeline
from alerts.review_sink import ReviewSink
from alerts.rules import load_rules
from alerts.service import AlertService
from alerts.settings import AlertSettings
from alerts.store.outbox import OutboxQueue
from alerts.store.repository import AlertStore
from alerts.store.review import ReviewStore
from streams.contracts import RiskUpdate, utc_now
from streams.kafka_config import aiokafka_kwargs
from streams.metrics import Metrics
from streams.settings import KafkaSettings
from streams.topics import Topics, ensure_topics
from tickerpulse.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AlertsWorker:
    """The started service and what its process closes on the way out."""

    service: AlertService
    http: httpx.AsyncClient
    producer: Any  # AIOKafkaProducer: alerts channel and dead letters
    review: ReviewSink | None = None  # the review topic into SQL (alerts.review.enabled)

    async def close(self) -> None:
        await self.service.dispatcher.wait_idle()
        await self.producer.stop()
        await self.http.aclose()
        self.service.store.close()
        if self.review is not None:
            self.review.store.close()

    async def consume(self, stop: asyncio.Event) -> None:
        """The risk consumer and, when enabled, the review consumer, until ``stop``."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.service.consume(stop))
            if self.review is not None:
                group.create_task(self.review.consume(stop))


def webhook_notifiers(settings: AlertSettings, http: httpx.AsyncClient) -> dict[str, Notifier]:
    notifiers: dict[str, Notifier] = {}
    for endpoint in settings.endpoints:
        if endpoint.enabled:
            notifier = WebhookNotifier(endpoint, http)
            notifiers[notifier.channel] = notifier
    return notifiers


def risk_consumer_factory(alerts: AlertSettings, kafka: KafkaSettings) -> Callable[[], Any]:
    """Unstarted consumers of the risk topic: manual commits, from the earliest offset."""
    return consumer_factory(alerts.consumer_group, kafka)


def consumer_factory(group: str, kafka: KafkaSettings) -> Callable[[], Any]:
    """Unstarted consumers in ``group``: manual commits, from the earliest offset."""

    def new_consumer() -> Any:
        from aiokafka import AIOKafkaConsumer

        return AIOKafkaConsumer(
            **aiokafka_kwargs(kafka),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            rebalance_timeout_ms=int(kafka.rebalance_timeout_s * 1000),
            session_timeout_ms=int(kafka.session_timeout_s * 1000),
            heartbeat_interval_ms=int(kafka.heartbeat_interval_s * 1000),
        )

    return new_consumer


async def start_alerts_worker(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> AlertsWorker:
    """Everything the alerts worker needs, built and started; raises RulesError first."""
    from aiokafka import AIOKafkaProducer

    alerts, kafka = settings.alerts, settings.kafka
    rules = load_rules(alerts.rules_path)  # fails fast: file, line, field
    store = AlertStore(alerts.database_url, migrate=alerts.migrate_on_start)
    store.record_rules_version(rules, clock())
    http = httpx.AsyncClient(follow_redirects=False)
    producer: Any = None
    try:
        notifiers = webhook_notifiers(alerts, http)
        topics = Topics(kafka.topic_prefix)
        needed = [topics.risk, Topics.dlq(topics.risk)]
        if alerts.review.enabled:
            needed += [topics.review, Topics.dlq(topics.review)]
        if alerts.kafka_enabled:
            needed.append(topics.alerts)
        await asyncio.to_thread(ensure_topics, kafka, needed)
        producer = AIOKafkaProducer(**aiokafka_kwargs(kafka), acks="all")
        await producer.start()
    except BaseException:
        if producer is not None:
            await producer.stop()
        await http.aclose()
        store.close()
        raise
    if alerts.kafka_enabled:
        notifiers["kafka"] = KafkaAlertsNotifier(producer, topics.alerts)
    pipeline = AlertPipeline(rules, store, sorted(notifiers), public_url=settings.api.public_url,
                             deadline=timedelta(seconds=alerts.retry.deadline_s), clock=clock)
    dispatcher = Dispatcher(OutboxQueue(store.session), notifiers, alerts.retry, clock,
                            metrics=metrics)
    service = AlertService(alerts, rules=rules, store=store, pipeline=pipeline,
                           dispatcher=dispatcher, new_consumer=risk_consumer_factory(alerts, kafka),
                           dead_letter_producer=producer, risk_topic=topics.risk, metrics=metrics)
    review = None
    if alerts.review.enabled:  # the store's migrations ran with the alert history's above
        review = ReviewSink(ReviewStore(alerts.database_url, alerts.review.max_items),
                            new_consumer=consumer_factory(alerts.review.consumer_group, kafka),
                            dead_letter_producer=producer, topic=topics.review, clock=clock)
    return AlertsWorker(service, http, producer, review)


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    risk_source: Callable[[], Iterable[RiskUpdate]] | None = None,
) -> None:
    """The alerts worker until ``stop``: consumer, outbox dispatcher and scheduled jobs.

    Risk snapshots come from ``risk_source`` when given (e.g. the stream's Redis risk store),
    else from the latest RiskUpdate per ticker seen on the topic.
    """
    from tickerpulse.scheduler import LeaderJobs, build_scheduler

    metrics = alert_metrics()
    worker = await start_alerts_worker(settings, metrics=metrics)
    service = worker.service
    monitor = AlertMonitor(metrics, service, utc_now)
    scheduler = None
    if settings.alerts.scheduler.enabled:
        jobs = LeaderJobs(settings.alerts, service.store, service.dispatcher,
                          risk_source or service.pipeline.latest_updates)
        scheduler = build_scheduler(jobs)
        scheduler.start()
    service.dispatcher.kick()  # whatever the outbox held before a crash goes out now
    click.echo(f"alerts worker up: rules {service.rules.version}, "
               f"channels {sorted(service.dispatcher.notifiers)}", err=True)
    try:
        async with _health_server(settings, metrics, monitor):
            await worker.consume(stop)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await worker.close()


@contextlib.asynccontextmanager
async def _health_server(
    settings: Settings, metrics: Metrics, monitor: AlertMonitor
) -> AsyncIterator[None]:
    """/metrics, /livez, /readyz on alerts.http_host:http_port (0 = none; a port in use is
    reported and the worker runs without them)."""
    from tickerpulse.health_server import HealthServer
    from tickerpulse.version import package_version

    port = settings.alerts.http_port
    if port == 0:
        yield
        return
    metrics.build_info(package_version())
    server = HealthServer(metrics, monitor.checks(), host=settings.alerts.http_host, port=port,
                          before_scrape=monitor.refresh)
    try:
        await server.__aenter__()
    except OSError as exc:
        log.error("alerts.http_port %s:%d unusable (%s): no /metrics, /livez, /readyz",
                  settings.alerts.http_host, port, exc)
        yield
        return
    try:
        yield
    finally:
        await server.__aexit__()
