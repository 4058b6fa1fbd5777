"""Replay: shadow names, offset ranges, event-time merge, the pure comparison, alert what-if,
the live model switch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition

from alerts.decision import Notification
from alerts.rules import parse_rules
from alerts.whatif import compare_fired, fired
from streams.contracts import Novelty, RiskUpdate, ScoredMention
from streams.errors import ConfigurationError
from streams.live_model import LiveModel
from streams.metrics import Metrics
from streams.processing import RawMessage
from streams.replay_report import compare, flips, fold_score, hour_of, timeline, unique_mentions
from streams.replay_source import EventTimeMerge, OffsetRange, TimeRange, parse_offset_range
from streams.settings import RiskSettings
from streams.shadow import Shadow, check_name
from streams.store.model_pointer import ModelPointer

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["a", "v2", "model-2026-11", "0" * 32, "x-"])
def test_valid_shadow_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "A", "a_b", "a.b", "a:b", "0" * 33, "a b", "é"])
def test_invalid_shadow_names(name: str) -> None:
    with pytest.raises(ConfigurationError):
        check_name(name)


def test_shadow_names_never_collide_with_live() -> None:
    s = Shadow("v2", "prod.", "tp:")
    assert s.topic_prefix == "shadow.v2.prod." and s.key_prefix == "shadow:v2:tp:"
    assert s.topics.scored == "shadow.v2.prod.scored" and s.live_topics.scored == "prod.scored"
    assert not s.keys.risk_state("AAPL").startswith("tp:")
    assert set(s.topics.all()).isdisjoint(s.live_topics.all())
    with pytest.raises(ConfigurationError):
        Shadow("Bad")


@pytest.mark.parametrize(("text", "want"), [
    ("news.raw:0:100-200", OffsetRange("news.raw", 0, 100, 200)),
    ("news.raw:3:5-", OffsetRange("news.raw", 3, 5, None)),
    ("p.social.raw:12:0-0", OffsetRange("p.social.raw", 12, 0, 0)),
    (" filings.raw:1:7-9 ", OffsetRange("filings.raw", 1, 7, 9)),
])
def test_parse_offset_range(text: str, want: OffsetRange) -> None:
    assert parse_offset_range(text) == want


@pytest.mark.parametrize("text", ["news.raw", "news.raw:0", "news.raw:0:9-3", "news.raw:a:1-2",
                                  ":0:1-2", "news.raw:0:-5", "news.raw:0:1:2"])
def test_bad_offset_range(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_offset_range(text)


def test_time_range() -> None:
    r = TimeRange(T0, T0 + timedelta(hours=1))
    assert r.holds(T0.timestamp()) and not r.holds((T0 + timedelta(hours=1)).timestamp())
    assert not r.holds(None) and TimeRange().holds(None)
    with pytest.raises(ConfigurationError):
        TimeRange(T0, T0)
    with pytest.raises(ConfigurationError):
        TimeRange(datetime(2026, 1, 1))  # noqa: DTZ001 - the naive time is the point


def _raw(topic: str, p: int, off: int) -> RawMessage:
    return RawMessage(topic, p, off, None, b"{}", "news")


def test_event_time_merge_releases_in_event_time_order() -> None:
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    merge = EventTimeMerge([a, b])
    merge.add(a, 10.0, _raw("t", 0, 0))
    merge.add(a, 30.0, _raw("t", 0, 1))
    assert merge.release() == []  # b not read yet: anything may come before 10
    merge.add(b, 20.0, _raw("t", 1, 0))
    assert [(m.partition, m.offset) for m in merge.release()] == [(0, 0), (1, 0)]
    merge.finish(b)
    assert [(m.partition, m.offset) for m in merge.release()] == [(0, 1)]
    small = EventTimeMerge([a, b], limit=1)
    small.add(a, 1.0, _raw("t", 0, 0))
    small.add(a, 2.0, _raw("t", 0, 1))
    assert [m.offset for m in small.release()] == [0]  # over the limit: the oldest goes on


def mention(doc: str, ticker: str, p_neg: float, p_pos: float, minutes: float,
            version: str = "m0", novelty: str = "fresh") -> ScoredMention:
    probs = {"negative": p_neg, "positive": p_pos, "neutral": round(1 - p_neg - p_pos, 6)}
    label = max(probs, key=lambda k: probs[k])
    t = T0 + timedelta(minutes=minutes)
    return ScoredMention.model_validate({
        "doc_id": doc, "ticker": ticker, "kind": "news", "source": "wire",
        "published_at": t, "excerpt": f"text of {doc}", "sentiment": label,
        "probabilities": probs, "confidence": max(probs.values()), "sentiment_source": "entity",
        "document_sentiment": label, "document_probabilities": probs,
        "document_confidence": max(probs.values()), "relevance": 1.0,
        "relevance_kind": "subject", "link_confidence": 1.0, "model_version": version,
        "scored_at": t, "novelty": Novelty(kind=novelty)})  # type: ignore[arg-type]


def update(ticker: str, score: float, docs: list[str], minutes: float) -> RiskUpdate:
    return RiskUpdate(ticker=ticker, as_of=T0 + timedelta(minutes=minutes), score=score,
                      components={}, sentiment={"15m": -score / 100}, volume={}, buzz_z=0.0,
                      negative_mentions={}, mentions_total=len(docs), model_version="m",
                      trigger_doc_id=docs[-1], trigger_doc_ids=docs)


def test_compare_per_ticker_deltas_flips_and_restriction() -> None:
    live = [mention("d1", "AAPL", 0.7, 0.1, 0), mention("d2", "AAPL", 0.1, 0.8, 30),
            mention("d3", "MSFT", 0.2, 0.2, 90), mention("old", "AAPL", 0.9, 0.0, -600),
            mention("d1", "AAPL", 0.7, 0.1, 0)]  # a redelivered record counts once
    shadow = [mention("d1", "AAPL", 0.1, 0.6, 0, "m1"), mention("d2", "AAPL", 0.2, 0.7, 30, "m1"),
              mention("d3", "MSFT", 0.2, 0.2, 90, "m1", "near"),
              mention("d3", "NVDA", 0.8, 0.1, 90, "m1")]
    cfg = RiskSettings()
    out = compare(live, shadow, [update("AAPL", 40, ["d1"], 1), update("AAPL", 10, ["old"], 2)],
                  [update("AAPL", 5, ["d1", "d2"], 31)], cfg)
    rows = {r["ticker"]: r for r in out["tickers"]}
    assert sorted(rows) == ["AAPL", "MSFT", "NVDA"] and out["documents"] == 3
    aapl = rows["AAPL"]
    assert aapl["mentions_live"] == 2 and aapl["mentions_shadow"] == 2  # "old" is not replayed
    assert aapl["mean_sentiment_live"] == pytest.approx(((0.1 - 0.7) + (0.8 - 0.1)) / 2)
    assert aapl["mean_sentiment_shadow"] == pytest.approx(((0.6 - 0.1) + (0.7 - 0.2)) / 2)
    assert aapl["mean_sentiment_delta"] == pytest.approx(0.5 - 0.05)
    at = T0 + timedelta(minutes=90)
    assert out["reference_time"] == at.isoformat()
    assert aapl["final_score_live"] == fold_score(live[:2], at, cfg)
    assert aapl["final_score_delta"] == pytest.approx(
        fold_score(shadow[:2], at, cfg) - fold_score(live[:2], at, cfg))
    assert aapl["timeline"] == [{"hour": hour_of(T0), "live": 40, "shadow": 5}]
    assert rows["NVDA"]["mentions_live"] == 0 and rows["NVDA"]["mean_sentiment_delta"] is None
    assert [(f["doc_id"], f["live"], f["shadow"]) for f in out["flipped"]] == [
        ("d1", "negative", "positive")]
    assert out["linked_only_shadow"] == ["d3 NVDA"] and out["linked_only_live"] == []
    assert out["novelty_changed"] == 1
    assert out["live_model_versions"] == ["m0"] and out["shadow_model_versions"] == ["m1"]


@pytest.mark.parametrize(("a", "b", "flipped"), [
    ((0.7, 0.1), (0.6, 0.1), False),  # negative both
    ((0.7, 0.1), (0.1, 0.7), True),
    ((0.2, 0.2), (0.2, 0.5), True),  # neutral -> positive
])
def test_flips(a: tuple[float, float], b: tuple[float, float], flipped: bool) -> None:
    live = unique_mentions([mention("d", "X", *a, 0)])
    shadow = unique_mentions([mention("d", "X", *b, 0)])
    assert bool(flips(live, shadow)) is flipped


def test_timeline_takes_the_last_update_of_each_hour_of_event_time() -> None:
    times = {"a": T0, "b": T0 + timedelta(minutes=59), "c": T0 + timedelta(minutes=61)}
    got = timeline([update("X", 1, ["a"], 0), update("X", 2, ["b"], 0),
                    update("X", 3, ["c", "zz"], 0), update("X", 9, ["zz"], 0),
                    update("DRIFT:NEWS", 5, ["a"], 0)], times)
    assert got == {"X": {hour_of(T0): 2, hour_of(T0 + timedelta(hours=1)): 3}}


RULES = """
version: 1
rules:
  - name: high-risk
    severity: warning
    scope: {all: true}
    condition: {metric: score, enter: 50, exit: 30}
"""


def test_alert_what_if_compares_what_fired() -> None:
    rules = parse_rules(RULES)
    live = fired(rules, [update("AAPL", 60, ["a"], 0), update("MSFT", 70, ["b"], 1),
                         update("NVDA", 10, ["c"], 2)])
    shadow = fired(rules, [update("AAPL", 55, ["a"], 0), update("MSFT", 20, ["b"], 1),
                           update("NVDA", 80, ["c"], 2)])
    assert {n.ticker for n in live} == {"AAPL", "MSFT"}
    assert [(r["ticker"], r["fired"]) for r in compare_fired(live, shadow)] == [
        ("AAPL", "both"), ("MSFT", "only_live"), ("NVDA", "only_shadow")]
    muted = Notification("e", "f", "high-risk", "high-risk", "warning", "TSLA", "firing", 1.0,
                         T0, T0, muted_by="silence:1")
    assert compare_fired([muted], []) == []


class FakeEngine:
    """A stand-in engine (the switch logic only; the real switch is tested on a live worker)."""

    def __init__(self, version: str, fail: bool = False) -> None:
        self.model_version, self.closed, self.fail = version, False, fail

    @property
    def running(self) -> bool:
        return not self.closed

    async def predict(self, texts, hints=None):  # type: ignore[no-untyped-def]
        return [self.model_version for _ in texts]

    def close(self) -> None:
        self.closed = True


async def test_live_model_follows_the_pointer_at_most_every_check_s() -> None:
    now = [0.0]
    pointer: list[ModelPointer | None] = [None]
    loads: list[str] = []

    async def read() -> ModelPointer | None:
        return pointer[0]

    def load(p: ModelPointer) -> FakeEngine:
        loads.append(p.path)
        if p.path == "/broken":
            raise RuntimeError("no such model")
        return FakeEngine(p.version)

    first = FakeEngine("v0")
    metrics = Metrics()
    live = LiveModel(first, "/m0", read, load, 5.0, metrics, clock=lambda: now[0])
    assert await live.predict(["x"]) == ["v0"]
    pointer[0] = ModelPointer("/m1", "v1", "t", "me")
    now[0] = 4.9
    assert await live.predict(["x"]) == ["v0"]  # not checked again yet
    now[0] = 5.1
    assert await live.predict(["x"]) == ["v1"] and live.model_version == "v1" and first.closed
    assert metrics.get("model_switches_total", outcome="switched") == 1
    pointer[0] = ModelPointer("/broken", "v2", "t", "me")
    now[0] = 11
    assert await live.predict(["x"]) == ["v1"]  # a model that does not load: the old serves
    assert metrics.get("model_switches_total", outcome="failed") == 1
    pointer[0] = ModelPointer("/m1", "v1", "t", "me")
    now[0] = 17
    assert await live.predict(["x"]) == ["v1"] and loads == ["/m1", "/broken"]


async def test_live_model_tells_on_switch_after_the_swap_and_survives_its_failure() -> None:
    pointer = [ModelPointer("/m1", "v1", "t", "me")]
    told: list[tuple[str, str]] = []

    async def read() -> ModelPointer | None:
        return pointer[0]

    def on_switch(engine: FakeEngine, path: str) -> None:
        told.append((engine.model_version, path))
        if path == "/m2":
            raise RuntimeError("no profile")

    live = LiveModel(FakeEngine("v0"), "/m0", read, lambda p: FakeEngine(p.version), 0.0,
                     Metrics(), on_switch=on_switch)  # type: ignore[arg-type]
    assert await live.predict(["x"]) == ["v1"] and told == [("v1", "/m1")]
    pointer[0] = ModelPointer("/m2", "v2", "t", "me")
    assert await live.predict(["x"]) == ["v2"] and told[-1] == ("v2", "/m2")
