"""`tickerpulse bench pipeline`: sustained msgs/s through broker + faust + Redis, beside the
engine's standalone rate measured in the same run, and produce->risk latency at half that rate.

Phases (one worker subprocess, one fresh set of topics and Redis keys):
1. the engine alone on the texts of the feed (same model and engine settings), then closed;
2. warm-up: a few hundred messages through the pipeline;
3. sustained: ``--count`` messages produced at once; rate = count / (last risk update - start),
   through ``--workers`` worker processes in one consumer group (default: one per core, as
   faust agents are single-threaded Python; the engine's threads are shared between them);
4. latency: messages at half the sustained rate for ``--latency-seconds``; per message, the
   time from its send to the arrival of its last risk update on the ``risk`` topic.

``--redis-cluster`` runs the same phases against a local 3-master Redis Cluster (``--redis-url``
against any Redis or cluster), for a side-by-side with one Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click

from tickerpulse.settings import Settings, load_settings


def engine_rate(settings: Settings, texts: list[str], hints: list[list[str]]) -> float:
    from models.api import load_engine

    engine = load_engine(settings.model, settings.engine)
    engine.start()
    try:
        engine.predict_sync(texts[:64], hints[:64])  # warm up
        start = time.perf_counter()
        engine.predict_sync(texts, hints)
        return len(texts) / (time.perf_counter() - start)
    finally:
        engine.close()


def feed_texts(messages) -> tuple[list[str], list[list[str]]]:  # type: ignore[no-untyped-def]
    from streams.codec import decode_input, to_document

    now = datetime.now(UTC)
    docs = [to_document(decode_input(m.value, m.topic_kind, 20_000), now) for m in messages]
    return [d.text for d in docs], [d.ticker_hints for d in docs]


async def run_phases(kafka, count: int, warmup: int, latency_s: float, workers) -> dict:  # type: ignore[no-untyped-def]
    from streams.bench import Tracker, latencies, percentile, produce
    from streams.feed import Feed

    def feed(run: str, n: int, seed: int):  # type: ignore[no-untyped-def]
        return list(Feed(seed=seed, run_id=run, shock_at=0.5).messages(n))

    tracker = Tracker(kafka)
    await tracker.start()
    try:
        warm = feed("warm", warmup, 1)
        await produce(warm, kafka, None)
        await tracker.wait_done("warm", warmup)
        sustained_msgs = feed("sus", count, 2)
        start = time.monotonic()
        await produce(sustained_msgs, kafka, None)
        end = await tracker.wait_done("sus", count)
        sustained = count / (end - start)
        rate = sustained / 2
        lat_msgs = feed("lat", max(50, int(rate * latency_s)), 3)
        sent = await produce(lat_msgs, kafka, rate)
        await tracker.wait_done("lat", len(lat_msgs))
        lats = latencies(tracker, sent)
        return {"sustained_msgs_per_s": sustained, "latency_rate_msgs_per_s": rate,
                "latency_p50_s": percentile(lats, 50), "latency_p99_s": percentile(lats, 99),
                "latency_samples": len(lats),
                "workers_alive": sum(w.proc.poll() is None for w in workers)}
    finally:
        await tracker.stop()


def _print_table(result: dict) -> None:
    eng, sus = result["engine_texts_per_s"], result["sustained_msgs_per_s"]
    rows = [
        ("redis", result["redis"], ""),
        ("engine alone (same model, same texts)", f"{eng:,.1f} texts/s", ""),
        ("pipeline sustained (broker+faust+Redis)", f"{sus:,.1f} msgs/s",
         f"{sus / eng:.0%} of engine (bar >= 70%)"),
        (f"latency p50 at {result['latency_rate_msgs_per_s']:,.0f} msgs/s",
         f"{result['latency_p50_s']:.3f} s", ""),
        (f"latency p99 at {result['latency_rate_msgs_per_s']:,.0f} msgs/s",
         f"{result['latency_p99_s']:.3f} s", "bar <= 2 s"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        click.echo(f"{name:<{width}}  {value:>16}  {note}")


def _delete_keys(settings, prefix: str) -> None:  # type: ignore[no-untyped-def]
    import redis
    from redis.cluster import RedisCluster

    from streams.store.connection import is_cluster

    url = settings.url.replace("+cluster", "")
    client = RedisCluster.from_url(url) if is_cluster(settings) else redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)
    finally:
        client.close()


@click.command("pipeline")
@click.option("--count", default=4000, show_default=True, help="Messages in the sustained phase.")
@click.option("--warmup", default=300, show_default=True,
              help="Messages sent (and not timed) before the sustained phase.")
@click.option("--latency-seconds", default=20.0, show_default=True,
              help="Length of the latency phase (messages at half the sustained rate).")
@click.option("--model", "model_path", default=None, help="Model directory (default: settings).")
@click.option("--workers", default=None, type=int,
              help="Worker processes in one group [default: one per core, at most partitions].")
@click.option("--redis-url", default=None,
              help="Redis for the run [default: settings]; redis+cluster://host:port for a "
                   "Redis Cluster.")
@click.option("--redis-cluster", is_flag=True,
              help="Start a local 3-master Redis Cluster (redis-server on the PATH) for the run.")
@click.option("--json", "as_json", is_flag=True, help="Last line: one JSON object.")
def pipeline(count: int, warmup: int, latency_seconds: float, model_path: str | None,
             workers: int | None, redis_url: str | None, redis_cluster: bool,
             as_json: bool) -> None:
    """Sustained msgs/s and produce->risk latency through the real broker, faust and Redis."""
    from streams.feed import Feed
    from streams.store.local import LocalRedisCluster
    from streams.topics import Topics, ensure_topics
    from tickerpulse.embedded import EmbeddedBroker
    from tickerpulse.worker_process import WorkerProcess

    settings = load_settings()
    workers = workers or max(1, min(os.cpu_count() or 1, settings.kafka.partitions))
    if model_path:
        settings = settings.model_copy(
            update={"model": settings.model.model_copy(update={"path": model_path})})
    texts, hints = feed_texts(Feed(seed=2, run_id="eng").messages(count))
    eng = engine_rate(settings, texts, hints)
    click.echo(f"engine alone: {eng:,.1f} texts/s on {len(texts)} texts", err=True)

    run = f"bench{uuid.uuid4().hex[:8]}"
    cluster = LocalRedisCluster(masters=3).start() if redis_cluster else None
    redis_url = cluster.url if cluster else (redis_url or settings.redis.url)
    broker = EmbeddedBroker().start() if settings.kafka.embedded else None
    bootstrap = broker.bootstrap_servers if broker else settings.kafka.bootstrap_servers
    kafka = settings.kafka.model_copy(
        update={"bootstrap_servers": bootstrap, "topic_prefix": f"{run}."})
    prefix = f"{settings.redis.key_prefix}{run}:"
    tmp = Path(tempfile.mkdtemp(prefix="tp-bench-"))
    env = {"TICKERPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
           "TICKERPULSE_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
           "TICKERPULSE_STREAM__APP_ID": run, "TICKERPULSE_STREAM__WEB_PORT": "0",
           "TICKERPULSE_STREAM__DATA_DIR": str(tmp / "faust"),
           "TICKERPULSE_REDIS__KEY_PREFIX": prefix, "TICKERPULSE_REDIS__URL": redis_url,
           "HF_HUB_OFFLINE": "1"}
    if settings.model.path:
        env["TICKERPULSE_MODEL__PATH"] = settings.model.path
    if workers > 1 and settings.engine.threads == 0:  # share the cores between the workers
        env["TICKERPULSE_ENGINE__THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    procs = [WorkerProcess({**os.environ, **env}, tmp / f"worker{i}.log") for i in range(workers)]
    try:
        ensure_topics(kafka, Topics(kafka.topic_prefix).all())
        for w in procs:
            w.start()
        for w in procs:
            w.wait_ready(timeout_s=180)
        result = asyncio.run(run_phases(kafka, count, warmup, latency_seconds, procs))
    finally:
        for w in procs:
            w.stop()
        if broker:
            broker.stop()
        if cluster:
            cluster.close()
        else:
            _delete_keys(settings.redis.model_copy(update={"url": redis_url}), prefix)
    redis_kind = ("local 3-master cluster" if cluster else
                  "cluster" if "+cluster" in redis_url else "single node")
    result = {"engine_texts_per_s": round(eng, 1), "workers": workers, "redis": redis_kind,
              **{k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}}
    result["sustained_over_engine"] = round(result["sustained_msgs_per_s"] / eng, 3)
    _print_table(result)
    if as_json:
        click.echo(json.dumps(result))
