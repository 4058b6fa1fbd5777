"""The API's authentication over real services: tokens made by the CLI in SQL (SQLite and
PostgreSQL), risk in the local Redis, the app as `tickerpulse api serve` builds it.

The matrix is generated from the app's own OpenAPI document, so a route added later is
covered without editing this file: every /api operation is called with no token, a revoked
token, a read token and an admin token. Routes outside /api must be on the known open list.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from alerts.rules import load_rules
from alerts.store.repository import AlertStore
from alerts.store.tables import Alert, Delivery, DeliveryAttempt
from streams.contracts import ScoredMention
from streams.store import RedisKeys, RiskStore, connect
from tickerpulse.cli.main import cli
from tickerpulse.dashboard import build_dashboard
from tickerpulse.embedded import free_port, wait_for_port
from tickerpulse.settings import Settings

pytestmark = pytest.mark.integration
RULES = Path(__file__).resolve().parents[2] / "alerts" / "examples" / "rules.yaml"

# what a stranger may fetch: the page, probes, metrics and the API's description
OPEN_ROUTES = {"/", "/tickers/{ticker}", "/livez", "/healthz", "/readyz", "/metrics",
               "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# operations a read token must not perform (changing silences, rules text)
ADMIN_ONLY = {("POST", "/api/v1/silences"), ("DELETE", "/api/v1/silences/{silence_id}"),
              ("GET", "/api/v1/alert-rules")}
BODIES = {("POST", "/api/v1/silences"): {"rule": "high", "duration": "1h", "comment": "x"}}
SECRET_ERROR = "receiver said: upstream 502 from 10.1.2.3"


def _env(db_url: str) -> dict[str, str]:
    return {"TICKERPULSE_ALERTS__DATABASE_URL": db_url}


def _token(db_url: str, name: str, role: str) -> str:
    result = CliRunner().invoke(cli, ["api", "token", "create", "--name", name, "--role", role],
                                env=_env(db_url))
    assert result.exit_code == 0, result.output
    (token,) = result.stdout.split()
    assert re.fullmatch(r"tp_[A-Za-z0-9_-]{43}", token)
    return token


def _seed_sql(db_url: str) -> tuple[str, int]:
    store = AlertStore(db_url, migrate=True)
    now = datetime.now(UTC)
    store.record_rules_version(load_rules(RULES), now)
    silence = store.add_silence(ticker="ACME", rule=None, starts_at=now,
                                expires_at=now + timedelta(hours=1), created_by="seed", now=now)
    with store.session.begin() as s:
        alert = Alert(event_id="evt_auth_1", fingerprint="f" * 32, rule="high", family="risk",
                      ticker="ACME", severity="critical", status="firing", repeat=False,
                      muted_by=None, value=91.0, started_at=now, decided_at=now,
                      rules_version="v1", payload="{}", delivery_status="failed")
        s.add(alert)
        s.flush()
        delivery = Delivery(alert_id=alert.id, event_id="evt_auth_1", channel="webhook:ops",
                            ticker="ACME", status="failed", attempts=1, created_at=now,
                            next_attempt_at=now, deadline_at=now, last_error=SECRET_ERROR)
        s.add(delivery)
        s.flush()
        s.add(DeliveryAttempt(delivery_id=delivery.id, event_id="evt_auth_1",
                              channel="webhook:ops", attempt=1, started_at=now, latency_ms=3.0,
                              outcome="fatal", http_status=502, error=SECRET_ERROR))
    store.close()
    return "evt_auth_1", silence.id


async def _seed_redis(settings: Settings) -> None:
    now = datetime.now(UTC)
    store = RiskStore(connect(settings.redis), RedisKeys(settings.redis.key_prefix), settings.risk)
    try:
        await store.commit_batch([ScoredMention(
            doc_id="news:wire:auth-1", ticker="ACME", kind="news", source="wire",
            published_at=now, excerpt="ACME misses", sentiment="negative",
            probabilities={"negative": 0.9, "neutral": 0.05, "positive": 0.05}, confidence=0.9,
            sentiment_source="entity", document_sentiment="negative",
            document_probabilities={"negative": 0.9, "neutral": 0.05, "positive": 0.05},
            document_confidence=0.9, relevance=1.0, relevance_kind="subject", link_confidence=1.0,
            model_version="t",
            scored_at=now)])
    finally:
        await store.redis.close()


def _operations(spec: dict[str, Any], samples: dict[str, Any]) -> list[tuple[str, str, str]]:
    ops = []
    for template, operations in spec["paths"].items():
        if not template.startswith("/api/"):
            continue
        names = re.findall(r"{(\w+)}", template)
        missing = [n for n in names if n not in samples]
        assert not missing, f"add a sample value for {missing} ({template})"
        path = template.format(**{n: samples[n] for n in names})
        ops += [(method.upper(), template, path) for method in operations]
    return ops


async def test_every_api_route_by_token(db_url: str, redis_url: str, redis_prefix: str) -> None:
    settings = Settings(redis={"url": redis_url, "key_prefix": redis_prefix},
                        alerts={"database_url": db_url, "migrate_on_start": True},
                        api={"token_refresh_s": 0.2})
    event_id, silence_id = _seed_sql(db_url)
    await _seed_redis(settings)
    admin, reader = _token(db_url, "ops", "admin"), _token(db_url, "wallboard", "read")
    revoked = _token(db_url, "old-laptop", "admin")
    result = CliRunner().invoke(cli, ["api", "token", "revoke", "old-laptop"], env=_env(db_url))
    assert result.exit_code == 0, result.output
    dashboard = build_dashboard(settings)
    app = dashboard.app
    spec = app.openapi()
    ops = _operations(spec, {"ticker": "ACME", "event_id": event_id, "silence_id": silence_id})
    assert len(ops) >= 8
    top_level = {getattr(r, "path", None) for r in app.routes} - {None}
    assert top_level | {p for p in spec["paths"] if not p.startswith("/api/")} <= OPEN_ROUTES

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as c:
        for method, template, path in ops:
            body = BODIES.get((method, template))

            async def call(token: str | None, method: str = method, path: str = path,
                           body: Any = body) -> httpx.Response:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return await c.request(method, path, json=body, headers=headers)

            label = f"{method} {template}"
            for token in (None, revoked, "tp_" + "x" * 43):
                r = await call(token)
                assert r.status_code == 401, label
                assert r.headers["www-authenticate"].startswith("Bearer"), label
            as_reader = await call(reader)
            if (method, template) in ADMIN_ONLY:
                assert as_reader.status_code == 403, label
            else:
                assert as_reader.status_code in (200, 201), (label, as_reader.text)
            as_admin = await call(admin)
            assert as_admin.status_code in (200, 201), (label, as_admin.text)
        for template in OPEN_ROUTES - {"/docs/oauth2-redirect"}:
            r = await c.get(template.replace("{ticker}", "ACME"))
            assert r.status_code in (200, 503), template  # /readyz may say not ready

        # delivery error texts are for admins; the silence names its token, not the body
        as_read = (await c.get(f"/api/v1/alerts/{event_id}",
                               headers={"Authorization": f"Bearer {reader}"})).json()
        assert as_read["errors_redacted"] is True
        assert as_read["deliveries"][0]["last_error"] is None
        assert as_read["attempts"][0]["error"] is None and as_read["attempts"][0]["http_status"]
        as_admin_detail = (await c.get(f"/api/v1/alerts/{event_id}",
                                       headers={"Authorization": f"Bearer {admin}"})).json()
        assert as_admin_detail["attempts"][0]["error"] == SECRET_ERROR
        silences = (await c.get("/api/v1/silences", headers={
            "Authorization": f"Bearer {admin}"})).json()
        assert {s["created_by"] for s in silences if s["rule"] == "high"} == {"ops"}
        await asyncio.sleep(0.3)  # one refresh: last use is written back in batches
        await c.get("/api/v1/risk", headers={"Authorization": f"Bearer {admin}"})
    await dashboard.aclose()

    listed = CliRunner().invoke(cli, ["api", "token", "list", "--json"], env=_env(db_url))
    rows = {r["name"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert set(rows) == {"ops", "wallboard", "old-laptop"}
    assert rows["ops"]["last_used_at"] != "-" and rows["old-laptop"]["revoked_at"] != "-"
    assert rows["wallboard"]["role"] == "read"
    for token in (admin, reader, revoked):
        assert token not in listed.output


def test_token_cli_errors(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/alerts.db"
    _token(db_url, "ops", "admin")
    again = CliRunner().invoke(cli, ["api", "token", "create", "--name", "ops", "--role",
                                     "read"], env=_env(db_url))
    assert again.exit_code == 1 and "exists already" in again.output
    bad = CliRunner().invoke(cli, ["api", "token", "create", "--name", "a b", "--role",
                                   "read"], env=_env(db_url))
    assert bad.exit_code == 2
    gone = CliRunner().invoke(cli, ["api", "token", "revoke", "nobody"], env=_env(db_url))
    assert gone.exit_code == 1 and "no token named" in gone.output


def test_hash_only_in_sql(tmp_path: Path) -> None:
    import sqlalchemy as sa

    db_url = f"sqlite:///{tmp_path}/alerts.db"
    token = _token(db_url, "ops", "admin")
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.execute(sa.text("SELECT * FROM api_tokens")))
    engine.dispose()
    import hashlib

    assert token not in dump and hashlib.sha256(token.encode()).hexdigest() in dump


def _serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    import os

    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "tickerpulse.cli.main", "api", "serve",
                                 *args], env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)


def test_non_loopback_bind_needs_a_token_or_insecure(tmp_path: Path, redis_url: str) -> None:
    db_url = f"sqlite:///{tmp_path}/alerts.db"
    env = {**_env(db_url), "TICKERPULSE_REDIS__URL": redis_url}
    refused = CliRunner().invoke(cli, ["api", "serve", "--host", "0.0.0.0", "--port",  # noqa: S104
                                       str(free_port())], env=env)
    assert refused.exit_code == 1
    assert "refusing to serve the API on 0.0.0.0" in refused.output
    assert "TICKERPULSE_API__INSECURE" in refused.output
    for extra in ({"TICKERPULSE_API__INSECURE": "true"}, None):
        if extra is None:
            _token(db_url, "ops", "admin")
        port = free_port()
        proc = _serve(["--host", "0.0.0.0", "--port", str(port)],  # noqa: S104
                      {**env, **(extra or {})}, tmp_path / "api.log")
        try:
            wait_for_port("127.0.0.1", port, timeout_s=30)
            status = httpx.get(f"http://127.0.0.1:{port}/api/v1/risk", timeout=5).status_code
            assert status == (200 if extra else 401)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
