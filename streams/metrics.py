"""Process metrics on ``prometheus_client``, one ``CollectorRegistry`` per process.

Code counts by short name (``metrics.inc("dead_letters_total", topic=..., reason=...)``,
``metrics.record("inference_batch_duration_seconds", 0.12)``); every name is declared once, in
a table of :class:`Spec` (:data:`STREAM_METRICS` here, ``alerts.metrics.ALERT_METRICS`` for
the alerts worker), and exported as ``tickerpulse_<name>`` with HELP and TYPE lines. An
undeclared name or a wrong label set is an error, so a typo cannot create a new series.

Values read at scrape time (``observe``) are for numbers another object already keeps (Redis
outages, the engine's queue); consumer lag per partition comes from a :class:`ConsumerLag`
collector that asks the consumer for its high watermark (the fetch response's, which is right
on every broker) and subtracts the committed offset. Labels stay low-cardinality: topic,
partition, reason, outcome, channel; never a ticker or a document id.

The stream worker's names (``tickerpulse_`` prefix):

=====================================  =========  =========================================
input_total{topic}                     counter    raw messages read from the input topics
dead_letters_total{topic,reason}       counter    messages sent to ``<topic>.dlq``
documents_total{novelty}               counter    documents out of ingest (fresh/exact/near)
documents_without_ticker_total         counter    scored documents with no linked ticker
scored_mentions_total                  counter    (document, ticker) records scored
links_dropped_total{reason}            counter    ticker links dropped by the score stage
risk_commits_total{result}             counter    mentions by result (counted, replay,
                                                  too_old, future)
redis_outages_total                    counter    times Redis was found unreachable
risk_repaired_mentions_total           counter    mentions Redis lost in a crash, re-counted
inference_batch_duration_seconds       histogram  one model batch, tokenised to predictions
inference_batch_texts                  histogram  texts per model batch
inference_queue_texts                  gauge      texts waiting for the model
ingest_to_risk_seconds                 histogram  document ingest (``ingested_at``) to its
                                                  commit in Redis, per counted mention
consumer_lag_messages{topic,partition} gauge      high watermark minus committed offset
model_switches_total{outcome}          counter    live model pointer changes acted on: switched,
                                                  failed (the old model kept serving)
review_candidates_total                counter    texts sampled for a human label (review)
review_skipped_total{reason}           counter    scored texts not sampled: duplicate, seen,
                                                  priority, budget, budget_total, invalid
build_info{version,model_version}      gauge      always 1
drift_psi{kind,feature}                gauge      PSI of the live window against the model's
                                                  reference profile (``streams.drift``
                                                  DriftGauges, read at scrape, like the three
                                                  below)
drift_no_ticker_share{kind}            gauge      share of the window's texts without a ticker
drift_unknown_token_share{kind}        gauge      share of unknown tokens in the window
drift_window_texts{kind}               gauge      texts in the window
=====================================  =========  =========================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "tickerpulse_"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds: a webhook or a model batch (milliseconds) up to a stalled pipeline (minutes).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0, 120.0, 300.0, 600.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Spec:
    """One metric: its type, HELP text and label names; ``at_scrape`` = read by a callback."""

    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = LATENCY_BUCKETS
    at_scrape: bool = False


STREAM_METRICS: dict[str, Spec] = {
    "input_total": Spec("counter", "Raw messages read from the input topics.", ("topic",)),
    "dead_letters_total": Spec(
        "counter", "Messages sent to a dead-letter topic, by source topic and reason.",
        ("topic", "reason")),
    "documents_total": Spec(
        "counter", "Documents produced by ingest, by novelty verdict.", ("novelty",)),
    "documents_without_ticker_total": Spec(
        "counter", "Scored documents that linked no ticker."),
    "scored_mentions_total": Spec("counter", "(document, ticker) records scored."),
    "links_dropped_total": Spec(
        "counter", "Ticker links the score stage dropped: invalid_ticker, unknown_hint (policy "
        "reject), too_many (over stream.max_linked_tickers).", ("reason",)),
    "risk_commits_total": Spec(
        "counter", "Mentions committed to Redis by result: counted, replay (already counted), "
        "too_old (below the idempotency floor), future (dated too far ahead).",
        ("result",)),
    "redis_outages_total": Spec(
        "counter", "Times Redis was found unreachable (each outage once).", at_scrape=True),
    "risk_repaired_mentions_total": Spec(
        "counter", "Mentions Redis had lost (crash, failover) that the worker committed again "
        "when Redis came back.", at_scrape=True),
    "inference_batch_duration_seconds": Spec(
        "histogram", "Wall time of one model batch, padded inputs to predictions."),
    "inference_batch_texts": Spec(
        "histogram", "Texts per model batch.", buckets=SIZE_BUCKETS),
    "inference_queue_texts": Spec(
        "gauge", "Texts waiting in the inference engine's queue.", at_scrape=True),
    "model_switches_total": Spec(
        "counter", "Live model pointer changes acted on by the score stage: switched, or "
        "failed (the new model did not load; the old one kept serving).", ("outcome",)),
    "review_candidates_total": Spec(
        "counter", "Texts the score stage sampled for a human label (to the review topic)."),
    "review_skipped_total": Spec(
        "counter", "Scored texts not sampled for review: duplicate (not fresh), seen (scored "
        "again), priority (below stream.review.min_priority or no reason), budget (the "
        "source's per-minute budget spent), budget_total (that of all sources together), "
        "invalid.", ("reason",)),
    "ingest_to_risk_seconds": Spec(
        "histogram", "From a document's ingest (ingested_at) to its mention's commit in Redis; "
        "counted mentions only."),
}


class Metrics:
    """The declared metrics of one process, on a registry of its own."""

    def __init__(self, specs: Mapping[str, Spec] = STREAM_METRICS) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twins
        self.registry = CollectorRegistry()
        self.specs = dict(specs)
        self._direct: dict[str, Counter | Gauge | Histogram] = {}
        self._read: dict[str, Callable[[], float]] = {}
        for name, spec in self.specs.items():
            if not spec.at_scrape:
                self._direct[name] = _instrument(name, spec, self.registry)
        self.registry.register(_ReadAtScrape(self))
        self._build: Gauge | None = None

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        metric = self._direct[name]
        if isinstance(metric, Histogram):
            raise TypeError(f"{name} is a histogram: use record")
        (metric.labels(**labels) if labels else metric).inc(n)

    def record(self, name: str, value: float, **labels: str) -> None:
        """One histogram observation (or a gauge's new value)."""
        metric = self._direct[name]
        if isinstance(metric, Histogram):
            (metric.labels(**labels) if labels else metric).observe(value)
        elif isinstance(metric, Gauge):
            (metric.labels(**labels) if labels else metric).set(value)
        else:
            raise TypeError(f"{name} is a counter: use inc")

    def observe(self, name: str, read: Callable[[], float]) -> None:
        """Read ``name``'s value with ``read()`` at every scrape (declared ``at_scrape``)."""
        if not self.specs[name].at_scrape:
            raise ValueError(f"{name} is not declared at_scrape")
        self._read[name] = read

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def build_info(self, version: str, model_version: str = "") -> None:
        """``tickerpulse_build_info{version,model_version} 1``."""
        if self._build is None:
            self._build = Gauge(PREFIX + "build_info", "Version of tickerpulse and of its "
                                "model (empty where no model is loaded); always 1.",
                                ("version", "model_version"), registry=self.registry)
        self._build.clear()
        self._build.labels(version=version, model_version=model_version).set(1)

    def get(self, name: str, **labels: str) -> float:
        """One sample's value (0 if absent): counters by name, histograms by ``name_count``."""
        return self.registry.get_sample_value(PREFIX + name, labels) or 0.0

    def total(self, name: str) -> float:
        """Sum of a counter's samples over all label values."""
        return sum(s.value for m in self.registry.collect() for s in m.samples
                   if s.name == PREFIX + name)

    def render(self) -> str:
        """The Prometheus text exposition (version 0.0.4)."""
        return generate_latest(self.registry).decode("utf-8")


def _instrument(name: str, spec: Spec, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
    full = PREFIX + name
    if spec.kind == "counter":
        return Counter(full, spec.help, spec.labels, registry=registry)
    if spec.kind == "gauge":
        return Gauge(full, spec.help, spec.labels, registry=registry)
    return Histogram(full, spec.help, spec.labels, registry=registry, buckets=spec.buckets)


class _ReadAtScrape(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # names are known only once callbacks are set; checked by Metrics instead

    def collect(self) -> Iterator[Metric]:
        for name, read in sorted(self.metrics._read.items()):  # noqa: SLF001
            spec = self.metrics.specs[name]
            family = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
            try:
                value = float(read())
            except Exception:  # noqa: BLE001 - a broken reader must not break the scrape
                value = math.nan
            yield family(PREFIX + name, spec.help, value=value)


LagReader = Callable[[], Iterable[tuple[str, int, int]]]


class ConsumerLag(Collector):
    """``tickerpulse_consumer_lag_messages{topic,partition}`` from ``read()`` at scrape time.

    ``read`` yields (topic, partition, lag) for the partitions this process owns; it must be
    cheap and synchronous (high watermark and committed offsets as the consumer holds them).
    """

    NAME = PREFIX + "consumer_lag_messages"
    HELP = ("Messages behind: the partition's high watermark minus the consumer group's "
            "committed offset, for the partitions this process owns.")

    def __init__(self, read: LagReader) -> None:
        self.read = read

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=("topic", "partition"))]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=("topic", "partition"))
        try:
            rows = sorted(self.read())
        except Exception:  # noqa: BLE001 - consumer not started or mid-rebalance: no samples
            rows = []
        for topic, partition, lag in rows:
            family.add_metric((topic, str(partition)), max(0, lag))
        yield family


def lag_of(highwater: int | None, committed: int | None, position: int | None) -> int | None:
    """Lag from what a consumer knows: committed offset first, else its fetch position."""
    if highwater is None:
        return None  # no fetch response for this partition yet
    done = committed if committed is not None and committed >= 0 else position
    if done is None:
        return None
    return max(0, highwater - done)


def exported_names(specs: Mapping[str, Spec]) -> set[str]:
    """Every sample name ``specs`` exports (histograms' ``_bucket/_count/_sum`` included)."""
    names = {PREFIX + "build_info", ConsumerLag.NAME}
    for name, spec in specs.items():
        full = PREFIX + name
        names.add(full)
        if spec.kind == "histogram":
            names |= {full + "_bucket", full + "_count", full + "_sum"}
    return names
