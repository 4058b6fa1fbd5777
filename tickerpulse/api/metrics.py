"""Prometheus metrics of the API (``/metrics``) and its access log, in one middleware.

Labels stay low-cardinality: the route *template* (``/api/v1/risk/{ticker}``, never the
ticker), the method and the status code; requests matching no route share one label value.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, Info
from prometheus_client.exposition import generate_latest

access_log = logging.getLogger("tickerpulse.api.access")

UNMATCHED = "<none>"  # answered before or without routing: 404s, refused by authentication
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def package_version() -> str:
    try:
        return version("tickerpulse")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


class ApiMetrics:
    """The API's own registry (one per app, so tests can build many apps)."""

    def __init__(self, model_version: str = "") -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter("tickerpulse_api_requests", "HTTP requests answered.",
                                labels, registry=self.registry)
        self.latency = Histogram("tickerpulse_api_request_duration_seconds",
                                 "Time to answer an HTTP request.", labels,
                                 buckets=_BUCKETS, registry=self.registry)
        self.auth_failures = Counter("tickerpulse_api_auth_failures",
                                     "Requests refused for want of a valid token.", ["reason"],
                                     registry=self.registry)
        self.unavailable = Counter("tickerpulse_api_backend_unavailable",
                                   "Requests answered 503 because a backend was unreachable.",
                                   ["backend"], registry=self.registry)
        Info("tickerpulse_api_build", "Version of the running API.",
             registry=self.registry).info({"version": package_version(),
                                           "python": platform.python_version(),
                                           "model": model_version or "unknown"})

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(request: Request) -> str:
    """The matched route's template (set by the router in the scope), never the raw path."""
    return str(getattr(request.scope.get("route"), "path", None) or UNMATCHED)


_IDS = ("ticker", "event_id", "silence_id")


def _ids(request: Request) -> dict[str, object]:
    """The ids a route was called with (path parameters), as fields of the access log line."""
    params = request.scope.get("path_params") or {}
    return {k: params[k] for k in _IDS if k in params}


def install(app: FastAPI, metrics: ApiMetrics, access: bool) -> None:
    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(request)
            labels = (request.method, route, str(status))
            metrics.requests.labels(*labels).inc()
            metrics.latency.labels(*labels).observe(elapsed)
            if access:
                principal = getattr(request.state, "principal", None)
                # the path only: a query string may carry anything, tokens included
                access_log.info(
                    "%s %s %d %.1f ms", request.method, request.url.path, status,
                    elapsed * 1000,
                    extra={"method": request.method, "path": request.url.path,
                           "route": route, "status": status,
                           "duration_ms": round(elapsed * 1000, 2),
                           "client": request.client.host if request.client else None,
                           "token_name": principal.name if principal else None,
                           **_ids(request)},
                )
