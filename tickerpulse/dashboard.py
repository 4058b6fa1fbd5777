"""Composition of the dashboard: the Redis risk store, the SQL alert history, the HTTP app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from alerts.store.repository import AlertStore
from streams.store import RedisKeys, RiskStore, connect
from tickerpulse.api.alerts import alerts_router, snapshot_history
from tickerpulse.api.app import create_app
from tickerpulse.settings import Settings


@dataclass
class Dashboard:
    app: FastAPI
    risk: RiskStore
    alerts: AlertStore

    async def aclose(self) -> None:
        await self.risk.redis.close()
        self.alerts.close()


def build_dashboard(settings: Settings) -> Dashboard:
    redis = connect(settings.redis)
    risk = RiskStore(redis, RedisKeys(settings.redis.key_prefix), settings.risk)
    store = AlertStore(settings.alerts.database_url, migrate=settings.alerts.migrate_on_start)
    app = create_app(risk, snapshot_history(store), [alerts_router(store)])
    return Dashboard(app, risk, store)
