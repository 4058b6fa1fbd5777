"""Liveness and readiness: ``/livez`` says the process serves; ``/readyz`` checks its backends.

Readiness runs every check at once, each bounded by its timeout, so the answer comes within
that bound even when a backend hangs; the body names each check and nothing more (no host,
no error text: the route is open to anyone who can reach the port).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]
CheckStatus = Literal["ok", "timeout", "error"]


class Live(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, CheckStatus]


async def _run(name: str, check: Check, timeout_s: float) -> CheckStatus:
    try:
        await asyncio.wait_for(check(), timeout_s)
    except TimeoutError:
        log.warning("readiness: %s did not answer within %.1f s", name, timeout_s)
        return "timeout"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        log.warning("readiness: %s failed: %s", name, type(exc).__name__)
        return "error"
    return "ok"


def health_router(checks: dict[str, Check], timeout_s: float) -> APIRouter:
    router = APIRouter(tags=["meta"])

    @router.get("/livez", response_model=Live, summary="The process is up and serving")
    async def livez() -> Live:
        return Live(status="ok")

    @router.get("/healthz", response_model=Live, deprecated=True,
                summary="Alias of /livez (kept for existing probes)")
    async def healthz() -> Live:
        return Live(status="ok")

    @router.get("/readyz", response_model=Ready,
                responses={503: {"model": Ready, "description": "A backend is unreachable"}},
                summary="Redis and SQL answer (each check bounded by api.readiness_timeout_s)")
    async def readyz() -> JSONResponse:
        names = sorted(checks)
        results = await asyncio.gather(*(_run(n, checks[n], timeout_s) for n in names))
        statuses: dict[str, CheckStatus] = dict(zip(names, results, strict=True))
        ready = all(s == "ok" for s in statuses.values())
        body = Ready(status="ready" if ready else "unavailable", checks=statuses)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    return router
