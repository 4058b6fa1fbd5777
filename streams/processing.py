"""The three stages as plain async objects (no faust): ingest, score, aggregate.

The faust agents in :mod:`streams.app` only move bytes between topics and these objects, so
the logic is testable in-process with a stand-in engine and the memory novelty index.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from streams.codec import DeadLetter, decode_input, to_document
from streams.contracts import Document, DocumentKind, Novelty, RiskUpdate, ScoredMention
from streams.errors import InputError
from streams.metrics import Metrics
from streams.novelty import Fingerprint
from streams.store.risk_store import CommitResult


class NoveltyIndex(Protocol):
    async def check_many(self, fps: Sequence[Fingerprint]) -> list[Novelty]: ...


class Engine(Protocol):
    """What the score stage needs from ``models.api.InferenceEngine``."""

    model_version: str

    async def predict(self, texts, hints=None): ...  # type: ignore[no-untyped-def]


class RiskCommitter(Protocol):
    async def commit_batch(self, mentions: Sequence[ScoredMention]) -> CommitResult: ...


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone / null value (dead-lettered as invalid_json)
    kind: DocumentKind


def _now(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), UTC)


class Ingest:
    """Bytes -> Documents (with novelty) + dead letters."""

    def __init__(
        self, novelty: NoveltyIndex, max_text_chars: int, metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.novelty, self.max_text_chars = novelty, max_text_chars
        self.metrics, self.clock = metrics, clock

    async def process(self, batch: Sequence[RawMessage]) -> tuple[list[Document], list[DeadLetter]]:
        now = _now(self.clock)
        docs: list[Document] = []
        dead: list[DeadLetter] = []
        for msg in batch:
            self.metrics.inc("input_total", topic=msg.topic)
            try:
                record = decode_input(msg.value, msg.kind, self.max_text_chars)
            except InputError as exc:
                dead.append(DeadLetter.from_error(
                    exc, msg.topic, msg.partition, msg.offset, msg.key, msg.value))
                self.metrics.inc("dead_letters_total", topic=msg.topic, reason=exc.reason)
                continue
            docs.append(to_document(record, now))
        verdicts = await self.novelty.check_many([Fingerprint.of(d.doc_id, d.text) for d in docs])
        out = []
        for doc, verdict in zip(docs, verdicts, strict=True):
            self.metrics.inc("documents_total", novelty=verdict.kind)
            out.append(doc.model_copy(update={"novelty": verdict}))
        return out, dead


class Score:
    """Documents -> one ScoredMention per (document, linked ticker)."""

    def __init__(
        self, engine: Engine, metrics: Metrics, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine, self.metrics, self.clock = engine, metrics, clock

    async def process(self, docs: Sequence[Document]) -> list[ScoredMention]:
        if not docs:
            return []
        preds = await self.engine.predict([d.text for d in docs], [d.ticker_hints for d in docs])
        now = _now(self.clock)
        out: list[ScoredMention] = []
        for doc, pred in zip(docs, preds, strict=True):
            links: dict[str, Any] = {}
            for link in pred.tickers:
                if link.ticker not in links or link.confidence > links[link.ticker].confidence:
                    links[link.ticker] = link
            if not links:
                self.metrics.inc("documents_without_ticker_total")
            for link in links.values():
                out.append(ScoredMention(
                    doc_id=doc.doc_id, ticker=link.ticker, kind=doc.kind, source=doc.source,
                    published_at=doc.published_at, excerpt=doc.excerpt, url=doc.url,
                    sentiment=pred.sentiment,
                    probabilities={k: float(v) for k, v in pred.probabilities.items()},
                    confidence=float(pred.confidence),
                    relevance=min(1.0, max(0.0, float(link.relevance))),
                    relevance_kind="subject" if link.relevance_kind == "subject" else "mention",
                    link_confidence=min(1.0, max(0.0, float(link.confidence))),
                    followers=doc.followers, verified=doc.verified, engagement=doc.engagement,
                    novelty=doc.novelty, model_version=pred.model_version or
                    self.engine.model_version, scored_at=now,
                ))
        self.metrics.inc("scored_mentions_total", len(out))
        return out


class Aggregate:
    """ScoredMentions -> Redis (idempotent) -> the RiskUpdates to publish."""

    def __init__(self, store: RiskCommitter, metrics: Metrics) -> None:
        self.store, self.metrics = store, metrics

    async def process(self, mentions: Sequence[ScoredMention]) -> list[RiskUpdate]:
        result = await self.store.commit_batch(mentions)
        counted = sum(result.counted)
        self.metrics.inc("risk_commits_total", counted, result="counted")
        self.metrics.inc("risk_commits_total", len(result.counted) - counted, result="replay")
        return result.updates
