"""Signed webhooks to a real local HTTP receiver (verified by the independent library),
with the history in SQLite and PostgreSQL: deliveries, retries on 500 and timeouts, none on
4xx, failure after the deadline shown by the API."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from datetime import timedelta

import httpx
import jsonschema
import pytest
from fastapi import FastAPI

from alerts.dispatch import Dispatcher
from alerts.notifiers import WebhookNotifier
from alerts.payload import SCHEMA_PATH
from alerts.pipeline import AlertPipeline
from alerts.rules import parse_rules
from alerts.settings import RetrySettings, WebhookEndpointSettings
from alerts.signing import generate_secret
from alerts.store.outbox import OutboxQueue
from alerts.store.repository import AlertStore
from streams.contracts import RiskUpdate, utc_now
from support.alerts import Receiver
from tickerpulse.api.alerts import alerts_router
from tickerpulse.embedded import free_port

pytestmark = pytest.mark.integration

RULES = parse_rules("""
version: 1
rules:
  - name: high
    family: high
    severity: warning
    scope: {all: true}
    condition: {metric: score, enter: 70, exit: 60}
""", "it.yaml")




def risk(ticker: str, score: float) -> RiskUpdate:
    return RiskUpdate(ticker=ticker, as_of=utc_now(), score=score, components={"s": 1.0},
                      sentiment={"1h": -0.5}, volume={"1h": 5.0}, buzz_z=1.0,
                      negative_mentions={"1h": 3.0}, mentions_total=5, model_version="m",
                      trigger_doc_id="d")


class Harness:
    def __init__(self, db_url: str, receiver: Receiver, timeout_s: float, deadline_s: float):
        self.store = AlertStore(db_url, migrate=True)
        self.client = httpx.AsyncClient()
        endpoint = WebhookEndpointSettings(name="ops", url=receiver.url, secret=receiver.secret,
                                           timeout_s=timeout_s)
        self.notifier = WebhookNotifier(endpoint, self.client)
        policy = RetrySettings(initial_backoff_s=0.2, max_backoff_s=0.5, deadline_s=deadline_s)
        self.pipeline = AlertPipeline(RULES, self.store, [self.notifier.channel],
                                      public_url="http://dash", clock=utc_now,
                                      deadline=timedelta(seconds=deadline_s))
        self.dispatcher = Dispatcher(OutboxQueue(self.store.session),
                                     {self.notifier.channel: self.notifier}, policy, utc_now,
                                     rng=random.Random(0))

    async def drain(self, seconds: float) -> None:
        end = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < end:
            await self.dispatcher.run_once()
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.client.aclose()
        self.store.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(generate_secret(), free_port()).start()
    yield r
    r.stop()


async def test_delivered_signed_and_schema_valid(db_url: str, receiver: Receiver) -> None:
    h = Harness(db_url, receiver, timeout_s=2, deadline_s=30)
    try:
        ids = h.pipeline.process([risk("AAPL", 75), risk("MSFT", 91), risk("TSLA", 20)])
        await h.drain(0.5)
        assert sorted(receiver.ids()) == sorted(ids) and len(ids) == 2
        schema = json.loads(SCHEMA_PATH.read_text())
        for r in receiver.requests:
            assert r.verified and r.body["event_id"] == r.webhook_id
            jsonschema.validate(r.body, schema)
        attempts = h.store.attempts()
        assert [(a.outcome, a.http_status) for a in attempts] == [("ok", 204)] * 2
        assert all(a.latency_ms > 0 for a in attempts)
    finally:
        await h.close()


async def test_retries_on_500_and_timeouts_none_on_400(db_url: str, receiver: Receiver) -> None:
    def behaviour(_id: str, body: dict, n: int) -> tuple[int, float]:
        if body["ticker"] == "FIVE":
            return (500, 0.0) if n < 2 else (200, 0.0)
        if body["ticker"] == "SLOW":
            return (200, 1.5) if n < 1 else (200, 0.0)  # first answer comes too late
        return 400, 0.0

    receiver.behaviour = behaviour
    h = Harness(db_url, receiver, timeout_s=0.5, deadline_s=60)
    try:
        ids = dict(zip(["FIVE", "SLOW", "FOUR"],
                       h.pipeline.process([risk("FIVE", 80), risk("SLOW", 80), risk("FOUR", 80)]),
                       strict=True))
        await h.drain(4.0)
        seen = {t: receiver.ids().count(i) for t, i in ids.items()}
        assert seen["FIVE"] == 3 and seen["FOUR"] == 1 and seen["SLOW"] >= 2
        status = {a.ticker: a.delivery_status for a in h.store.list_alerts()}
        assert status == {"FIVE": "delivered", "SLOW": "delivered", "FOUR": "failed"}
        slow = h.store.attempts(ids["SLOW"])
        assert slow[0].outcome == "retryable" and "timeout" in (slow[0].error or "")
        assert [a.http_status for a in h.store.attempts(ids["FIVE"])] == [500, 500, 200]
        assert [a.outcome for a in h.store.attempts(ids["FOUR"])] == ["fatal"]
    finally:
        await h.close()


async def test_deadline_marks_failed_and_api_shows_it(db_url: str, receiver: Receiver) -> None:
    receiver.behaviour = lambda _i, _b, _n: (503, 0.0)
    h = Harness(db_url, receiver, timeout_s=1, deadline_s=1.5)
    try:
        (event_id,) = h.pipeline.process([risk("DEAD", 95)])
        await h.drain(2.5)
        n = receiver.ids().count(event_id)
        assert n >= 3
        await h.drain(0.5)
        assert receiver.ids().count(event_id) == n  # no attempts after failing
        app = FastAPI()
        app.include_router(alerts_router(h.store))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://api") as api:
            failed = (await api.get("/api/v1/alerts", params={"delivery_status": "failed"})).json()
            assert [a["event_id"] for a in failed["alerts"]] == [event_id]
            detail = (await api.get(f"/api/v1/alerts/{event_id}")).json()
            assert (await api.get("/api/v1/alerts/evt_nope")).status_code == 404
        assert detail["deliveries"][0]["status"] == "failed"
        assert len(detail["attempts"]) == n and detail["attempts"][0]["http_status"] == 503
    finally:
        await h.close()
