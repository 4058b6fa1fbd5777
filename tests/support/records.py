"""Contract records for tests, every field overridable."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.contracts import ScoredMention

PROBS = {
    "negative": {"negative": 0.9, "neutral": 0.08, "positive": 0.02},
    "neutral": {"negative": 0.1, "neutral": 0.8, "positive": 0.1},
    "positive": {"negative": 0.02, "neutral": 0.08, "positive": 0.9},
}


def mention(i: int, sentiment: str = "negative", at: datetime | None = None,
            **kw: object) -> ScoredMention:
    """A scored mention (v2) of AAPL in news doc ``news:w:<i>`` (fields overridable); the
    document's sentiment is the ticker's unless ``document_sentiment`` is given."""
    at = at or datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    document = str(kw.pop("document_sentiment", sentiment))
    base = dict(
        doc_id=f"news:w:{i}", ticker="AAPL", kind="news", source="w", published_at=at,
        excerpt=f"doc {i}", sentiment=sentiment, probabilities=PROBS[sentiment],
        confidence=max(PROBS[sentiment].values()), sentiment_source="entity",
        document_sentiment=document, document_probabilities=PROBS[document],
        document_confidence=max(PROBS[document].values()), relevance=1.0,
        relevance_kind="subject", link_confidence=1.0, model_version="m1", scored_at=at,
    )
    base.update(kw)
    return ScoredMention.model_validate(base)
