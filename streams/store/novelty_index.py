"""The shared novelty index in Redis: one Lua call per document, verdicts recorded by doc id."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from streams.contracts import Novelty
from streams.novelty import BANDS, DEFAULT_THRESHOLD, Fingerprint
from streams.store.connection import RetryingRedis
from streams.store.keys import RedisKeys

MAX_BUCKET = 32


def _script(name: str) -> str:
    return resources.files("streams.store").joinpath(f"lua/{name}").read_text("utf-8")


FRESH = Novelty()  # immutable: one instance serves every fresh document


def _parse(verdict: bytes | str) -> Novelty:
    text = verdict.decode() if isinstance(verdict, bytes) else verdict
    kind, sim, original = text.split("|", 2)
    if kind == "fresh":
        return FRESH
    return Novelty(kind=kind, similarity=round(float(sim), 4), duplicate_of=original)  # type: ignore[arg-type]


class RedisNoveltyIndex:
    """Novelty shared by every partition and worker; entries expire after ``window_s``."""

    def __init__(
        self,
        redis: RetryingRedis,
        keys: RedisKeys,
        window_s: int,
        threshold: float = DEFAULT_THRESHOLD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.keys, self.window_s = redis, keys, window_s
        self.threshold, self.clock = threshold, clock
        self._script = redis.client.register_script(_script("novelty.lua"))

    async def check(self, fp: Fingerprint) -> Novelty:
        return (await self.check_many([fp]))[0]

    async def check_many(self, fps: Sequence[Fingerprint]) -> list[Novelty]:
        """Verdicts in order, one Lua call per batch; a batch's later documents are compared
        with its earlier ones too."""
        if not fps:
            return []
        args: list[Any] = [self.keys.prefix, self.window_s, self.clock(), self.threshold,
                              MAX_BUCKET, BANDS]
        for fp in fps:
            args += [fp.doc_id, fp.exact, fp.signature.astype("<u4").tobytes(), *fp.bands]
        results = await self.redis.run(
            lambda c: self._script(keys=[], args=args, client=c), "novelty")
        return [_parse(r) for r in results]
