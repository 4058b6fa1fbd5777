"""Per-ticker risk: pure functions of (state, mention, now). No I/O, the clock is an argument.

Each scored mention adds to exponentially decayed sums per horizon ``h`` in
``15m`` (tau = 900 s), ``1h`` (3600 s), ``1d`` (86400 s), all referenced to the newest event
time seen, so the state does not depend on the order mentions arrive in (a replay or a
rebalance cannot change the result). A mention's sentiment is the one about its ticker
(``ScoredMention.sentiment``, v2), not the document's: in "A lifted while B sinks" A and B move
apart.

- evidence weight ``w = confidence x relevance x link_confidence x source x novelty`` where
  ``source`` is the weight of the mention's input source (:mod:`streams.sources`):
  ``risk.news_weight`` for news, ``risk.filing_weight`` for filings and press releases, and
  for social posts ``risk.social_weight x reach x engagement`` (reach = log10(1+followers)/6
  in 0.05..1, x1.25 when verified; engagement = 1 + min(1, log10(1 + likes + 2 reposts +
  replies)/4)), and
  ``novelty`` is 1 for fresh documents, ``risk.near_duplicate_weight`` for near duplicates and
  ``risk.exact_duplicate_weight`` for exact ones (repeats are not fresh evidence);
- sentiment_h = sum(w (p_pos - p_neg)) / sum(w) in -1..1; negative share_h = sum(w p_neg)/sum(w);
  the sentiment published (``RiskUpdate.sentiment``, what rules read) is shrunk towards 0 by
  thin evidence: sum(w (p_pos - p_neg)) / (sum(w) + ``risk.evidence_half_weight``), so a
  ticker's first post or two cannot swing it from one end to the other;
- volume_h = decayed count of every mention (attention: reposts count here);
- negative attention_h = decayed sum of ``p_neg x relevance x link_confidence`` over every
  mention, reposts included, divided by volume_h: how much of what people pass on about the
  ticker is negative, whether or not it is new evidence;
- negative_mentions_h = decayed, novelty-weighted count of mentions classed negative;
- buzz_z: Poisson z-score of volume_15m against an expected volume that blends two baselines:
  the cross-section (:class:`Peers`: the volume-weighted mean 15-minute volume of the other
  tickers, ``sum v^2 / sum v``, so a long tail of quiet tickers does not lower it) and the
  ticker's own rate (volume_1d over the span it has been observed). The own baseline's share
  grows linearly with that span and is whole at ``risk.buzz_history_s``. buzz_z is 0 until the
  ticker has been observed ``risk.buzz_min_history_s`` (so ``buzz-spike`` cannot fire on a
  ticker's first mentions); without at least ``risk.buzz_min_peers`` peers only the own
  baseline counts.

The one risk score, 0-100 (higher = more downside risk)::

    negativity = max(0, -(0.5 s_15m + 0.3 s_1h + 0.2 s_1d)) x evidence_1h
    shock      = clip((s_1d - s_15m) / 2, 0, 1) x evidence_15m
    buzz       = clip(buzz_z / risk.buzz_z_saturation, 0, 1)
    attention  = buzz x negative_attention_15m
    score      = 100 x clip(0.45 negativity + 0.20 shock + 0.35 attention, 0, 1)

with ``evidence_h = w_h / (w_h + risk.evidence_half_weight)`` shrinking thin evidence to 0.
So a viral negative rumour raises risk through attention although its reposts add no
evidence. All these names are reported in ``RiskUpdate.components`` (``buzz_own_baseline``
is the own baseline's share of the expected volume, 0..1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from streams.contracts import ContributingDocument, ScoredMention
from streams.settings import RiskSettings
from streams.sources import source_of

HORIZONS: dict[str, float] = {"15m": 900.0, "1h": 3600.0, "1d": 86400.0}
W, WS, WNEG, VOL, NEG, ATT = range(6)  # slots of a horizon's sums
SLOTS = 6
SCORE_WEIGHTS = {"negativity": 0.45, "shock": 0.20, "attention": 0.35}


@dataclass(frozen=True)
class Peers:
    """The other tickers' 15-minute mention volume at ``at``: the cross-section a ticker's buzz
    is measured against until its own history is long enough."""

    typical: float  # volume-weighted mean 15m volume of the others: sum v^2 / sum v
    count: int  # how many other tickers have recent mentions
    at: float  # epoch seconds the volumes are referenced to

    @classmethod
    def of(cls, volumes: Mapping[str, float], ticker: str, at: float) -> Peers:
        others = [v for t, v in volumes.items() if t != ticker and v > 0]
        total = sum(others)
        return cls(sum(v * v for v in others) / total if total > 0 else 0.0, len(others), at)


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
            sums={h: _slots(v) for h, v in data["sums"].items()},
            mentions_total=data["mentions_total"],
            top=tuple(TopDoc(**t) for t in data["top"]),
            model_version=data.get("model_version", ""),
            last_doc_id=data.get("last_doc_id", ""),
        )


def _slots(values: list[float]) -> tuple[float, ...]:
    """A horizon's sums, padded with zeros when stored before a slot was added."""
    return tuple(values) + (0.0,) * (SLOTS - len(values))


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
        state = RiskState(as_of=t, first_seen=t, sums={h: (0.0,) * SLOTS for h in HORIZONS})
    ref = max(state.as_of, t)
    w = evidence_weight(m, cfg)
    p = m.probabilities
    s = p.get("positive", 0.0) - p.get("negative", 0.0)
    neg = novelty_weight(m, cfg) if m.sentiment == "negative" else 0.0
    attention = p.get("negative", 0.0) * m.relevance * m.link_confidence
    add = (w, w * s, w * p.get("negative", 0.0), 1.0, neg, attention)
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


def _buzz_z(
    state: RiskState, sums: dict[str, tuple[float, ...]], now: float, cfg: RiskSettings,
    peers: Peers | None,
) -> tuple[float, float]:
    """(buzz_z, share of the own baseline in the expected volume)."""
    span = min(now - state.first_seen, HORIZONS["1d"])
    if span < cfg.buzz_min_history_s:
        return 0.0, 0.0
    tau_d, tau_s = HORIZONS["1d"], HORIZONS["15m"]
    span = max(span, 1.0)
    rate = sums["1d"][VOL] / (tau_d * (1 - math.exp(-span / tau_d)))
    own = rate * tau_s * (1 - math.exp(-span / tau_s))
    alpha = min(1.0, span / cfg.buzz_history_s)
    if peers is None or peers.count < cfg.buzz_min_peers:
        alpha = 1.0
    else:
        cross = peers.typical * math.exp(-max(now - peers.at, 0.0) / tau_s)
        own = alpha * own + (1 - alpha) * cross
    return (sums["15m"][VOL] - own) / math.sqrt(own + 1.0), alpha


def assess(
    state: RiskState, now: datetime, cfg: RiskSettings, peers: Peers | None = None
) -> RiskAssessment:
    """Risk of a ticker at ``now`` (sums decayed from the state's as_of to now); ``peers``:
    the cross-section of the other tickers (buzz of a young ticker, see the module doc)."""
    t = max(now.timestamp(), state.as_of)
    sums = {h: _decay(v, t - state.as_of, HORIZONS[h]) for h, v in state.sums.items()}
    sent = {h: (v[WS] / v[W] if v[W] > 1e-12 else 0.0) for h, v in sums.items()}
    credible = {h: v[WS] / (v[W] + cfg.evidence_half_weight) for h, v in sums.items()}
    share = {h: (v[WNEG] / v[W] if v[W] > 1e-12 else 0.0) for h, v in sums.items()}
    evidence = {h: v[W] / (v[W] + cfg.evidence_half_weight) for h, v in sums.items()}
    neg_attention = {h: (v[ATT] / v[VOL] if v[VOL] > 1e-12 else 0.0) for h, v in sums.items()}
    blend = 0.5 * sent["15m"] + 0.3 * sent["1h"] + 0.2 * sent["1d"]
    negativity = max(0.0, -blend) * evidence["1h"]
    shock = min(1.0, max(0.0, (sent["1d"] - sent["15m"]) / 2)) * evidence["15m"]
    z, own_share = _buzz_z(state, sums, t, cfg, peers)
    buzz = min(1.0, max(0.0, z / cfg.buzz_z_saturation))
    attention = buzz * neg_attention["15m"]
    raw = (
        SCORE_WEIGHTS["negativity"] * negativity
        + SCORE_WEIGHTS["shock"] * shock
        + SCORE_WEIGHTS["attention"] * attention
    )
    f = math.exp(-(t - state.as_of) / HORIZONS["1h"])
    return RiskAssessment(
        score=round(100 * min(1.0, max(0.0, raw)), 3),
        components={
            "negativity": round(negativity, 6),
            "shock": round(shock, 6),
            "buzz": round(buzz, 6),
            "attention": round(attention, 6),
            "negative_attention_15m": round(neg_attention["15m"], 6),
            "negative_share_1h": round(share["1h"], 6),
            "evidence_15m": round(evidence["15m"], 6),
            "evidence_1h": round(evidence["1h"], 6),
            "buzz_own_baseline": round(own_share, 6),
        },
        sentiment={h: round(v, 6) for h, v in credible.items()},
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
