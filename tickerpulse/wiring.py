"""Composition of the stream worker: settings in, a ready faust app (and what to close) out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import faust

from streams.app import create_app
from streams.drift import DriftGauges, DriftMonitor, Stats, references_by_kind
from streams.errors import ConfigurationError
from streams.health import Check
from streams.live_model import LiveModel
from streams.metrics import Metrics
from streams.processing import Aggregate, Ingest, Score
from streams.review import ReviewSampler
from streams.store import (
    DriftStore,
    RedisKeys,
    RedisNoveltyIndex,
    RetryingRedis,
    RiskStore,
    check_server,
    connect,
)
from streams.topics import Topics, ensure_topics
from tickerpulse.settings import Settings
from tickerpulse.version import package_version

if TYPE_CHECKING:
    from models.api import InferenceEngine
    from models.linking import TickerLinker

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


@dataclass
class _Parts:
    """What the stages of one worker share while they are built."""

    settings: Settings
    metrics: Metrics
    redis: RetryingRedis
    keys: RedisKeys
    checks: dict[str, Check]
    closers: list[Callable[[], object]]
    model_version: str = ""


def _ingest(parts: _Parts) -> Ingest:
    novelty = parts.settings.novelty
    index = RedisNoveltyIndex(parts.redis, parts.keys, novelty.window_s,
                              novelty.near_duplicate_threshold)
    return Ingest(index, parts.settings.stream, parts.metrics)


def _score(parts: _Parts) -> Score:
    from models.api import load_engine
    from models.linking import TickerLinker

    # the linker knows the same extra tickers (and SEC names) as the ingest universe
    linker = TickerLinker.default(parts.settings.stream.ticker_universe_file or None)
    engine = load_engine(parts.settings.model, parts.settings.engine, linker)
    engine.start()
    _instrument(engine, parts.metrics)
    drift = _drift_monitor(parts, engine)
    live = _live_model(parts, engine, linker, drift)  # follows `tickerpulse replay promote`
    parts.closers.append(live.close)
    parts.checks["engine"] = _engine_ready(live)
    parts.model_version = engine.model_version
    return Score(live, parts.metrics, limits=parts.settings.stream, drift=drift,
                 review=_review_sampler(parts))


def _review_sampler(parts: _Parts) -> ReviewSampler | None:
    """Texts worth a human label to the review topic (none: stream.review.enabled false)."""
    settings = parts.settings.stream.review
    if not settings.enabled:
        return None
    return ReviewSampler(settings, Topics(parts.settings.kafka.topic_prefix).review,
                         metrics=parts.metrics)


def _live_model(parts: _Parts, engine: InferenceEngine, linker: TickerLinker,
                drift: DriftMonitor | None) -> LiveModel:
    """The served engine, switched to the promoted model when the live pointer changes; feed
    drift is then measured against the new model's reference profile."""
    from models.api import load_engine
    from streams.store.model_pointer import ModelPointer, ModelPointerStore

    settings = parts.settings

    def load(pointer: ModelPointer) -> InferenceEngine:
        model = settings.model.model_copy(update={"path": pointer.path})
        new = load_engine(model, settings.engine, linker)
        new.start()
        _instrument(new, parts.metrics)
        return new

    pointers = ModelPointerStore(parts.redis, parts.keys)
    def rebase_drift(new: object, path: str) -> None:
        if drift is not None:
            reference, count_unknown = _drift_reference(cast("InferenceEngine", new))
            drift.rebase(reference, count_unknown)
            log.info("feed drift now measured against %s (%d kinds)", path, len(reference))

    return LiveModel(engine, engine._loaded.path, pointers.read, load,  # noqa: SLF001
                     settings.stream.model_check_s, parts.metrics, on_switch=rebase_drift)


def _drift_reference(engine: InferenceEngine) -> tuple[
        dict[str, Stats], Callable[[Sequence[str]], list[tuple[int, int]]]]:
    """The reference profile (per kind) in the served model's card, and an unknown-token
    counter with a copy of its tokenizer (the model thread uses the engine's meanwhile)."""
    import copy
    from functools import partial

    from models.profile import read_profile, unknown_counts

    loaded = engine._loaded  # noqa: SLF001 - the served model's directory and tokenizer
    return (references_by_kind(read_profile(loaded.path)),
            partial(unknown_counts, copy.deepcopy(loaded.tokenizer)))


def _drift_monitor(parts: _Parts, engine: InferenceEngine) -> DriftMonitor | None:
    """Drift against the reference profile in the model's card (None: drift disabled). A
    model without a profile is watched once a promoted model brings one."""
    settings = parts.settings.stream.drift
    if not settings.enabled:
        log.info("no drift monitoring: stream.drift.enabled is false")
        return None
    reference, count_unknown = _drift_reference(engine)
    if not reference:
        log.info("no drift reading until a model with a reference profile serves: the card "
                 "has none (tickerpulse model profile)")
    monitor = DriftMonitor(reference, settings.window, settings.min_texts, settings.interval_s,
                           topic=Topics(parts.settings.kafka.topic_prefix).risk,
                           count_unknown=count_unknown,
                           sink=DriftStore(parts.redis, parts.keys).save)
    parts.metrics.register(DriftGauges(monitor))
    return monitor


def _aggregate(parts: _Parts) -> Aggregate:
    store = RiskStore(parts.redis, parts.keys, parts.settings.risk)
    parts.metrics.observe("risk_repaired_mentions_total", lambda: store.repaired)
    return Aggregate(store, parts.metrics, limits=parts.settings.stream)


# The agents a worker can run, in data-path order: name (as `stream.agents` and create_app's
# keyword name it) -> how its stage is built.
STAGES: dict[str, Callable[[_Parts], Ingest | Score | Aggregate]] = {
    "ingest": _ingest,
    "score": _score,
    "aggregate": _aggregate,
}
AGENT_NAMES = tuple(STAGES)


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
    check_server(settings.redis)  # credentials, eviction policy, persistence: fail fast
    redis = connect(settings.redis)
    metrics.observe("redis_outages_total", lambda: redis.outages)
    parts = _Parts(settings, metrics, redis, RedisKeys(settings.redis.key_prefix),
                   {"redis": _ping(redis)}, [])
    stages = {name: build(parts) for name, build in STAGES.items() if name in agents}
    metrics.build_info(package_version(), parts.model_version)
    app = create_app(settings.kafka, settings.stream, metrics, checks=parts.checks,
                     **stages)  # type: ignore[arg-type]
    return Worker(app, metrics, parts.closers)


def _ping(redis: RetryingRedis) -> Check:
    async def check() -> str | None:
        await redis.client.ping()  # the raw client: a readiness probe must not wait out outages
        return None

    return check


def _engine_ready(engine: InferenceEngine | LiveModel) -> Check:
    async def check() -> str | None:
        return None if engine.running else "inference engine is not running"

    return check


def _instrument(engine: InferenceEngine, metrics: Metrics) -> None:
    def on_batch(seconds: float, texts: int) -> None:
        metrics.record("inference_batch_duration_seconds", seconds)
        metrics.record("inference_batch_texts", texts)

    engine.on_batch = on_batch
    metrics.observe("inference_queue_texts", lambda: engine.queued)
