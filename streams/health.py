"""Liveness and readiness of a worker process, as JSON for ``/livez`` and ``/readyz``.

A readiness check is a named coroutine function that returns ``None`` when its dependency is
usable and a short reason when it is not (raising counts as down, with the exception as the
reason). All checks run concurrently under one timeout, so ``/readyz`` answers within about
``timeout_s`` even when a dependency hangs; a check still running then is reported as
``timeout``. The body names every check and, when not ready, what is down::

    200 {"status": "ready", "checks": {"redis": "ok", "kafka": "ok"}}
    503 {"status": "not ready", "checks": {"redis": "timeout after 1.0s", "kafka": "ok"},
         "down": ["redis"]}

``/livez`` only says the process answers (its event loop runs): restarting a worker because
Redis is down would not bring Redis back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Check = Callable[[], Awaitable[str | None]]
DEFAULT_TIMEOUT_S = 1.0


async def readiness(
    checks: Mapping[str, Check], timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of running every check concurrently within ``timeout_s``."""
    names = sorted(checks)
    results = await asyncio.gather(*(_one(checks[n], timeout_s) for n in names))
    verdicts = dict(zip(names, results, strict=True))
    down = [n for n, v in verdicts.items() if v != "ok"]
    body: dict[str, Any] = {"status": "not ready" if down else "ready", "checks": verdicts}
    if down:
        body["down"] = down
    return (503 if down else 200), body


async def _one(check: Check, timeout_s: float) -> str:
    try:
        problem = await asyncio.wait_for(check(), timeout_s)
    except TimeoutError:
        return f"timeout after {timeout_s:g}s"
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency is "down"
        return f"{type(exc).__name__}: {exc}"[:300]
    return "ok" if problem is None else problem


def liveness() -> tuple[int, dict[str, Any]]:
    return 200, {"status": "alive"}

