"""Readiness with injected checks, loopback detection and the PostgreSQL connect timeout
(fast; against a real Redis, closed or frozen: tests/integration/test_api_health.py)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from alerts.store.tokens import with_connect_timeout
from tickerpulse.api.app import create_app
from tickerpulse.dashboard import is_loopback


class EmptyReader:
    async def latest_all(self) -> list:  # type: ignore[type-arg]
        return []

    async def latest(self, ticker: str) -> None:
        return None


async def _ok() -> None:
    return None


async def _hangs() -> None:
    await asyncio.sleep(60)


async def _fails() -> None:
    raise ConnectionError("refused")


@pytest.mark.parametrize(("checks", "status", "body"), [
    ({"redis": _ok, "sql": _ok}, 200, {"status": "ready", "checks": {"redis": "ok", "sql": "ok"}}),
    ({"redis": _hangs, "sql": _ok}, 503,
     {"status": "unavailable", "checks": {"redis": "timeout", "sql": "ok"}}),
    ({"redis": _ok, "sql": _fails}, 503,
     {"status": "unavailable", "checks": {"redis": "ok", "sql": "error"}}),
])
async def test_readiness(checks, status: int, body: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    app = create_app(EmptyReader(), checks=checks, readiness_timeout_s=0.3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        started = time.monotonic()
        r = await c.get("/readyz")
        assert time.monotonic() - started < 1.5  # bounded by the timeout, not by the check
        assert (r.status_code, r.json()) == (status, body)
        assert (await c.get("/livez")).json() == {"status": "ok"}
        assert (await c.get("/healthz")).json() == {"status": "ok"}


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.4", False),  # noqa: S104
    ("dashboard.internal", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_connect_timeout_only_for_postgresql_without_one() -> None:
    pg = with_connect_timeout("postgresql+psycopg://u:p%40ss@db:5432/tp", 2.0)
    assert pg == "postgresql+psycopg://u:p%40ss@db:5432/tp?connect_timeout=2"
    kept = "postgresql+psycopg://db/tp?connect_timeout=9"
    assert with_connect_timeout(kept, 2.0) == kept
    assert with_connect_timeout("sqlite:///var/x.db", 2.0) == "sqlite:///var/x.db"
