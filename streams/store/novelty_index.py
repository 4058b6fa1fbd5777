"""The shared novelty index in Redis: verdicts recorded by doc id, cluster-ready.

One batch costs four pipelined round trips; every command or script stays in one slot, so the
same code runs on one Redis or a Redis Cluster:

1. each document's recorded verdict and the first document with its exact text (one key
   each); the batch's exact duplicates are settled from these, in order;
2. per LSH band, one script call (``lua/novelty_band.lua``) over that band's buckets, all
   tagged ``{nv<band>}`` (one slot per band): each new document, in batch order, sees its
   bucket and then joins it;
3. the signatures of the candidates of the documents that are not exact duplicates;
4. per new document its exact-text claim (``SET NX``), signature and verdict (``SET NX GET``:
   if another worker decided the same document first, its verdict is the one returned).

The verdicts equal those of deciding one document at a time (:func:`streams.novelty.decide`,
checked against the former single-script index on a recorded feed). Two workers deciding
near-duplicates in the same few milliseconds may both call theirs fresh: both then count as
fresh evidence (the novelty discount is lost for that pair, nothing else).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import numpy as np

from streams.contracts import Novelty
from streams.novelty import DEFAULT_THRESHOLD, Fingerprint, decide
from streams.store.connection import RetryingRedis
from streams.store.keys import RedisKeys

MAX_BUCKET = 32


def _script(name: str) -> str:
    return resources.files("streams.store").joinpath(f"lua/{name}").read_text("utf-8")

FRESH = Novelty()  # immutable: one instance serves every fresh document


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _parse(verdict: bytes | str) -> Novelty:
    kind, sim, original = _text(verdict).split("|", 2)
    if kind == "fresh":
        return FRESH
    return Novelty(kind=kind, similarity=round(float(sim), 4), duplicate_of=original)  # type: ignore[arg-type]


def _format(v: Novelty) -> str:
    if v.kind == "fresh":
        return "fresh|0|"
    return f"{v.kind}|{v.similarity!r}|{v.duplicate_of}"


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
        self._band = _script("novelty_band.lua")

    async def check(self, fp: Fingerprint) -> Novelty:
        return (await self.check_many([fp]))[0]

    async def _mget(self, keys: list[str], what: str) -> list[Any]:
        """Values of keys in any slots: one MGET on one Redis, one per slot on a cluster."""
        if self.redis.cluster:
            return await self.redis.run(lambda c: c.mget_nonatomic(keys), what)
        return await self.redis.run(lambda c: c.mget(keys), what)

    async def _read(self, fps: Sequence[Fingerprint]) -> tuple[list[Any], list[Any]]:
        k = self.keys
        out = await self._mget([key for fp in fps for key in (
            k.novelty_decision(fp.doc_id), k.novelty_exact(fp.exact))], "novelty read")
        return out[0::2], out[1::2]

    async def _buckets(
        self, plan: list[tuple[Fingerprint, str | None, bool]], now: float
    ) -> list[list[str]]:
        """Per new document, the ids in its buckets when it joined them (if wanted)."""
        k = self.keys
        bands = len(plan[0][0].bands)

        async def op(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for band in range(bands):
                keys = [k.novelty_bucket(fp.bands[band]) for fp, _, _ in plan]
                args: list[Any] = [repr(now - self.window_s), repr(now), self.window_s,
                                   MAX_BUCKET]
                for fp, _, want in plan:
                    args += [fp.doc_id, "1" if want else "0"]
                pipe.eval(self._band, len(keys), *keys, *args)
            return await pipe.execute()

        per_band = [json.loads(r) for r in await self.redis.run(op, "novelty buckets")]
        return [list(dict.fromkeys(m for seen in per_band for m in (seen[i] or [])))
                for i in range(len(plan))]

    async def _signatures(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        raws = await self._mget([self.keys.novelty_signature(d) for d in ids],
                                "novelty signatures")
        return {d: np.frombuffer(r, dtype="<u4") for d, r in zip(ids, raws, strict=True) if r}

    async def check_many(self, fps: Sequence[Fingerprint]) -> list[Novelty]:
        """Verdicts in order; a batch's later documents are compared with its earlier ones."""
        if not fps:
            return []
        now = self.clock()
        recorded, firsts = await self._read(fps)
        exact = {fp.exact: _text(f) for fp, f in zip(fps, firsts, strict=True) if f}
        plan: list[tuple[Fingerprint, str | None, bool]] = []  # new documents, in order
        planned: dict[str, Fingerprint] = {}
        for fp, rec in zip(fps, recorded, strict=True):
            if rec or fp.doc_id in planned:
                continue
            planned[fp.doc_id] = fp
            first = exact.setdefault(fp.exact, fp.doc_id)
            plan.append((fp, first, first == fp.doc_id))  # wants candidates unless exact
        decided: dict[str, Novelty] = {}
        if plan:
            seen = await self._buckets(plan, now)
            wanted = sorted({c for cands in seen for c in cands} - planned.keys())
            sigs = await self._signatures(wanted)
            for (fp, original, want), cands in zip(plan, seen, strict=True):
                found = {c: planned[c].signature if c in planned else sigs[c]
                         for c in cands if c in planned or c in sigs}
                decided[fp.doc_id] = decide(fp, None if want else original, found,
                                            self.threshold)
            decided.update(await self._write([(fp, decided[fp.doc_id]) for fp, _, _ in plan]))
        return [_parse(rec) if rec else decided[fp.doc_id]
                for fp, rec in zip(fps, recorded, strict=True)]

    async def _write(self, written: list[tuple[Fingerprint, Novelty]]) -> dict[str, Novelty]:
        """Writes the batch's new entries; returns the verdicts another worker recorded first."""
        k, ttl = self.keys, self.window_s

        async def op(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for fp, verdict in written:
                pipe.set(k.novelty_exact(fp.exact), fp.doc_id, nx=True, ex=ttl)
                pipe.set(k.novelty_signature(fp.doc_id),
                         fp.signature.astype("<u4").tobytes(), ex=ttl)
                pipe.set(k.novelty_decision(fp.doc_id), _format(verdict), nx=True, get=True,
                         ex=ttl)
            return await pipe.execute()

        out = await self.redis.run(op, "novelty write")
        return {fp.doc_id: _parse(previous)
                for (fp, _), previous in zip(written, out[2::3], strict=True) if previous}
