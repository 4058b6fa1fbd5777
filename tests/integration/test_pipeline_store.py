"""The Redis risk store and novelty index against the real local Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from streams.novelty import Fingerprint
from streams.risk import apply_mention, assess
from streams.settings import RedisSettings, RiskSettings
from streams.store import RedisKeys, RedisNoveltyIndex, RiskStore, connect
from streams.testing import mention

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


async def test_redis_and_memory_novelty_agree_on_a_feed(redis_url: str, redis_prefix: str) -> None:
    from streams.codec import decode_input, to_document
    from streams.feed import Feed
    from streams.novelty import MemoryNoveltyIndex

    docs = [to_document(decode_input(m.value, m.topic_kind, 20_000), NOW)
            for m in Feed(seed=21, shock_at=0.3).messages(400, clock=lambda: NOW)]
    fps = [Fingerprint.of(d.doc_id, d.text) for d in docs]
    redis = connect(RedisSettings(url=redis_url))
    index = RedisNoveltyIndex(redis, RedisKeys(redis_prefix), window_s=3600)
    got = []
    for i in range(0, len(fps), 64):  # batches, as the ingest agent sends them
        got += await index.check_many(fps[i:i + 64])
    await redis.close()
    memory = MemoryNoveltyIndex()
    expected = [await memory.check(fp) for fp in fps]
    assert [v.kind for v in got] == [v.kind for v in expected]
    assert {v.kind for v in got} == {"fresh", "exact", "near"}
