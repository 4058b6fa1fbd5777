"""The Redis risk store: per-ticker risk state, committed atomically and idempotently.

A batch of mentions is folded into each ticker's state by the pure :mod:`streams.risk`, then
committed with one Lua call per ticker (``lua/commit.lua``) that, atomically, refuses if any
of the doc ids was already counted for the ticker (a replay changes nothing), checks the state
version (optimistic concurrency: the new state was computed from the version read), writes
the state and the latest :class:`RiskUpdate`, records the doc ids, refreshes TTLs and the
index. One risk update per ticker per batch (``trigger_doc_ids`` lists its mentions).

The state of the tickers this process writes is cached (a partition's tickers have one writer
at a time), so a batch costs one pipelined round trip; a refused commit (a replay, or another
writer during a rebalance) drops the cache, re-reads the state and the counted doc ids, and
commits only the mentions not yet counted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast

from streams.contracts import RiskUpdate, ScoredMention
from streams.errors import StoreConflict
from streams.risk import RiskState, apply_mention, assess, contributing_documents
from streams.settings import RiskSettings
from streams.store.connection import RetryingRedis
from streams.store.keys import RedisKeys

log = logging.getLogger(__name__)
SEEN_MAX = 200_000  # doc ids remembered per ticker, at most
MAX_CONFLICTS = 50


@dataclass(frozen=True)
class CommitResult:
    counted: list[bool]  # per mention, in order; False = already counted (a replay)
    updates: list[RiskUpdate]  # the latest update of each ticker in the batch


def _utc(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


class RiskStore:
    """Owner of the per-ticker risk keys; also the dashboard's reader (``latest*``)."""

    def __init__(
        self,
        redis: RetryingRedis,
        keys: RedisKeys,
        cfg: RiskSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.keys, self.cfg, self.clock = redis, keys, cfg, clock
        text = resources.files("streams.store").joinpath("lua/commit.lua").read_text("utf-8")
        self._commit = redis.client.register_script(text)
        self._cache: dict[str, tuple[RiskState | None, int]] = {}

    # ---- writes ------------------------------------------------------------------------

    async def _read(self, ticker: str) -> tuple[RiskState | None, int]:
        raw = await self.redis.run(
            lambda c: c.hmget(self.keys.risk_state(ticker), "state", "version"), "risk read"
        )
        state = RiskState.from_json(json.loads(raw[0])) if raw[0] else None
        return state, int(raw[1] or 0)

    def _plan(
        self, state: RiskState | None, version: int, ms: Sequence[ScoredMention], now: datetime
    ) -> tuple[RiskState, RiskUpdate, list[str], list[Any]]:
        for m in ms:
            state = apply_mention(state, m, now, self.cfg)
        assert state is not None  # noqa: S101 - ms is never empty
        ticker = ms[0].ticker
        update = self.to_update(ticker, state, now, [m.doc_id for m in ms])
        ts = now.timestamp()
        keys = [
            self.keys.risk_state(ticker), self.keys.risk_seen(ticker),
            self.keys.risk_index, self.keys.risk_mentions,
        ]
        args: list[Any] = [
            version, json.dumps(state.to_json()), update.model_dump_json(), update.score,
            ticker, self.cfg.state_ttl_s, ts, ts - self.cfg.seen_window_s, SEEN_MAX,
            *(m.doc_id for m in ms),
        ]
        return state, update, keys, args

    async def commit_batch(self, mentions: Sequence[ScoredMention]) -> CommitResult:
        """Fold a batch into each ticker's state: one atomic commit (and update) per ticker."""
        now = _utc(self.clock)
        by_ticker: dict[str, list[ScoredMention]] = {}
        first: set[tuple[str, str]] = set()
        repeated: set[int] = set()  # the same (ticker, doc) twice in one batch
        for i, m in enumerate(mentions):
            if (m.ticker, m.doc_id) in first:
                repeated.add(i)
                continue
            first.add((m.ticker, m.doc_id))
            by_ticker.setdefault(m.ticker, []).append(m)
        plans = []
        for ticker, ms in by_ticker.items():
            if ticker not in self._cache:
                self._cache[ticker] = await self._read(ticker)
            state, version = self._cache[ticker]
            plans.append((ticker, *self._plan(state, version, ms, now)))

        async def op(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for *_, keys, args in plans:
                await self._commit(keys=keys, args=args, client=pipe)
            return await pipe.execute()

        results = await self.redis.run(op, "risk commit") if plans else []
        replayed: set[tuple[str, str]] = set()
        updates: list[RiskUpdate] = []
        for (ticker, state, update, _, _), (status, version) in zip(plans, results, strict=True):
            if int(status) == 1:
                self._cache[ticker] = (state, int(version))
                updates.append(update)
                continue
            self._cache.pop(ticker, None)
            update_or_none, skipped = await self._commit_slow(by_ticker[ticker])
            replayed |= {(ticker, d) for d in skipped}
            if update_or_none is not None:
                updates.append(update_or_none)
        counted = [(m.ticker, m.doc_id) not in replayed and i not in repeated
                   for i, m in enumerate(mentions)]
        return CommitResult(counted, updates)

    async def _commit_slow(self, ms: list[ScoredMention]) -> tuple[RiskUpdate | None, set[str]]:
        """Re-read, drop the doc ids already counted, commit the rest (retrying conflicts)."""
        ticker = ms[0].ticker
        for _ in range(MAX_CONFLICTS):
            state, version = await self._read(ticker)
            ids = [m.doc_id for m in ms]
            seen_key = self.keys.risk_seen(ticker)

            async def seen(c: Any, ids: list[str] = ids, key: str = seen_key) -> Any:
                return await c.zmscore(key, ids)

            scores = await self.redis.run(seen, "risk seen")
            skipped = {d for d, sc in zip(ids, scores, strict=True) if sc is not None}
            todo = [m for m in ms if m.doc_id not in skipped]
            if not todo:
                return await self.latest(ticker), skipped
            state_n, update, keys, args = self._plan(state, version, todo, _utc(self.clock))

            async def commit(c: Any, k: list[str] = keys, a: list[Any] = args) -> Any:
                return await self._commit(keys=k, args=a, client=c)

            status, new_version = await self.redis.run(commit, "risk commit")
            if int(status) == 1:
                self._cache[ticker] = (state_n, int(new_version))
                return update, skipped
        raise StoreConflict(f"{ticker}: state kept changing under {MAX_CONFLICTS} retries")

    def to_update(
        self, ticker: str, state: RiskState, now: datetime, doc_ids: list[str]
    ) -> RiskUpdate:
        a = assess(state, now, self.cfg)
        return RiskUpdate(
            ticker=ticker,
            as_of=now,
            score=a.score,
            components=a.components,
            sentiment=a.sentiment,
            volume=a.volume,
            buzz_z=a.buzz_z,
            negative_mentions=a.negative_mentions,
            mentions_total=state.mentions_total,
            top_documents=contributing_documents(a.top),
            model_version=state.model_version,
            trigger_doc_id=doc_ids[-1] if doc_ids else state.last_doc_id,
            trigger_doc_ids=doc_ids,
        )

    # ---- reads (dashboard, alerts, tests) ---------------------------------------------

    async def latest(self, ticker: str) -> RiskUpdate | None:
        raw = await self.redis.run(
            lambda c: c.hget(self.keys.risk_state(ticker), "update"), "risk latest"
        )
        return RiskUpdate.model_validate_json(raw) if raw else None

    async def tickers(self) -> list[str]:
        raw = await self.redis.run(lambda c: c.zrevrange(self.keys.risk_index, 0, -1), "index")
        return [t.decode() for t in cast(list[bytes], raw)]

    async def latest_all(self) -> list[RiskUpdate]:
        """Latest update of every ticker with live state, highest score first."""
        tickers = await self.tickers()
        if not tickers:
            return []

        async def op(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for t in tickers:
                pipe.hget(self.keys.risk_state(t), "update")
            return await pipe.execute()

        raws = await self.redis.run(op, "risk latest_all")
        expired = [t for t, r in zip(tickers, raws, strict=True) if not r]
        if expired:
            await self.redis.run(lambda c: c.zrem(self.keys.risk_index, *expired), "index")
        updates = [RiskUpdate.model_validate_json(r) for r in raws if r]
        return sorted(updates, key=lambda u: (-u.score, u.ticker))

    async def state(self, ticker: str) -> RiskState | None:
        return (await self._read(ticker))[0]

    async def current(self, ticker: str) -> RiskUpdate | None:
        """The ticker's risk re-assessed at the store's clock (decayed since the last mention)."""
        state = await self.state(ticker)
        if state is None:
            return None
        return self.to_update(ticker, state, _utc(self.clock), [])

    async def counted_doc_ids(self, ticker: str) -> list[str]:
        raw = await self.redis.run(lambda c: c.zrange(self.keys.risk_seen(ticker), 0, -1), "seen")
        return [d.decode() for d in cast(list[bytes], raw)]

    async def mentions_counted(self) -> int:
        raw = await self.redis.run(lambda c: c.get(self.keys.risk_mentions), "mentions")
        return int(raw or 0)
