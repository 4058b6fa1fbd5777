"""The comparison of a replay with live: pure functions of the records, table-driven tests.

Inputs are the live and shadow ``scored`` and ``risk`` records, restricted to the documents
the replay scored. Per ticker:

- ``mentions``: distinct documents scored for it, live and shadow;
- ``mean_sentiment``: the mean of ``p(positive) - p(negative)`` about the ticker over its
  mentions, live and shadow, and the delta (shadow - live);
- ``final_score``: each side's mentions folded by the pure :mod:`streams.risk` functions and
  assessed at one reference time (the newest event time replayed), so the delta is the models'
  difference alone (the published updates were assessed at different clocks);
- ``timeline``: the published risk score per hour of event time (the last update whose
  newest trigger document falls in the hour), live and shadow;
- ``flipped``: (document, ticker) pairs whose ticker sentiment label changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.contracts import RiskUpdate, ScoredMention
from streams.drift import is_drift_ticker
from streams.risk import RiskState, apply_mention, assess
from streams.settings import RiskSettings

HOUR = 3600.0


def ticker_sentiment(m: ScoredMention) -> float:
    return m.probabilities.get("positive", 0.0) - m.probabilities.get("negative", 0.0)


def unique_mentions(mentions: Iterable[ScoredMention]) -> dict[tuple[str, str], ScoredMention]:
    """(doc_id, ticker) -> the first record (a redelivered batch repeats records)."""
    out: dict[tuple[str, str], ScoredMention] = {}
    for m in mentions:
        out.setdefault((m.doc_id, m.ticker), m)
    return out


def fold_score(mentions: Sequence[ScoredMention], at: datetime, cfg: RiskSettings) -> float:
    """The risk score of these mentions (one ticker) assessed at ``at``: the pure fold in
    event-time order, as the store does it (no cross-section)."""
    state: RiskState | None = None
    for m in sorted(mentions, key=lambda m: (m.published_at, m.doc_id)):
        state = apply_mention(state, m, at, cfg)
    return 0.0 if state is None else assess(state, at, cfg).score


def hour_of(t: datetime) -> str:
    h = math.floor(t.timestamp() / HOUR) * HOUR
    return datetime.fromtimestamp(h, UTC).isoformat()


def timeline(
    updates: Iterable[RiskUpdate], times: dict[str, datetime]
) -> dict[str, dict[str, float]]:
    """ticker -> hour (ISO, event time) -> the last published score whose newest trigger
    document (``times``: doc_id -> event time) falls in that hour; updates none of whose
    trigger documents is in ``times`` are not the replay's and are left out."""
    out: dict[str, dict[str, float]] = {}
    for u in updates:
        if is_drift_ticker(u.ticker):
            continue
        known = [times[d] for d in (u.trigger_doc_ids or [u.trigger_doc_id]) if d in times]
        if known:
            out.setdefault(u.ticker, {})[hour_of(max(known))] = u.score
    return out


@dataclass(frozen=True)
class Flip:
    doc_id: str
    ticker: str
    live: str
    shadow: str
    excerpt: str
    live_sentiment: float
    shadow_sentiment: float


def flips(live: dict[tuple[str, str], ScoredMention],
          shadow: dict[tuple[str, str], ScoredMention]) -> list[Flip]:
    return [Flip(d, t, live[(d, t)].sentiment, m.sentiment, m.excerpt,
                 ticker_sentiment(live[(d, t)]), ticker_sentiment(m))
            for (d, t), m in sorted(shadow.items())
            if (d, t) in live and live[(d, t)].sentiment != m.sentiment]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def compare(
    live_scored: Iterable[ScoredMention], shadow_scored: Iterable[ScoredMention],
    live_risk: Iterable[RiskUpdate], shadow_risk: Iterable[RiskUpdate], cfg: RiskSettings,
    reference: datetime | None = None,
) -> dict[str, Any]:
    """The report's data (JSON-able). Live records are restricted to the documents the
    shadow scored; ``reference``: when final scores are assessed (default: the newest event
    time of those documents)."""
    shadow = unique_mentions(shadow_scored)
    docs = {d for d, _ in shadow}
    live = {k: m for k, m in unique_mentions(live_scored).items() if k[0] in docs}
    times = {m.doc_id: m.published_at for m in [*shadow.values(), *live.values()]}
    at = reference or (max(times.values()) if times else datetime.now(UTC))
    lines = {"live": timeline(live_risk, times), "shadow": timeline(shadow_risk, times)}
    tickers = sorted({t for _, t in shadow} | {t for _, t in live})
    rows = []
    for ticker in tickers:
        ml = [m for (_, t), m in live.items() if t == ticker]
        ms = [m for (_, t), m in shadow.items() if t == ticker]
        sl, ss = _mean([ticker_sentiment(m) for m in ml]), _mean([ticker_sentiment(m) for m in ms])
        fl, fs = fold_score(ml, at, cfg), fold_score(ms, at, cfg)
        hours = sorted(set(lines["live"].get(ticker, {})) | set(lines["shadow"].get(ticker, {})))
        rows.append({
            "ticker": ticker, "mentions_live": len(ml), "mentions_shadow": len(ms),
            "mean_sentiment_live": sl, "mean_sentiment_shadow": ss,
            "mean_sentiment_delta": _delta(sl, ss),
            "final_score_live": fl, "final_score_shadow": fs, "final_score_delta": fs - fl,
            "timeline": [{"hour": h, "live": lines["live"].get(ticker, {}).get(h),
                          "shadow": lines["shadow"].get(ticker, {}).get(h)} for h in hours],
        })
    flipped = flips(live, shadow)
    novelty = sum(1 for k, m in shadow.items() if k in live and live[k].novelty.kind
                  != m.novelty.kind)
    return {
        "reference_time": at.isoformat(), "documents": len(docs),
        "live_model_versions": sorted({m.model_version for m in live.values()}),
        "shadow_model_versions": sorted({m.model_version for m in shadow.values()}),
        "tickers": rows,
        "flipped": [f.__dict__ for f in flipped],
        "linked_only_live": sorted(f"{d} {t}" for d, t in live.keys() - shadow.keys()),
        "linked_only_shadow": sorted(f"{d} {t}" for d, t in shadow.keys() - live.keys()),
        "novelty_changed": novelty,
    }


def restrict_updates(updates: Iterable[RiskUpdate], docs: set[str]) -> list[RiskUpdate]:
    """The updates that folded at least one of ``docs`` (the replay's documents)."""
    return [u for u in updates if not is_drift_ticker(u.ticker)
            and any(d in docs for d in (u.trigger_doc_ids or [u.trigger_doc_id]))]
