"""A Redis client that waits and retries while Redis is unreachable, instead of failing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis import exceptions as rexc

from streams.errors import StoreUnavailable
from streams.settings import RedisSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
_TRANSIENT = (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError, OSError)


class RetryingRedis:
    """Runs Redis operations, retrying transient failures with capped exponential backoff.

    With ``retry_forever`` (the default) an operation never fails on an outage: it waits, so
    the agent stops consuming (backpressure) and no message is skipped. Operations passed in
    must be idempotent: a retry may follow a write whose reply was lost.
    """

    def __init__(
        self, client: aioredis.Redis, retry_forever: bool = True, max_backoff_s: float = 2.0
    ) -> None:
        self.client = client
        self.retry_forever = retry_forever
        self.max_backoff_s = max_backoff_s
        self.outages = 0  # a metric: how many times Redis was found unreachable

    async def run(self, op: Callable[[aioredis.Redis], Awaitable[T]], what: str = "redis") -> T:
        delay = 0.05
        failures = 0
        while True:
            try:
                result = await op(self.client)
            except _TRANSIENT as exc:
                failures += 1
                if failures == 1:
                    self.outages += 1
                if not self.retry_forever and failures >= 3:
                    raise StoreUnavailable(f"{what}: Redis unreachable: {exc}") from exc
                log.warning("%s: Redis unreachable (%s); retry %d in %.2fs", what, exc,
                            failures, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            if failures:
                log.warning("%s: Redis reachable again after %d retries", what, failures)
            return result

    async def close(self) -> None:
        await self.client.aclose()


def connect(settings: RedisSettings) -> RetryingRedis:
    client = aioredis.Redis.from_url(
        settings.url, socket_timeout=5.0, socket_connect_timeout=2.0, decode_responses=False
    )
    return RetryingRedis(client, retry_forever=settings.retry_forever)
