"""A replay's manifest, kept under its shadow key prefix (``replay:manifest``, JSON).

Written when a replay starts (``status: running``) and again when it ends (``finished``);
``tickerpulse replay report`` and ``promote --name`` read it. No TTL: a shadow namespace is
removed by its owner (``redis-cli --scan --pattern 'shadow:NAME:*'``)."""

from __future__ import annotations

import json
from typing import Any

from streams.store.connection import RetryingRedis
from streams.store.keys import RedisKeys


class ReplayManifestStore:
    def __init__(self, redis: RetryingRedis, keys: RedisKeys) -> None:
        self.redis, self.keys = redis, keys

    async def read(self) -> dict[str, Any] | None:
        raw = await self.redis.run(lambda c: c.get(self.keys.replay_manifest), "manifest read")
        return dict(json.loads(raw)) if raw else None

    async def write(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, sort_keys=True)
        await self.redis.run(lambda c: c.set(self.keys.replay_manifest, text), "manifest write")
