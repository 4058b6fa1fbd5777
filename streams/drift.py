"""Feed drift: does the live feed still look like the data the model was validated on?

Per document kind, a rolling window of the last ``window`` scored texts keeps four statistics,
the same ones the model's reference profile (``models.profile``, in its card) holds for its
validation texts:

* the shares of predicted labels (negative / neutral / positive),
* a histogram of the prediction confidence (:data:`CONFIDENCE_BINS` bins on [1/3, 1]),
* the share of texts with no linked ticker,
* the share of unknown tokens (``[UNK]`` ids among all tokens).

Labels and confidence are compared with the reference by the population stability index
(:func:`psi`); a kind's drift is the larger of the two. Everything here is pure: the score
stage feeds :meth:`DriftMonitor.observe`, and :meth:`DriftMonitor.due` turns the readings into
records for the ``risk`` topic (ticker ``DRIFT:<KIND>``, the values in ``components``), so the
alerts worker decides on them like on any risk update (rule metric ``drift``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from models.profile import CONFIDENCE_BINS, confidence_bin
from models.records import SENTIMENT_LABELS, Prediction
from streams.contracts import RiskUpdate
from streams.sources import SOURCES

PSI_EPSILON = 1e-4  # a share of 0 counts as this much, so an empty bin does not give infinity
DRIFT_TICKER_PREFIX = "DRIFT:"
# A stream document kind -> the validation source of the reference profile that looks like it.
PROFILE_SOURCE: dict[str, str] = {s.kind: s.profile_source for s in SOURCES}


def drift_ticker(kind: str) -> str:
    return f"{DRIFT_TICKER_PREFIX}{kind.upper()}"


def is_drift_ticker(ticker: str) -> bool:
    return ticker.upper().startswith(DRIFT_TICKER_PREFIX)


def shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [c / total if total else 0.0 for c in counts]


def psi(expected: Sequence[float], actual: Sequence[float], eps: float = PSI_EPSILON) -> float:
    """Population stability index of ``actual`` against ``expected`` (both shares, same bins):
    ``sum((a - e) * ln(a / e))``; 0 = the same, 0.1-0.25 a shift, above 0.25 a large shift."""
    if len(expected) != len(actual):
        raise ValueError(f"{len(expected)} reference bins against {len(actual)}")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, eps), max(a, eps)
        total += (a - e) * math.log(a / e)
    return total


@dataclass(frozen=True)
class Observation:
    """What drift needs to know about one scored text."""

    label: str
    confidence: float
    linked: bool  # at least one ticker linked
    unknown_tokens: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class Stats:
    """The four statistics of a set of texts (a window, or a reference profile source)."""

    n: int
    label_shares: tuple[float, ...]
    confidence_hist: tuple[float, ...]
    no_ticker_share: float
    unknown_token_share: float

    @classmethod
    def of(cls, observations: Iterable[Observation]) -> Stats:
        window = DriftWindow(size=None)
        for obs in observations:
            window.add(obs)
        return window.stats()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stats:
        labels = data["label_shares"]
        return cls(int(data["n"]), tuple(float(labels[k]) for k in SENTIMENT_LABELS),
                   tuple(float(x) for x in data["confidence_hist"]),
                   float(data["no_ticker_share"]), float(data["unknown_token_share"]))

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "label_shares": dict(zip(SENTIMENT_LABELS, self.label_shares,
                                                      strict=True)),
                "confidence_hist": list(self.confidence_hist),
                "no_ticker_share": self.no_ticker_share,
                "unknown_token_share": self.unknown_token_share}


class DriftWindow:
    """The last ``size`` observations (None: all) with running counts: O(1) per text."""

    def __init__(self, size: int | None) -> None:
        self.items: deque[Observation] = deque()
        self.size = size
        self.labels = [0] * len(SENTIMENT_LABELS)
        self.bins = [0] * CONFIDENCE_BINS
        self.unlinked = 0
        self.unknown = 0
        self.tokens = 0

    def _count(self, obs: Observation, sign: int) -> None:
        if obs.label in SENTIMENT_LABELS:
            self.labels[SENTIMENT_LABELS.index(obs.label)] += sign
        self.bins[confidence_bin(obs.confidence)] += sign
        self.unlinked += sign * (not obs.linked)
        self.unknown += sign * obs.unknown_tokens
        self.tokens += sign * obs.tokens

    def add(self, obs: Observation) -> None:
        self.items.append(obs)
        self._count(obs, 1)
        if self.size is not None and len(self.items) > self.size:
            self._count(self.items.popleft(), -1)

    def __len__(self) -> int:
        return len(self.items)

    def stats(self) -> Stats:
        n = len(self.items)
        return Stats(n, tuple(shares(self.labels)), tuple(shares(self.bins)),
                     self.unlinked / n if n else 0.0,
                     self.unknown / self.tokens if self.tokens else 0.0)


@dataclass(frozen=True)
class Reading:
    """One kind's drift now: its window's statistics against the reference."""

    kind: str
    window: Stats
    psi_labels: float
    psi_confidence: float

    @property
    def psi(self) -> float:
        return max(self.psi_labels, self.psi_confidence)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "texts": self.window.n, "psi": self.psi,
                "psi_labels": self.psi_labels, "psi_confidence": self.psi_confidence,
                "no_ticker_share": self.window.no_ticker_share,
                "unknown_token_share": self.window.unknown_token_share}


def compare(kind: str, window: Stats, reference: Stats) -> Reading:
    return Reading(kind, window, psi(reference.label_shares, window.label_shares),
                   psi(reference.confidence_hist, window.confidence_hist))


def references_by_kind(profile: Mapping[str, Any] | None) -> dict[str, Stats]:
    """The reference statistics of each document kind, from a card's ``reference_profile``
    (``{"sources": {"fpb": {...}, "tfns": {...}}}``) through :data:`PROFILE_SOURCE`."""
    sources = (profile or {}).get("sources", {})
    return {kind: Stats.from_dict(sources[source])
            for kind, source in PROFILE_SOURCE.items() if source in sources}


@dataclass
class DriftMonitor:
    """Windows per kind against the reference; readings published every ``interval_s`` once
    a window holds ``min_texts``."""

    reference: Mapping[str, Stats]
    window: int = 2000
    min_texts: int = 200
    interval_s: float = 60.0
    topic: str = "risk"  # where :meth:`publish` sends the readings
    count_unknown: Callable[[Sequence[str]], list[tuple[int, int]]] | None = None
    sink: Callable[[list[RiskUpdate]], Awaitable[None]] | None = None  # e.g. DriftStore.save
    windows: dict[str, DriftWindow] = field(default_factory=dict)
    _published: dict[str, float] = field(default_factory=dict)
    _seq: int = 0
    _seen: dict[str, None] = field(default_factory=dict)  # recent doc ids, oldest first

    def rebase(self, reference: Mapping[str, Stats],
               count_unknown: Callable[[Sequence[str]], list[tuple[int, int]]] | None) -> None:
        """Measure against another model's reference profile from now on (a promoted model):
        the windows are emptied, since they hold the previous model's predictions."""
        self.reference, self.count_unknown = reference, count_unknown
        self.windows.clear()
        self._published.clear()

    def observe(self, kind: str, observations: Iterable[Observation]) -> None:
        if kind not in self.reference:
            return
        window = self.windows.setdefault(kind, DriftWindow(self.window))
        for obs in observations:
            window.add(obs)

    def observe_batch(self, kinds: Sequence[str], texts: Sequence[str],
                      preds: Sequence[Prediction], linked: Sequence[bool],
                      doc_ids: Sequence[str] | None = None) -> None:
        """One score batch: each text's kind, prediction and whether a ticker was linked.
        A document id seen lately is skipped: a batch scored again (a split batch, a replay
        after a restart) does not count twice."""
        if not self.reference:  # a model without a reference profile: nothing to compare
            return
        fresh = [i for i in range(len(texts))
                 if doc_ids is None or self._first_time(doc_ids[i])]
        texts = [texts[i] for i in fresh]
        counts = (self.count_unknown(texts) if self.count_unknown is not None and texts
                  else [(0, 0)] * len(texts))
        for i, (unk, total) in zip(fresh, counts, strict=True):
            self.observe(kinds[i], [Observation(preds[i].sentiment, preds[i].confidence,
                                                linked[i], unk, total)])

    def _first_time(self, doc_id: str) -> bool:
        if doc_id in self._seen:
            return False
        self._seen[doc_id] = None
        if len(self._seen) > 4 * self.window:
            self._seen.pop(next(iter(self._seen)))
        return True

    async def publish(self, now: float, model_version: str) -> list[tuple[str, bytes, bytes]]:
        """(topic, key, value) of the readings :meth:`due` now, given to ``sink`` first."""
        updates = self.due(now, model_version)
        if updates and self.sink is not None:
            await self.sink(updates)
        return [(self.topic, u.ticker.encode(), u.model_dump_json().encode()) for u in updates]

    def readings(self) -> list[Reading]:
        return [compare(kind, w.stats(), self.reference[kind])
                for kind, w in sorted(self.windows.items()) if len(w)]

    def due(self, now: float, model_version: str) -> list[RiskUpdate]:
        """The readings to publish now (each kind at most once per ``interval_s``)."""
        out = []
        for reading in self.readings():
            last = self._published.get(reading.kind)
            if reading.window.n < self.min_texts or (last is not None
                                                     and now - last < self.interval_s):
                continue
            self._published[reading.kind] = now
            self._seq += 1
            out.append(drift_update(reading, datetime.fromtimestamp(now, UTC), model_version,
                                    self._seq))
        return out


def drift_update(reading: Reading, at: datetime, model_version: str, seq: int) -> RiskUpdate:
    """A reading as a record of the ``risk`` topic: ticker ``DRIFT:<KIND>``, score 0, the
    drift values in ``components`` (what the ``drift`` rule metric reads)."""
    values = reading.as_dict()
    components = {k: float(v) for k, v in values.items() if k != "kind"}
    ticker = drift_ticker(reading.kind)
    return RiskUpdate(ticker=ticker, as_of=at, score=0.0, components=components, sentiment={},
                      volume={}, buzz_z=0.0, negative_mentions={},
                      mentions_total=reading.window.n, model_version=model_version,
                      trigger_doc_id=f"drift:{reading.kind}:{int(at.timestamp())}:{seq}")


class DriftGauges:
    """Prometheus collector: the monitor's readings at every scrape."""

    def __init__(self, monitor: DriftMonitor | Callable[[], DriftMonitor | None]) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        monitor = self._monitor() if callable(self._monitor) else self._monitor
        readings = monitor.readings() if monitor is not None else []
        psi_g = GaugeMetricFamily("tickerpulse_drift_psi", "Population stability index of "
                                  "the live window against the model's reference profile",
                                  labels=["kind", "feature"])
        unlinked = GaugeMetricFamily("tickerpulse_drift_no_ticker_share",
                                     "Share of texts in the live window with no linked ticker",
                                     labels=["kind"])
        unknown = GaugeMetricFamily("tickerpulse_drift_unknown_token_share",
                                    "Share of unknown ([UNK]) tokens in the live window",
                                    labels=["kind"])
        texts = GaugeMetricFamily("tickerpulse_drift_window_texts",
                                  "Texts in the live drift window", labels=["kind"])
        for r in readings:
            psi_g.add_metric([r.kind, "labels"], r.psi_labels)
            psi_g.add_metric([r.kind, "confidence"], r.psi_confidence)
            unlinked.add_metric([r.kind], r.window.no_ticker_share)
            unknown.add_metric([r.kind], r.window.unknown_token_share)
            texts.add_metric([r.kind], r.window.n)
        yield from (psi_g, unlinked, unknown, texts)
