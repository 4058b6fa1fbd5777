"""Which predictions are worth a human look (active learning), and how much: pure functions.

A text is worth a look for these reasons (:data:`REVIEW_REASONS`), each with a value in 0..1
(1 = the most worth a look):

``low_confidence``
    the document head's top probability is below ``low_confidence``; the value is how close
    the prediction is to uniform: ``(1 - confidence) / (1 - 1/k)`` for ``k`` labels.
``near_boundary``
    the top two probabilities are less than ``margin`` apart (the text sits on a decision
    boundary); the value is ``1 - (top - second)``.
``head_disagreement``
    a ticker's or entity's own sentiment (the target head, ``source == "entity"``) differs
    from the document's label; the value is 1 for opposite polarities (negative against
    positive) and 0.6 when one side is neutral.
``low_entity_confidence``
    the least confident target-head sentiment is below ``entity_confidence``; the value as
    for ``low_confidence``.

The priority of a text is the noisy-or of the values of the reasons that hold,
``1 - prod(1 - value)``: 0 with no reason, more reasons give a higher priority, never above 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from models.records import Prediction, TargetSentiment

ReviewReason = Literal["low_confidence", "near_boundary", "head_disagreement",
                       "low_entity_confidence"]
REVIEW_REASONS: tuple[ReviewReason, ...] = get_args(ReviewReason)
OPPOSITE_VALUE = 1.0  # negative against positive
NEUTRAL_VALUE = 0.6  # one side neutral


@dataclass(frozen=True)
class ReviewThresholds:
    low_confidence: float = 0.55  # document confidence below: low_confidence
    margin: float = 0.15  # top-two probability gap below: near_boundary
    entity_confidence: float = 0.55  # a target-head confidence below: low_entity_confidence


@dataclass(frozen=True)
class TargetPrediction:
    """One ticker's or entity's own sentiment in a text (what a labeller may correct)."""

    text: str  # the surface text as the document writes it ("" for a ticker only hinted)
    ticker: str | None  # None for an entity not linked to a ticker
    label: str
    confidence: float
    source: str  # "entity": the target head | "document": the document's, given to it


@dataclass(frozen=True)
class ReviewScore:
    reasons: tuple[ReviewReason, ...]
    priority: float


def uncertainty(confidence: float, labels: int = 3) -> float:
    """0 for a certain prediction, 1 for a uniform one."""
    floor = 1.0 / max(labels, 2)
    return min(1.0, max(0.0, (1.0 - confidence) / (1.0 - floor)))


def margin(probabilities: Mapping[str, float]) -> float:
    """The gap between the top two probabilities (1 with a single label)."""
    top = sorted(probabilities.values(), reverse=True)
    return top[0] - top[1] if len(top) > 1 else 1.0


def disagreement(document: str, target: str) -> float:
    if document == target:
        return 0.0
    return NEUTRAL_VALUE if "neutral" in (document, target) else OPPOSITE_VALUE


def _surface(text: str) -> str:
    return text[1:] if text.startswith("$") else text  # "$AAPL": the labeller sees "AAPL"


def targets(pred: Prediction) -> list[TargetPrediction]:
    """The tickers' and then the other entities' own sentiment, one per surface text (a
    linked ticker's entity span is listed once, as the ticker)."""
    out: list[TargetPrediction] = []
    seen: set[str] = set()
    for link in pred.tickers:
        if link.sentiment is None:
            continue
        text = _surface(link.text)
        out.append(TargetPrediction(text, link.ticker, link.sentiment.label,
                                    link.sentiment.confidence, link.sentiment.source))
        seen.update(s.lower() for s in (text, link.ticker) if s)
    for entity in pred.entities:
        if entity.sentiment is None or entity.text.lower() in seen:
            continue
        seen.add(entity.text.lower())
        out.append(TargetPrediction(entity.text, None, entity.sentiment.label,
                                    entity.sentiment.confidence, entity.sentiment.source))
    return out


def _target_heads(pred: Prediction) -> list[TargetSentiment]:
    """The target head's own answers (a document fallback cannot disagree with itself)."""
    found = [link.sentiment for link in pred.tickers] + [e.sentiment for e in pred.entities]
    return [s for s in found if s is not None and s.source == "entity"]


def review_score(pred: Prediction, thresholds: ReviewThresholds = ReviewThresholds()
                 ) -> ReviewScore:
    """The reasons ``pred`` is worth a look and its priority (see the module docstring)."""
    k = len(pred.probabilities) or 3
    values: dict[ReviewReason, float] = {}
    if pred.confidence < thresholds.low_confidence:
        values["low_confidence"] = uncertainty(pred.confidence, k)
    gap = margin(pred.probabilities) if pred.probabilities else 1.0
    if gap < thresholds.margin:
        values["near_boundary"] = 1.0 - gap
    heads = _target_heads(pred)
    split = max((disagreement(pred.sentiment, s.label) for s in heads), default=0.0)
    if split > 0:
        values["head_disagreement"] = split
    weakest = min(heads, key=lambda s: s.confidence, default=None)
    if weakest is not None and weakest.confidence < thresholds.entity_confidence:
        values["low_entity_confidence"] = uncertainty(weakest.confidence,
                                                      len(weakest.probabilities) or 3)
    remaining = 1.0
    for value in values.values():
        remaining *= 1.0 - value
    reasons = tuple(r for r in REVIEW_REASONS if r in values)
    return ReviewScore(reasons, round(1.0 - remaining, 6) if reasons else 0.0)
