"""Scheduled jobs (APScheduler, on the worker's event loop), one leader at a time.

Jobs: delivery retries (drain the outbox), risk snapshots to SQL every N minutes (the
dashboard's history charts read them), retention clean-up, and a daily digest per endpoint
that asks for one. Several workers may run this scheduler; a lease row in the alerts
database (``scheduler_leases``) lets only its holder act, and another takes over when the
holder stops renewing it. The lease expires on the database's clock (``now()`` of the SQL
server), so workers whose clocks disagree still never both hold it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from alerts.digest import send_digest
from alerts.dispatch import Dispatcher, worker_id
from alerts.settings import AlertSettings
from alerts.store.repository import AlertStore
from streams.contracts import RiskUpdate, utc_now

log = logging.getLogger(__name__)

LEASE = "alerts-scheduler"


class LeaderJobs:
    """The job bodies; each acts only while this process holds the lease."""

    def __init__(
        self,
        settings: AlertSettings,
        store: AlertStore,
        dispatcher: Dispatcher | None,
        risk_source: Callable[[], Iterable[RiskUpdate]] | None,
        *,
        clock: Callable[[], datetime] = utc_now,
        holder: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.dispatcher = dispatcher
        self.risk_source = risk_source
        self.clock = clock
        self.holder = holder or worker_id()
        self.runs: dict[str, int] = {}

    async def is_leader(self) -> bool:
        ttl = timedelta(seconds=self.settings.scheduler.lease_s)
        return await asyncio.to_thread(self.store.try_lease, LEASE, self.holder, ttl)

    async def _guarded(self, name: str, body: Callable[[], Awaitable[object]]) -> None:
        try:
            if not await self.is_leader():
                return
            await body()
            self.runs[name] = self.runs.get(name, 0) + 1
        except Exception:  # a failing job must not kill the scheduler; it runs again next time
            log.exception("scheduled job %s failed", name)

    async def deliveries(self) -> None:
        if self.dispatcher is not None:
            await self._guarded("deliveries", self.dispatcher.run_once)

    async def snapshots(self) -> None:
        source = self.risk_source
        if source is None:
            return

        async def body() -> int:
            return await asyncio.to_thread(self.store.add_snapshots, list(source()), self.clock())

        await self._guarded("snapshots", body)

    async def retention(self) -> None:
        before = self.clock() - timedelta(days=self.settings.scheduler.retention_days)

        async def body() -> dict[str, int]:
            removed = await asyncio.to_thread(self.store.purge, before)
            log.info("retention removed %s", removed)
            return removed

        await self._guarded("retention", body)

    async def digests(self) -> None:
        async def body() -> None:
            async with httpx.AsyncClient() as client:
                for endpoint in self.settings.endpoints:
                    if endpoint.enabled and endpoint.digest:
                        await send_digest(self.store, endpoint, client, self.clock())

        await self._guarded("digests", body)


def build_scheduler(jobs: LeaderJobs) -> AsyncIOScheduler:
    """An AsyncIOScheduler with every job; start it inside the running event loop."""
    s = jobs.settings.scheduler
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)  # per-run noise
    scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={"coalesce": True,
                                                               "max_instances": 1,
                                                               "misfire_grace_time": 30})
    scheduler.add_job(jobs.deliveries, "interval", seconds=s.delivery_interval_s, id="deliveries")
    scheduler.add_job(jobs.snapshots, "interval", minutes=s.snapshot_interval_min, id="snapshots")
    scheduler.add_job(jobs.retention, "interval", minutes=s.retention_interval_min,
                      id="retention")
    if any(e.digest for e in jobs.settings.endpoints):
        scheduler.add_job(jobs.digests, "cron", hour=s.digest_hour_utc, minute=0, id="digests")
    return scheduler
