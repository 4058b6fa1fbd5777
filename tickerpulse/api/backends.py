"""Bounded reads of Redis and SQL for the API: an outage is a quick 503, never a hung request.

The stream worker's Redis client waits out an outage (retry forever: backpressure); a person
waiting on a page must not. ``BoundedRiskReader`` puts a deadline on every read and turns an
unreachable store into :class:`BackendUnavailable`, which the app answers with 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from streams.contracts import RiskUpdate
from streams.errors import ConfigurationError, StoreError
from tickerpulse.api.risk import HistoryReader, RiskPoint, RiskReader

T = TypeVar("T")


class BackendUnavailable(Exception):
    """Redis or SQL did not answer in time (``backend`` names which); HTTP 503."""

    def __init__(self, backend: str) -> None:
        super().__init__(f"{backend} is unavailable")
        self.backend = backend


async def bounded(awaitable: Awaitable[T], backend: str, timeout_s: float) -> T:
    try:
        return await asyncio.wait_for(awaitable, timeout_s)
    # ConfigurationError: e.g. Redis refusing the password; unusable, so unavailable too
    except (TimeoutError, StoreError, ConfigurationError, ConnectionError, OSError) as exc:
        raise BackendUnavailable(backend) from exc


class BoundedRiskReader:
    def __init__(self, reader: RiskReader, timeout_s: float) -> None:
        self.reader, self.timeout_s = reader, timeout_s

    async def latest_all(self) -> list[RiskUpdate]:
        return await bounded(self.reader.latest_all(), "redis", self.timeout_s)

    async def latest(self, ticker: str) -> RiskUpdate | None:
        return await bounded(self.reader.latest(ticker), "redis", self.timeout_s)


def bounded_history(history: HistoryReader, timeout_s: float,
                    unavailable: tuple[type[Exception], ...] = ()) -> HistoryReader:
    async def read(ticker: str, hours: int) -> list[RiskPoint]:
        try:
            return await bounded(history(ticker, hours), "sql", timeout_s)
        except unavailable as exc:
            raise BackendUnavailable("sql") from exc

    return read
