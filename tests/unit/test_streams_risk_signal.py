"""The demo's risk signal, model aside: the demo feed (2 minutes at 20 messages/s, the
`tickerpulse demo` defaults) through the real ingest (novelty), score and risk code, with an
engine that knows each message's truth (each ticker's own sentiment), the cross-section of
peers as the Redis store gives it, and the example alert rules."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.rules import RuleSet, load_rules
from models.records import SENTIMENT_LABELS, Prediction, TargetSentiment, TickerLink
from streams.contracts import ScoredMention
from streams.feed import PAIRS, Feed, FeedMessage, Truth
from streams.metrics import Metrics
from streams.novelty import MemoryNoveltyIndex
from streams.processing import Ingest, RawMessage, Score
from streams.risk import HORIZONS, VOL, Peers, RiskAssessment, RiskState, apply_mention, assess
from streams.settings import RiskSettings

T0 = datetime(2026, 11, 28, 14, tzinfo=UTC)
RATE, DURATION_S = 20.0, 120.0
CFG = RiskSettings()
RULES = Path(__file__).resolve().parents[2] / "alerts" / "examples" / "rules.yaml"
CALM = ("AAPL", "MSFT", "AMZN", "GOOGL")


def _target(label: str, source: str) -> TargetSentiment:
    probs = {k: (0.8 if k == label else 0.1) for k in SENTIMENT_LABELS}
    return TargetSentiment(label, probs, 0.8, source)


class TruthEngine:
    """What a perfect model would say: each ticker's sentiment from the feed's truth."""

    model_version = "truth"

    def __init__(self, truths: dict[str, Truth]) -> None:
        self.truths = truths

    async def predict(self, texts: Sequence[str],
                      hints: Sequence[Sequence[str]] | None = None) -> list[Prediction]:
        return [self._one(self.truths[t]) for t in texts]

    def _one(self, truth: Truth) -> Prediction:
        named = ((truth.ticker, truth.sentiment), *truth.others)
        document = _target(truth.sentiment if not truth.others else "neutral", "document")
        links = tuple(TickerLink(ticker=t, confidence=0.95, relevance=1.0 if i == 0 else 0.8,
                                 relevance_kind="subject" if i == 0 else "mention",
                                 method="name", text=t, sentiment=_target(s, "entity"))
                      for i, (t, s) in enumerate(named))
        return Prediction(document.label, document.probabilities, document.confidence,
                          tickers=links, model_version=self.model_version)


async def _scored(messages: list[FeedMessage], end: datetime) -> list[ScoredMention]:
    batch = [RawMessage(f"{m.topic_kind}.raw", 0, i, m.key, m.value, m.topic_kind)
             for i, m in enumerate(messages)]
    docs, dead = await Ingest(MemoryNoveltyIndex(), 20_000, Metrics(),
                              clock=end.timestamp).process(batch)
    assert not dead
    truths = {d.text: m.truth for d, m in zip(docs, messages, strict=True)}
    score = Score(TruthEngine(truths), Metrics(), clock=end.timestamp)
    return await score.process(docs)


def _metric(rule_metric: str, horizon: str | None, a: RiskAssessment) -> float | None:
    if rule_metric == "score":
        return a.score
    if rule_metric == "buzz_z":
        return a.buzz_z
    if rule_metric == "negative_mentions":
        return a.negative_mentions[horizon or ""]
    return a.sentiment[horizon or ""]


def _entered(rules: RuleSet, ticker: str, history: list[tuple[float, RiskAssessment]]) -> list[str]:
    """Rules whose condition entered at any update of the ticker (their `for:` ignored, so
    this is stricter than the alerts worker)."""
    fired = []
    for rule in rules.rules:
        if not rules.applies(rule, ticker):
            continue
        c = rule.condition
        for at, a in history:
            value = _metric(c.metric, c.horizon, a)
            if c.metric == "sentiment_change" and c.window is not None:
                past = [x for t, x in history if t <= at - c.window.total_seconds()]
                base = (past[-1] if past else history[0][1]).sentiment[c.horizon or ""]
                value = a.sentiment[c.horizon or ""] - base
            if value is not None and (value > c.enter if c.direction == "above"
                                      else value < c.enter):
                fired.append(f"{rule.name} at {at:.0f}s: {value:.2f}")
                break
    return fired


def _peers(states: dict[str, RiskState], ticker: str, at: float) -> Peers:
    volumes = {t: s.sums["15m"][VOL] * 2.718281828459045 ** (-(at - s.as_of) / HORIZONS["15m"])
               for t, s in states.items()}
    return Peers.of(volumes, ticker, at)


@pytest.fixture(scope="module")
def demo_run() -> tuple[dict[str, RiskAssessment], dict[str, list[tuple[float, RiskAssessment]]]]:
    import asyncio

    count = int(RATE * DURATION_S)
    ticks = iter(range(count))
    feed = Feed(run_id="acceptance")
    messages = list(feed.messages(count, clock=lambda: T0 + timedelta(
        seconds=next(ticks) / RATE)))
    end = T0 + timedelta(seconds=DURATION_S)
    mentions = asyncio.run(_scored(messages, end))
    states: dict[str, RiskState] = {}
    history: dict[str, list[tuple[float, RiskAssessment]]] = {}
    for m in sorted(mentions, key=lambda m: m.published_at):
        now = m.published_at
        state = apply_mention(states.get(m.ticker), m, now, CFG)
        states[m.ticker] = state
        at = now.timestamp()
        history.setdefault(m.ticker, []).append(
            (at - T0.timestamp(), assess(state, now, CFG, _peers(states, m.ticker, at))))
    final = {t: assess(s, end, CFG, _peers(states, t, end.timestamp()))
             for t, s in states.items()}
    return final, history


def test_no_example_rule_enters_for_a_calm_ticker(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, history = demo_run
    rules = load_rules(RULES)
    fired = {t: _entered(rules, t, history[t]) for t in CALM}
    assert not any(fired.values()), fired


def test_the_shock_is_highest_and_the_rumour_at_least_twice_the_calm_median(demo_run) -> None:  # type: ignore[no-untyped-def]
    final, _ = demo_run
    scores = {t: a.score for t, a in final.items()}
    calm_median = statistics.median(scores[t] for t in CALM)
    assert max(scores, key=scores.__getitem__) == "NVDA", scores
    assert scores["TSLA"] >= 2 * calm_median, scores
    # the rumour's reposts are no new evidence: its risk comes from the attention they get
    assert final["TSLA"].components["attention"] > final["TSLA"].components["negativity"]
    assert all(final[t].components["attention"] == 0 for t in CALM), final


def test_companies_with_opposite_fortunes_in_one_headline_move_apart(demo_run) -> None:  # type: ignore[no-untyped-def]
    final, _ = demo_run
    for up, down, *_ in PAIRS:
        assert final[up].sentiment["1h"] > 0 > final[down].sentiment["1h"], (up, down)
        assert final[down].score > final[up].score + 10, (final[up].score, final[down].score)


def test_the_buzz_of_a_young_ticker_is_not_a_spike_in_its_first_minutes(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, history = demo_run
    for ticker in CALM:
        assert max(a.buzz_z for _, a in history[ticker]) < 3.0, ticker
        first_minute = [a.buzz_z for at, a in history[ticker] if at < CFG.buzz_min_history_s]
        assert first_minute and set(first_minute) == {0.0}
    assert max(a.buzz_z for _, a in history["NVDA"]) > 3.0  # the shock is a spike
