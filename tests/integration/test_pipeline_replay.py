"""Replay on the real broker and Redis: a simulated day through a live worker (tiny model,
seed 0), replayed with another model (seed 1) into a shadow namespace. The live Redis keys
and topics are byte-for-byte unchanged; the report's per-ticker figures equal what the two
models say on the same texts, folded independently here. Then promote on a running worker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync
from kafka.admin import KafkaAdminClient

from models.api import load_engine
from models.linking import TickerLinker
from models.settings import EngineSettings, ModelSettings
from models.testing import tiny_model_dir
from streams.contracts import Document, RiskUpdate, ScoredMention
from streams.feed import Feed
from streams.metrics import Metrics
from streams.processing import Score
from streams.producer import publish
from streams.risk import apply_mention, assess
from streams.settings import RiskSettings, StreamSettings
from support.kafka import read_topic
from support.pipeline import PipelineRun

pytestmark = [pytest.mark.integration]
DAY_MESSAGES = 360
SENTIMENT_TOL = 1e-4  # mean of p(pos) - p(neg); live and here differ by float32 padding
SCORE_TOL = 1.5e-3  # 0..100, rounded to 0.001 when published


def near_tie(probabilities: dict[str, float]) -> bool:
    top = sorted(probabilities.values(), reverse=True)
    return top[0] - top[1] < 1e-4


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("replay-models")
    return {"m0": str(tiny_model_dir(root, seed=0, name="m0")),
            "m1": str(tiny_model_dir(root, seed=1, name="m1")), "cache": str(root / "cache")}


def day(run: str, count: int) -> list[Any]:
    """A simulated day: event times spread over the last 23 hours, the events in its last
    3.5 hours (a rumour's reposts within the novelty window)."""
    feed = Feed(shock="NVDA", rumour="TSLA", shock_at=0.85, seed=5, run_id=run)
    start = datetime.now(UTC) - timedelta(hours=23)
    ticks = iter(range(count))
    step = timedelta(hours=23) / count
    return list(feed.messages(count, clock=lambda: start + next(ticks) * step))


def cli(env: dict[str, str], *args: str, timeout: float = 240) -> str:
    proc = subprocess.run([sys.executable, "-m", "tickerpulse.cli.main", *args],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def snapshot_redis(url: str, prefix: str) -> dict[bytes, bytes]:
    client = redis_sync.Redis.from_url(url)
    try:
        keys = sorted(client.scan_iter(match=prefix + "*", count=1000))
        return {k: client.type(k) + b"\x00" + (client.dump(k) or b"") for k in keys}
    finally:
        client.close()


async def snapshot_topics(bootstrap: str, run: PipelineRun) -> dict[str, list[Any]]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        names = sorted(t for t in admin.list_topics()
                       if t.startswith(run.kafka.topic_prefix) or t.startswith(f"tp-{run.name}"))
        groups = admin.list_group_offsets(f"tp-{run.name}")
    finally:
        admin.close()
    out: dict[str, list[Any]] = {"__group_offsets__": sorted(repr(g) for g in groups.items())}
    assert out["__group_offsets__"], "the live group's committed offsets are compared too"
    for name in names:
        records = await read_topic(bootstrap, name, idle_s=1.0)
        out[name] = sorted((r.partition, r.offset, r.key, r.value, tuple(r.headers or ()),
                            r.timestamp) for r in records)
    return out


def predicted(model: str, cache: str, docs: list[Document]) -> list[ScoredMention]:
    """What ``model`` says of the documents' texts, as the score stage makes mentions."""
    engine = load_engine(ModelSettings(path=model, cache_dir=Path(cache)),
                         EngineSettings(), TickerLinker.default())
    with engine:
        async def run() -> list[ScoredMention]:
            return await Score(engine, Metrics(), limits=StreamSettings()).process(docs)

        return _run_in_thread(run)  # the test's own loop is running


def _run_in_thread(coro_fn: Any) -> Any:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro_fn()).result()


def expected(mentions: list[ScoredMention], at: datetime) -> dict[str, tuple[float, float]]:
    """ticker -> (mean ticker sentiment, risk score at ``at``), folded here with streams.risk."""
    cfg, out = RiskSettings(), {}
    for ticker in {m.ticker for m in mentions}:
        mine = sorted((m for m in mentions if m.ticker == ticker),
                      key=lambda m: (m.published_at, m.doc_id))
        state = None
        for m in mine:
            state = apply_mention(state, m, at, cfg)
        sent = [m.probabilities["positive"] - m.probabilities["negative"] for m in mine]
        out[ticker] = (sum(sent) / len(sent), assess(state, at, cfg).score)  # type: ignore[arg-type]
    return out


async def test_replay_of_a_day_leaves_live_untouched_and_reports_the_models_difference(
    models: dict[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    run = PipelineRun(kafka_bootstrap, redis_url, redis_prefix, (models["m0"], models["cache"]),
                      tmp_path)
    messages = day(run.name, DAY_MESSAGES)
    try:
        run.worker.start()
        run.worker.wait_ready()
        await publish(messages, run.kafka)
        pairs = await run.wait_all_counted({m.truth.doc_id for m in messages}, timeout_s=150)
        await read_topic(kafka_bootstrap, run.topics.risk, idle_s=1.5)
    finally:
        await run.close()  # the live worker stops: nothing live changes from here on
    name = f"t{uuid.uuid4().hex[:8]}"
    before_redis = snapshot_redis(redis_url, redis_prefix)
    before_topics = await snapshot_topics(kafka_bootstrap, run)
    assert len(before_redis) > 100 and len(before_topics[run.topics.scored]) == len(pairs)

    env = {**run.env, "TICKERPULSE_STREAM__BATCH__SCORE": "512"}
    t0 = time.monotonic()
    out = cli(env, "replay", "--model", models["m1"], "--name", name)
    print(out, f"(CLI wall time {time.monotonic() - t0:.1f} s)")
    assert f"{DAY_MESSAGES} documents" in out
    report_dir = tmp_path / "report"
    print(cli(env, "replay", "report", "--name", name, "--out", str(report_dir)))

    assert snapshot_redis(redis_url, redis_prefix) == before_redis
    assert await snapshot_topics(kafka_bootstrap, run) == before_topics
    shadow_keys = snapshot_redis(redis_url, f"shadow:{name}:{redis_prefix}")
    try:
        assert len(shadow_keys) > 100  # the shadow has its own state

        report = json.loads((report_dir / "report.json").read_text())
        assert (report_dir / "report.png").stat().st_size > 10_000
        assert report["live_model_versions"] == ["tiny-0"]
        assert report["shadow_model_versions"] == ["tiny-1"]
        assert report["manifest"]["status"] == "finished"
        assert report["manifest"]["counts"]["documents"] == DAY_MESSAGES

        # the same texts, predicted here by both models and folded independently
        live_docs = [Document.model_validate_json(r.value)
                     for r in await read_topic(kafka_bootstrap, run.topics.docs, idle_s=1.0)]
        shadow_docs = [Document.model_validate_json(r.value) for r in await read_topic(
            kafka_bootstrap, f"shadow.{name}.{run.topics.docs}", idle_s=1.0)]
        assert sorted((d.doc_id, d.text) for d in live_docs) == sorted(
            (d.doc_id, d.text) for d in shadow_docs)
        m0 = predicted(models["m0"], models["cache"], live_docs)
        m1 = predicted(models["m1"], models["cache"], shadow_docs)
        at = datetime.fromisoformat(report["reference_time"])
        assert at == max(d.published_at for d in live_docs)
        live_scored = {(m.doc_id, m.ticker): m for m in (ScoredMention.model_validate_json(
            r.value) for r in await read_topic(kafka_bootstrap, run.topics.scored, idle_s=1.0))}
        mine = {(m.doc_id, m.ticker): m for m in m0}
        assert live_scored.keys() == mine.keys()  # the live worker's model, as predicted here
        assert max(abs(live_scored[k].probabilities[c] - p) for k, m in mine.items()
                   for c, p in m.probabilities.items()) < 1e-5  # float32 batch padding only
        e0, e1 = expected(m0, at), expected(m1, at)
        rows = {r["ticker"]: r for r in report["tickers"]}
        assert set(rows) == set(e0) | set(e1) and len(rows) >= 6
        for ticker, row in rows.items():
            s0, r0 = e0.get(ticker, (None, 0.0))
            s1, r1 = e1.get(ticker, (None, 0.0))
            for got, want in ((row["mean_sentiment_live"], s0),
                              (row["mean_sentiment_shadow"], s1)):
                assert (got is None) == (want is None), ticker
                assert got is None or abs(got - want) < SENTIMENT_TOL, (ticker, got, want)
            # scores are published rounded to 0.001; probabilities differ by float32 padding
            assert abs(row["final_score_live"] - r0) < SCORE_TOL, (ticker, row, r0)
            assert abs(row["final_score_shadow"] - r1) < SCORE_TOL, (ticker, row, r1)
            assert abs(row["final_score_delta"] - (r1 - r0)) < 2 * SCORE_TOL
        label0 = {(m.doc_id, m.ticker): m.sentiment for m in m0}
        want_flips = sorted(k for m in m1 if (k := (m.doc_id, m.ticker)) in label0
                            and label0[k] != m.sentiment)
        # a pair whose top two probabilities tie within float32 padding may go either way
        ties = {(m.doc_id, m.ticker) for m in (*m0, *m1) if near_tie(m.probabilities)}
        got_flips = sorted((f["doc_id"], f["ticker"]) for f in report["flipped"])
        assert [k for k in got_flips if k not in ties] == [k for k in want_flips
                                                           if k not in ties]
        assert want_flips  # two random models disagree somewhere
        assert any(p["live"] is not None and p["shadow"] is not None
                   for r in rows.values() for p in r["timeline"])
    finally:
        client = redis_sync.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"shadow:{name}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


async def test_promote_switches_a_running_worker_between_batches(
    models: dict[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    run = PipelineRun(kafka_bootstrap, redis_url, redis_prefix, (models["m0"], models["cache"]),
                      tmp_path, TICKERPULSE_STREAM__MODEL_CHECK_S="0.5")
    messages = day(run.name, 240)
    before, after = messages[:120], messages[120:]
    try:
        run.worker.start()
        run.worker.wait_ready()
        await publish(before, run.kafka)
        await run.wait_all_counted({m.truth.doc_id for m in before}, timeout_s=90)
        out = cli(run.env, "replay", "promote", "--model", models["m1"], "--who", "test")
        assert "promoted tiny-1" in out
        await asyncio.sleep(1.5)  # past stream.model_check_s: the next batch reads the pointer
        await publish(after, run.kafka)
        pairs = await run.wait_all_counted({m.truth.doc_id for m in messages}, timeout_s=90)
        await run.assert_exactly_once(pairs)  # nothing lost or counted twice at the cut-over
        scored, _ = await run.scored_pairs()
        assert len(scored) == len(pairs)
        version = {m.doc_id: m.model_version for m in scored}
        assert {version[m.truth.doc_id] for m in before if m.truth.doc_id in version} == {
            "tiny-0"}
        assert {version[m.truth.doc_id] for m in after if m.truth.doc_id in version} == {
            "tiny-1"}
        records = await read_topic(kafka_bootstrap, run.topics.risk, idle_s=1.5)
        by_ticker: dict[str, list[str]] = {}
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):  # a ticker: 1 partition
            u = RiskUpdate.model_validate_json(r.value)
            by_ticker.setdefault(u.ticker, []).append(u.model_version)
        for ticker, versions in by_ticker.items():  # each ticker's updates cut over once
            assert versions == sorted(versions), (ticker, versions)
        assert {v[-1] for v in by_ticker.values()} == {"tiny-1"}
        assert "switched the live model tiny-0 -> tiny-1" in run.worker.tail(200_000)
        client = redis_sync.Redis.from_url(redis_url)
        try:
            pointer = json.loads(client.get(f"{redis_prefix}model:live") or b"{}")
            assert pointer["version"] == "tiny-1" and pointer["who"] == "test"
            assert client.llen(f"{redis_prefix}model:history") == 1
        finally:
            client.close()
    finally:
        await run.close()
