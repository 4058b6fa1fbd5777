"""Composition of the stream worker: settings in, a ready faust app (and what to close) out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import faust

from streams.app import create_app
from streams.errors import ConfigurationError
from streams.health import Check
from streams.metrics import Metrics
from streams.processing import Aggregate, Ingest, Score
from streams.settings import AGENT_NAMES
from streams.store import (
    RedisKeys,
    RedisNoveltyIndex,
    RetryingRedis,
    RiskStore,
    check_server,
    connect,
)
from streams.topics import Topics, ensure_topics
from tickerpulse.settings import Settings

if TYPE_CHECKING:
    from models.api import InferenceEngine

log = logging.getLogger(__name__)


@dataclass
class Worker:
    app: faust.App
    metrics: Metrics
    closers: list[Callable[[], object]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.exception("while closing")


def selected_agents(settings: Settings) -> set[str]:
    names = {a.strip() for a in settings.stream.agents.split(",") if a.strip()}
    unknown = names - set(AGENT_NAMES)
    if unknown:
        raise ConfigurationError(
            f"stream.agents: unknown {sorted(unknown)}; known: {', '.join(AGENT_NAMES)}")
    return names


def build_worker(settings: Settings) -> Worker:
    """Topics created if missing, engine loaded and started, Redis clients, the faust app."""
    agents = selected_agents(settings)
    ensure_topics(settings.kafka, Topics(settings.kafka.topic_prefix).all())
    metrics = Metrics()
    worker_closers: list[Callable[[], object]] = []
    check_server(settings.redis)  # credentials, eviction policy, persistence: fail fast
    redis = connect(settings.redis)
    metrics.observe("redis_outages_total", lambda: redis.outages)
    checks: dict[str, Check] = {"redis": _ping(redis)}
    model_version = ""
    keys = RedisKeys(settings.redis.key_prefix)
    ingest = score = aggregate = None
    if "ingest" in agents:
        index = RedisNoveltyIndex(redis, keys, settings.stream.novelty_window_s,
                                  settings.risk.near_duplicate_threshold)
        ingest = Ingest(index, settings.stream, metrics)
    if "score" in agents:
        from models.api import load_engine

        engine = load_engine(settings.model, settings.engine)
        engine.start()
        worker_closers.append(engine.close)
        score = Score(engine, metrics, limits=settings.stream)
        _instrument(engine, metrics)
        checks["engine"] = _engine_ready(engine)
        model_version = engine.model_version
    if "aggregate" in agents:
        store = RiskStore(redis, keys, settings.risk)
        metrics.observe("risk_repaired_mentions_total", lambda: store.repaired)
        aggregate = Aggregate(store, metrics, limits=settings.stream)
    metrics.build_info(package_version(), model_version)
    app = create_app(settings.kafka, settings.stream, metrics, ingest, score, aggregate, checks)
    return Worker(app, metrics, worker_closers)


def package_version() -> str:
    try:
        return version("tickerpulse")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _ping(redis: RetryingRedis) -> Check:
    async def check() -> str | None:
        await redis.client.ping()  # the raw client: a readiness probe must not wait out outages
        return None

    return check


def _engine_ready(engine: InferenceEngine) -> Check:
    async def check() -> str | None:
        return None if engine.running else "inference engine is not running"

    return check


def _instrument(engine: InferenceEngine, metrics: Metrics) -> None:
    def on_batch(seconds: float, texts: int) -> None:
        metrics.record("inference_batch_duration_seconds", seconds)
        metrics.record("inference_batch_texts", texts)

    engine.on_batch = on_batch
    metrics.observe("inference_queue_texts", lambda: engine.queued)
