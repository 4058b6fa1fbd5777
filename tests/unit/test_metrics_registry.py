"""Metrics on prometheus_client (per-process registry) and the readiness JSON, in-process."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.metrics import ALERT_METRICS, delivery_outcome
from streams.health import readiness
from streams.metrics import STREAM_METRICS, ConsumerLag, Metrics, exported_names, lag_of
from streams.processing import Aggregate
from streams.store.risk_store import CommitResult
from support.records import mention
from tickerpulse.health_server import HealthServer


def families(text: str) -> dict:  # type: ignore[type-arg]
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_every_declared_metric_has_help_type_and_unit_conventions() -> None:
    m = Metrics()
    m.observe("redis_outages_total", lambda: 3)
    m.observe("inference_queue_texts", lambda: 7)
    m.observe("risk_repaired_mentions_total", lambda: 2)
    m.build_info("1.2.3", "m-9")
    m.register(ConsumerLag(lambda: [("t.docs", 0, 5), ("t.docs", 1, -2)]))
    text = m.render()
    for name, spec in STREAM_METRICS.items():
        full = "tickerpulse_" + name
        assert f"# HELP {full} " in text and f"# TYPE {full} {spec.kind}" in text, name
        if spec.kind == "counter":
            assert name.endswith("_total")
        if spec.kind == "histogram":
            assert name.endswith(("_seconds", "_texts"))
    fam = families(text)
    assert fam["tickerpulse_redis_outages"].samples[0].value == 3
    assert fam["tickerpulse_inference_queue_texts"].samples[0].value == 7
    info = fam["tickerpulse_build_info"].samples[0]
    assert info.labels == {"version": "1.2.3", "model_version": "m-9"} and info.value == 1
    lag = {(s.labels["topic"], s.labels["partition"]): s.value
           for s in fam["tickerpulse_consumer_lag_messages"].samples}
    assert lag == {("t.docs", "0"): 5, ("t.docs", "1"): 0}  # never negative
    assert "_created" not in text


def test_inc_record_get_and_mistakes_are_errors() -> None:
    m = Metrics()
    m.inc("dead_letters_total", topic="news.raw", reason="empty_text")
    m.inc("dead_letters_total", 2, topic="social.raw", reason="invalid_json")
    m.record("inference_batch_duration_seconds", 0.2)
    m.record("inference_batch_duration_seconds", 3.0)
    assert m.get("dead_letters_total", topic="social.raw", reason="invalid_json") == 2
    assert m.total("dead_letters_total") == 3
    assert m.get("inference_batch_duration_seconds_count") == 2
    assert m.get("inference_batch_duration_seconds_bucket", le="0.25") == 1
    with pytest.raises(KeyError):
        m.inc("no_such_metric_total")
    with pytest.raises(ValueError):
        m.inc("dead_letters_total", topic="news.raw")  # a label missing
    with pytest.raises(TypeError):
        m.inc("inference_batch_duration_seconds")
    with pytest.raises(ValueError):
        m.observe("input_total", lambda: 1)  # not read at scrape


def test_a_broken_reader_gives_nan_not_a_failed_scrape() -> None:
    m = Metrics()
    m.observe("redis_outages_total", lambda: 1 / 0)
    m.register(ConsumerLag(lambda: (_ for _ in ()).throw(RuntimeError("not started"))))
    fam = families(m.render())
    assert math.isnan(fam["tickerpulse_redis_outages"].samples[0].value)
    assert fam["tickerpulse_consumer_lag_messages"].samples == []


def test_each_metrics_object_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics(ALERT_METRICS)
    a.inc("input_total", topic="x")
    assert Metrics().get("input_total", topic="x") == 0 and a.get("input_total", topic="x") == 1
    assert "tickerpulse_alert_deliveries_total" in b.render()
    assert "tickerpulse_input_total" not in b.render()


@pytest.mark.parametrize(("highwater", "committed", "position", "lag"), [
    (100, 40, None, 60), (100, None, 90, 10), (100, -1, 95, 5), (100, 100, None, 0),
    (None, 10, 10, None), (100, None, None, None), (5, 9, None, 0),
])
def test_lag_prefers_the_committed_offset(
    highwater: int | None, committed: int | None, position: int | None, lag: int | None
) -> None:
    assert lag_of(highwater, committed, position) == lag


@pytest.mark.parametrize(("attempt", "retry", "outcome"), [
    ("ok", False, "delivered"), ("retryable", True, "retry"), ("retryable", False, "failed"),
    ("fatal", False, "fatal"),
])
def test_delivery_outcomes(attempt: str, retry: bool, outcome: str) -> None:
    assert delivery_outcome(attempt, retry) == outcome


async def test_readiness_names_what_is_down_and_answers_within_the_timeout() -> None:
    async def ok() -> None:
        return None

    async def hangs() -> None:
        await asyncio.sleep(30)

    async def refuses() -> str:
        raise ConnectionRefusedError("redis:6379")

    async def says() -> str:
        return "engine is not running"

    assert await readiness({"a": ok}) == (200, {"status": "ready", "checks": {"a": "ok"}})
    started = time.monotonic()
    status, body = await readiness({"a": ok, "redis": hangs, "sql": refuses, "engine": says},
                                   timeout_s=0.5)
    assert time.monotonic() - started < 2.0
    assert status == 503 and body["down"] == ["engine", "redis", "sql"]
    assert body["checks"]["redis"] == "timeout after 0.5s"
    assert "ConnectionRefusedError" in body["checks"]["sql"]
    assert body["checks"]["engine"] == "engine is not running" and body["checks"]["a"] == "ok"


async def test_health_server_serves_metrics_livez_and_readyz() -> None:
    metrics = Metrics(ALERT_METRICS)
    down = {"sql": False}
    scrapes = []

    async def sql() -> str | None:
        return "unreachable" if down["sql"] else None

    async def before() -> None:
        scrapes.append(1)
        metrics.record("alert_outbox_pending_deliveries", 4)

    async with HealthServer(metrics, {"sql": sql}, host="127.0.0.1", port=0,
                            before_scrape=before) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            r = await http.get("/metrics")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            fam = families(r.text)
            assert fam["tickerpulse_alert_outbox_pending_deliveries"].samples[0].value == 4
            assert scrapes == [1]
            assert (await http.get("/livez")).json() == {"status": "alive"}
            assert (await http.get("/readyz")).status_code == 200
            down["sql"] = True
            r = await http.get("/readyz")
            assert r.status_code == 503
            assert json.loads(r.text) == {"status": "not ready", "checks": {"sql": "unreachable"},
                                          "down": ["sql"]}


class _Store:
    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    async def commit_batch(self, mentions):  # type: ignore[no-untyped-def]
        counted = []
        for m in mentions:
            counted.append((m.ticker, m.doc_id) not in self.seen)
            self.seen.add((m.ticker, m.doc_id))
        return CommitResult(counted, [])


async def test_ingest_to_risk_latency_is_observed_once_per_counted_mention() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    metrics = Metrics()
    aggregate = Aggregate(_Store(), metrics, clock=now.timestamp)
    batch = [mention(i, ingested_at=now - timedelta(seconds=2 + i)) for i in range(3)]
    batch.append(mention(9))  # an older record without ingested_at: not observed
    await aggregate.process(batch)
    await aggregate.process(batch)  # a replay: not a latency
    assert metrics.get("ingest_to_risk_seconds_count") == 3
    assert metrics.get("ingest_to_risk_seconds_sum") == pytest.approx(2 + 3 + 4)
    assert metrics.get("risk_commits_total", result="replay") == 4


def test_exported_names_cover_histogram_series() -> None:
    names = exported_names(STREAM_METRICS)
    assert {"tickerpulse_ingest_to_risk_seconds_bucket", "tickerpulse_consumer_lag_messages",
            "tickerpulse_build_info", "tickerpulse_input_total"} <= names


class _FaustConsumer:
    """What streams.app.consumer_lag reads from faust's consumer."""

    def __init__(self) -> None:
        from faust.types import TP

        self.tps = [TP("t.docs", 0), TP("t.docs", 1), TP("t.docs", 2), TP("t.scored", 0)]
        self.hw = {self.tps[0]: 100, self.tps[1]: 50, self.tps[2]: None, self.tps[3]: 7}
        self._committed_offset = {self.tps[0]: 60}
        self._read_offset = {self.tps[1]: 44}

    def assignment(self) -> set:  # type: ignore[type-arg]
        return set(self.tps)

    def highwater(self, tp: object) -> int | None:
        return self.hw[tp]  # type: ignore[index]


def test_faust_lag_uses_committed_then_read_offsets() -> None:
    from types import SimpleNamespace

    from streams.app import consumer_lag

    lag = sorted(consumer_lag(SimpleNamespace(consumer=_FaustConsumer())))  # type: ignore[arg-type]
    # committed 60 of 100; read up to 44 (position 45) of 50; no fetch yet; nothing known
    assert lag == [("t.docs", 0, 40), ("t.docs", 1, 5)]
