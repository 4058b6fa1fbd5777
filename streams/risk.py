"""Per-ticker risk: pure functions of (state, mention, now). No I/O, the clock is an argument.

Each scored mention adds to exponentially decayed sums per horizon ``h`` in
``15m`` (tau = 900 s), ``1h`` (3600 s), ``1d`` (86400 s), all referenced to the newest event
time seen, so the state does not depend on the order mentions arrive in (a replay or a
rebalance cannot change the result):

- evidence weight ``w = confidence x relevance x link_confidence x source x novelty`` where
  ``source`` is the weight of the mention's input source (:mod:`streams.sources`):
  ``risk.news_weight`` for news, ``risk.filing_weight`` for filings and press releases, and
  for social posts ``risk.social_weight x reach x engagement`` (reach = log10(1+followers)/6
  in 0.05..1, x1.25 when verified; engagement = 1 + min(1, log10(1 + likes + 2 reposts +
  replies)/4)), and
  ``novelty`` is 1 for fresh documents, ``risk.near_duplicate_weight`` for near duplicates and
  ``risk.exact_duplicate_weight`` for exact ones (repeats are not fresh evidence);
- sentiment_h = sum(w (p_pos - p_neg)) / sum(w) in -1..1; negative share_h = sum(w p_neg)/sum(w);
- volume_h = decayed count of every mention (attention: reposts count here);
- negative_mentions_h = decayed, novelty-weighted count of mentions classed negative;
- buzz_z: Poisson z-score of volume_15m against the rate implied by the ticker's own
  volume_1d over the span it has been observed (at least one hour, at most a day).

The one risk score, 0-100 (higher = more downside risk)::

    negativity = max(0, -(0.5 s_15m + 0.3 s_1h + 0.2 s_1d)) x evidence_1h
    shock      = clip((s_1d - s_15m) / 2, 0, 1) x evidence_15m
    buzz       = clip(buzz_z / risk.buzz_z_saturation, 0, 1)
    score      = 100 x clip(0.45 negativity + 0.25 shock + 0.30 buzz x negative_share_1h, 0, 1)

with ``evidence_h = w_h / (w_h + risk.evidence_half_weight)`` shrinking thin evidence to 0.
All these names are reported in ``RiskUpdate.components``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from streams.contracts import ContributingDocument, ScoredMention
from streams.settings import RiskSettings
from streams.sources import source_of

HORIZONS: dict[str, float] = {"15m": 900.0, "1h": 3600.0, "1d": 86400.0}
W, WS, WNEG, VOL, NEG = range(5)  # slots of a horizon's sums
MIN_SPAN_S = 3600.0
SCORE_WEIGHTS = {"negativity": 0.45, "shock": 0.25, "buzz_negative": 0.30}


@dataclass(frozen=True)
class TopDoc:
    doc_id: str
    source: str
    kind: str
    excerpt: str
    sentiment: str
    contribution: float  # w x |s| decayed (1h) to the state's as_of
    url: str | None = None


@dataclass(frozen=True)
class RiskState:
    as_of: float  # epoch seconds the sums are referenced to
    first_seen: float
    sums: dict[str, tuple[float, ...]]
    mentions_total: int = 0
    top: tuple[TopDoc, ...] = ()
    model_version: str = ""
    last_doc_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "first_seen": self.first_seen,
            "sums": {h: list(v) for h, v in self.sums.items()},
            "mentions_total": self.mentions_total,
            "top": [t.__dict__ for t in self.top],
            "model_version": self.model_version,
            "last_doc_id": self.last_doc_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RiskState:
        return cls(
            as_of=data["as_of"],
            first_seen=data["first_seen"],
            sums={h: tuple(v) for h, v in data["sums"].items()},
            mentions_total=data["mentions_total"],
            top=tuple(TopDoc(**t) for t in data["top"]),
            model_version=data.get("model_version", ""),
            last_doc_id=data.get("last_doc_id", ""),
        )


@dataclass(frozen=True)
class RiskAssessment:
    score: float
    components: dict[str, float]
    sentiment: dict[str, float]
    volume: dict[str, float]
    negative_mentions: dict[str, float]
    buzz_z: float
    top: tuple[TopDoc, ...] = field(default=())


def source_weight(m: ScoredMention, cfg: RiskSettings) -> float:
    """The weight of the mention's input source (:data:`streams.sources.SOURCES`)."""
    return source_of(m.kind).weight(m, cfg)


def novelty_weight(m: ScoredMention, cfg: RiskSettings) -> float:
    return {"fresh": 1.0, "near": cfg.near_duplicate_weight, "exact": cfg.exact_duplicate_weight}[
        m.novelty.kind
    ]


def evidence_weight(m: ScoredMention, cfg: RiskSettings) -> float:
    return (
        m.confidence * m.relevance * m.link_confidence * source_weight(m, cfg)
        * novelty_weight(m, cfg)
    )


def _decay(sums: tuple[float, ...], dt: float, tau: float) -> tuple[float, ...]:
    f = math.exp(-max(dt, 0.0) / tau)
    return tuple(x * f for x in sums)


def event_time(m: ScoredMention, now: datetime) -> float:
    """The mention's time, never later than ``now`` (producers' clocks are not trusted)."""
    return min(m.published_at.timestamp(), now.timestamp())


def apply_mention(
    state: RiskState | None, m: ScoredMention, now: datetime, cfg: RiskSettings
) -> RiskState:
    """The state after one more mention (idempotency is the store's job: it checks doc ids)."""
    t = event_time(m, now)
    if state is None:
        state = RiskState(as_of=t, first_seen=t, sums={h: (0.0,) * 5 for h in HORIZONS})
    ref = max(state.as_of, t)
    w = evidence_weight(m, cfg)
    p = m.probabilities
    s = p.get("positive", 0.0) - p.get("negative", 0.0)
    neg = novelty_weight(m, cfg) if m.sentiment == "negative" else 0.0
    add = (w, w * s, w * p.get("negative", 0.0), 1.0, neg)
    sums = {}
    for h, tau in HORIZONS.items():
        old = _decay(state.sums[h], ref - state.as_of, tau)
        new = _decay(add, ref - t, tau)
        sums[h] = tuple(a + b for a, b in zip(old, new, strict=True))
    doc = TopDoc(
        m.doc_id, m.source, m.kind, m.excerpt, m.sentiment,
        w * abs(s) * math.exp(-(ref - t) / HORIZONS["1h"]), m.url,
    )
    return RiskState(
        as_of=ref,
        first_seen=min(state.first_seen, t),
        sums=sums,
        mentions_total=state.mentions_total + 1,
        top=_top(state, doc, ref, cfg.top_documents),
        model_version=m.model_version or state.model_version,
        last_doc_id=m.doc_id,
    )


def _top(state: RiskState, doc: TopDoc, ref: float, k: int) -> tuple[TopDoc, ...]:
    f = math.exp(-(ref - state.as_of) / HORIZONS["1h"])
    kept = [
        replace(t, contribution=t.contribution * f) for t in state.top if t.doc_id != doc.doc_id
    ]
    kept.append(doc)
    kept.sort(key=lambda t: (-t.contribution, t.doc_id))
    return tuple(kept[:k])


def _buzz_z(state: RiskState, sums: dict[str, tuple[float, ...]], now: float) -> float:
    span = min(max(now - state.first_seen, MIN_SPAN_S), HORIZONS["1d"])
    tau_d, tau_s = HORIZONS["1d"], HORIZONS["15m"]
    rate = sums["1d"][VOL] / (tau_d * (1 - math.exp(-span / tau_d)))
    expected = rate * tau_s * (1 - math.exp(-span / tau_s))
    return (sums["15m"][VOL] - expected) / math.sqrt(expected + 1.0)


def assess(state: RiskState, now: datetime, cfg: RiskSettings) -> RiskAssessment:
    """Risk of a ticker at ``now`` (sums decayed from the state's as_of to now)."""
    t = max(now.timestamp(), state.as_of)
    sums = {h: _decay(v, t - state.as_of, HORIZONS[h]) for h, v in state.sums.items()}
    sent = {h: (v[WS] / v[W] if v[W] > 1e-12 else 0.0) for h, v in sums.items()}
    share = {h: (v[WNEG] / v[W] if v[W] > 1e-12 else 0.0) for h, v in sums.items()}
    evidence = {h: v[W] / (v[W] + cfg.evidence_half_weight) for h, v in sums.items()}
    blend = 0.5 * sent["15m"] + 0.3 * sent["1h"] + 0.2 * sent["1d"]
    negativity = max(0.0, -blend) * evidence["1h"]
    shock = min(1.0, max(0.0, (sent["1d"] - sent["15m"]) / 2)) * evidence["15m"]
    z = _buzz_z(state, sums, t)
    buzz = min(1.0, max(0.0, z / cfg.buzz_z_saturation))
    raw = (
        SCORE_WEIGHTS["negativity"] * negativity
        + SCORE_WEIGHTS["shock"] * shock
        + SCORE_WEIGHTS["buzz_negative"] * buzz * share["1h"]
    )
    f = math.exp(-(t - state.as_of) / HORIZONS["1h"])
    return RiskAssessment(
        score=round(100 * min(1.0, max(0.0, raw)), 3),
        components={
            "negativity": round(negativity, 6),
            "shock": round(shock, 6),
            "buzz": round(buzz, 6),
            "negative_share_1h": round(share["1h"], 6),
            "evidence_15m": round(evidence["15m"], 6),
            "evidence_1h": round(evidence["1h"], 6),
        },
        sentiment={h: round(v, 6) for h, v in sent.items()},
        volume={h: round(v[VOL], 6) for h, v in sums.items()},
        negative_mentions={h: round(v[NEG], 6) for h, v in sums.items()},
        buzz_z=round(z, 6),
        top=tuple(replace(d, contribution=d.contribution * f) for d in state.top),
    )


def contributing_documents(top: tuple[TopDoc, ...]) -> list[ContributingDocument]:
    return [
        ContributingDocument(
            doc_id=d.doc_id, source=d.source, kind=d.kind,  # type: ignore[arg-type]
            excerpt=d.excerpt, sentiment=d.sentiment,  # type: ignore[arg-type]
            weight=round(d.contribution, 6), url=d.url,
        )
        for d in top
    ]


def from_epoch(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
