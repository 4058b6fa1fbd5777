"""The dashboard HTTP app: JSON API (OpenAPI at /openapi.json) and a page for people."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from importlib import resources

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from tickerpulse.api.risk import HistoryReader, RiskReader, risk_router


class Health(BaseModel):
    status: str


def _page() -> str:
    return resources.files("tickerpulse.api").joinpath("static/index.html").read_text("utf-8")


def create_app(
    reader: RiskReader,
    history: HistoryReader | None = None,
    extra_routers: list[APIRouter] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="tickerpulse dashboard API",
        version="1",
        description="Per-ticker financial sentiment risk, alerts and silences.",
    )
    app.include_router(risk_router(reader, history))
    for router in extra_routers or []:
        app.include_router(router)

    @app.get("/healthz", response_model=Health, tags=["meta"])
    async def healthz() -> Health:
        return Health(status="ok")

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

    page = _page()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/tickers/{ticker}", response_class=HTMLResponse, include_in_schema=False)
    async def ticker_page(ticker: str) -> str:
        return page

    return app


def _methods_for(app: FastAPI, path: str) -> set[str]:
    """The methods the OpenAPI document lists for the path template matching ``path``."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods |= {m.upper() for m in operations if m in _HTTP_METHODS}
    return methods


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
