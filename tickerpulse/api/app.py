"""The dashboard HTTP app: JSON API (OpenAPI at /openapi.json) and a page for people."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI
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

    page = _page()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/tickers/{ticker}", response_class=HTMLResponse, include_in_schema=False)
    async def ticker_page(ticker: str) -> str:
        return page

    return app
