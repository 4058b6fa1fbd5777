"""Each worker's /metrics after a short real run, parsed with prometheus_client's own parser,
and /readyz flipping to 503 when a dependency goes down (a Redis and a PostgreSQL of the
test's own, so they can be stopped)."""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from alerts.signing import generate_secret
from streams.feed import MALFORMED_REASONS, Feed, malformed
from streams.producer import producer, publish
from streams.topics import Topics
from support.alerts import (
    Receiver,
    ThrowawayPostgres,
    one_rule,
    risk_update,
    start_worker,
    stop_worker,
    unique,
    wait_until,
    worker_env,
)
from support.pipeline import PipelineRun, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(url: str, timeout_s: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:  # noqa: S310 - a local URL
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(port: int) -> tuple[dict[str, Any], Samples]:
    """Metric families by name (types, HELP) and every sample by (name, sorted labels)."""
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def where(samples: Samples, name: str, **labels: str) -> dict[tuple, float]:  # type: ignore[type-arg]
    return {k: v for k, v in samples.items()
            if k[0] == name and set(labels.items()) <= set(k[1])}


def assert_histogram(families: dict[str, Any], samples: Samples, name: str,
                     **labels: str) -> None:
    assert families[name].type == "histogram" and families[name].documentation
    count = value(samples, name + "_count", **labels)
    assert count > 0, f"{name} observed nothing"
    assert value(samples, name + "_bucket", le="+Inf", **labels) == count
    assert value(samples, name + "_sum", **labels) >= 0


def redis_server(port: int, data: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], check=False,
                                      capture_output=True).stdout.strip() == b"PONG",
               10, "private redis-server")
    return proc


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


async def test_stream_worker_metrics_lag_and_readiness_during_a_redis_outage(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str,
) -> None:
    port, data, web = free_port(), tmp_path / "redis", free_port()
    data.mkdir()
    server = redis_server(port, data)
    run = PipelineRun(kafka_bootstrap, f"redis://127.0.0.1:{port}/0", "tp:", tiny_model,
                      tmp_path, TICKERPULSE_STREAM__WEB_PORT=str(web),
                      TICKERPULSE_STREAM__COMMIT_INTERVAL_S="0.5")
    readyz = f"http://127.0.0.1:{web}/readyz"
    try:
        run.worker.start().wait_ready()
        wait_until(lambda: get(readyz)[0] == 200, 60, lambda: f"ready: {get(readyz)}")
        body = json.loads(get(readyz)[1])
        assert body["checks"] == {"engine": "ok", "kafka": "ok", "redis": "ok"}
        livez = get(f"http://127.0.0.1:{web}/livez")
        assert livez[0] == 200 and json.loads(livez[1]) == {"status": "alive"}

        good = list(Feed(seed=21, run_id=run.name).messages(300))
        bad = [(MALFORMED_REASONS[i % len(MALFORMED_REASONS)], i) for i in range(12)]
        prod = producer(run.kafka)
        await prod.start()
        try:
            for reason, i in bad:
                await prod.send_and_wait(run.topics.social_raw, malformed(i, reason, "social"))
        finally:
            await prod.stop()
        await publish(good, run.kafka)
        await run.wait_all_counted({m.truth.doc_id for m in good})

        families, samples = scrape(web)
        for name in ("tickerpulse_inference_batch_duration_seconds",
                     "tickerpulse_inference_batch_texts", "tickerpulse_ingest_to_risk_seconds"):
            assert_histogram(families, samples, name)
        assert value(samples, "tickerpulse_inference_batch_texts_sum") >= 300
        assert sum(where(samples, "tickerpulse_dead_letters_total").values()) == len(bad)
        assert sum(where(samples, "tickerpulse_input_total").values()) == len(good) + len(bad)
        info = where(samples, "tickerpulse_build_info")
        assert len(info) == 1 and dict(next(iter(info))[1])["model_version"]
        topics = {dict(k[1])["topic"] for k in where(samples, "tickerpulse_consumer_lag_messages")}
        assert {run.topics.news_raw, run.topics.social_raw, run.topics.docs,
                run.topics.scored} <= topics
        wait_until(lambda: sum(where(scrape(web)[1],
                                     "tickerpulse_consumer_lag_messages").values()) == 0,
                   30, "lag back to 0 once everything is committed")
        assert all(f.documentation for f in families.values())
        assert not any(k[0].startswith("tickerpulse_") and ("ticker", "AAPL") in k[1]
                       for k in samples), "no ticker label"

        server.terminate()
        server.wait()
        started = time.monotonic()
        status, text = get(readyz)
        took = time.monotonic() - started
        assert status == 503 and took < 2.0, (status, took)
        body = json.loads(text)
        assert body["down"] == ["redis"] and body["checks"]["kafka"] == "ok"
        assert get(f"http://127.0.0.1:{web}/livez")[0] == 200  # alive: a restart would not help

        more = list(Feed(seed=22, run_id=run.name + "b").messages(200))
        await publish(more, run.kafka)
        wait_until(lambda: sum(v for k, v in where(scrape(web)[1],
                               "tickerpulse_consumer_lag_messages").items()
                               if dict(k[1])["topic"].endswith(".raw")) > 0,
                   30, "lag on the input topics while Redis is down")

        server = redis_server(port, data)
        wait_until(lambda: get(readyz)[0] == 200, 30, "ready again after Redis is back")
        await run.wait_all_counted({m.truth.doc_id for m in good + more})
        assert value(scrape(web)[1], "tickerpulse_redis_outages_total") >= 1
    finally:
        await run.close()
        server.terminate()
        server.wait()


RULES = one_rule("critical")


def test_alerts_worker_metrics_deliveries_outbox_and_readiness_during_an_sql_outage(
    tmp_path: Path, kafka_bootstrap: str,
) -> None:
    if not ThrowawayPostgres.available():
        pytest.skip("PostgreSQL server binaries not found")
    pg = ThrowawayPostgres(free_port()).init()
    pg.start()
    ops = Receiver(generate_secret(), free_port())  # down at first: deliveries retry
    refusing = Receiver(generate_secret(), free_port(), behaviour=lambda *_: (410, 0.0)).start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    prefix, http = unique("m") + ".", free_port()
    endpoints = [{"name": "ops", "url": ops.url, "secret": ops.secret, "timeout_s": 5},
                 {"name": "refusing", "url": refusing.url, "secret": refusing.secret}]
    env = worker_env(bootstrap=kafka_bootstrap, db_url=pg.url, rules=rules, receiver=ops,
                     prefix=prefix, group=unique("alerts-"), partitions=2,
                     TICKERPULSE_ALERTS__HTTP_PORT=str(http),
                     TICKERPULSE_ALERTS__ENDPOINTS=json.dumps(endpoints))
    worker = start_worker(env, tmp_path / "alerts.log")
    base = f"http://127.0.0.1:{http}"
    kafka = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    log = lambda: (tmp_path / "alerts.log").read_text()[-3000:]  # noqa: E731
    try:
        wait_until(lambda: worker.poll() is None and _status(base + "/readyz") == 200, 60,
                   lambda: f"alerts worker ready: {log()}")
        for ticker in ("MET1", "MET2"):
            kafka.send(Topics(prefix).risk, risk_update(ticker, 90).to_json_bytes(),
                       key=ticker.encode())
        kafka.flush()

        def retrying() -> bool:
            s = scrape(http)[1]
            return (value(s, "tickerpulse_alert_outbox_pending_deliveries") >= 2
                    and value(s, "tickerpulse_alert_deliveries_total", channel="webhook:ops",
                              outcome="retry") >= 2)

        wait_until(retrying, 40, lambda: f"pending deliveries retried: {log()}")
        time.sleep(1.2)
        assert value(scrape(http)[1], "tickerpulse_alert_outbox_oldest_pending_age_seconds") >= 1

        ops.start()
        wait_until(lambda: len(ops.delivered()) >= 2, 40, "delivery once the receiver is up")
        wait_until(lambda: value(scrape(http)[1],
                                 "tickerpulse_alert_outbox_pending_deliveries") == 0,
                   20, "outbox drained")
        families, samples = scrape(http)
        assert value(samples, "tickerpulse_alert_deliveries_total", channel="webhook:ops",
                     outcome="delivered") == 2
        assert value(samples, "tickerpulse_alert_deliveries_total", channel="webhook:refusing",
                     outcome="fatal") == 2
        assert value(samples, "tickerpulse_alert_deliveries_total", channel="kafka",
                     outcome="delivered") == 2
        assert value(samples, "tickerpulse_alert_outbox_oldest_pending_age_seconds") == 0
        assert value(samples, "tickerpulse_alert_risk_updates_total", result="ok") == 2
        assert_histogram(families, samples, "tickerpulse_alert_delivery_duration_seconds",
                         channel="webhook:ops")
        assert where(samples, "tickerpulse_consumer_lag_messages", topic=Topics(prefix).risk)
        assert where(samples, "tickerpulse_build_info")

        pg.stop("immediate")
        started = time.monotonic()
        status, text = get(base + "/readyz")
        assert status == 503 and time.monotonic() - started < 2.5
        assert json.loads(text)["down"] == ["sql"]
        assert math.isnan(value(scrape(http)[1], "tickerpulse_alert_outbox_pending_deliveries"))
        assert _status(base + "/livez") == 200
        pg.start()
        wait_until(lambda: _status(base + "/readyz") == 200, 30, "ready after SQL is back")
    finally:
        stop_worker(worker)
        kafka.close()
        ops.stop()
        refusing.stop()
        pg.close()


def _status(url: str) -> int:
    try:
        return get(url, timeout_s=3.0)[0]
    except OSError:
        return 0  # not listening yet

