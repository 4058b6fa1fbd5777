"""Composition of the dashboard: the Redis risk store, the SQL alert history, the HTTP app.

The API reads Redis with its own client (no retry-forever loop) and PostgreSQL with a connect
timeout; every read is bounded by ``api.backend_timeout_s``, so an outage answers 503 instead
of holding requests.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI

from alerts.store.repository import AlertStore
from alerts.store.tokens import UNAVAILABLE_ERRORS, TokenStore, with_connect_timeout
from streams.store import DriftStore, RedisKeys, RetryingRedis, RiskStore, connect
from tickerpulse.api.alerts import alerts_router, snapshot_history
from tickerpulse.api.app import create_app
from tickerpulse.api.auth import Authenticator
from tickerpulse.api.backends import BoundedRiskReader, bounded_history
from tickerpulse.api.drift import drift_router
from tickerpulse.api.metrics import ApiMetrics
from tickerpulse.settings import Settings


@dataclass
class Dashboard:
    app: FastAPI
    risk: RiskStore
    alerts: AlertStore
    tokens: TokenStore

    async def aclose(self) -> None:
        await self.risk.redis.close()
        self.alerts.close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: treat as reachable from outside


def api_redis(settings: Settings) -> RetryingRedis:
    """A client that gives up instead of waiting out an outage (reads are also bounded)."""
    return connect(settings.redis.model_copy(update={"retry_forever": False}))


def build_dashboard(settings: Settings, *, host: str | None = None) -> Dashboard:
    """``host``: the bind address (decides whether the API may run open without tokens)."""
    api = settings.api
    redis = api_redis(settings)
    risk = RiskStore(redis, RedisKeys(settings.redis.key_prefix), settings.risk)
    store = AlertStore(with_connect_timeout(settings.alerts.database_url, api.backend_timeout_s),
                       migrate=settings.alerts.migrate_on_start)
    tokens = TokenStore(store.engine)
    auth = Authenticator(tokens, open_without_tokens=api.insecure or is_loopback(host or api.host),
                         refresh_s=api.token_refresh_s, timeout_s=api.backend_timeout_s)

    async def redis_ready() -> None:
        await redis.client.ping()

    async def sql_ready() -> None:
        await asyncio.to_thread(tokens.ping)

    app = create_app(
        BoundedRiskReader(risk, api.backend_timeout_s),
        bounded_history(snapshot_history(store), api.backend_timeout_s, UNAVAILABLE_ERRORS),
        [alerts_router(store, timedelta(days=api.max_silence_days), auth,
                       api.backend_timeout_s),
         drift_router(DriftStore(redis, RedisKeys(settings.redis.key_prefix)).load,
                      api.backend_timeout_s)],
        auth=auth, checks={"redis": redis_ready, "sql": sql_ready},
        readiness_timeout_s=api.readiness_timeout_s,
        metrics=ApiMetrics(settings.model.path or "default"), access_log=api.access_log,
        unavailable=UNAVAILABLE_ERRORS,
    )
    return Dashboard(app, risk, store, tokens)
