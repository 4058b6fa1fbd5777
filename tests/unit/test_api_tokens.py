"""API authentication over an in-memory token list (fast harness; the matrix over every route
with tokens in SQL and the CLI is tests/integration/test_api_auth.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from alerts.store.repository import AlertStore
from alerts.store.tokens import ActiveToken, new_token, token_hash
from tickerpulse.api.alerts import alerts_router
from tickerpulse.api.app import create_app
from tickerpulse.api.auth import STALE_LIMIT_S, Authenticator


class MemoryTokens:
    def __init__(self) -> None:
        self.tokens: list[ActiveToken] = []
        self.down = False
        self.touched: list[str] = []

    def add(self, name: str, role: str) -> str:
        value = new_token()
        self.tokens.append(ActiveToken(name, role, token_hash(value)))
        return value

    def revoke(self, name: str) -> None:
        self.tokens = [t for t in self.tokens if t.name != name]

    def active(self) -> list[ActiveToken]:
        if self.down:
            raise ConnectionError("database unreachable")
        return list(self.tokens)

    def touch(self, names: list[str], now: datetime) -> None:
        if self.down:
            raise ConnectionError("database unreachable")
        self.touched += names


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class EmptyReader:
    async def latest_all(self) -> list:  # type: ignore[type-arg]
        return []

    async def latest(self, ticker: str) -> None:
        return None


def _client(tmp_path: Path, tokens: MemoryTokens, *, open_without_tokens: bool,
            clock: Clock | None = None) -> httpx.AsyncClient:
    auth = Authenticator(tokens, open_without_tokens=open_without_tokens, refresh_s=2.0,
                         clock=clock or Clock())
    store = AlertStore(f"sqlite:///{tmp_path}/alerts.db", migrate=True)
    app = create_app(EmptyReader(), None, [alerts_router(store, timedelta(days=30), auth)],
                     auth=auth)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_loopback_is_open_and_silences_are_anonymous(tmp_path: Path) -> None:
    async with _client(tmp_path, MemoryTokens(), open_without_tokens=True) as c:
        assert (await c.get("/api/v1/risk")).status_code == 200
        made = await c.post("/api/v1/silences", json={"rule": "high", "duration": "1h"})
        assert made.status_code == 201 and made.json()["created_by"] == "anonymous"


async def test_no_token_and_not_open_refuses_everything(tmp_path: Path) -> None:
    async with _client(tmp_path, MemoryTokens(), open_without_tokens=False) as c:
        r = await c.get("/api/v1/risk")
        assert r.status_code == 401 and "api token create" in r.json()["detail"]
        assert r.headers["www-authenticate"] == "Bearer"
        assert (await c.get("/livez")).status_code == 200  # open routes stay open


async def test_tokens_and_roles(tmp_path: Path) -> None:
    tokens = MemoryTokens()
    admin, reader = tokens.add("ops", "admin"), tokens.add("wall", "read")
    async with _client(tmp_path, tokens, open_without_tokens=True) as c:
        missing = await c.get("/api/v1/risk")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        wrong = await c.get("/api/v1/risk", headers=bearer(new_token()))
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        basic = await c.get("/api/v1/risk", headers={"Authorization": f"Basic {admin}"})
        assert basic.status_code == 401
        assert (await c.get("/api/v1/risk", headers=bearer(reader))).status_code == 200
        body = {"rule": "high", "duration": "2h"}
        refused = await c.post("/api/v1/silences", json=body, headers=bearer(reader))
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
        made = await c.post("/api/v1/silences", json=body, headers=bearer(admin))
        assert made.status_code == 201 and made.json()["created_by"] == "ops"
        forged = await c.post("/api/v1/silences", json={**body, "created_by": "ceo"},
                              headers=bearer(admin))
        assert forged.status_code == 422  # created_by is not accepted from the body
        # a path no router serves is still behind authentication (the guard goes by prefix)
        assert (await c.get("/api/v2/anything")).status_code == 401
        assert (await c.get("/api/v2/anything", headers=bearer(reader))).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"rule": "high", "duration": "999999d"}, "duration"),
    ({"rule": "high", "duration": "31d"}, "duration"),
    ({"ticker": "ACME", "expires_at": "2999-01-01T00:00:00Z"}, "expires_at"),
])
async def test_silences_are_bounded(tmp_path: Path, body: dict, field: str) -> None:  # type: ignore[type-arg]
    async with _client(tmp_path, MemoryTokens(), open_without_tokens=True) as c:
        r = await c.post("/api/v1/silences", json=body)
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", field]
        assert "30 days" in r.json()["detail"][0]["msg"]
        ok = await c.post("/api/v1/silences", json={"rule": "high", "duration": "30d"})
        assert ok.status_code == 201


async def test_new_and_revoked_tokens_take_effect_after_refresh(tmp_path: Path) -> None:
    tokens, clock = MemoryTokens(), Clock()
    admin = tokens.add("ops", "admin")
    async with _client(tmp_path, tokens, open_without_tokens=True, clock=clock) as c:
        assert (await c.get("/api/v1/risk", headers=bearer(admin))).status_code == 200
        late = tokens.add("late", "read")
        assert (await c.get("/api/v1/risk", headers=bearer(late))).status_code == 401
        tokens.revoke("ops")
        assert (await c.get("/api/v1/risk", headers=bearer(admin))).status_code == 200
        clock.now += 2.0
        assert (await c.get("/api/v1/risk", headers=bearer(late))).status_code == 200
        assert (await c.get("/api/v1/risk", headers=bearer(admin))).status_code == 401
        clock.now += 2.0
        await c.get("/api/v1/risk", headers=bearer(late))
        assert set(tokens.touched) == {"ops", "late"}  # last use recorded, batched


async def test_token_store_outage_uses_the_last_list_then_503(tmp_path: Path) -> None:
    tokens, clock = MemoryTokens(), Clock()
    admin = tokens.add("ops", "admin")
    async with _client(tmp_path, tokens, open_without_tokens=True, clock=clock) as c:
        assert (await c.get("/api/v1/risk", headers=bearer(admin))).status_code == 200
        tokens.down = True
        clock.now += STALE_LIMIT_S / 2
        assert (await c.get("/api/v1/risk", headers=bearer(admin))).status_code == 200
        assert (await c.get("/api/v1/risk")).status_code == 401  # stale list still enforced
        clock.now += STALE_LIMIT_S
        down = await c.get("/api/v1/risk", headers=bearer(admin))
        assert down.status_code == 503 and down.json() == {"detail": "sql is unavailable"}
        assert down.headers["retry-after"]


async def test_never_read_token_list_fails_closed(tmp_path: Path) -> None:
    tokens = MemoryTokens()
    tokens.down = True
    async with _client(tmp_path, tokens, open_without_tokens=True) as c:
        assert (await c.get("/api/v1/risk")).status_code == 503  # not "open": unknown


async def test_openapi_declares_bearer_and_error_responses(tmp_path: Path) -> None:
    async with _client(tmp_path, MemoryTokens(), open_without_tokens=True) as c:
        spec = (await c.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": "An API token from `tickerpulse api token create` (prefix `tp_`)."}
    admin_only = {("post", "/api/v1/silences"), ("delete", "/api/v1/silences/{silence_id}"),
                  ("get", "/api/v1/alert-rules")}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if not path.startswith("/api/"):
                assert "security" not in op, path
                continue
            assert op["security"] == [{"bearer": []}], path
            assert "WWW-Authenticate" in op["responses"]["401"]["headers"], path
            assert ("403" in op["responses"]) == ((method, path) in admin_only), path
            assert "503" in op["responses"], path
    silence_in = spec["components"]["schemas"]["SilenceIn"]["properties"]
    assert "created_by" not in silence_in



class SlowTokens(MemoryTokens):
    def __init__(self) -> None:
        super().__init__()
        self.hang_s = 0.0

    def active(self) -> list[ActiveToken]:
        import time

        time.sleep(self.hang_s)
        return super().active()


async def test_lifespan_refresher_keeps_requests_off_sql(tmp_path: Path) -> None:
    import asyncio
    import time

    tokens = SlowTokens()
    admin = tokens.add("ops", "admin")
    tokens.add("other", "read")  # one token stays: the API never falls open here
    auth = Authenticator(tokens, refresh_s=0.05, timeout_s=2.0)
    app = create_app(EmptyReader(), auth=auth)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as c:
        assert (await c.get("/api/v1/risk", headers=bearer(admin))).status_code == 200
        tokens.hang_s = 3.0  # SQL slow: the refresher waits, requests do not
        await asyncio.sleep(0.2)
        started = time.monotonic()
        assert (await c.get("/api/v1/risk", headers=bearer(admin))).status_code == 200
        assert time.monotonic() - started < 1.5
        tokens.hang_s = 0.0
        tokens.revoke("ops")  # revocation lands within one refresh once SQL answers again
        deadline = time.monotonic() + 10
        while (await c.get("/api/v1/risk", headers=bearer(admin))).status_code != 401:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
