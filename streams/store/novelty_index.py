"""The shared novelty index in Redis: one Lua call per document, verdicts recorded by doc id."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib import resources

from streams.contracts import Novelty
from streams.novelty import DEFAULT_THRESHOLD, Fingerprint
from streams.store.connection import RetryingRedis
from streams.store.keys import RedisKeys

MAX_BUCKET = 32


def _script(name: str) -> str:
    return resources.files("streams.store").joinpath(f"lua/{name}").read_text("utf-8")


def _parse(verdict: bytes | str) -> Novelty:
    text = verdict.decode() if isinstance(verdict, bytes) else verdict
    kind, sim, original = text.split("|", 2)
    if kind == "fresh":
        return Novelty()
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

    def _call(self, fp: Fingerprint, now: float) -> tuple[list[str], list[object]]:
        keys = [
            self.keys.novelty_decision(fp.doc_id),
            self.keys.novelty_exact(fp.exact),
            self.keys.novelty_signature_prefix + fp.doc_id,
            *(self.keys.novelty_bucket(b) for b in fp.bands),
        ]
        args: list[object] = [
            fp.doc_id, fp.signature.astype("<u4").tobytes(), self.window_s, now,
            self.threshold, self.keys.novelty_signature_prefix, MAX_BUCKET,
        ]
        return keys, args

    async def check(self, fp: Fingerprint) -> Novelty:
        return (await self.check_many([fp]))[0]

    async def check_many(self, fps: Sequence[Fingerprint]) -> list[Novelty]:
        """Verdicts in order; documents of one batch are compared with earlier ones too."""
        if not fps:
            return []
        now = self.clock()

        async def op(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for fp in fps:
                keys, args = self._call(fp, now)
                await self._script(keys=keys, args=args, client=pipe)
            return await pipe.execute()

        results = await self.redis.run(op, "novelty")
        return [_parse(r) for r in results]
