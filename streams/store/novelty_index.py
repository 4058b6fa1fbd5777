"""The shared novelty index in Redis: verdicts recorded by doc id, single-key commands only.

One batch costs three pipelined round trips, each command on one key (so the same code runs on
one Redis or a Redis Cluster, where the keys spread over every slot):

1. read: each document's recorded verdict, the first document with its exact text, and the
   members of its 16 LSH buckets (entries older than the window trimmed first);
2. read: the signatures of the candidates found;
3. write: for each new document, its exact-text claim (``SET NX``), signature, bucket
   entries (each bucket keeps its newest :data:`MAX_BUCKET`) and verdict (``SET NX GET``: if
   another worker decided the same document first, its verdict is the one returned).

Between 1 and 3 the batch is decided in order in memory, later documents seeing the earlier
ones (and the bucket trims they cause) exactly as the writes will leave Redis, so the verdicts
equal those of deciding one document at a time (:func:`streams.novelty.decide`). Two workers
deciding near-duplicates in the same few milliseconds may both call theirs fresh: the
documents then both count as fresh evidence (the risk score's novelty discount is lost for
that pair, nothing else).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from streams.contracts import Novelty
from streams.novelty import DEFAULT_THRESHOLD, Fingerprint, decide
from streams.store.connection import RetryingRedis
from streams.store.keys import RedisKeys

MAX_BUCKET = 32

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

    async def check(self, fp: Fingerprint) -> Novelty:
        return (await self.check_many([fp]))[0]

    async def _read(self, fps: Sequence[Fingerprint], now: float) -> tuple[Any, ...]:
        buckets = sorted({b for fp in fps for b in fp.bands})
        k = self.keys

        async def op(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for fp in fps:
                pipe.get(k.novelty_decision(fp.doc_id))
                pipe.get(k.novelty_exact(fp.exact))
            for b in buckets:
                pipe.zremrangebyscore(k.novelty_bucket(b), "-inf", f"({now - self.window_s!r}")
                pipe.zrange(k.novelty_bucket(b), 0, -1, withscores=True)
            return await pipe.execute()

        out = await self.redis.run(op, "novelty read")
        n = 2 * len(fps)
        decisions = {fp.doc_id: out[2 * i] for i, fp in enumerate(fps)}
        exact = {fp.exact: out[2 * i + 1] for i, fp in enumerate(fps)}
        members = {b: [(_text(m), float(s)) for m, s in out[n + 2 * j + 1]]
                   for j, b in enumerate(buckets)}
        return decisions, exact, members

    async def _signatures(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}

        async def op(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for d in ids:
                pipe.get(self.keys.novelty_signature(d))
            return await pipe.execute()

        raws = await self.redis.run(op, "novelty signatures")
        return {d: np.frombuffer(r, dtype="<u4") for d, r in zip(ids, raws, strict=True) if r}

    async def check_many(self, fps: Sequence[Fingerprint]) -> list[Novelty]:
        """Verdicts in order; a batch's later documents are compared with its earlier ones."""
        if not fps:
            return []
        now = self.clock()
        decisions, exact, members = await self._read(fps, now)
        wanted = sorted({m for ms in members.values() for m, _ in ms})
        sigs = await self._signatures(wanted)
        verdicts: list[Novelty] = []
        decided: dict[str, Novelty] = {}
        written: list[tuple[Fingerprint, Novelty]] = []
        for fp in fps:
            if decisions[fp.doc_id]:
                verdicts.append(_parse(decisions[fp.doc_id]))
                continue
            if fp.doc_id in decided:  # the same document twice in one batch
                verdicts.append(decided[fp.doc_id])
                continue
            original = exact.get(fp.exact)
            candidates = {m: sigs[m] for b in fp.bands for m, _ in members[b] if m in sigs}
            verdict = decide(fp, _text(original) if original else None, candidates,
                             self.threshold)
            # what this document's writes will do, for the documents after it
            if not exact.get(fp.exact):
                exact[fp.exact] = fp.doc_id.encode()
            sigs[fp.doc_id] = fp.signature.astype("<u4")
            for b in fp.bands:
                kept = [(m, s) for m, s in members[b] if m != fp.doc_id] + [(fp.doc_id, now)]
                kept.sort(key=lambda p: (p[1], p[0]))
                members[b] = kept[-MAX_BUCKET:]
            decided[fp.doc_id] = verdict
            written.append((fp, verdict))
            verdicts.append(verdict)
        if written:
            recorded = await self._write(written, now)
            verdicts = [recorded.get(fp.doc_id, v) for fp, v in zip(fps, verdicts, strict=True)]
        return verdicts

    async def _write(
        self, written: list[tuple[Fingerprint, Novelty]], now: float
    ) -> dict[str, Novelty]:
        """Writes the batch's new entries; returns the verdicts another worker recorded first."""
        k, ttl = self.keys, self.window_s

        async def op(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for fp, verdict in written:
                pipe.set(k.novelty_exact(fp.exact), fp.doc_id, nx=True, ex=ttl)
                pipe.set(k.novelty_signature(fp.doc_id),
                         fp.signature.astype("<u4").tobytes(), ex=ttl)
                for b in fp.bands:
                    key = k.novelty_bucket(b)
                    pipe.zadd(key, {fp.doc_id: now})
                    pipe.zremrangebyrank(key, 0, -(MAX_BUCKET + 1))
                    pipe.expire(key, ttl)
                pipe.set(k.novelty_decision(fp.doc_id), _format(verdict), nx=True, get=True,
                         ex=ttl)
            return await pipe.execute()

        out = await self.redis.run(op, "novelty write")
        per_doc = 3 + 3 * len(written[0][0].bands)
        earlier = {}
        for i, (fp, _) in enumerate(written):
            previous = out[(i + 1) * per_doc - 1]
            if previous:
                earlier[fp.doc_id] = _parse(previous)
        return earlier
