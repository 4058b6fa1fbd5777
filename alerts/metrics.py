"""The alerts worker's metrics and readiness (served by ``tickerpulse.health_server``).

Names (``tickerpulse_`` prefix), besides ``consumer_lag_messages{topic,partition}`` of the
risk topic and ``build_info`` (see :mod:`streams.metrics`):

=============================================  =========  ====================================
alert_deliveries_total{channel,outcome}        counter    delivery attempts: ``delivered``,
                                                          ``retry`` (will be retried),
                                                          ``failed`` (retryable but out of
                                                          time), ``fatal`` (not retryable)
alert_delivery_duration_seconds{channel}       histogram  one attempt: webhook POST or Kafka
                                                          send, until the answer
alert_outbox_pending_deliveries                gauge      deliveries pending in the outbox
                                                          (due or backing off), all workers
alert_outbox_oldest_pending_age_seconds        gauge      age of the oldest pending delivery
                                                          (0 when none)
alert_risk_updates_total{result}               counter    RiskUpdates read: ``ok``/``invalid``
=============================================  =========  ====================================

``channel`` is ``kafka`` or ``webhook:<endpoint name>``: endpoints come from the settings, so
the label set stays small. The outbox gauges are read from SQL when scraped, with a short
timeout; when SQL does not answer they are NaN (and ``/readyz`` says ``sql`` is down).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from streams.health import Check
from streams.metrics import ConsumerLag, Metrics, Spec, lag_of

if TYPE_CHECKING:
    from alerts.service import AlertService
    from alerts.store.outbox import AttemptOutcome

log = logging.getLogger(__name__)
SQL_TIMEOUT_S = 1.0

ALERT_METRICS: dict[str, Spec] = {
    "alert_deliveries_total": Spec(
        "counter", "Delivery attempts by channel and outcome (delivered, retry, failed, fatal).",
        ("channel", "outcome")),
    "alert_delivery_duration_seconds": Spec(
        "histogram", "Duration of one delivery attempt (webhook POST or Kafka send).",
        ("channel",)),
    "alert_outbox_pending_deliveries": Spec(
        "gauge", "Deliveries pending in the outbox (due or backing off), read from SQL."),
    "alert_outbox_oldest_pending_age_seconds": Spec(
        "gauge", "Age of the oldest pending delivery in the outbox (0 when none)."),
    "alert_risk_updates_total": Spec(
        "counter", "RiskUpdates read from the risk topic, by result (ok, invalid).",
        ("result",)),
}


DeliveryOutcome = Literal["delivered", "retry", "failed", "fatal"]
"""The ``outcome`` label of ``alert_deliveries_total``."""


def delivery_outcome(attempt_outcome: AttemptOutcome, will_retry: bool) -> DeliveryOutcome:
    """The metric's outcome of an attempt (ok|retryable|fatal) and whether it is retried."""
    if attempt_outcome == "ok":
        return "delivered"
    if attempt_outcome == "retryable":
        return "retry" if will_retry else "failed"
    return "fatal"


def alert_metrics() -> Metrics:
    return Metrics(ALERT_METRICS)


class AlertMonitor:
    """Metrics refreshed at scrape time and the readiness checks of one alerts worker."""

    def __init__(
        self, metrics: Metrics, service: AlertService, clock: Callable[[], datetime],
        sql_timeout_s: float = SQL_TIMEOUT_S,
    ) -> None:
        self.metrics, self.service, self.clock = metrics, service, clock
        self.sql_timeout_s = sql_timeout_s
        metrics.register(ConsumerLag(self.lag))

    def lag(self) -> Iterator[tuple[str, int, int]]:
        consumer = self.service.consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            lag = lag_of(consumer.highwater(tp), self.service.committed.get(tp), None)
            if lag is not None:
                yield tp.topic, tp.partition, lag

    async def refresh(self) -> None:
        """Outbox depth and oldest age from SQL (NaN when SQL does not answer in time)."""
        queue = self.service.dispatcher.queue
        count, age = float("nan"), float("nan")
        try:
            n, oldest = await asyncio.wait_for(asyncio.to_thread(queue.backlog),
                                               self.sql_timeout_s)
            count = float(n)
            age = 0.0 if oldest is None else max(0.0, (self.clock() - oldest).total_seconds())
        except Exception as exc:  # noqa: BLE001 - reported as NaN and by /readyz
            log.warning("outbox metrics unavailable: %r", exc)
        self.metrics.record("alert_outbox_pending_deliveries", count)
        self.metrics.record("alert_outbox_oldest_pending_age_seconds", age)

    def checks(self) -> dict[str, Check]:
        return {"sql": self._sql_ready, "kafka": self._kafka_ready}

    async def _sql_ready(self) -> str | None:
        await asyncio.to_thread(self.service.dispatcher.queue.backlog)
        return None

    async def _kafka_ready(self) -> str | None:
        if self.service.consumer is None:
            return "risk consumer not running"
        if not self.service.rebalance.joined:
            return "risk consumer has not joined its group yet"
        return None
