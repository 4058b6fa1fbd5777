"""Notifiers say ok, retryable or fatal; the dispatcher owns retries, backoff and deadlines.

``WebhookNotifier`` is the only place that speaks webhook HTTP (signed per Standard Webhooks);
``KafkaAlertsNotifier`` publishes the same payload on the ``alerts`` topic, key = ticker, with
the event id in the ``event-id`` header.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import httpx

from alerts.settings import WebhookEndpointSettings
from alerts.signing import signed_headers
from alerts.store.outbox import AttemptOutcome, AttemptResult

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "event-id"
USER_AGENT = "tickerpulse-alerts/1"


class Notifier(Protocol):
    channel: str

    async def send(self, event_id: str, ticker: str, body: bytes) -> AttemptResult: ...


def classify_status(status: int) -> AttemptOutcome:
    """2xx ok; 5xx, 408 and 429 retryable; every other answer fatal (never retried)."""
    if 200 <= status < 300:
        return "ok"
    if status >= 500 or status in (408, 429):
        return "retryable"
    return "fatal"


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    secrets: list[str],
    event_id: str,
    body: bytes,
    timeout_s: float,
) -> AttemptResult:
    """POST one signed message and classify the outcome; never raises for network trouble."""
    headers = {**signed_headers(secrets, event_id, body), "user-agent": USER_AGENT}
    started = time.perf_counter()
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException as exc:
        return AttemptResult("retryable", _ms(started), None, f"timeout: {type(exc).__name__}")
    except httpx.TransportError as exc:
        return AttemptResult("retryable", _ms(started), None, f"connection: {exc!r}"[:500])
    outcome = classify_status(response.status_code)
    error = None if outcome == "ok" else f"HTTP {response.status_code}: {response.text[:200]}"
    return AttemptResult(outcome, _ms(started), response.status_code, error)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class WebhookNotifier:
    def __init__(self, endpoint: WebhookEndpointSettings, client: httpx.AsyncClient) -> None:
        self.endpoint = endpoint
        self.client = client
        self.channel = f"webhook:{endpoint.name}"

    async def send(self, event_id: str, ticker: str, body: bytes) -> AttemptResult:
        e = self.endpoint
        return await post_signed(
            self.client, e.url, e.signing_secrets(), event_id, body, e.timeout_s
        )


class KafkaAlertsNotifier:
    channel = "kafka"

    def __init__(self, producer: object, topic: str, timeout_s: float = 10.0) -> None:
        self.producer = producer  # aiokafka.AIOKafkaProducer, started by the owner
        self.topic = topic
        self.timeout_s = timeout_s

    async def send(self, event_id: str, ticker: str, body: bytes) -> AttemptResult:
        import asyncio

        from aiokafka.errors import KafkaError

        headers = [(EVENT_ID_HEADER, event_id.encode()), ("content-type", b"application/json")]
        started = time.perf_counter()
        try:
            await asyncio.wait_for(
                self.producer.send_and_wait(  # type: ignore[attr-defined]
                    self.topic, value=body, key=ticker.encode(), headers=headers
                ),
                self.timeout_s,
            )
        except (KafkaError, TimeoutError) as exc:
            return AttemptResult("retryable", _ms(started), None, f"kafka: {exc!r}"[:500])
        return AttemptResult("ok", _ms(started))
