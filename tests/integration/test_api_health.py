"""Health that tells the truth, against a Redis this test starts, freezes and kills.

- readiness names the backend that is down and answers 503 within 2 s, whether Redis refuses
  connections (port closed) or hangs (process stopped with SIGSTOP), and the same for a
  PostgreSQL of the test's own, stopped or frozen;
- data routes answer 503 within the same bound instead of waiting for Redis or SQL;
- SIGTERM stops `tickerpulse api serve` promptly while a request waits on a hung Redis;
- /metrics parses with prometheus_client's own parser and carries route templates.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.contracts import utc_now
from support.alerts import ThrowawayPostgres
from tickerpulse.dashboard import build_dashboard
from tickerpulse.embedded import free_port, wait_for_port
from tickerpulse.settings import Settings

pytestmark = pytest.mark.integration
BOUND_S = 2.0  # the promise: an answer within 2 s when a backend is down


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    yield proc, port
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


def _settings(redis_port: int, tmp_path: Path) -> Settings:
    return Settings(redis={"url": f"redis://127.0.0.1:{redis_port}/0", "key_prefix": "tph:"},
                    alerts={"database_url": f"sqlite:///{tmp_path}/alerts.db"})


def _timed(client: httpx.AsyncClient, path: str):  # type: ignore[no-untyped-def]
    async def go() -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await client.get(path)
        return response, time.monotonic() - started
    return go()


async def test_redis_port_closed_answers_503_quickly(tmp_path: Path) -> None:
    dashboard = build_dashboard(_settings(free_port(), tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard.app),
                                 base_url="http://api") as c:
        ready, took = await _timed(c, "/readyz")
        assert ready.status_code == 503 and took < BOUND_S
        assert ready.json() == {"status": "unavailable", "checks": {"redis": "error",
                                                                    "sql": "ok"}}
        data, took = await _timed(c, "/api/v1/risk")
        assert data.status_code == 503 and took < BOUND_S
        assert data.json() == {"detail": "redis is unavailable"}
        assert (await c.get("/livez")).json() == {"status": "ok"}
        metrics = (await c.get("/metrics")).text
    assert 'tickerpulse_api_backend_unavailable_total{backend="redis"} 1.0' in metrics
    await dashboard.aclose()


async def test_hung_redis_answers_503_within_bound_then_recovers(
    tmp_path: Path, own_redis: tuple[subprocess.Popen[bytes], int]
) -> None:
    proc, port = own_redis
    dashboard = build_dashboard(_settings(port, tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard.app),
                                 base_url="http://api") as c:
        assert (await c.get("/readyz")).status_code == 200
        proc.send_signal(signal.SIGSTOP)  # accepts nothing, answers nothing: a hang
        try:
            ready, took = await _timed(c, "/readyz")
            assert ready.status_code == 503 and took < BOUND_S, took
            assert ready.json()["checks"] == {"redis": "timeout", "sql": "ok"}
            data, took = await _timed(c, "/api/v1/risk")
            assert data.status_code == 503 and took < BOUND_S + 1.5, took
        finally:
            proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 10
        while (await c.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "not ready again after Redis came back"
        assert (await c.get("/api/v1/risk")).status_code == 200
    await dashboard.aclose()


def test_sigterm_stops_the_api_while_a_request_waits(
    tmp_path: Path, own_redis: tuple[subprocess.Popen[bytes], int]
) -> None:
    proc, redis_port = own_redis
    port = free_port()
    env = {**os.environ, "TICKERPULSE_REDIS__URL": f"redis://127.0.0.1:{redis_port}/0",
           "TICKERPULSE_ALERTS__DATABASE_URL": f"sqlite:///{tmp_path}/alerts.db",
           # without the API's own bound, the request would wait for Redis indefinitely
           "TICKERPULSE_API__BACKEND_TIMEOUT_S": "30"}
    with (tmp_path / "api.log").open("wb") as log:
        api = subprocess.Popen([sys.executable, "-m", "tickerpulse.cli.main", "api", "serve",
                                "--port", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=30)
        proc.send_signal(signal.SIGSTOP)
        answers: list[int] = []

        def request() -> None:
            try:
                answers.append(httpx.get(f"http://127.0.0.1:{port}/api/v1/risk",
                                         timeout=60).status_code)
            except httpx.HTTPError:
                answers.append(-1)

        waiting = threading.Thread(target=request)
        waiting.start()
        time.sleep(1.0)
        assert not answers  # the request is waiting on the frozen Redis
        started = time.monotonic()
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=20)
        stopped_in = time.monotonic() - started
        waiting.join(timeout=10)
    finally:
        if api.poll() is None:
            api.kill()
            api.wait()
    # api.shutdown_grace_s (5 s) for requests in flight, then the process exits
    print(f"api serve exited {stopped_in:.2f} s after SIGTERM")
    assert stopped_in < 10.0, stopped_in
    assert answers and answers[0] in (-1, 503)


async def test_metrics_parse_with_route_templates(tmp_path: Path, redis_url: str,
                                                  redis_prefix: str) -> None:
    settings = Settings(redis={"url": redis_url, "key_prefix": redis_prefix},
                        alerts={"database_url": f"sqlite:///{tmp_path}/alerts.db"})
    dashboard = build_dashboard(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard.app),
                                 base_url="http://api") as c:
        for ticker in ("AAA", "BBB", "CCC"):
            assert (await c.get(f"/api/v1/risk/{ticker}")).status_code == 404
        await c.get("/api/v1/risk")
        text = (await c.get("/metrics")).text
    await dashboard.aclose()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    latency = families["tickerpulse_api_request_duration_seconds"]
    assert latency.type == "histogram"
    counts = {(s.labels["route"], s.labels["status"]): s.value for s in latency.samples
              if s.name.endswith("_count")}
    assert counts[("/api/v1/risk/{ticker}", "404")] == 3  # one series, not one per ticker
    assert counts[("/api/v1/risk", "200")] == 1
    assert not any("AAA" in str(s.labels) for f in families.values() for s in f.samples)
    assert families["tickerpulse_api_requests"].type == "counter"
    (info,) = families["tickerpulse_api_build_info"].samples
    assert info.labels["version"] and info.labels["model"]


def _cluster_pids(pg: ThrowawayPostgres) -> list[int]:
    """The postmaster and every process it started (one per connection, background workers)."""
    postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)],
                              capture_output=True, text=True).stdout.split()
    return [postmaster, *map(int, children)]


@pytest.mark.skipif(not ThrowawayPostgres.available(), reason="no PostgreSQL binaries")
async def test_postgres_down_or_frozen_answers_503_quickly(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    pg = ThrowawayPostgres(free_port()).init()
    pg.start()
    try:
        settings = Settings(redis={"url": redis_url, "key_prefix": redis_prefix},
                            alerts={"database_url": pg.url})
        dashboard = build_dashboard(settings)
        token = dashboard.tokens.create("ops", "admin", utc_now())
        auth = {"Authorization": f"Bearer {token}"}
        app = dashboard.app
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers=auth
        ) as c:  # the lifespan runs the token refresher, as under uvicorn
            assert (await c.get("/readyz")).status_code == 200
            assert (await c.get("/api/v1/alerts")).status_code == 200
            for outage in ("frozen", "stopped"):
                pids = _cluster_pids(pg)
                if outage == "frozen":
                    for pid in pids:
                        os.kill(pid, signal.SIGSTOP)
                else:
                    pg.stop("immediate")
                try:
                    ready, took = await _timed(c, "/readyz")
                    assert ready.status_code == 503 and took < BOUND_S, (outage, took)
                    assert ready.json()["checks"]["redis"] == "ok"
                    assert ready.json()["checks"]["sql"] in ("timeout", "error")
                    for path in ("/api/v1/alerts", "/api/v1/silences",
                                 "/api/v1/risk/ACME/history"):
                        data, took = await _timed(c, path)
                        assert data.status_code == 503 and took < BOUND_S + 1.5, (path, took)
                        assert data.json() == {"detail": "sql is unavailable"}
                    # risk comes from Redis: still served, with the token list read before
                    assert (await c.get("/api/v1/risk")).status_code == 200
                finally:
                    if outage == "frozen":
                        for pid in pids:
                            os.kill(pid, signal.SIGCONT)
                    else:
                        pg.start()
                deadline = time.monotonic() + 30
                while (await c.get("/readyz")).status_code != 200:
                    assert time.monotonic() < deadline, f"not ready after the {outage} outage"
                    await asyncio.sleep(0.2)
                assert (await c.get("/api/v1/alerts")).status_code == 200
        await dashboard.aclose()
    finally:
        pg.close()


async def test_wrong_redis_password_is_unavailable_not_500(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--requirepass", "right-one", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        settings = Settings(redis={"url": f"redis://:wrong-one@127.0.0.1:{port}/0"},
                            alerts={"database_url": f"sqlite:///{tmp_path}/alerts.db"})
        dashboard = build_dashboard(settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard.app),
                                     base_url="http://api") as c:
            data, took = await _timed(c, "/api/v1/risk")
            assert data.status_code == 503 and took < BOUND_S
            assert (await c.get("/readyz")).json()["checks"]["redis"] == "error"
        await dashboard.aclose()
    finally:
        proc.kill()
        proc.wait()
