"""The review queue's sampler: which scored documents go to the ``review`` topic.

The score stage hands every batch to :meth:`ReviewSampler.observe`; :meth:`ReviewSampler.take`
returns the (topic, key, value) messages of the candidates since, which the stage sends as
side output. A document is a candidate when

* its novelty verdict is ``fresh`` (an exact or near copy of a recent text is not: the queue
  is de-duplicated by novelty),
* it was not seen lately (a batch scored again after a split or a restart adds nothing),
* :func:`models.review.review_score` gives it a reason and a priority of at least
  ``min_priority``,
* its source still has budget: a token bucket per (kind, source) refilled at
  ``per_source_per_minute`` and holding as many, so one noisy feed cannot fill the queue, and
  all sources together share one of ``per_minute``, so a feed that rotates its source names
  cannot either.
  Within a batch the highest priorities spend the budget first.

The clock is injected; nothing here does I/O.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from models.records import Prediction
from models.review import ReviewThresholds, review_score, targets
from streams.contracts import Document, ReviewCandidate, ReviewTarget
from streams.metrics import Metrics
from streams.novelty import exact_hash
from streams.settings import ReviewSettings

log = logging.getLogger(__name__)
MAX_SOURCES = 4096  # buckets kept; the least recently used source is forgotten (a full bucket)
MAX_TARGETS = 64


@dataclass
class TokenBucket:
    """``capacity`` tokens, refilled at ``rate_per_s``; :meth:`take` spends one if there."""

    capacity: float
    rate_per_s: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.at) * self.rate_per_s)
        self.at = max(self.at, now)
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class ReviewSampler:
    def __init__(self, settings: ReviewSettings, topic: str,
                 clock: Callable[[], float] = time.time, max_sources: int = MAX_SOURCES,
                 metrics: Metrics | None = None) -> None:
        self.settings, self.topic, self.clock = settings, topic, clock
        self.metrics = metrics
        self.thresholds = ReviewThresholds(settings.low_confidence, settings.margin,
                                           settings.entity_confidence)
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        total = settings.per_minute  # all sources together
        self._total = TokenBucket(max(1.0, total), total / 60.0, max(1.0, total), clock())
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._pending: list[ReviewCandidate] = []
        self.skipped = {"duplicate": 0, "seen": 0, "priority": 0, "budget": 0, "budget_total": 0,
                        "invalid": 0}

    def _skip(self, reason: str) -> None:
        self.skipped[reason] += 1
        if self.metrics is not None:
            self.metrics.inc("review_skipped_total", reason=reason)

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = self.settings.per_source_per_minute
            bucket = TokenBucket(max(1.0, rate), rate / 60.0, max(1.0, rate), now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        return bucket

    def _first_time(self, doc_id: str) -> bool:
        if doc_id in self._seen:
            return False
        self._seen[doc_id] = None
        if len(self._seen) > 8 * self.max_sources:
            self._seen.popitem(last=False)
        return True

    def sample(self, docs: Sequence[Document], preds: Sequence[Prediction],
               model_version: str) -> list[ReviewCandidate]:
        """The candidates of one scored batch (and the budget they spent)."""
        now = self.clock()
        scored = []
        for doc, pred in zip(docs, preds, strict=True):
            if doc.novelty.kind != "fresh":
                self._skip("duplicate")
            elif not self._first_time(doc.doc_id):
                self._skip("seen")
            else:
                score = review_score(pred, self.thresholds)
                if not score.reasons or score.priority < self.settings.min_priority:
                    self._skip("priority")
                else:
                    scored.append((score.priority, doc, pred, score.reasons))
        out = []
        for priority, doc, pred, reasons in sorted(scored, key=lambda s: -s[0]):
            if not self._bucket(f"{doc.kind}:{doc.source}", now).take(now):
                self._skip("budget")
                continue
            if not self._total.take(now):
                self._skip("budget_total")
                continue
            try:
                out.append(self._candidate(doc, pred, reasons, priority, model_version, now))
            except ValidationError:  # sampling never fails a score batch
                log.exception("review candidate of %s not built", doc.doc_id)
                self._skip("invalid")
        return out

    def _candidate(self, doc: Document, pred: Prediction, reasons: Sequence[str],
                   priority: float, model_version: str, now: float) -> ReviewCandidate:
        limit = self.settings.max_text_chars
        return ReviewCandidate.model_validate({
            "doc_id": doc.doc_id, "kind": doc.kind, "source": doc.source,
            "text": doc.text[:limit], "text_truncated": len(doc.text) > limit,
            "text_hash": exact_hash(doc.text), "model_version": pred.model_version or
            model_version, "label": pred.sentiment, "probabilities": pred.probabilities,
            "confidence": pred.confidence, "reasons": list(reasons), "priority": priority,
            "targets": [ReviewTarget.model_validate(
                {"text": t.text[:256], "ticker": t.ticker and t.ticker[:64], "label": t.label,
                 "confidence": t.confidence, "source": t.source})
                for t in targets(pred)[:MAX_TARGETS]],
            "scored_at": datetime.fromtimestamp(now, UTC),
        })

    def observe(self, docs: Sequence[Document], preds: Sequence[Prediction],
                model_version: str) -> None:
        sampled = self.sample(docs, preds, model_version)
        if self.metrics is not None:
            self.metrics.inc("review_candidates_total", len(sampled))
        self._pending.extend(sampled)

    def take(self) -> list[tuple[str, bytes, bytes]]:
        """(topic, key, value) of the candidates observed since the last call."""
        pending, self._pending = self._pending, []
        return [(self.topic, c.doc_id.encode(), c.to_json_bytes()) for c in pending]
