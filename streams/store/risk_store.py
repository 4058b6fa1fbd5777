"""The Redis risk store: per-ticker risk state, committed atomically and idempotently.

A commit is one Lua call (``lua/commit.lua``) that, atomically, skips a doc id already counted
for the ticker (a replay changes nothing), checks the state version (optimistic concurrency:
the new state was computed by the pure :mod:`streams.risk` from the version read), writes the
state and the latest :class:`RiskUpdate`, records the doc id, refreshes TTLs and the index.

The state of the tickers this process writes is cached (a partition's tickers have one writer
at a time), so a batch of mentions costs one pipelined round trip; a version conflict (another
writer, e.g. during a rebalance) or a replayed doc id drops the cache and redoes the rest of
that ticker's mentions one by one from Redis.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

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
class CommitOutcome:
    mention: ScoredMention
    counted: bool  # False: this doc id was already counted for the ticker (a replay)
    update: RiskUpdate | None  # the ticker's latest update after this mention


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
        self, state: RiskState | None, version: int, m: ScoredMention, now: datetime
    ) -> tuple[RiskState, RiskUpdate, list[str], list[object]]:
        new = apply_mention(state, m, now, self.cfg)
        update = self.to_update(m.ticker, new, now, m.doc_id)
        ts = now.timestamp()
        keys = [
            self.keys.risk_state(m.ticker), self.keys.risk_seen(m.ticker),
            self.keys.risk_index, self.keys.risk_mentions,
        ]
        args: list[object] = [
            m.doc_id, version, json.dumps(new.to_json()), update.model_dump_json(),
            update.score, m.ticker, self.cfg.state_ttl_s, ts, ts - self.cfg.seen_window_s,
            SEEN_MAX,
        ]
        return new, update, keys, args

    async def commit_batch(self, mentions: Sequence[ScoredMention]) -> list[CommitOutcome]:
        """Commit mentions in order (per ticker); returns one outcome per mention, in order."""
        now = _utc(self.clock)
        by_ticker: dict[str, list[int]] = {}
        for i, m in enumerate(mentions):
            by_ticker.setdefault(m.ticker, []).append(i)
        outcomes: list[CommitOutcome | None] = [None] * len(mentions)
        plans: list[tuple[int, RiskState, RiskUpdate, list[str], list[object]]] = []
        for ticker, idxs in by_ticker.items():
            if ticker not in self._cache:
                self._cache[ticker] = await self._read(ticker)
            state, version = self._cache[ticker]
            for i in idxs:
                state_n, update, keys, args = self._plan(state, version, mentions[i], now)
                plans.append((i, state_n, update, keys, args))
                state, version = state_n, version + 1

        async def op(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for _, _, _, keys, args in plans:
                await self._commit(keys=keys, args=args, client=pipe)
            return await pipe.execute()

        results = await self.redis.run(op, "risk commit") if plans else []
        failed: set[str] = set()
        for (i, state_n, update, _, _), (status, version) in zip(plans, results, strict=True):
            m = mentions[i]
            if m.ticker in failed:
                continue
            if int(status) == 1:
                self._cache[m.ticker] = (state_n, int(version))
                outcomes[i] = CommitOutcome(m, True, update)
            else:
                failed.add(m.ticker)
                self._cache.pop(m.ticker, None)
        for ticker in failed:
            for i in by_ticker[ticker]:
                if outcomes[i] is None:
                    outcomes[i] = await self._commit_one(mentions[i])
        return [o for o in outcomes if o is not None]

    async def _commit_one(self, m: ScoredMention) -> CommitOutcome:
        for _ in range(MAX_CONFLICTS):
            state, version = await self._read(m.ticker)
            now = _utc(self.clock)
            state_n, update, keys, args = self._plan(state, version, m, now)
            status, new_version = await self.redis.run(
                lambda c, k=keys, a=args: self._commit(keys=k, args=a, client=c), "risk commit"
            )
            if int(status) == 1:
                self._cache[m.ticker] = (state_n, int(new_version))
                return CommitOutcome(m, True, update)
            if int(status) == 0:
                self._cache.pop(m.ticker, None)
                return CommitOutcome(m, False, await self.latest(m.ticker))
        raise StoreConflict(f"{m.ticker}: state kept changing under {MAX_CONFLICTS} retries")

    def to_update(
        self, ticker: str, state: RiskState, now: datetime, trigger_doc_id: str
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
            trigger_doc_id=trigger_doc_id,
        )

    # ---- reads (dashboard, alerts, tests) ---------------------------------------------

    async def latest(self, ticker: str) -> RiskUpdate | None:
        raw = await self.redis.run(
            lambda c: c.hget(self.keys.risk_state(ticker), "update"), "risk latest"
        )
        return RiskUpdate.model_validate_json(raw) if raw else None

    async def tickers(self) -> list[str]:
        raw = await self.redis.run(lambda c: c.zrevrange(self.keys.risk_index, 0, -1), "index")
        return [t.decode() for t in raw]

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
        return self.to_update(ticker, state, _utc(self.clock), state.last_doc_id)

    async def counted_doc_ids(self, ticker: str) -> list[str]:
        raw = await self.redis.run(lambda c: c.zrange(self.keys.risk_seen(ticker), 0, -1), "seen")
        return [d.decode() for d in raw]

    async def mentions_counted(self) -> int:
        raw = await self.redis.run(lambda c: c.get(self.keys.risk_mentions), "mentions")
        return int(raw or 0)
