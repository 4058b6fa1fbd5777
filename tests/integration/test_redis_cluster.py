"""Redis Cluster: a local 3-master cluster started by the test (streams.store.local).

Every key a script touches is declared and in one slot (a ticker's risk keys share their
shard's ``{r<n>}`` tag; a band's novelty buckets share ``{nv<band>}``), so commits spanning
tickers, novelty verdicts and the whole pipeline behave as on one Redis.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis as redis_sync

from streams.errors import ConfigurationError
from streams.novelty import Fingerprint
from streams.settings import RedisSettings, RiskSettings
from streams.store import RedisKeys, RedisNoveltyIndex, RiskStore, check_server, connect
from streams.store.keys import RISK_SHARDS
from streams.store.local import LocalRedisCluster
from support.records import mention

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# the novelty verdicts of the former single-script index on the same 1,500-document feed
# (tests/integration/test_pipeline_store.py keeps the same digest for one Redis)
GOLDEN = "1c311a379b0b73d23fc9cbf2c3dddcaaa728d3da59045459e758850effcffbff"
TICKERS = [f"T{i}" for i in range(40)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRedisCluster]:
    with LocalRedisCluster(masters=3) as c:
        yield c


def slot(c: LocalRedisCluster, key: str) -> int:
    client = redis_sync.Redis(port=c.nodes[0].port)
    try:
        return int(client.execute_command("CLUSTER", "KEYSLOT", key))
    finally:
        client.close()


def test_a_tickers_keys_share_one_slot_and_tickers_spread_over_the_masters(
    cluster: LocalRedisCluster,
) -> None:
    keys = RedisKeys("tp:")
    slots = set()
    for t in TICKERS:
        own = {slot(cluster, k) for k in (keys.risk_state(t), keys.risk_seen(t),
                                          keys.risk_index_of(t), keys.risk_mentions_of(t),
                                          keys.risk_volume_of(t))}
        assert len(own) == 1, t
        slots |= own
    assert len(slots) > 10
    client = redis_sync.Redis(port=cluster.nodes[0].port)
    ranges = client.execute_command("CLUSTER", "SLOTS")
    client.close()
    owners = {s: r[2][1] for r in ranges for s in range(r[0], r[1] + 1)}
    assert len({owners[s] for s in slots}) == 3  # every master holds some tickers
    assert len({slot(cluster, k) for k in keys.risk_index_shards}) == RISK_SHARDS


async def test_commits_spanning_tickers_and_slots_count_each_mention_once(
    cluster: LocalRedisCluster,
) -> None:
    redis = connect(RedisSettings(url=cluster.url))
    assert redis.cluster
    store = RiskStore(redis, RedisKeys("tpc:"), RiskSettings(), clock=NOW.timestamp)
    ms = [mention(i, "negative" if i % 3 else "positive", NOW - timedelta(minutes=i % 50),
                  ticker=TICKERS[i % len(TICKERS)]) for i in range(400)]
    first = await store.commit_batch(ms[:300])
    assert first.counted == [True] * 300
    assert len(first.updates) == len(TICKERS)
    other = RiskStore(redis, RedisKeys("tpc:"), RiskSettings(), clock=NOW.timestamp)
    again = await other.commit_batch(ms)  # a restarted writer: 300 replays, 100 new
    assert again.outcomes == ["replay"] * 300 + ["counted"] * 100
    assert await store.mentions_counted() == 400
    board = await store.latest_all()
    assert sorted(u.ticker for u in board) == sorted(TICKERS)
    assert [u.score for u in board] == sorted((u.score for u in board), reverse=True)
    for t in TICKERS:
        assert sorted(await store.counted_doc_ids(t)) == sorted(
            m.doc_id for m in ms if m.ticker == t)
        latest = await store.latest(t)
        assert latest is not None and latest.mentions_total == 10
    await redis.close()


def test_the_start_up_check_reads_every_master(cluster: LocalRedisCluster) -> None:
    assert check_server(RedisSettings(url=cluster.url))["maxmemory-policy"] == "noeviction"
    last = redis_sync.Redis(port=cluster.nodes[2].port)
    last.config_set("maxmemory-policy", "volatile-lru")
    try:
        with pytest.raises(ConfigurationError, match=f":{cluster.nodes[2].port} has "
                                                     "maxmemory-policy volatile-lru"):
            check_server(RedisSettings(url=cluster.url))
        check_server(RedisSettings(url=cluster.url, allow_eviction=True))
    finally:
        last.config_set("maxmemory-policy", "noeviction")
        last.close()


async def test_novelty_verdicts_on_the_cluster_equal_one_redis(
    cluster: LocalRedisCluster, redis_url: str, redis_prefix: str,
) -> None:
    from streams.codec import decode_input, to_document
    from streams.feed import Feed

    docs = [to_document(decode_input(m.value, m.topic_kind, 20_000), NOW)
            for m in Feed(seed=21, shock_at=0.3, mixed_share=0.0).messages(1500, clock=lambda: NOW)]
    fps = [Fingerprint.of(d.doc_id, d.text) for d in docs]

    async def verdicts(url: str, prefix: str) -> list:  # type: ignore[type-arg]
        redis = connect(RedisSettings(url=url))
        index = RedisNoveltyIndex(redis, RedisKeys(prefix), window_s=3600,
                                  clock=NOW.timestamp)
        got = []
        for i in range(0, len(fps), 64):
            got += await index.check_many(fps[i:i + 64])
        await redis.close()
        return got

    on_cluster = await verdicts(cluster.url, "tpn:")
    assert on_cluster == await verdicts(redis_url, redis_prefix)
    text = json.dumps([[v.kind, v.duplicate_of, v.similarity] for v in on_cluster])
    assert hashlib.sha256(text.encode()).hexdigest() == GOLDEN


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


@pytest.mark.slow
async def test_pipeline_exactly_once_on_the_cluster_through_a_kill_9(
    cluster: LocalRedisCluster, tiny_model: tuple[str, str], tmp_path: Path,
    kafka_bootstrap: str,
) -> None:
    from streams.feed import Feed
    from streams.producer import publish
    from support.pipeline import PipelineRun, explicit_pairs

    run = PipelineRun(kafka_bootstrap, cluster.url, f"tpp{int(time.time())}:", tiny_model,
                      tmp_path)
    try:
        assert run.redis.cluster
        messages = list(Feed(seed=23, run_id=run.name).messages(5_000))
        await publish(messages, run.kafka)
        run.worker.start().wait_ready()
        before = await run.counted_at_least(1_500, timeout_s=120)
        assert 1_500 <= before < 5_000, "kill must land mid-stream"
        run.worker.kill9()
        run.worker.start().wait_ready(after=1)
        pairs = await run.wait_all_counted({m.truth.doc_id for m in messages})
        await run.assert_exactly_once(pairs)
        assert explicit_pairs(messages) <= pairs
        assert len({t for t, _ in pairs}) > 5
    finally:
        await run.close()
