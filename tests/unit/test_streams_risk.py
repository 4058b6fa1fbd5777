"""Risk scoring: pure functions with an injected clock, table tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.contracts import Engagement, Novelty, ScoredMention
from streams.risk import Peers, RiskState, apply_mention, assess, evidence_weight, source_weight
from streams.settings import RiskSettings
from support.records import mention

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CFG = RiskSettings()
def run(ms: list[ScoredMention], now: datetime):  # type: ignore[no-untyped-def]
    state = None
    for m in ms:
        state = apply_mention(state, m, now, CFG)
    assert state is not None
    return state


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, 1.0),
        ({"kind": "social", "followers": 0}, 0.5 * 0.05 * 1.0),
        ({"kind": "social", "followers": 999_999}, 0.5 * 1.0 * 1.0),
        ({"kind": "social", "followers": 999_999, "verified": True}, 0.5 * 1.25),
        ({"kind": "social", "followers": 999_999,
          "engagement": Engagement(likes=9999, reposts=0, replies=0)}, 0.5 * 2.0),
    ],
)
def test_source_weight_table(kw: dict[str, object], expected: float) -> None:
    assert source_weight(mention(1, **kw), CFG) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("novelty", "factor"),
    [(Novelty(), 1.0), (Novelty(kind="near", similarity=0.8, duplicate_of="x"), 0.25),
     (Novelty(kind="exact", similarity=1.0, duplicate_of="x"), 0.0)],
)
def test_novelty_discount_table(novelty: Novelty, factor: float) -> None:
    base = evidence_weight(mention(1), CFG)
    assert evidence_weight(mention(1, novelty=novelty), CFG) == pytest.approx(base * factor)


def test_repeats_add_volume_but_no_fresh_evidence() -> None:
    one = run([mention(1)], T0)
    dup = Novelty(kind="exact", similarity=1.0, duplicate_of="news:w:1")
    two = run([mention(1), mention(2, novelty=dup)], T0)
    a1, a2 = assess(one, T0, CFG), assess(two, T0, CFG)
    assert a2.volume["1h"] == pytest.approx(2 * a1.volume["1h"])
    assert a2.sentiment == a1.sentiment
    assert a2.negative_mentions == a1.negative_mentions


def test_state_is_independent_of_arrival_order() -> None:
    ms = [mention(i, s, T0 + timedelta(minutes=m))
          for i, (s, m) in enumerate([("negative", 5), ("positive", 1), ("neutral", 9),
                                      ("negative", 3)])]
    now = T0 + timedelta(minutes=10)
    forward, backward = assess(run(ms, now), now, CFG), assess(run(ms[::-1], now), now, CFG)
    assert forward.score == pytest.approx(backward.score)
    assert forward.sentiment == pytest.approx(backward.sentiment)
    assert [d.doc_id for d in forward.top] == [d.doc_id for d in backward.top]


@pytest.mark.parametrize(
    ("sentiments", "low", "high"),
    [
        (["positive"] * 10, 0.0, 5.0),
        (["neutral"] * 10, 0.0, 15.0),
        (["negative"] * 10, 30.0, 100.0),
    ],
)
def test_score_follows_sentiment(sentiments: list[str], low: float, high: float) -> None:
    state = run([mention(i, s) for i, s in enumerate(sentiments)], T0)
    assert low <= assess(state, T0, CFG).score <= high


def test_a_shock_after_a_calm_day_outscores_a_calm_ticker_and_decays() -> None:
    calm = [mention(i, "positive" if i % 3 else "neutral", T0 + timedelta(minutes=10 * i))
            for i in range(144)]
    now = T0 + timedelta(hours=24)
    shock = calm + [mention(1000 + i, "negative", now - timedelta(seconds=20 * i))
                    for i in range(30)]
    calm_risk = assess(run(calm, now), now, CFG)
    shock_risk = assess(run(shock, now), now, CFG)
    assert shock_risk.score > calm_risk.score + 40
    assert shock_risk.components["shock"] > 0.3 and shock_risk.buzz_z > 3
    later = assess(run(shock, now), now + timedelta(hours=6), CFG)
    assert later.score < shock_risk.score / 2


def test_steady_volume_is_not_buzz() -> None:
    steady = [mention(i, "neutral", T0 + timedelta(minutes=5 * i)) for i in range(288)]
    now = T0 + timedelta(hours=24)
    assert abs(assess(run(steady, now), now, CFG).buzz_z) < 1.5


def test_future_timestamps_are_clamped_to_now() -> None:
    state = run([mention(1, at=T0 + timedelta(days=3))], T0)
    assert state.as_of == T0.timestamp()


def test_top_documents_keep_the_strongest() -> None:
    ms = [mention(i, "negative" if i < 3 else "neutral") for i in range(10)]
    top = assess(run(ms, T0), T0, CFG).top
    assert len(top) == CFG.top_documents
    assert {d.doc_id for d in top[:3]} == {"news:w:0", "news:w:1", "news:w:2"}


def test_counted_ids_must_outlive_the_window_they_guard() -> None:
    import pydantic

    from streams.settings import RiskSettings

    RiskSettings(seen_window_s=86_400, max_future_s=600, state_ttl_s=87_600)
    with pytest.raises(pydantic.ValidationError, match="state_ttl_s must be at least"):
        RiskSettings(seen_window_s=86_400, max_future_s=600, state_ttl_s=87_599)


# ---- buzz baseline and attention (issue: every ticker a spike; a viral rumour barely moved) --

def _every(seconds: int, n: int, start: datetime = T0, **kw: object) -> list[ScoredMention]:
    return [mention(i, "neutral", start + timedelta(seconds=seconds * i), doc_id=f"n:{i}", **kw)
            for i in range(n)]


def test_peers_typical_volume_is_volume_weighted_and_leaves_the_ticker_out() -> None:
    peers = Peers.of({"AAPL": 500.0, "MSFT": 100.0, "NVDA": 100.0, "TINY": 1.0, "DEAD": 0.0},
                     "AAPL", 0.0)
    assert peers.count == 3
    assert peers.typical == pytest.approx((100**2 + 100**2 + 1) / 201)  # the tail barely counts
    assert Peers.of({"AAPL": 5.0}, "AAPL", 0.0) == Peers(0.0, 0, 0.0)


def test_a_young_ticker_with_ordinary_traffic_is_no_spike_and_no_z_before_min_history() -> None:
    ms = _every(5, 24)  # 2 minutes, one mention every 5 s
    now = T0 + timedelta(seconds=115)
    peers = Peers(typical=24.0, count=5, at=now.timestamp())  # peers as busy as it is
    assert abs(assess(run(ms, now), now, CFG, peers).buzz_z) < 1.5
    early = T0 + timedelta(seconds=CFG.buzz_min_history_s - 5)
    young = run([m for m in ms if m.published_at <= early], early)
    assert assess(young, early, CFG, Peers(0.1, 5, early.timestamp())).buzz_z == 0.0


def test_a_young_ticker_far_busier_than_its_peers_is_a_spike() -> None:
    ms = _every(1, 120)
    now = T0 + timedelta(seconds=119)
    a = assess(run(ms, now), now, CFG, Peers(typical=20.0, count=5, at=now.timestamp()))
    assert a.buzz_z > 3 and a.components["buzz_own_baseline"] < 0.1
    # with too few peers only its own (short) history counts: no spike
    lone = assess(run(ms, now), now, CFG, Peers(typical=20.0, count=2, at=now.timestamp()))
    assert lone.buzz_z < 1.5 and lone.components["buzz_own_baseline"] == 1.0


def test_reposts_of_a_negative_rumour_raise_risk_though_they_are_no_evidence() -> None:
    calm = _every(5, 24)
    now = T0 + timedelta(seconds=120)
    rumour = mention(1000, "negative", T0 + timedelta(seconds=60), kind="social",
                     followers=250_000, verified=True)
    dup = Novelty(kind="exact", similarity=1.0, duplicate_of=rumour.doc_id)
    reposts = [mention(2000 + i, "negative", T0 + timedelta(seconds=60 + i * 0.5), kind="social",
                       followers=300, novelty=dup) for i in range(100)]
    peers = Peers(typical=24.0, count=5, at=now.timestamp())
    alone = assess(run(calm + [rumour], now), now, CFG, peers)
    viral = assess(run(calm + [rumour, *reposts], now), now, CFG, peers)
    assert viral.sentiment == alone.sentiment  # no new evidence
    assert viral.components["attention"] > 0.3 and alone.components["attention"] == 0
    assert viral.score > 2 * alone.score + 10


def test_a_state_stored_before_the_attention_slot_loads() -> None:
    state = run([mention(1)], T0)
    data = state.to_json()
    data["sums"] = {h: v[:5] for h, v in data["sums"].items()}
    old = RiskState.from_json(data)
    assert all(len(v) == 6 and v[-1] == 0.0 for v in old.sums.values())
    assert assess(old, T0, CFG).sentiment == assess(state, T0, CFG).sentiment
