"""The three stages as plain async objects (no faust): ingest, score, aggregate.

The faust agents in :mod:`streams.app` only move bytes between topics and these objects, so
the logic is testable in-process with a stand-in engine and the memory novelty index.

Each stage has ``handle(batch of RawMessage) -> Output``: decode every message (a bad one
becomes a dead letter, the rest go on), process, encode (bounded in size). :func:`isolated`
runs ``handle`` so that one message that makes a stage raise cannot fail its batch: on a
failure that is not a service's (:func:`streams.errors.is_transient`), the batch is split in
halves until the one message is found, tried once more alone, and dead-lettered
``processing_error``; the rest of the batch is processed. Service failures propagate to the
agent, which waits, retries or stops without committing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from pydantic import BaseModel

from models.records import Prediction, TargetSentiment, TickerLink
from models.tickers import is_ticker
from streams.codec import DeadLetter, Limits, decode_document, decode_record, encode_bounded
from streams.contracts import Document, DocumentKind, Novelty, RiskUpdate, ScoredMention
from streams.drift import DriftMonitor
from streams.errors import InputError, ProcessingFailed, is_transient
from streams.metrics import Metrics
from streams.novelty import Fingerprint
from streams.review import ReviewSampler
from streams.settings import StreamSettings
from streams.store.risk_store import CommitResult

log = logging.getLogger(__name__)
LimitsLike = Limits | StreamSettings | int | None
R = TypeVar("R", bound=BaseModel)


class NoveltyIndex(Protocol):
    async def check_many(self, fps: Sequence[Fingerprint]) -> list[Novelty]: ...


class Engine(Protocol):
    """What the score stage needs from ``models.api.InferenceEngine``."""

    model_version: str

    async def predict(
        self, texts: Sequence[str], hints: Sequence[Sequence[str]] | None = None
    ) -> list[Prediction]: ...


class RiskCommitter(Protocol):
    async def commit_batch(self, mentions: Sequence[ScoredMention]) -> CommitResult: ...


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone / null value (dead-lettered as invalid_json)
    kind: DocumentKind | None = None  # news.raw / social.raw only


@dataclass
class Output:
    """What one batch produces: (key, value) records for the stage's output topic, and dead
    letters for ``<source topic>.dlq``."""

    records: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    side: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # (topic, key, value)

    def __add__(self, other: Output) -> Output:
        return Output(self.records + other.records, self.dead + other.dead,
                      self.side + other.side)


def _now(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


def dead_letter(
    error: InputError, msg: RawMessage, limits: Limits, metrics: Metrics
) -> DeadLetter:
    metrics.inc("dead_letters_total", topic=msg.topic, reason=error.reason)
    return DeadLetter.from_error(error, msg.topic, msg.partition, msg.offset, msg.key, msg.value,
                                 limits.max_message_bytes)


Handle = Callable[[Sequence[RawMessage]], Awaitable[Output]]


async def isolated(
    handle: Handle, batch: Sequence[RawMessage], limits: Limits, metrics: Metrics
) -> Output:
    """``handle(batch)``, splitting the batch around messages that make it raise."""
    try:
        return await handle(batch)
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(batch) > 1:
            log.warning("a batch of %d failed (%s: %s); splitting it to isolate the message",
                        len(batch), type(exc).__name__, exc)
    if len(batch) > 1:
        mid = len(batch) // 2
        return (await isolated(handle, batch[:mid], limits, metrics)
                + await isolated(handle, batch[mid:], limits, metrics))
    if not batch:
        return Output()
    try:
        return await handle(batch)  # once more alone: a passing failure is not the message's
    except Exception as exc:
        if is_transient(exc):
            raise
        msg = batch[0]
        error = exc if isinstance(exc, InputError) else ProcessingFailed(
            f"{type(exc).__name__}: {str(exc)[:300]}")
        log.error("dead-lettering %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset,
                  error.reason, exc_info=not isinstance(exc, InputError),
                  extra={"topic": msg.topic, "partition": msg.partition,
                         "offset": msg.offset, "reason": error.reason})
        return Output([], [dead_letter(error, msg, limits, metrics)])


class Ingest:
    """Bytes -> Documents (with novelty) + dead letters."""

    def __init__(
        self, novelty: NoveltyIndex, limits: LimitsLike, metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.novelty, self.limits = novelty, Limits.of(limits)
        self.metrics, self.clock = metrics, clock

    async def process(self, batch: Sequence[RawMessage]) -> tuple[list[Document], list[DeadLetter]]:
        now = _now(self.clock)
        docs: list[Document] = []
        dead: list[DeadLetter] = []
        for msg in batch:
            self.metrics.inc("input_total", topic=msg.topic)
            try:
                docs.append(decode_document(msg.value, msg.kind or "news", self.limits, now))
            except InputError as exc:
                dead.append(dead_letter(exc, msg, self.limits, self.metrics))
        verdicts = await self.novelty.check_many([Fingerprint.of(d.doc_id, d.text) for d in docs])
        out = []
        for doc, verdict in zip(docs, verdicts, strict=True):
            self.metrics.inc("documents_total", novelty=verdict.kind)
            out.append(doc.model_copy(update={"novelty": verdict}))
        return out, dead

    async def handle(self, batch: Sequence[RawMessage]) -> Output:
        docs, dead = await self.process(batch)
        size = self.limits.max_message_bytes
        return Output([(d.doc_id.encode(), encode_bounded(d, size)) for d in docs], dead)


def _decoded(batch: Sequence[RawMessage], model: type[R], limits: Limits, metrics: Metrics,
             now: datetime) -> tuple[list[R], list[DeadLetter]]:
    good: list[R] = []
    dead: list[DeadLetter] = []
    for msg in batch:
        try:
            good.append(decode_record(msg.value, model, limits, now))
        except InputError as exc:
            dead.append(dead_letter(exc, msg, limits, metrics))
    return good, dead


class Score:
    """Documents -> one ScoredMention per (document, linked ticker)."""

    def __init__(
        self, engine: Engine, metrics: Metrics, clock: Callable[[], float] = time.time,
        limits: LimitsLike = None, drift: DriftMonitor | None = None,
        review: ReviewSampler | None = None,
    ) -> None:
        self.engine, self.metrics, self.clock = engine, metrics, clock
        self.limits, self.drift, self.review = Limits.of(limits), drift, review

    def _links(
        self, doc: Document, tickers: Sequence[TickerLink]
    ) -> list[tuple[TickerLink, float]]:
        """(link, confidence): valid tickers, unknown hints capped or dropped, the most
        relevant ``max_linked_tickers`` kept."""
        limits, hints = self.limits, set(doc.ticker_hints)
        best: dict[str, tuple[TickerLink, float]] = {}
        for link in tickers:
            if not is_ticker(link.ticker):
                self.metrics.inc("links_dropped_total", reason="invalid_ticker")
                continue
            conf = link.confidence
            if (limits.universe is not None and link.ticker in hints
                    and link.ticker not in limits.universe):
                if limits.unknown_ticker_hints == "reject":
                    self.metrics.inc("links_dropped_total", reason="unknown_hint")
                    continue
                conf = min(conf, limits.unknown_hint_confidence)
            if link.ticker not in best or conf > best[link.ticker][1]:
                best[link.ticker] = (link, conf)
        kept = sorted(best.values(), key=lambda lc: (-lc[0].relevance, -lc[1]))
        if len(kept) > limits.max_linked_tickers:
            self.metrics.inc("links_dropped_total", len(kept) - limits.max_linked_tickers,
                             reason="too_many")
        return kept[:limits.max_linked_tickers]

    def _mention(self, doc: Document, pred: Prediction, link: TickerLink, link_confidence: float,
                 now: datetime) -> ScoredMention:
        """One ScoredMention (v2): the ticker's own sentiment (the document's when the engine
        gave none) beside the document's."""
        own = link.sentiment or TargetSentiment(pred.sentiment, pred.probabilities,
                                                pred.confidence, "document")
        return ScoredMention.model_validate({
            "doc_id": doc.doc_id, "ticker": link.ticker, "kind": doc.kind, "source": doc.source,
            "published_at": doc.published_at, "excerpt": doc.excerpt, "url": doc.url,
            "sentiment": own.label, "probabilities": own.probabilities,
            "confidence": own.confidence, "sentiment_source": own.source,
            "document_sentiment": pred.sentiment, "document_probabilities": pred.probabilities,
            "document_confidence": pred.confidence,
            "relevance": link.relevance, "relevance_kind": link.relevance_kind,
            "link_confidence": link_confidence,
            "followers": doc.followers, "verified": doc.verified, "engagement": doc.engagement,
            "novelty": doc.novelty, "model_version": pred.model_version or
            self.engine.model_version, "scored_at": now, "ingested_at": doc.ingested_at,
        })

    async def process(self, docs: Sequence[Document]) -> list[ScoredMention]:
        if not docs:
            return []
        preds = await self.engine.predict([d.text for d in docs], [d.ticker_hints for d in docs])
        now = _now(self.clock)
        out: list[ScoredMention] = []
        linked: list[bool] = []
        for doc, pred in zip(docs, preds, strict=True):
            links = self._links(doc, pred.tickers)
            linked.append(bool(links))
            if not links:
                self.metrics.inc("documents_without_ticker_total")
            out.extend(self._mention(doc, pred, link, confidence, now)
                       for link, confidence in links)
        self.metrics.inc("scored_mentions_total", len(out))
        if self.drift is not None:
            self.drift.observe_batch([d.kind for d in docs], [d.text for d in docs], preds, linked,
                                     [d.doc_id for d in docs])
        if self.review is not None:  # texts worth a human label (streams.review)
            self.review.observe(docs, preds, self.engine.model_version)
        return out

    async def handle(self, batch: Sequence[RawMessage]) -> Output:
        docs, dead = _decoded(batch, Document, self.limits, self.metrics, _now(self.clock))
        size = self.limits.max_message_bytes
        out = Output([(m.ticker.encode(), encode_bounded(m, size))
                      for m in await self.process(docs)], dead)
        if self.drift is not None:  # drift readings go to the risk topic (streams.drift)
            out.side = await self.drift.publish(self.clock(), self.engine.model_version)
        if self.review is not None:  # review candidates go to the review topic
            out.side += self.review.take()
        return out


class Aggregate:
    """ScoredMentions -> Redis (idempotent) -> the RiskUpdates to publish."""

    def __init__(
        self, store: RiskCommitter, metrics: Metrics, limits: LimitsLike = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.metrics = store, metrics
        self.limits, self.clock = Limits.of(limits), clock

    async def process(self, mentions: Sequence[ScoredMention]) -> list[RiskUpdate]:
        if not mentions:
            return []
        result = await self.store.commit_batch(mentions)
        now = self.clock()
        for mention, was_counted in zip(mentions, result.counted, strict=True):
            if was_counted and mention.ingested_at is not None:  # a replay is not a latency
                self.metrics.record("ingest_to_risk_seconds",
                                    max(0.0, now - mention.ingested_at.timestamp()))
        outcomes = Counter(result.outcomes or
                           ["counted" if c else "replay" for c in result.counted])
        for outcome in ("counted", "replay", "too_old", "future"):
            self.metrics.inc("risk_commits_total", outcomes.get(outcome, 0), result=outcome)
        return result.updates

    async def handle(self, batch: Sequence[RawMessage]) -> Output:
        mentions, dead = _decoded(batch, ScoredMention, self.limits, self.metrics,
                                  _now(self.clock))
        size = self.limits.max_message_bytes
        return Output([(u.ticker.encode(), encode_bounded(u, size))
                       for u in await self.process(mentions)], dead)
