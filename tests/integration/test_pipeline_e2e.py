"""End to end on the real broker and Redis: simulated feed -> worker -> scored, Redis, risk."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.contracts import Document, RiskUpdate, ScoredMention
from streams.feed import Feed
from streams.producer import publish
from streams.settings import KafkaSettings, RedisSettings, RiskSettings
from streams.store import RedisKeys, RiskStore, connect
from streams.topics import Topics, ensure_topics
from support.kafka import read_topic
from support.pipeline import pipeline_env
from tickerpulse.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
WATCH = ("AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "GOOGL")
FEED_RATE = 8.0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


def default_model() -> str | None:
    """The built default model in its standard cache, or None."""
    from models.settings import ModelSettings
    from models.store import serving_path

    try:
        return serving_path(None, ModelSettings().cache_dir)
    except Exception:  # noqa: BLE001 - not built yet
        return None


async def wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


async def run_feed(env: dict[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
                   redis_prefix: str, run: str, count: int) -> dict[str, object]:
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"{run}.")
    topics = Topics(kafka.topic_prefix)
    ensure_topics(kafka, topics.all())
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    store = RiskStore(connect(RedisSettings(url=redis_url)), RedisKeys(redis_prefix),
                      RiskSettings())
    try:
        worker.wait_ready()
        feed = Feed(watchlist=WATCH, shock="NVDA", rumour="TSLA", shock_at=0.5, seed=11,
                    run_id=run)
        # event times as a feed of FEED_RATE messages/s gives them, ending now: risk sees the
        # minutes a real feed takes (a buzz needs risk.buzz_min_history_s of history)
        start = datetime.now(UTC) - timedelta(seconds=count / FEED_RATE)
        ticks = iter(range(count))
        messages = list(feed.messages(
            count, clock=lambda: start + timedelta(seconds=next(ticks) / FEED_RATE)))
        t0 = time.monotonic()
        await publish(messages, kafka, rate=None)
        docs = await read_topic(kafka_bootstrap, topics.docs, expect=count, timeout_s=120)
        doc_ids = {Document.model_validate_json(r.value).doc_id for r in docs}
        assert doc_ids == {m.truth.doc_id for m in messages}
        scored = [ScoredMention.model_validate_json(r.value)
                  for r in await read_topic(kafka_bootstrap, topics.scored, timeout_s=60)]
        pairs = {(m.ticker, m.doc_id) for m in scored}
        await wait_for(lambda: _counted(store, len(pairs)), 60, "all mentions in Redis")
        elapsed = time.monotonic() - t0
        risk = [RiskUpdate.model_validate_json(r.value)
                for r in await read_topic(kafka_bootstrap, topics.risk, timeout_s=30)]
        return {"messages": messages, "scored": scored, "pairs": pairs, "risk": risk,
                "store": store, "elapsed": elapsed, "worker": worker}
    finally:
        worker.stop()


async def _counted(store: RiskStore, n: int) -> bool:
    return await store.mentions_counted() >= n


async def test_feed_to_scored_redis_and_risk_topic(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    run = f"e2e{uuid.uuid4().hex[:8]}"
    env = pipeline_env(kafka_bootstrap, redis_url, redis_prefix, run, tiny_model[0],
                       tiny_model[1], str(tmp_path / "faust"))
    out = await run_feed(env, tmp_path, kafka_bootstrap, redis_url, redis_prefix, run, 600)
    try:
        await check_feed_results(out)
    finally:
        await out["store"].redis.close()  # type: ignore[attr-defined]


async def check_feed_results(out: dict[str, object]) -> None:
    messages, scored, pairs, store = out["messages"], out["scored"], out["pairs"], out["store"]
    truth = {m.truth.doc_id: m.truth for m in messages}  # type: ignore[attr-defined]

    # scored: one record per (document, ticker); a cashtag or a hint is always linked
    assert len(pairs) == len(scored)  # type: ignore[arg-type]
    explicit = {(m.truth.ticker, m.truth.doc_id) for m in messages  # type: ignore[attr-defined]
                if f"${m.truth.ticker}" in m.value.decode()
                or m.truth.ticker in json.loads(m.value).get("tickers", [])}
    assert len(explicit) > 300 and explicit <= pairs  # type: ignore[operator]
    for m in scored:  # type: ignore[attr-defined]
        assert m.model_version == "tiny-0"
        assert abs(sum(m.probabilities.values()) - 1) < 1e-3
    # novelty: of the rumour and its reposts/quotes only one counts as fresh evidence
    by_doc = {m.doc_id: m for m in scored}  # type: ignore[attr-defined]
    rumour = [by_doc[t.doc_id].novelty for t in truth.values() if t.event == "rumour"]
    assert len(rumour) > 20
    assert [n.kind for n in rumour].count("fresh") == 1
    assert sum(n.kind == "exact" for n in rumour) > len(rumour) / 3

    # Redis: every pair counted once; per-ticker totals equal what was scored
    per_ticker = Counter(t for t, _ in pairs)  # type: ignore[attr-defined]
    for ticker, n in per_ticker.items():
        latest = await store.latest(ticker)  # type: ignore[attr-defined]
        assert latest is not None and latest.mentions_total == n
        assert sorted(await store.counted_doc_ids(ticker)) == sorted(  # type: ignore[attr-defined]
            d for t, d in pairs if t == ticker)  # type: ignore[attr-defined]
    # the events drive volume: the shocked and rumoured tickers outnumber every calm one
    calm = max(per_ticker[t] for t in WATCH if t not in {"NVDA", "TSLA"})
    assert per_ticker["NVDA"] > calm and per_ticker["TSLA"] > calm
    # risk topic: every counted mention folded into exactly one update; the last equals Redis
    risk = out["risk"]
    folded = [(u.ticker, d) for u in risk for d in u.trigger_doc_ids]  # type: ignore[attr-defined]
    assert sorted(folded) == sorted(pairs)  # type: ignore[arg-type]
    last = {u.ticker: u for u in risk}  # type: ignore[attr-defined]
    for ticker in per_ticker:
        assert last[ticker].mentions_total == per_ticker[ticker]
    board = await store.latest_all()  # type: ignore[attr-defined]
    assert {u.ticker for u in board} == set(per_ticker)
    assert all(0 <= u.score <= 100 and u.top_documents for u in board)


@pytest.mark.slow
async def test_default_model_shocked_ticker_risk_rises_above_calm_ones(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    model = default_model()
    if model is None:
        pytest.skip("default model not built (`tickerpulse model build-default`)")
    run = f"e2ed{uuid.uuid4().hex[:8]}"
    env = pipeline_env(kafka_bootstrap, redis_url, redis_prefix, run, model, tiny_model[1],
                       str(tmp_path / "faust"))
    out = await run_feed(env, tmp_path, kafka_bootstrap, redis_url, redis_prefix, run, 800)
    store: RiskStore = out["store"]  # type: ignore[assignment]
    try:
        await check_default_model_risk(store)
    finally:
        await store.redis.close()


async def check_default_model_risk(store: RiskStore) -> None:
    scores = {t: (await store.latest(t)).score for t in WATCH}  # type: ignore[union-attr]
    calm = max(s for t, s in scores.items() if t not in {"NVDA", "TSLA"})
    print("risk scores with the default model:", scores)
    assert scores["NVDA"] > calm + 10, scores
    assert scores["TSLA"] > calm, scores
    nvda = await store.latest("NVDA")
    assert nvda is not None and nvda.sentiment["15m"] < 0
    assert any("NVDA" in d.doc_id or d.sentiment == "negative" for d in nvda.top_documents)
