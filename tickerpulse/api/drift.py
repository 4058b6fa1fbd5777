"""Feed drift per document kind (the stream worker's latest readings, from Redis)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from streams.contracts import RiskUpdate
from tickerpulse.api.backends import bounded


class KindDrift(BaseModel):
    kind: str = Field(description="Document kind: news, social, filing.")
    texts: int = Field(description="Scored texts in the live window.")
    psi: float = Field(description="The larger of the two PSI values (what the drift rule reads).")
    psi_labels: float = Field(description="PSI of the predicted label shares.")
    psi_confidence: float = Field(description="PSI of the confidence histogram.")
    no_ticker_share: float = Field(description="Share of texts with no linked ticker.")
    unknown_token_share: float = Field(description="Share of unknown ([UNK]) tokens.")
    as_of: datetime
    model_version: str


class DriftBoard(BaseModel):
    kinds: list[KindDrift]


def _row(update: RiskUpdate) -> KindDrift:
    c = update.components
    return KindDrift(kind=update.ticker.split(":", 1)[-1].lower(), texts=int(c.get("texts", 0)),
                     psi=c.get("psi", 0.0), psi_labels=c.get("psi_labels", 0.0),
                     psi_confidence=c.get("psi_confidence", 0.0),
                     no_ticker_share=c.get("no_ticker_share", 0.0),
                     unknown_token_share=c.get("unknown_token_share", 0.0),
                     as_of=update.as_of, model_version=update.model_version)


def drift_router(load: Callable[[], Awaitable[list[RiskUpdate]]], timeout_s: float) -> APIRouter:
    router = APIRouter(prefix="/api/v1/drift", tags=["drift"])

    @router.get("", response_model=DriftBoard,
                summary="Feed drift per document kind against the model's reference profile")
    async def board() -> DriftBoard:
        return DriftBoard(kinds=[_row(u) for u in await bounded(load(), "redis", timeout_s)])

    return router
