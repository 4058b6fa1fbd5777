"""The latest feed-drift reading per document kind in Redis, for the dashboard.

One hash (``RedisKeys.drift``): field = kind, value = the reading as the ``DRIFT:<KIND>``
RiskUpdate JSON the stream worker also sends to the risk topic (``streams.drift``). It expires
``ttl_s`` after the last write, so a stopped worker's drift does not show for ever.
"""

from __future__ import annotations

from collections.abc import Sequence

from streams.contracts import RiskUpdate
from streams.store.connection import RetryingRedis
from streams.store.keys import RedisKeys

DRIFT_TTL_S = 86_400


class DriftStore:
    def __init__(self, redis: RetryingRedis, keys: RedisKeys, ttl_s: int = DRIFT_TTL_S) -> None:
        self.redis, self.keys, self.ttl_s = redis, keys, ttl_s

    async def save(self, readings: Sequence[RiskUpdate]) -> None:
        if not readings:
            return
        key = self.keys.drift
        mapping = {u.ticker.split(":", 1)[-1].lower(): u.model_dump_json() for u in readings}

        async def op(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=True)
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, self.ttl_s)
            return await pipe.execute()

        await self.redis.run(op, "drift save")

    async def load(self) -> list[RiskUpdate]:
        raw = await self.redis.run(lambda c: c.hgetall(self.keys.drift), "drift load")
        return sorted((RiskUpdate.model_validate_json(v) for v in raw.values()),
                      key=lambda u: u.ticker)
