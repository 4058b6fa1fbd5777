"""Feed drift (pure): PSI, the rolling window, the monitor's readings and records, and the
score stage feeding it."""

from __future__ import annotations

import asyncio
import math

import pytest

from models.profile import CONFIDENCE_BINS, confidence_bin, summarise
from models.records import Prediction
from streams.contracts import Document, RiskUpdate
from streams.drift import (
    DriftGauges,
    DriftMonitor,
    DriftWindow,
    Observation,
    Stats,
    compare,
    drift_ticker,
    is_drift_ticker,
    psi,
    references_by_kind,
)
from streams.metrics import Metrics
from streams.processing import RawMessage, Score
from support.engine import StandInEngine


def _obs(label: str, confidence: float = 0.97, linked: bool = True, unk: int = 0,
         tokens: int = 10) -> Observation:
    return Observation(label, confidence, linked, unk, tokens)


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    ref = [0.2, 0.5, 0.3]
    assert psi(ref, ref) == 0.0
    small = psi(ref, [0.25, 0.45, 0.3])
    large = psi(ref, [0.7, 0.2, 0.1])
    assert 0 < small < 0.1 < 0.25 < large
    # the textbook formula on one pair of bins
    assert psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(
        0.1 * math.log(0.6 / 0.5) + (-0.1) * math.log(0.4 / 0.5))


def test_psi_of_an_empty_bin_is_finite_and_bin_counts_must_match() -> None:
    assert math.isfinite(psi([0.0, 1.0], [1.0, 0.0]))
    with pytest.raises(ValueError, match="bins"):
        psi([0.5, 0.5], [1.0])


def test_confidence_bins_cover_one_third_to_one() -> None:
    assert confidence_bin(1 / 3) == 0
    assert confidence_bin(0.2) == 0
    assert confidence_bin(1.0) == CONFIDENCE_BINS - 1
    assert confidence_bin(0.34 + (2 / 3) / 2) == CONFIDENCE_BINS // 2


def test_window_keeps_the_last_n_and_its_counts() -> None:
    window = DriftWindow(size=4)
    for label in ("negative", "negative", "neutral", "positive", "positive", "positive"):
        window.add(_obs(label, linked=label != "neutral", unk=1 if label == "neutral" else 0))
    stats = window.stats()
    assert stats.n == 4
    assert stats.label_shares == (0.0, 0.25, 0.75)
    assert stats.no_ticker_share == 0.25
    assert stats.unknown_token_share == pytest.approx(1 / 40)
    assert sum(stats.confidence_hist) == pytest.approx(1.0)


def test_live_statistics_match_the_reference_profile_definition() -> None:
    """streams.drift (live) and models.profile (reference) compute the same four numbers."""
    preds = [Prediction("negative", {}, 0.4), Prediction("positive", {}, 0.95),
             Prediction("neutral", {}, 0.7)]
    counts = [(1, 8), (0, 5), (2, 7)]
    reference = Stats.from_dict(summarise(preds, counts))
    live = Stats.of(Observation(p.sentiment, p.confidence, bool(p.tickers), u, t)
                    for p, (u, t) in zip(preds, counts, strict=True))
    assert live == reference


def _reference(labels: dict[str, float]) -> dict:
    hist = [0.0] * CONFIDENCE_BINS
    hist[-1] = 1.0
    return {"n": 100, "label_shares": labels, "confidence_hist": hist, "no_ticker_share": 0.1,
            "unknown_token_share": 0.0}


PROFILE = {"sources": {"fpb": _reference({"negative": 0.2, "neutral": 0.5, "positive": 0.3}),
                       "tfns": _reference({"negative": 0.3, "neutral": 0.4, "positive": 0.3})}}


def test_kinds_map_to_profile_sources() -> None:
    refs = references_by_kind(PROFILE)
    assert set(refs) == {"news", "social", "filing"}
    assert refs["news"] == refs["filing"] != refs["social"]
    assert references_by_kind(None) == {}


def test_monitor_publishes_a_kind_once_per_interval_after_min_texts() -> None:
    monitor = DriftMonitor(references_by_kind(PROFILE), window=50, min_texts=10, interval_s=60,
                           topic="tp.risk")
    monitor.observe("news", [_obs("negative", 0.5)] * 9)
    assert monitor.due(1000.0, "m1") == []  # 9 < min_texts
    monitor.observe("news", [_obs("negative", 0.5)])
    (update,) = monitor.due(1000.0, "m1")
    assert update.ticker == drift_ticker("news") == "DRIFT:NEWS" and is_drift_ticker("drift:news")
    assert update.components["psi"] > 1.0  # all negative, low confidence: far from the profile
    assert update.components["texts"] == 10 and update.model_version == "m1"
    RiskUpdate.model_validate_json(update.model_dump_json())  # a valid risk-topic record
    assert monitor.due(1059.0, "m1") == []
    published = asyncio.run(monitor.publish(1060.0, "m1"))
    assert [(t, k) for t, k, _ in published] == [("tp.risk", b"DRIFT:NEWS")]


def test_a_feed_like_the_reference_reads_low() -> None:
    ref = references_by_kind(PROFILE)["news"]
    like = [_obs("negative")] * 20 + [_obs("neutral")] * 50 + [_obs("positive")] * 30
    reading = compare("news", Stats.of(like), ref)
    assert reading.psi < 0.01
    shifted = compare("news", Stats.of([_obs("neutral", 0.4)] * 100), ref)
    assert shifted.psi_labels > 0.25 and shifted.psi_confidence > 0.25


def test_kinds_without_a_reference_are_not_watched() -> None:
    monitor = DriftMonitor({"news": Stats.from_dict(PROFILE["sources"]["fpb"])})
    monitor.observe("social", [_obs("neutral")] * 5)
    assert monitor.readings() == []


def test_gauges_expose_each_kind() -> None:
    monitor = DriftMonitor(references_by_kind(PROFILE))
    monitor.observe("social", [_obs("neutral", linked=False, unk=5, tokens=10)] * 4)
    families = {f.name: f for f in DriftGauges(monitor).collect()}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    assert samples[("tickerpulse_drift_no_ticker_share", (("kind", "social"),))] == 1.0
    assert samples[("tickerpulse_drift_unknown_token_share", (("kind", "social"),))] == 0.5
    assert ("tickerpulse_drift_psi", (("feature", "labels"), ("kind", "social"))) in samples


def test_score_stage_feeds_the_monitor_and_sends_readings_to_the_risk_topic() -> None:
    monitor = DriftMonitor(references_by_kind(PROFILE), min_texts=3, interval_s=60,
                           topic="tp.risk", count_unknown=lambda texts: [(1, 4)] * len(texts))
    score = Score(StandInEngine(), Metrics(), clock=lambda: 1_767_600_000.0, drift=monitor)
    texts = ["Apple shares fall after weak quarter", "Weather is nice today",
             "$MSFT crashes on probe"]
    batch = []
    for i, text in enumerate(texts):
        doc = Document.model_validate({
            "doc_id": f"news:t:{i}", "kind": "news", "source": "t", "text": text, "excerpt": text,
            "published_at": "2026-01-05T08:00:00Z", "ingested_at": "2026-01-05T08:00:00Z"})
        batch.append(RawMessage("tp.docs", 0, i, None, doc.model_dump_json().encode()))
    out = asyncio.run(score.handle(batch))
    assert out.records  # scoring goes on as before
    ((topic, key, value),) = out.side
    assert (topic, key) == ("tp.risk", b"DRIFT:NEWS")
    update = RiskUpdate.model_validate_json(value)
    assert update.components["no_ticker_share"] == pytest.approx(1 / 3)
    assert update.components["unknown_token_share"] == 0.25


def test_drift_api_lists_the_latest_reading_per_kind() -> None:
    import httpx

    from tickerpulse.api.app import create_app
    from tickerpulse.api.drift import drift_router

    monitor = DriftMonitor(references_by_kind(PROFILE), min_texts=1)
    monitor.observe("social", [_obs("neutral", 0.5, linked=False)] * 3)
    updates = monitor.due(1_767_600_000.0, "m1")

    async def load() -> list[RiskUpdate]:
        return updates

    class NoRisk:
        async def latest_all(self) -> list[RiskUpdate]:
            return []

        async def latest(self, ticker: str) -> None:
            return None

    app = create_app(NoRisk(), extra_routers=[drift_router(load, 1.0)])

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/api/v1/drift")

    response = asyncio.run(get())
    assert response.status_code == 200
    (row,) = response.json()["kinds"]
    assert row["kind"] == "social" and row["texts"] == 3 and row["no_ticker_share"] == 1.0
    assert row["psi"] == max(row["psi_labels"], row["psi_confidence"]) > 0.25


def test_a_document_scored_twice_counts_once() -> None:
    monitor = DriftMonitor(references_by_kind(PROFILE), window=10)
    preds = [Prediction("negative", {}, 0.9), Prediction("neutral", {}, 0.9)]
    for _ in range(3):  # a split batch, then a replay after a restart
        monitor.observe_batch(["news", "news"], ["a", "b"], preds, [True, False], ["d1", "d2"])
    assert monitor.windows["news"].stats().n == 2
    monitor.observe_batch(["news"], ["c"], preds[:1], [True], ["d3"])
    assert monitor.windows["news"].stats().n == 3


def test_rebase_measures_against_the_new_reference_from_empty_windows() -> None:
    monitor = DriftMonitor(references_by_kind(PROFILE), min_texts=1)
    monitor.observe("news", [_obs("negative", 0.5)] * 5)
    assert monitor.due(1000.0, "m1")
    only_social = {"social": Stats.from_dict(PROFILE["sources"]["tfns"])}
    monitor.rebase(only_social, lambda texts: [(0, 1)] * len(texts))
    assert monitor.readings() == []  # the old model's window is gone
    monitor.observe("news", [_obs("neutral")] * 3)  # no longer watched
    monitor.observe("social", [_obs("neutral")] * 3)
    assert [r.kind for r in monitor.readings()] == ["social"]
    assert [u.ticker for u in monitor.due(1001.0, "m2")] == ["DRIFT:SOCIAL"]  # not throttled


def test_a_monitor_without_reference_observes_nothing() -> None:
    counted: list[int] = []

    def count(texts: list[str]) -> list[tuple[int, int]]:
        counted.append(len(texts))
        return [(0, 1)] * len(texts)

    monitor = DriftMonitor({}, count_unknown=count)  # type: ignore[arg-type]
    pred = Prediction("neutral", {"negative": 0.1, "neutral": 0.8, "positive": 0.1}, 0.8)
    monitor.observe_batch(["news"], ["text"], [pred], [True], ["d1"])
    assert counted == [] and monitor.readings() == []
