"""The review sampler (streams.review): fresh documents only, a budget per source with an
injected clock, the priority threshold; the ReviewCandidate contract; the score stage's side
output to the review topic."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from models.records import Prediction, TargetSentiment, TickerLink
from streams.contracts import Document, Novelty, ReviewCandidate
from streams.metrics import Metrics
from streams.novelty import exact_hash
from streams.processing import RawMessage, Score
from streams.review import ReviewSampler, TokenBucket
from streams.settings import ReviewSettings
from streams.topics import Topics

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
UNSURE = {"negative": 0.3, "neutral": 0.3, "positive": 0.4}  # priority 1 - 0.1 * 0.1 = 0.99
SURE = {"negative": 0.02, "neutral": 0.03, "positive": 0.95}


class Clock:
    def __init__(self, t: float = NOW.timestamp()) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def doc(i: int, source: str = "wire", novelty: str = "fresh", text: str | None = None,
        kind: str = "news") -> Document:
    return Document(doc_id=f"{kind}:{source}:{i}", kind=kind, source=source,  # type: ignore[arg-type]
                    published_at=NOW, text=text or f"Headline number {i} about Apple",
                    excerpt="x", ingested_at=NOW,
                    novelty=Novelty(kind=novelty,  # type: ignore[arg-type]
                                    duplicate_of=None if novelty == "fresh" else "news:wire:0"))


def prediction(p: dict[str, float] = UNSURE, ticker_label: str | None = None) -> Prediction:
    label = max(p, key=lambda k: p[k])
    tickers = ()
    if ticker_label is not None:
        sentiment = TargetSentiment(ticker_label, {ticker_label: 0.9}, 0.9, "entity")
        tickers = (TickerLink("AAPL", 0.9, 1.0, "subject", "name", "Apple",
                              sentiment=sentiment),)
    return Prediction(label, p, p[label], tickers=tickers, model_version="m-7")


def sampler(clock: Clock, **settings: object) -> ReviewSampler:
    return ReviewSampler(ReviewSettings(**settings), "p.review", clock)  # type: ignore[arg-type]


def test_only_fresh_documents_are_sampled() -> None:
    s = sampler(Clock())
    docs = [doc(1), doc(2, novelty="exact"), doc(3, novelty="near"), doc(4)]
    out = s.sample(docs, [prediction()] * 4, "m")
    assert [c.doc_id for c in out] == ["news:wire:1", "news:wire:4"]
    assert s.skipped["duplicate"] == 2


def test_a_document_scored_again_is_not_sampled_twice() -> None:
    s = sampler(Clock())
    assert len(s.sample([doc(1)], [prediction()], "m")) == 1
    assert s.sample([doc(1)], [prediction()], "m") == []
    assert s.skipped["seen"] == 1


@pytest.mark.parametrize(("min_priority", "sampled"), [(0.5, 1), (0.99, 1), (0.995, 0)])
def test_priority_threshold(min_priority: float, sampled: int) -> None:
    s = sampler(Clock(), min_priority=min_priority)
    assert len(s.sample([doc(1), doc(2)], [prediction(), prediction(SURE)], "m")) == sampled


def test_budget_per_source_refills_with_the_clock() -> None:
    clock = Clock()
    s = sampler(clock, per_source_per_minute=3)
    noisy = [doc(i, "noisy") for i in range(10)]
    quiet = [doc(i, "quiet") for i in range(2)]
    first = s.sample(noisy + quiet, [prediction()] * 12, "m")
    assert sorted(c.source for c in first) == ["noisy"] * 3 + ["quiet"] * 2
    assert s.skipped["budget"] == 7
    clock.t += 20  # a third of a minute: one more token for each source
    more = s.sample([doc(i, "noisy") for i in range(10, 13)], [prediction()] * 3, "m")
    assert len(more) == 1
    clock.t += 600  # a long pause refills the bucket to its size, not beyond
    later = s.sample([doc(i, "noisy") for i in range(20, 30)], [prediction()] * 10, "m")
    assert len(later) == 3


def test_a_feed_rotating_its_source_names_meets_the_budget_of_all_sources() -> None:
    clock = Clock()
    s = sampler(clock, per_source_per_minute=6, per_minute=10)
    rotating = [doc(i, f"src{i}") for i in range(50)]  # a fresh bucket for every name
    assert len(s.sample(rotating, [prediction()] * 50, "m")) == 10
    assert s.skipped["budget_total"] == 40 and s.skipped["budget"] == 0
    clock.t += 6  # a tenth of a minute: one more for all sources together
    assert len(s.sample([doc(i, f"new{i}") for i in range(5)], [prediction()] * 5, "m")) == 1


def test_the_budget_goes_to_the_highest_priorities_of_a_batch() -> None:
    s = sampler(Clock(), per_source_per_minute=1)
    mild = {"negative": 0.2, "neutral": 0.3, "positive": 0.5}  # 0.75
    out = s.sample([doc(1), doc(2)], [prediction(mild), prediction()], "m")
    assert [c.doc_id for c in out] == ["news:wire:2"]


@pytest.mark.parametrize(("now", "tokens", "taken"), [
    (0.0, 0.0, False), (1.0, 0.0, True), (0.5, 0.6, True), (100.0, 0.0, True)])
def test_token_bucket(now: float, tokens: float, taken: bool) -> None:
    bucket = TokenBucket(capacity=2.0, rate_per_s=1.0, tokens=tokens, at=0.0)
    assert bucket.take(now) is taken
    assert bucket.tokens <= 2.0


def test_candidate_fields_and_round_trip() -> None:
    s = sampler(Clock(), max_text_chars=10)
    long = doc(1, text="Apple falls while the market rises sharply today")
    (c,) = s.sample([long], [prediction(SURE, ticker_label="negative")], "engine-v")
    assert c.schema_version == 1 and c.text == long.text[:10] and c.text_truncated
    assert c.text_hash == exact_hash(long.text)
    assert c.model_version == "m-7"  # the prediction's own version wins over the engine's
    assert c.label == "positive" and c.reasons == ["head_disagreement"] and c.priority == 1.0
    assert [(t.text, t.ticker, t.label, t.source) for t in c.targets] == [
        ("Apple", "AAPL", "negative", "entity")]
    assert c.scored_at == NOW
    again = ReviewCandidate.model_validate_json(c.to_json_bytes())
    assert again == c


def test_contract_refuses_what_it_does_not_know() -> None:
    (c,) = sampler(Clock()).sample([doc(1)], [prediction()], "m")
    data = json.loads(c.to_json_bytes())
    for bad in ({"schema_version": 2}, {"reasons": []}, {"reasons": ["bored"]},
                {"priority": 1.5}, {"extra": 1}):
        with pytest.raises(ValidationError):
            ReviewCandidate.model_validate({**data, **bad})


def test_topics_name_the_review_topic_once() -> None:
    topics = Topics("p.")
    assert topics.review == "p.review"
    assert topics.all().count("p.review") == 1


class FixedEngine:
    model_version = "fixed-1"

    def __init__(self, preds: dict[str, Prediction]) -> None:
        self.preds = preds

    async def predict(self, texts: Sequence[str],
                      hints: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        return [self.preds[t] for t in texts]


async def test_score_stage_sends_candidates_to_the_review_topic_as_side_output() -> None:
    docs = [doc(1, text="Apple unsure"), doc(2, text="Apple sure"),
            doc(3, text="Apple unsure copy", novelty="exact")]
    engine = FixedEngine({"Apple unsure": prediction(), "Apple sure": prediction(SURE),
                          "Apple unsure copy": prediction()})
    clock = Clock()
    metrics = Metrics()
    score = Score(engine, metrics, clock=clock,
                  review=ReviewSampler(ReviewSettings(), "p.review", clock, metrics=metrics))
    batch = [RawMessage("p.docs", 0, i, None, d.to_json_bytes()) for i, d in enumerate(docs)]
    out = await score.handle(batch)
    assert [(topic, key) for topic, key, _ in out.side] == [("p.review", b"news:wire:1")]
    candidate = ReviewCandidate.model_validate_json(out.side[0][2])
    assert candidate.text == "Apple unsure" and candidate.model_version == "m-7"
    assert metrics.get("review_candidates_total") == 1
    assert metrics.get("review_skipped_total", reason="duplicate") == 1
    assert metrics.get("review_skipped_total", reason="priority") == 1
    assert (await score.handle(batch)).side == []  # the same batch again adds nothing
    assert metrics.get("review_skipped_total", reason="seen") == 2
    assert (await Score(engine, Metrics(), clock=clock).handle(batch)).side == []
