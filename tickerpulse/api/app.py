"""The dashboard HTTP app: JSON API (OpenAPI at /openapi.json) and a page for people.

Open routes: the page (``/``, ``/tickers/...``), ``/livez``, ``/readyz``, ``/metrics`` and the
OpenAPI document; every ``/api/...`` route requires a token once one exists (``auth``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from importlib import resources

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from tickerpulse.api.auth import API_PREFIX, AUTH_RESPONSES, Authenticator
from tickerpulse.api.backends import BackendUnavailable
from tickerpulse.api.health import Check, health_router
from tickerpulse.api.metrics import ApiMetrics, install
from tickerpulse.api.risk import HistoryReader, RiskReader, risk_router

log = logging.getLogger(__name__)
RETRY_AFTER_S = "5"


def _page() -> str:
    return resources.files("tickerpulse.api").joinpath("static/index.html").read_text("utf-8")


def create_app(  # noqa: PLR0913 - the composition root passes each collaborator
    reader: RiskReader,
    history: HistoryReader | None = None,
    extra_routers: list[APIRouter] | None = None,
    *,
    auth: Authenticator | None = None,
    checks: dict[str, Check] | None = None,
    readiness_timeout_s: float = 1.0,
    metrics: ApiMetrics | None = None,
    access_log: bool = True,
    unavailable: tuple[type[Exception], ...] = (),
) -> FastAPI:
    """``auth`` defaults to an open authenticator without tokens (the in-process harness)."""
    auth = auth or Authenticator(source=None)
    metrics = metrics or ApiMetrics()
    auth.on_failure = lambda reason: metrics.auth_failures.labels(reason).inc()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        refresher = asyncio.create_task(auth.keep_fresh())
        try:
            yield
        finally:
            refresher.cancel()
            with suppress(asyncio.CancelledError):
                await refresher

    app = FastAPI(
        lifespan=lifespan,
        title="tickerpulse dashboard API",
        version="1",
        description="Per-ticker financial sentiment risk, alerts and silences. Every `/api` "
        "route takes a bearer token (`tickerpulse api token create`) once one exists.",
    )
    secured = {"dependencies": [Depends(auth.read)], "responses": AUTH_RESPONSES}
    app.include_router(risk_router(reader, history), **secured)  # type: ignore[arg-type]
    for router in extra_routers or []:
        app.include_router(router, **secured)  # type: ignore[arg-type]
    app.include_router(health_router(checks or {}, readiness_timeout_s))
    _check_secured(app)

    @app.middleware("http")
    async def authenticate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # by path, before routing: every /api request, whichever router serves it
        try:
            refused = await auth.guard(request)
        except BackendUnavailable as exc:
            return _unavailable(metrics, exc.backend)
        return refused or await call_next(request)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return metrics.render()

    @app.exception_handler(BackendUnavailable)
    async def backend_down(request: Request, exc: BackendUnavailable) -> JSONResponse:
        return _unavailable(metrics, exc.backend)

    for error in unavailable:
        @app.exception_handler(error)
        async def sql_down(request: Request, exc: Exception) -> JSONResponse:
            log.warning("SQL unreachable: %s", type(exc).__name__)
            return _unavailable(metrics, "sql")

    @app.middleware("http")
    async def allow_header(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Starlette's 405 names only the first route matching the path; RFC 9110 wants all.
        response = await call_next(request)
        if response.status_code == 405:
            methods = _methods_for(app, request.url.path)
            if methods:
                response.headers["allow"] = ", ".join(sorted(methods))
        return response

    install(app, metrics, access_log)  # added last: outermost, sees every answer
    page = _page()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/tickers/{ticker}", response_class=HTMLResponse, include_in_schema=False)
    async def ticker_page(ticker: str) -> str:
        return page

    return app


def _unavailable(metrics: ApiMetrics, backend: str) -> JSONResponse:
    metrics.unavailable.labels(backend).inc()
    return JSONResponse({"detail": f"{backend} is unavailable"}, status_code=503,
                        headers={"Retry-After": RETRY_AFTER_S})


def _check_secured(app: FastAPI) -> None:
    """Refuse to build an app whose OpenAPI document shows an /api operation without auth."""
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if path.startswith(API_PREFIX) and method in _HTTP_METHODS:
                if {"bearer": []} not in operation.get("security", []):
                    raise RuntimeError(f"{method.upper()} {path} is mounted without auth")


def _methods_for(app: FastAPI, path: str) -> set[str]:
    """The methods the OpenAPI document lists for the path template matching ``path``."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods |= {m.upper() for m in operations if m in _HTTP_METHODS}
    return methods


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
