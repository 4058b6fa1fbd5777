"""The live model pointer in Redis: which model directory the stream workers serve.

``tickerpulse replay promote`` writes it (and appends to the promotion history); the score
stage's :class:`streams.live_model.LiveModel` reads it. Keys: ``model:live`` (JSON) and
``model:history`` (list of the same JSON, oldest first), see :mod:`streams.store.keys`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from streams.store.connection import RetryingRedis
from streams.store.keys import RedisKeys


@dataclass(frozen=True)
class ModelPointer:
    path: str  # the model directory the workers load
    version: str  # the model version its scores carry
    promoted_at: str  # ISO 8601, UTC
    who: str  # user@host (or what --who said)
    source: str = ""  # the replay (shadow name) it was promoted from, if any

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: bytes | str) -> ModelPointer:
        data: dict[str, Any] = json.loads(raw)
        return cls(str(data["path"]), str(data["version"]), str(data["promoted_at"]),
                   str(data.get("who", "")), str(data.get("source", "")))


class ModelPointerStore:
    """Reads and writes the pointer (the only writer of these two keys)."""

    def __init__(self, redis: RetryingRedis, keys: RedisKeys) -> None:
        self.redis, self.keys = redis, keys

    async def read(self) -> ModelPointer | None:
        raw = await self.redis.run(lambda c: c.get(self.keys.model_pointer), "model pointer")
        return ModelPointer.from_json(raw) if raw else None

    async def promote(self, pointer: ModelPointer) -> None:
        """Point the live workers at ``pointer`` and record it in the history (one MULTI)."""
        text = pointer.to_json()

        async def op(client: Any) -> Any:
            pipe = client.pipeline(transaction=True)
            pipe.set(self.keys.model_pointer, text)
            pipe.rpush(self.keys.model_history, text)
            return await pipe.execute()

        await self.redis.run(op, "model promote")

    async def history(self) -> list[ModelPointer]:
        raws = await self.redis.run(lambda c: c.lrange(self.keys.model_history, 0, -1),
                                    "model history")
        return [ModelPointer.from_json(r) for r in raws]
