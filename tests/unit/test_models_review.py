"""Why a prediction is worth a human look, and how much (models.review): table-driven."""

from __future__ import annotations

import pytest

from models.records import Entity, Prediction, TargetSentiment, TickerLink
from models.review import (
    REVIEW_REASONS,
    ReviewThresholds,
    margin,
    review_score,
    targets,
    uncertainty,
)


def probs(neg: float, neu: float, pos: float) -> dict[str, float]:
    return {"negative": neg, "neutral": neu, "positive": pos}


def target(label: str, confidence: float, source: str = "entity") -> TargetSentiment:
    rest = (1 - confidence) / 2
    p = {k: (confidence if k == label else rest) for k in ("negative", "neutral", "positive")}
    return TargetSentiment(label, p, confidence, source)


def link(ticker: str, sentiment: TargetSentiment | None, text: str | None = None) -> TickerLink:
    return TickerLink(ticker, 0.9, 1.0, "subject", "name", ticker if text is None else text,
                      sentiment=sentiment)


def pred(p: dict[str, float], tickers: tuple[TickerLink, ...] = (),
         entities: tuple[Entity, ...] = ()) -> Prediction:
    label = max(p, key=lambda k: p[k])
    return Prediction(label, p, p[label], entities=entities, tickers=tickers)


CASES = [
    # (name, prediction, reasons, priority)
    ("confident, no targets", pred(probs(0.05, 0.05, 0.90)), (), 0.0),
    ("low confidence only", pred(probs(0.20, 0.30, 0.50)), ("low_confidence",), 0.75),
    ("on the boundary, confident enough", pred(probs(0.01, 0.50, 0.49)),
     ("low_confidence", "near_boundary"), 1 - (1 - 0.75) * (1 - 0.99)),
    ("boundary at 0.56 vs 0.44", pred(probs(0.0, 0.44, 0.56)), ("near_boundary",), 0.88),
    ("uniform", pred(probs(1 / 3, 1 / 3, 1 / 3)), ("low_confidence", "near_boundary"), 1.0),
    ("ticker says the opposite", pred(probs(0.02, 0.03, 0.95),
                                      (link("AAPL", target("negative", 0.9)),)),
     ("head_disagreement",), 1.0),
    ("ticker neutral, document positive", pred(probs(0.02, 0.03, 0.95),
                                               (link("AAPL", target("neutral", 0.9)),)),
     ("head_disagreement",), 0.6),
    ("ticker agrees", pred(probs(0.02, 0.03, 0.95), (link("AAPL", target("positive", 0.9)),)),
     (), 0.0),
    ("document fallback never disagrees", pred(probs(0.02, 0.03, 0.95),
                                               (link("AAPL", target("negative", 0.4,
                                                                    "document")),)),
     (), 0.0),
    ("unsure about a ticker", pred(probs(0.02, 0.03, 0.95),
                                   (link("AAPL", target("positive", 0.5)),)),
     ("low_entity_confidence",), 0.75),
    ("entity (not a ticker) disagrees and is unsure", pred(
        probs(0.9, 0.05, 0.05), entities=(Entity("Fed", "ORG", 0, 3, 0.9,
                                                 target("positive", 0.5)),)),
     ("head_disagreement", "low_entity_confidence"), 1.0),
]


@pytest.mark.parametrize(("name", "prediction", "reasons", "priority"), CASES,
                         ids=[c[0] for c in CASES])
def test_reasons_and_priority(name: str, prediction: Prediction, reasons: tuple[str, ...],
                              priority: float) -> None:
    score = review_score(prediction)
    assert score.reasons == reasons
    assert score.priority == pytest.approx(priority, abs=1e-6)
    assert 0.0 <= score.priority <= 1.0


def test_more_reasons_never_lower_the_priority() -> None:
    one = review_score(pred(probs(0.20, 0.30, 0.50))).priority
    two = review_score(pred(probs(0.20, 0.30, 0.50),
                            (link("AAPL", target("negative", 0.9)),))).priority
    assert two > one


@pytest.mark.parametrize(("thresholds", "reasons"), [
    (ReviewThresholds(low_confidence=0.5), ()),
    (ReviewThresholds(low_confidence=0.7), ("low_confidence",)),
    (ReviewThresholds(low_confidence=0.7, margin=0.5), ("low_confidence", "near_boundary")),
])
def test_thresholds_decide_the_reasons(thresholds: ReviewThresholds,
                                       reasons: tuple[str, ...]) -> None:
    assert review_score(pred(probs(0.05, 0.35, 0.60)), thresholds).reasons == reasons


@pytest.mark.parametrize(("confidence", "labels", "value"), [
    (1.0, 3, 0.0), (1 / 3, 3, 1.0), (2 / 3, 3, 0.5), (0.5, 2, 1.0), (0.2, 3, 1.0)])
def test_uncertainty(confidence: float, labels: int, value: float) -> None:
    assert uncertainty(confidence, labels) == pytest.approx(value)


@pytest.mark.parametrize(("p", "gap"), [
    (probs(0.1, 0.2, 0.7), 0.5), (probs(0.4, 0.2, 0.4), 0.0), ({"positive": 1.0}, 1.0)])
def test_margin(p: dict[str, float], gap: float) -> None:
    assert margin(p) == pytest.approx(gap)


def test_targets_list_each_surface_once_tickers_first_without_the_cashtag() -> None:
    p = pred(probs(0.1, 0.1, 0.8),
             (link("AAPL", target("positive", 0.9), "$AAPL"), link("MSFT", None),
              link("NVDA", target("negative", 0.7), "Nvidia")),
             (Entity("Nvidia", "ORG", 0, 6, 0.9, target("negative", 0.7)),
              Entity("Powell", "PER", 10, 16, 0.9, target("neutral", 0.6)),
              Entity("Nowhere", "LOC", 20, 27, 0.9, None)))
    assert [(t.text, t.ticker, t.label) for t in targets(p)] == [
        ("AAPL", "AAPL", "positive"), ("Nvidia", "NVDA", "negative"),
        ("Powell", None, "neutral")]


def test_reason_names_are_the_contract_literal() -> None:
    assert REVIEW_REASONS == ("low_confidence", "near_boundary", "head_disagreement",
                              "low_entity_confidence")
