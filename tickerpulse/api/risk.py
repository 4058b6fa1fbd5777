"""Risk dashboard routes: current per-ticker risk from Redis, history from SQL snapshots."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from streams.contracts import RiskUpdate


class RiskReader(Protocol):
    """What the dashboard needs from the risk store (wired to streams' Redis store)."""

    async def latest_all(self) -> list[RiskUpdate]: ...

    async def latest(self, ticker: str) -> RiskUpdate | None: ...


class RiskPoint(BaseModel):
    as_of: datetime
    score: float
    sentiment_1h: float | None = None
    buzz_z: float | None = None


HistoryReader = Callable[[str, int], Awaitable[list[RiskPoint]]]


class RiskBoard(BaseModel):
    """All tickers with a current risk, highest first."""

    count: int = Field(ge=0)
    tickers: list[RiskUpdate]


class RiskHistory(BaseModel):
    ticker: str
    points: list[RiskPoint]


class ErrorBody(BaseModel):
    detail: str


def risk_router(reader: RiskReader, history: HistoryReader | None = None) -> APIRouter:
    router = APIRouter(prefix="/api/v1/risk", tags=["risk"])

    @router.get("", response_model=RiskBoard, summary="Current risk of every ticker")
    async def board(
        limit: int = Query(default=100, ge=1, le=1000),
        min_score: float = Query(default=0.0, ge=0.0, le=100.0),
    ) -> RiskBoard:
        updates = [u for u in await reader.latest_all() if u.score >= min_score]
        updates.sort(key=lambda u: (-u.score, u.ticker))
        return RiskBoard(count=len(updates), tickers=updates[:limit])

    @router.get(
        "/{ticker}",
        response_model=RiskUpdate,
        responses={404: {"model": ErrorBody}},
        summary="Current risk of one ticker",
    )
    async def one(ticker: str) -> RiskUpdate:
        update = await reader.latest(ticker.upper())
        if update is None:
            raise HTTPException(status_code=404, detail=f"no risk recorded for {ticker.upper()}")
        return update

    @router.get(
        "/{ticker}/history",
        response_model=RiskHistory,
        summary="Risk snapshots of one ticker, oldest first",
    )
    async def history_of(
        ticker: str, hours: int = Query(default=24, ge=1, le=24 * 30)
    ) -> RiskHistory:
        points = await history(ticker.upper(), hours) if history is not None else []
        return RiskHistory(ticker=ticker.upper(), points=points)

    return router
