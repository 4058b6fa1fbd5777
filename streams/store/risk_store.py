"""The Redis risk store: per-ticker risk state, committed atomically and idempotently, for good.

A batch of mentions is folded into each ticker's state by the pure :mod:`streams.risk`, then
committed with one Lua call per ticker (``lua/commit.lua``, every key in the ticker's cluster
slot) that, atomically, refuses if any of the doc ids was already counted for the ticker (a
replay changes nothing), checks the state's etag (optimistic concurrency: the new state was
computed from the state read), writes the state and the latest :class:`RiskUpdate`, records
the doc ids, refreshes TTLs, the shard's index and counter. One risk update per ticker per
batch (``trigger_doc_ids`` lists its mentions).

**Idempotent for good.** A ticker's counted doc ids are kept by event time (``published_at``)
above a per-ticker *floor*: ids at or below ``now - risk.seen_window_s`` are forgotten, and so
are the oldest ones past ``risk.seen_max_per_ticker``; either way the floor rises to them, and
a mention at or below the floor is *refused* (never counted, outcome ``too_old``), as is one
dated more than ``risk.max_future_s`` ahead (``future``). So a document counted once either
still has its id on record or is refused: it never changes the score again, however late it
returns. The ids live as long as the state (same TTL); after the state expires (no mention for
``risk.state_ttl_s`` >= window + future + margin) every document it counted is past the window.

**Redis losing the last second.** The mentions committed in the last ``redis.repair_window_s``
are kept in memory; when Redis comes back after an outage (a restart from its AOF, a failover)
they are committed again: those Redis still has are replays, those it lost are counted.

**The cross-section.** Each commit also files the ticker's 15-minute volume in its shard's
volume zset (same slot); :meth:`RiskStore.peers` reads every shard (one pipelined call, at most
once per :data:`MARKET_REFRESH_S`) so a young ticker's buzz is measured against the other
tickers' (:class:`streams.risk.Peers`). It shapes the published update only, never the state.

The state of the tickers this process writes is cached (a partition's tickers have one writer
at a time), so a batch costs one pipelined round trip; a refused commit (a replay, or another
writer during a rebalance) drops the cache, re-reads the state and the counted doc ids, and
commits only the mentions not yet counted.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast

from streams.contracts import RiskUpdate, ScoredMention
from streams.errors import StoreConflict
from streams.risk import (
    HORIZONS,
    VOL,
    Peers,
    RiskState,
    apply_mention,
    assess,
    contributing_documents,
)
from streams.settings import RiskSettings
from streams.store.connection import RetryingRedis
from streams.store.keys import RedisKeys

log = logging.getLogger(__name__)
MAX_CONFLICTS = 50
JOURNAL_MAX = 20_000  # mentions kept for re-commit after an outage, at most
NO_FLOOR = -1e300
MARKET_REFRESH_S = 1.0  # the cross-section is read at most this often
TAU_15M = HORIZONS["15m"]
MIN_VOLUME = 0.01  # a ticker whose 15-minute volume decayed below this has left the market


@dataclass(frozen=True)
class CommitResult:
    counted: list[bool]  # per mention, in order; False = not counted (see outcomes)
    updates: list[RiskUpdate]  # the latest update of each ticker in the batch
    # per mention: "counted", "replay" (already counted), "too_old" (at or below the
    # ticker's floor or older than risk.seen_window_s), "future" (dated too far ahead)
    outcomes: list[str] = field(default_factory=list)


@dataclass
class _Cached:
    state: RiskState | None
    etag: str
    floor: float


def _utc(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


def _event_time(m: ScoredMention) -> float:
    """The time a counted id is filed under: the document's own, the same on every replay."""
    return m.published_at.timestamp()


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
        self._script = text
        self._cache: dict[str, _Cached] = {}
        self.repair_window_s = redis.settings.repair_window_s
        self._journal: deque[tuple[float, list[ScoredMention]]] = deque()
        self._journal_size = 0
        self._recoveries = redis.recoveries
        self.outcomes: Counter[str] = Counter()  # a metric: mentions by outcome
        self.repaired = 0  # mentions Redis had lost, counted again after it came back
        self._market: tuple[float, dict[str, float]] | None = None  # (read at, volumes)

    # ---- writes ------------------------------------------------------------------------

    async def _read(self, ticker: str) -> _Cached:
        raw = await self.redis.run(
            lambda c: c.hmget(self.keys.risk_state(ticker), "state", "etag", "floor"),
            "risk read")
        state = RiskState.from_json(json.loads(raw[0])) if raw[0] else None
        return _Cached(state, (raw[1] or b"").decode(), float(raw[2]) if raw[2] else NO_FLOOR)

    def _refusal(self, m: ScoredMention, floor: float, now: float) -> str | None:
        t = _event_time(m)
        if t > now + self.cfg.max_future_s:
            return "future"
        if t <= max(floor, now - self.cfg.seen_window_s):
            return "too_old"
        return None

    def _plan(
        self, cached: _Cached, ms: Sequence[ScoredMention], now: datetime,
        market: dict[str, float],
    ) -> tuple[RiskState, RiskUpdate, str, list[str], list[Any]]:
        state = cached.state
        for m in ms:
            state = apply_mention(state, m, now, self.cfg)
        assert state is not None  # noqa: S101 - ms is never empty
        ticker = ms[0].ticker
        update = self.to_update(ticker, state, now, [m.doc_id for m in ms], market)
        etag = uuid.uuid4().hex
        keys = [
            self.keys.risk_state(ticker), self.keys.risk_seen(ticker),
            self.keys.risk_index_of(ticker), self.keys.risk_mentions_of(ticker),
            self.keys.risk_volume_of(ticker),
        ]
        volume = max(state.sums["15m"][VOL], MIN_VOLUME)
        args: list[Any] = [
            cached.etag, etag, json.dumps(state.to_json()), update.model_dump_json(),
            update.score, ticker, self.cfg.state_ttl_s,
            repr(now.timestamp() - self.cfg.seen_window_s), self.cfg.seen_max_per_ticker,
            repr(math.log(volume) + state.as_of / TAU_15M),
            repr(math.log(MIN_VOLUME) + now.timestamp() / TAU_15M),
        ]
        for m in ms:
            args += [m.doc_id, repr(_event_time(m))]
        return state, update, etag, keys, args

    def _eval(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        return client.eval(self._script, len(keys), *keys, *args)

    async def commit_batch(self, mentions: Sequence[ScoredMention]) -> CommitResult:
        """Fold a batch into each ticker's state: one atomic commit (and update) per ticker."""
        await self._repair_if_redis_came_back()
        result = await self._commit(mentions)
        self.outcomes.update(result.outcomes)
        await self._repair_if_redis_came_back()  # before remembering: this batch landed after
        self._remember(mentions, result.outcomes)
        return result

    async def _commit(self, mentions: Sequence[ScoredMention]) -> CommitResult:
        now = _utc(self.clock)
        outcomes = ["counted"] * len(mentions)
        by_ticker: dict[str, list[tuple[int, ScoredMention]]] = {}
        first: set[tuple[str, str]] = set()
        for i, m in enumerate(mentions):
            if (m.ticker, m.doc_id) in first:  # the same (ticker, doc) twice in one batch
                outcomes[i] = "replay"
                continue
            first.add((m.ticker, m.doc_id))
            by_ticker.setdefault(m.ticker, []).append((i, m))
        plans = []
        market = await self.market() if by_ticker else {}
        for ticker, items in by_ticker.items():
            if ticker not in self._cache:
                self._cache[ticker] = await self._read(ticker)
            cached = self._cache[ticker]
            todo = []
            for i, m in items:
                reason = self._refusal(m, cached.floor, now.timestamp())
                if reason:
                    outcomes[i] = reason
                else:
                    todo.append((i, m))
            if todo:
                plans.append((ticker, todo,
                              *self._plan(cached, [m for _, m in todo], now, market)))

        async def op(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for *_, keys, args in plans:
                self._eval(pipe, keys, args)
            return await pipe.execute()

        results = await self.redis.run(op, "risk commit") if plans else []
        updates: list[RiskUpdate] = []
        for (ticker, todo, state, update, etag, _, _), (status, floor) in zip(
                plans, results, strict=True):
            if int(status) == 1:
                self._cache[ticker] = _Cached(state, etag, float(floor))
                updates.append(update)
                continue
            self._cache.pop(ticker, None)
            update_or_none, refused = await self._commit_slow([m for _, m in todo])
            for i, m in todo:
                outcomes[i] = refused.get(m.doc_id, "counted")
            if update_or_none is not None:
                updates.append(update_or_none)
        return CommitResult([o == "counted" for o in outcomes], updates, outcomes)

    async def _commit_slow(
        self, ms: list[ScoredMention]
    ) -> tuple[RiskUpdate | None, dict[str, str]]:
        """Re-read, drop the doc ids already counted or refused, commit the rest (retrying
        conflicts). Returns the ticker's update and the outcome of each mention not counted."""
        ticker = ms[0].ticker
        seen_key = self.keys.risk_seen(ticker)
        for _ in range(MAX_CONFLICTS):
            cached = await self._read(ticker)
            now = _utc(self.clock)
            ids = [m.doc_id for m in ms]

            async def seen(c: Any, ids: list[str] = ids) -> Any:
                return await c.zmscore(seen_key, ids)

            scores = await self.redis.run(seen, "risk seen")
            refused = {d: "replay" for d, sc in zip(ids, scores, strict=True) if sc is not None}
            for m in ms:
                reason = self._refusal(m, cached.floor, now.timestamp())
                if reason and m.doc_id not in refused:
                    refused[m.doc_id] = reason
            todo = [m for m in ms if m.doc_id not in refused]
            if not todo:
                return await self.latest(ticker), refused
            state, update, etag, keys, args = self._plan(cached, todo, now, await self.market())

            async def commit(c: Any, k: list[str] = keys, a: list[Any] = args) -> Any:
                return await self._eval(c, k, a)

            status, floor = await self.redis.run(commit, "risk commit")
            if int(status) == 1:
                self._cache[ticker] = _Cached(state, etag, float(floor))
                return update, refused
        raise StoreConflict(f"{ticker}: state kept changing under {MAX_CONFLICTS} retries")

    # ---- repair after Redis lost writes ------------------------------------------------

    def _remember(self, mentions: Sequence[ScoredMention], outcomes: list[str]) -> None:
        if self.repair_window_s <= 0:
            return
        kept = [m for m, o in zip(mentions, outcomes, strict=True) if o == "counted"]
        now = time.monotonic()
        if kept:
            self._journal.append((now, kept))
            self._journal_size += len(kept)
        while self._journal and (self._journal[0][0] < now - self.repair_window_s
                                 or self._journal_size > JOURNAL_MAX):
            self._journal_size -= len(self._journal.popleft()[1])

    async def _repair_if_redis_came_back(self) -> None:
        if self.redis.recoveries == self._recoveries:
            return
        self._recoveries = self.redis.recoveries
        self._cache.clear()  # Redis may hold an older state than the one cached
        mentions = [m for _, ms in self._journal for m in ms]
        if not mentions:
            return
        result = await self._commit(mentions)
        lost = result.outcomes.count("counted")
        self.repaired += lost
        log.warning("Redis came back: re-committed the %d mentions of the last %.0f s; %d of "
                    "them had been lost by Redis and are counted now", len(mentions),
                    self.repair_window_s, lost)

    def to_update(
        self, ticker: str, state: RiskState, now: datetime, doc_ids: list[str],
        market: dict[str, float] | None = None,
    ) -> RiskUpdate:
        peers = Peers.of(market, ticker, now.timestamp()) if market is not None else None
        a = assess(state, now, self.cfg, peers)
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

    async def _index(self) -> list[tuple[str, float]]:
        async def op(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for key in self.keys.risk_index_shards:
                pipe.zrange(key, 0, -1, withscores=True)
            return await pipe.execute()

        shards = await self.redis.run(op, "index")
        pairs = [(t.decode(), float(s)) for shard in shards for t, s in shard]
        return sorted(pairs, key=lambda p: (-p[1], p[0]))

    async def tickers(self) -> list[str]:
        """Tickers with state (or whose state expired but a reader has not noticed yet),
        highest score first."""
        return [t for t, _ in await self._index()]

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

        async def drop(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for t in expired:
                pipe.zrem(self.keys.risk_index_of(t), t)
            return await pipe.execute()

        if expired:
            await self.redis.run(drop, "index")
        updates = [RiskUpdate.model_validate_json(r) for r in raws if r]
        return sorted(updates, key=lambda u: (-u.score, u.ticker))

    async def state(self, ticker: str) -> RiskState | None:
        return (await self._read(ticker)).state

    async def current(self, ticker: str) -> RiskUpdate | None:
        """The ticker's risk re-assessed at the store's clock (decayed since the last mention)."""
        state = await self.state(ticker)
        if state is None:
            return None
        return self.to_update(ticker, state, _utc(self.clock), [], await self.market())

    async def market(self) -> dict[str, float]:
        """Every ticker's 15-minute mention volume now (those above :data:`MIN_VOLUME`), read
        from all shards at most once per :data:`MARKET_REFRESH_S`."""
        now = self.clock()
        if self._market is not None and now - self._market[0] < MARKET_REFRESH_S:
            return self._market[1]
        low = repr(math.log(MIN_VOLUME) + now / TAU_15M)

        async def op(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for key in self.keys.risk_volume_shards:
                pipe.zrangebyscore(key, low, "+inf", withscores=True)
            return await pipe.execute()

        shards = await self.redis.run(op, "risk market")
        volumes = {t.decode(): math.exp(min(score - now / TAU_15M, 700.0))
                   for shard in shards for t, score in shard}
        self._market = (now, volumes)
        return volumes

    async def counted_doc_ids(self, ticker: str) -> list[str]:
        """Doc ids counted for the ticker and still on record (event time above its floor)."""
        raw = await self.redis.run(lambda c: c.zrange(self.keys.risk_seen(ticker), 0, -1), "seen")
        return [d.decode() for d in cast(list[bytes], raw)]

    async def floor(self, ticker: str) -> float | None:
        """Event time at or below which the ticker refuses mentions (None: no floor yet)."""
        floor = (await self._read(ticker)).floor
        return None if floor <= NO_FLOOR / 10 else floor

    async def mentions_counted(self) -> int:
        async def op(client):  # type: ignore[no-untyped-def]
            pipe = client.pipeline(transaction=False)
            for key in self.keys.risk_mentions_shards:
                pipe.get(key)
            return await pipe.execute()

        return sum(int(v or 0) for v in await self.redis.run(op, "mentions"))
