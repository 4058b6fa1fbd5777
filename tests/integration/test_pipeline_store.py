"""The Redis risk store and novelty index against the real local Redis."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from streams.novelty import Fingerprint
from streams.risk import VOL, apply_mention, assess
from streams.settings import RedisSettings, RiskSettings
from streams.store import RedisKeys, RedisNoveltyIndex, RiskStore, connect
from support.records import mention

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CFG = RiskSettings()


@pytest.fixture
async def store(redis_url: str, redis_prefix: str):  # type: ignore[no-untyped-def]
    redis = connect(RedisSettings(url=redis_url, key_prefix=redis_prefix))
    yield RiskStore(redis, RedisKeys(redis_prefix), CFG, clock=NOW.timestamp)
    await redis.close()


async def test_commit_matches_pure_scoring_and_replays_change_nothing(store: RiskStore) -> None:
    ms = [mention(i, "negative" if i % 2 else "neutral", NOW - timedelta(minutes=i))
          for i in range(20)]
    result = await store.commit_batch(ms)
    assert result.counted == [True] * 20
    assert [u.ticker for u in result.updates] == ["AAPL"]
    assert result.updates[0].trigger_doc_ids == [m.doc_id for m in ms]
    expected = None
    for m in ms:
        expected = apply_mention(expected, m, NOW, CFG)
    assert expected is not None
    latest = await store.latest("AAPL")
    assert latest is not None and latest.mentions_total == 20
    assert latest.score == pytest.approx(assess(expected, NOW, CFG).score)
    assert latest.trigger_doc_id == ms[-1].doc_id
    assert len(latest.top_documents) == CFG.top_documents

    fresh = RiskStore(store.redis, store.keys, CFG, clock=NOW.timestamp)  # no cache: a restart
    replay = await fresh.commit_batch(ms[5:] + [mention(99, "negative", NOW)])
    assert replay.counted == [False] * 15 + [True]
    assert replay.updates[0].trigger_doc_ids == ["news:w:99"]
    again = await fresh.commit_batch(ms[:3] + ms[:1])  # all replays, one twice in the batch
    assert again.counted == [False] * 4
    assert again.updates[0].mentions_total == 21
    assert (await store.latest("AAPL")).mentions_total == 21  # type: ignore[union-attr]
    assert await store.mentions_counted() == 21
    assert sorted(await store.counted_doc_ids("AAPL")) == sorted(
        [m.doc_id for m in ms] + ["news:w:99"])
    ttl = await store.redis.client.ttl(store.keys.risk_state("AAPL"))
    assert 0 < ttl <= CFG.state_ttl_s


async def test_two_writers_on_one_ticker_count_each_doc_once(store: RiskStore) -> None:
    other = RiskStore(store.redis, store.keys, CFG, clock=NOW.timestamp)
    ms = [mention(i, at=NOW) for i in range(40)]
    await asyncio.gather(store.commit_batch(ms[:30]), other.commit_batch(ms[10:]))
    latest = await store.latest("AAPL")
    assert latest is not None and latest.mentions_total == 40
    assert len(await store.counted_doc_ids("AAPL")) == 40


async def test_board_lists_tickers_by_score(store: RiskStore) -> None:
    await store.commit_batch([mention(1, "negative", NOW, ticker="TSLA"),
                              mention(2, "positive", NOW, ticker="MSFT")])
    board = await store.latest_all()
    assert [u.ticker for u in board] == ["TSLA", "MSFT"]
    assert board[0].score > board[1].score
    assert await store.latest("NOPE") is None


async def test_redis_novelty_index(redis_url: str, redis_prefix: str) -> None:
    redis = connect(RedisSettings(url=redis_url))
    index = RedisNoveltyIndex(redis, RedisKeys(redis_prefix), window_s=3600)
    text = "Apple shares fall 5% after earnings miss as iPhone sales slow in China"
    verdicts = await index.check_many([
        Fingerprint.of("a", text), Fingerprint.of("b", "RT @x: " + text),
        Fingerprint.of("c", text + " - Reuters"), Fingerprint.of("d", "Nvidia unveils a chip"),
    ])
    assert [v.kind for v in verdicts] == ["fresh", "exact", "near", "fresh"]
    assert verdicts[1].duplicate_of == "a" and verdicts[2].duplicate_of in {"a", "b"}
    assert await index.check(Fingerprint.of("a", text)) == verdicts[0]  # replayed: same verdict
    await redis.close()


def feed_fingerprints(n: int) -> list[Fingerprint]:
    from streams.codec import decode_input, to_document
    from streams.feed import Feed

    docs = [to_document(decode_input(m.value, m.topic_kind, 20_000), NOW)
            for m in Feed(seed=21, shock_at=0.3, mixed_share=0.0).messages(n, clock=lambda: NOW)]
    return [Fingerprint.of(d.doc_id, d.text) for d in docs]


async def redis_verdicts(url: str, prefix: str, fps: list[Fingerprint]) -> list:  # type: ignore[type-arg]
    redis = connect(RedisSettings(url=url))
    index = RedisNoveltyIndex(redis, RedisKeys(prefix), window_s=3600, clock=NOW.timestamp)
    got = []
    for i in range(0, len(fps), 64):  # batches, as the ingest agent sends them
        got += await index.check_many(fps[i:i + 64])
    await redis.close()
    return got


async def test_redis_and_memory_novelty_agree_on_a_feed(redis_url: str, redis_prefix: str) -> None:
    from streams.novelty import MemoryNoveltyIndex

    fps = feed_fingerprints(400)
    got = await redis_verdicts(redis_url, redis_prefix, fps)
    memory = MemoryNoveltyIndex()
    expected = [await memory.check(fp) for fp in fps]
    assert [v.kind for v in got] == [v.kind for v in expected]
    assert {v.kind for v in got} == {"fresh", "exact", "near"}


# sha256 of [kind, duplicate_of, similarity] of every verdict on 1,500 feed documents, as the
# former single-script index (every key built inside one Lua call) gave them (the feed as it
# was then: no two-company headlines)
GOLDEN = "1c311a379b0b73d23fc9cbf2c3dddcaaa728d3da59045459e758850effcffbff"


async def test_novelty_verdicts_unchanged_by_the_cluster_ready_index(
    redis_url: str, redis_prefix: str,
) -> None:
    import hashlib
    import json

    got = await redis_verdicts(redis_url, redis_prefix, feed_fingerprints(1500))
    text = json.dumps([[v.kind, v.duplicate_of, v.similarity] for v in got])
    assert hashlib.sha256(text.encode()).hexdigest() == GOLDEN


# ---- idempotent for good: replays after the window, past the count bound, after expiry ----


class Clock:
    def __init__(self, at: datetime) -> None:
        self.t = at.timestamp()

    def __call__(self) -> float:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw).total_seconds()


@pytest.fixture
async def clocked(redis_url: str, redis_prefix: str):  # type: ignore[no-untyped-def]
    clock = Clock(NOW)
    redis = connect(RedisSettings(url=redis_url, key_prefix=redis_prefix))
    yield RiskStore(redis, RedisKeys(redis_prefix), CFG, clock=clock), clock
    await redis.close()


def restarted(store: RiskStore, cfg: RiskSettings = CFG) -> RiskStore:
    """A new store on the same Redis (no cache), on the same clock: a worker restart."""
    return RiskStore(store.redis, store.keys, cfg, clock=store.clock)


async def test_a_replay_after_the_window_is_refused_and_changes_nothing(clocked) -> None:  # type: ignore[no-untyped-def]
    store, clock = clocked
    old = [mention(i, "negative", NOW - timedelta(minutes=i)) for i in range(10)]
    assert (await store.commit_batch(old)).counted == [True] * 10
    # a day and a half of other news on the ticker: the old ids are forgotten, the floor rises
    for hour in range(36):
        clock.advance(hours=1)
        at = datetime.fromtimestamp(clock(), UTC)
        await store.commit_batch([mention(1000 + hour, "positive", at)])
    assert not set(await store.counted_doc_ids("AAPL")) & {m.doc_id for m in old}
    floor = await store.floor("AAPL")
    assert floor is not None and floor >= max(m.published_at.timestamp() for m in old)
    before = await store.latest("AAPL")
    for fresh in (store, restarted(store)):  # with the writer's cache, and after a restart
        result = await fresh.commit_batch(old)
        assert result.outcomes == ["too_old"] * 10 and result.counted == [False] * 10
        assert result.updates == []
    after = await store.latest("AAPL")
    assert before is not None and after == before and after.mentions_total == 46
    assert await store.mentions_counted() == 46


async def test_a_replay_after_the_state_expired_is_refused(clocked) -> None:  # type: ignore[no-untyped-def]
    store, clock = clocked
    ms = [mention(i, "negative", NOW) for i in range(3)]
    await store.commit_batch(ms)
    clock.advance(seconds=CFG.state_ttl_s)  # nothing for the TTL: Redis drops the state
    await store.redis.client.delete(store.keys.risk_state("AAPL"), store.keys.risk_seen("AAPL"))
    result = await restarted(store).commit_batch(ms)
    assert result.outcomes == ["too_old"] * 3
    assert await store.latest("AAPL") is None


async def test_past_the_count_bound_the_oldest_are_forgotten_and_refused(clocked) -> None:  # type: ignore[no-untyped-def]
    store, _ = clocked
    cfg = RiskSettings(seen_max_per_ticker=1000)
    store = restarted(store, cfg)
    ms = [mention(i, "neutral", NOW - timedelta(hours=2) + timedelta(seconds=i))
          for i in range(1200)]
    for i in range(0, 1200, 100):
        assert all((await store.commit_batch(ms[i:i + 100])).counted)
    kept = set(await store.counted_doc_ids("AAPL"))
    assert len(kept) == 1000 and kept == {m.doc_id for m in ms[200:]}
    assert await store.floor("AAPL") == ms[199].published_at.timestamp()
    again = await restarted(store, cfg).commit_batch(ms[150:250])
    assert again.outcomes == ["too_old"] * 50 + ["replay"] * 50
    latest = await store.latest("AAPL")
    assert latest is not None and latest.mentions_total == 1200
    assert await store.mentions_counted() == 1200


async def test_mentions_dated_too_far_ahead_are_refused(clocked) -> None:  # type: ignore[no-untyped-def]
    store, _ = clocked
    ahead = NOW + timedelta(seconds=CFG.max_future_s)
    result = await store.commit_batch([mention(1, at=ahead), mention(2, at=ahead + timedelta(
        seconds=1))])
    assert result.outcomes == ["counted", "future"]


async def test_random_replays_and_clock_jumps_never_count_a_document_twice(clocked) -> None:  # type: ignore[no-untyped-def]
    import random

    store, clock = clocked
    cfg = RiskSettings(seen_max_per_ticker=1000, seen_window_s=7200, state_ttl_s=9000)
    rng = random.Random(7)
    sent: list = []
    counted: Counter[str] = Counter()
    stores = [restarted(store, cfg), restarted(store, cfg)]  # two writers, as in a rebalance
    for _ in range(120):
        clock.advance(seconds=rng.choice([1, 30, 300, 1800]))
        now = datetime.fromtimestamp(clock(), UTC)
        batch = [mention(len(sent) + j, rng.choice(["negative", "neutral"]),
                         now - timedelta(seconds=rng.uniform(0, 3600)),
                         ticker=rng.choice(["AAPL", "MSFT"])) for j in range(rng.randint(1, 30))]
        sent += batch
        batch += rng.sample(sent, min(len(sent), rng.randint(0, 40)))  # replays, any age
        rng.shuffle(batch)
        writer = rng.choice(stores)
        if rng.random() < 0.1:
            writer._cache.clear()  # noqa: SLF001 - a restart
        result = await writer.commit_batch(batch)
        counted.update(f"{m.ticker}/{m.doc_id}" for m, ok in zip(batch, result.counted,
                                                                    strict=True) if ok)
    assert max(counted.values()) == 1
    total = 0
    for ticker in ("AAPL", "MSFT"):
        latest = await store.latest(ticker)
        assert latest is not None
        total += latest.mentions_total
    assert total == sum(counted.values()) == await store.mentions_counted()
    assert sum(s.outcomes["too_old"] for s in stores) > 0


# ---- the cross-section: a young ticker's buzz against its peers' volume -----------------------

async def test_a_young_ticker_is_measured_against_its_peers_volume_in_redis(
    redis_url: str, redis_prefix: str,
) -> None:
    now = [NOW.timestamp()]
    redis = connect(RedisSettings(url=redis_url, key_prefix=redis_prefix))
    store = RiskStore(redis, RedisKeys(redis_prefix), CFG, clock=lambda: now[0])
    start = NOW - timedelta(seconds=120)

    def every(ticker: str, step_s: float, n: int) -> list:  # type: ignore[type-arg]
        return [mention(i, "neutral", start + timedelta(seconds=step_s * i), ticker=ticker,
                        doc_id=f"news:w:{ticker}-{i}") for i in range(n)]

    try:
        peers = ("CALMA", "CALMB", "CALMC", "CALMD")
        await store.commit_batch([m for t in peers for m in every(t, 6, 20)])
        now[0] += 2  # past the market cache (read once per second at most)
        market = await store.market()
        assert set(market) == set(peers)
        state = await store.state("CALMA")
        assert state is not None  # its 15m volume, decayed from its last mention to now:
        assert market["CALMA"] == pytest.approx(
            state.sums["15m"][VOL] * math.exp(-(now[0] - state.as_of) / 900), rel=1e-6)
        now[0] += 2
        hot = (await store.commit_batch(every("HOT", 1, 120))).updates[0]
        assert hot.components["buzz_own_baseline"] < 0.1 and hot.buzz_z > 3
        now[0] += 2
        calm = (await store.commit_batch(
            [mention(99, "neutral", NOW, ticker="CALMA", doc_id="news:w:CALMA-99")])).updates[0]
        assert calm.buzz_z < 1.5  # HOT's volume raises the typical volume of CALMA's peers
        assert set(await store.market()) == {*peers, "HOT"}
    finally:
        await redis.close()
