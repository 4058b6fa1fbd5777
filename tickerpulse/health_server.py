"""A small HTTP server for a worker without a web framework: ``/metrics``, ``/livez``,
``/readyz`` (the alerts worker's; the stream worker serves the same pages on faust's web port).

It runs on the worker's own event loop, so ``/livez`` answering means that loop is alive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from streams.health import Check, liveness, readiness
from streams.metrics import CONTENT_TYPE, Metrics


class HealthServer:
    """``async with HealthServer(...)`` serves until the block ends; ``port`` 0 = a free one."""

    def __init__(
        self, metrics: Metrics, checks: Mapping[str, Check], *, host: str, port: int,
        before_scrape: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.metrics, self.checks = metrics, checks
        self.host, self.port = host, port
        self.before_scrape = before_scrape
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> HealthServer:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            server = site._server  # noqa: SLF001 - the only way to learn the bound port
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.before_scrape is not None:
            await self.before_scrape()
        return web.Response(body=self.metrics.render().encode(),
                            headers={"Content-Type": CONTENT_TYPE})

    async def _livez(self, request: web.Request) -> web.Response:
        status, body = liveness()
        return web.json_response(body, status=status)

    async def _readyz(self, request: web.Request) -> web.Response:
        status, body = await readiness(self.checks)
        return web.json_response(body, status=status)
