"""Alert routes for the dashboard app: alert history (failed ones included), one alert with
its delivery attempts, silences CRUD, the rules version in force. Mount with
``app.include_router(alerts_router(store))``; ``snapshot_history(store)`` is a
``HistoryReader`` over the risk snapshots the scheduler writes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from alerts.errors import NotFoundError
from alerts.rules import parse_duration
from alerts.store.repository import AlertStore
from alerts.store.tables import Alert, Delivery, DeliveryAttempt, SilenceRow
from streams.contracts import utc_now
from tickerpulse.api.auth import (
    ADMIN_RESPONSES,
    Authenticator,
    Principal,
    current_principal,
    require_admin,
)
from tickerpulse.api.backends import bounded
from tickerpulse.api.risk import ErrorBody, HistoryReader, RiskPoint

T = TypeVar("T")
SQL_INT_MAX = 2**31 - 1


class AlertSummary(BaseModel):
    event_id: str
    fingerprint: str
    ticker: str
    rule: str
    family: str
    severity: str
    status: str
    repeat: bool
    value: float
    muted_by: str | None
    decided_at: datetime
    started_at: datetime
    rules_version: str
    delivery_status: Literal["pending", "delivered", "failed", "muted", "none"]


class AttemptOut(BaseModel):
    channel: str
    attempt: int
    started_at: datetime
    latency_ms: float
    outcome: str
    http_status: int | None
    error: str | None


class DeliveryOut(BaseModel):
    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime
    deadline_at: datetime
    delivered_at: datetime | None
    last_error: str | None


class AlertDetail(AlertSummary):
    payload: dict[str, Any]
    deliveries: list[DeliveryOut]
    attempts: list[AttemptOut]
    errors_redacted: bool = Field(
        description="True when the caller's role is read: receivers' error texts are withheld "
        "(`last_error`, `error` are null); an admin token shows them.")


class AlertList(BaseModel):
    count: int
    alerts: list[AlertSummary]


# positive, and small enough for a datetime (at most 6 integer digits: 999999d ~ 2700 years)
_POSITIVE_DURATION = (
    r"^(0*[1-9]\d{0,5}(\.\d{1,6})?|0+\.\d{0,5}[1-9]\d{0,5})(ms|s|m|h|d)$"
)


class SilenceIn(BaseModel):
    """A new silence: a ticker, a rule or both; exactly one of duration and expires_at.

    The constraints are in the JSON Schema too (anyOf / oneOf), so that a request valid by
    the OpenAPI document is a request this API accepts (expiry in the past aside).
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [{"required": ["ticker"]}, {"required": ["rule"]}],
            "oneOf": [{"required": ["duration"]}, {"required": ["expires_at"]}],
        },
    )

    # typed without None on purpose: absent means "any", an explicit null is not accepted
    ticker: str = Field(default=None, min_length=1, max_length=32,  # type: ignore[assignment]
                        pattern=r"^[A-Za-z0-9.^=-]+$")
    rule: str = Field(default=None, min_length=1, max_length=64,  # type: ignore[assignment]
                      pattern=r"^[a-z0-9_.-]+$")
    duration: str = Field(default=None, pattern=_POSITIVE_DURATION,  # type: ignore[assignment]
                          description="e.g. 30m, 2h; or give expires_at. At most "
                          "api.max_silence_days (30 days by default): longer is a 422.")
    expires_at: AwareDatetime = Field(  # type: ignore[assignment]
        default=None, description="At most api.max_silence_days ahead: later is a 422.")
    comment: str = Field(default="", max_length=1000)

    @model_validator(mode="after")
    def _target(self) -> SilenceIn:
        if self.ticker is None and self.rule is None:
            raise ValueError("a silence needs a ticker, a rule or both")
        if (self.duration is None) == (self.expires_at is None):
            raise ValueError("give exactly one of duration and expires_at")
        if self.duration is not None:
            parse_duration(self.duration)
        return self


class SilenceOut(BaseModel):
    id: int
    ticker: str | None
    rule: str | None
    comment: str
    created_by: str = Field(description="Name of the API token that created it.")
    created_at: datetime
    starts_at: datetime
    expires_at: datetime
    active: bool


class RulesVersionOut(BaseModel):
    version: str
    source: str
    loaded_at: datetime
    text: str


def _summary(a: Alert) -> dict[str, Any]:
    return {k: getattr(a, k) for k in AlertSummary.model_fields}


def _silence(row: SilenceRow, now: datetime) -> SilenceOut:
    fields = {k: getattr(row, k) for k in SilenceOut.model_fields if k != "active"}
    return SilenceOut(**fields, active=row.starts_at <= now < row.expires_at)


def _detail(
    a: Alert, ds: list[Delivery], ts: list[DeliveryAttempt], *, redact: bool
) -> AlertDetail:
    deliveries = [DeliveryOut(**{k: getattr(d, k) for k in DeliveryOut.model_fields}) for d in ds]
    attempts = [AttemptOut(**{k: getattr(t, k) for k in AttemptOut.model_fields}) for t in ts]
    if redact:  # receivers' error bodies may quote anything they were sent or hold
        deliveries = [d.model_copy(update={"last_error": None}) for d in deliveries]
        attempts = [t.model_copy(update={"error": None}) for t in attempts]
    return AlertDetail(**_summary(a), payload=json.loads(a.payload), deliveries=deliveries,
                       attempts=attempts, errors_redacted=redact)


def _too_long(field: str, limit: timedelta) -> RequestValidationError:
    return RequestValidationError([{
        "loc": ("body", field), "type": "value_error", "input": None,
        "msg": f"a silence lasts at most {limit.total_seconds() / 86400:g} days",
    }])


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}


def alerts_router(
    store: AlertStore,
    max_silence: timedelta = timedelta(days=30),
    auth: Authenticator | None = None,
    timeout_s: float = 2.0,
) -> APIRouter:
    """Alert routes behind ``auth``; without one (a router mounted alone, as in-process
    tests do) an authenticator with no token source: open, every caller anonymous admin.

    Every store call runs in a worker thread and is awaited for at most ``timeout_s``: a hung
    database answers 503 instead of holding the request (a write that times out may still
    land; the caller sees 503 and can list to check).
    """
    auth = auth or Authenticator(source=None)
    router = APIRouter(prefix="/api/v1", tags=["alerts"], dependencies=[Depends(auth.read)])

    async def sql(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await bounded(asyncio.to_thread(fn, *args, **kwargs), "sql", timeout_s)

    @router.get("/alerts", response_model=AlertList, summary="Recent alerts, newest first")
    async def list_alerts(
        ticker: str | None = None,
        delivery_status: Literal["pending", "delivered", "failed", "muted", "none"] | None = None,
        status: Literal["firing", "resolved"] | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> AlertList:
        rows = await sql(store.list_alerts, ticker=ticker, delivery_status=delivery_status,
                         status=status, limit=limit)
        return AlertList(count=len(rows), alerts=[AlertSummary(**_summary(a)) for a in rows])

    @router.get("/alerts/{event_id}", response_model=AlertDetail, responses=_NOT_FOUND,
                summary="One alert with its payload, deliveries and every attempt "
                        "(error texts for admin tokens only)")
    async def get_alert(
        event_id: str, principal: Principal = Depends(current_principal)  # noqa: B008
    ) -> AlertDetail:
        try:
            found = await sql(store.get_alert, event_id)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        return _detail(*found, redact=principal.role != "admin")

    @router.get("/silences", response_model=list[SilenceOut], summary="Silences")
    async def list_silences(include_expired: bool = False) -> list[SilenceOut]:
        now = utc_now()
        rows = await sql(store.list_silences, now, include_expired=include_expired)
        return [_silence(r, now) for r in rows]

    @router.post("/silences", response_model=SilenceOut, status_code=201,
                 responses={400: {"model": ErrorBody, "description": "Body is not JSON"},
                            **ADMIN_RESPONSES},
                 summary="Add a silence (admin); created_by is the token's name")
    async def add_silence(
        body: SilenceIn, principal: Principal = Depends(require_admin)  # noqa: B008
    ) -> SilenceOut:
        now = utc_now()
        if body.duration is not None and parse_duration(body.duration) > max_silence:
            raise _too_long("duration", max_silence)
        if body.expires_at is not None and body.expires_at - now > max_silence:
            raise _too_long("expires_at", max_silence)
        expires = body.expires_at or now + parse_duration(body.duration)
        # an expiry in the past is accepted as an already expired silence (kept in history)
        row = await sql(store.add_silence, ticker=body.ticker, rule=body.rule,
                        starts_at=min(now, expires), expires_at=expires, comment=body.comment,
                        created_by=principal.name, now=now)
        return _silence(row, now)

    @router.delete("/silences/{silence_id}", response_model=SilenceOut,
                   responses={**_NOT_FOUND, **ADMIN_RESPONSES},
                   dependencies=[Depends(require_admin)], summary="Expire a silence now (admin)")
    async def expire_silence(
        silence_id: int = Path(ge=1, le=SQL_INT_MAX),  # the id column is a 32-bit integer
    ) -> SilenceOut:
        now = utc_now()
        try:
            return _silence(await sql(store.expire_silence, silence_id, now), now)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None

    @router.get("/alert-rules", response_model=RulesVersionOut,
                responses={**_NOT_FOUND, **ADMIN_RESPONSES},
                dependencies=[Depends(require_admin)], summary="Rules in force (admin)")
    async def rules_in_force() -> RulesVersionOut:
        row = await sql(store.rules_in_force)
        if row is None:
            raise HTTPException(404, "no rules version recorded yet")
        return RulesVersionOut(version=row.version, source=row.source, loaded_at=row.loaded_at,
                               text=row.text)

    return router


def snapshot_history(store: AlertStore) -> HistoryReader:
    """Risk history for the dashboard from the SQL snapshots (``hours`` back from now)."""

    async def read(ticker: str, hours: int) -> list[RiskPoint]:
        since = utc_now() - timedelta(hours=hours)
        rows = await asyncio.to_thread(store.snapshots, ticker, since)
        return [RiskPoint(as_of=r.taken_at, score=r.score, buzz_z=r.buzz_z,
                          sentiment_1h=json.loads(r.sentiment).get("1h")) for r in rows]

    return read
