"""Settings sections owned by the streaming layer."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

log = logging.getLogger(__name__)

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseModel):
    """How to reach the Kafka-protocol broker, and how to authenticate to it.

    streams/kafka_config.py turns this section into the keyword arguments of every client
    (faust, aiokafka, kafka-python); nothing else reads the security fields.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # secrets stay out

    bootstrap_servers: str = Field(
        default="localhost:9092", description="Comma-separated bootstrap servers."
    )
    embedded: bool = Field(
        default=True,
        description="`tickerpulse services` starts an embedded Tansu broker instead.",
    )
    partitions: int = Field(default=4, ge=1, description="Partitions for created topics.")
    replication_factor: int = Field(default=1, ge=1, description="Replication for created topics.")
    topic_prefix: str = Field(default="", description="Prefix for every topic name.")
    rebalance_timeout_s: float = Field(
        default=5.0, gt=0, description="Consumer group rebalance timeout."
    )
    session_timeout_s: float = Field(
        default=10.0, gt=0, description="Consumer group session timeout."
    )
    heartbeat_interval_s: float = Field(
        default=1.0, gt=0, description="Consumer group heartbeat interval."
    )
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        le=30_000,
        description="Consumer fetch.max.wait.ms: longest a fetch waits for data (each hop's "
        "latency on brokers that do not answer early, e.g. Tansu).",
    )
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS).",
    )
    sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512",
        description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* only).",
    )
    sasl_username: str = Field(default="", description="SASL user name (SASL_* only).")
    sasl_password: SecretStr = Field(
        default=SecretStr(""), description="SASL password (SASL_* only; or ..._FILE)."
    )
    ssl_cafile: str = Field(
        default="",
        description="PEM file of the CA(s) that signed the broker certificates; empty = the "
        "system trust store (SSL, SASL_SSL).",
    )
    ssl_certfile: str = Field(
        default="", description="Client certificate PEM for mutual TLS (may also hold the key)."
    )
    ssl_keyfile: str = Field(default="", description="Client private key PEM for mutual TLS.")
    ssl_key_password: SecretStr = Field(
        default=SecretStr(""), description="Password of an encrypted client key."
    )
    ssl_check_hostname: bool = Field(
        default=True,
        description="Check that the broker certificate names the host connected to.",
    )

    @model_validator(mode="after")
    def _security_consistent(self) -> KafkaSettings:
        uses_tls = self.security_protocol in ("SSL", "SASL_SSL")
        uses_sasl = self.security_protocol.startswith("SASL_")
        tls_set = [n for n in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                   if getattr(self, n)] + (["ssl_key_password"]
                                           if self.ssl_key_password.get_secret_value() else [])
        if tls_set and not uses_tls:
            raise ValueError(f"{', '.join(tls_set)} set but security_protocol is "
                             f"{self.security_protocol} (use SSL or SASL_SSL)")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("ssl_keyfile needs ssl_certfile (the client certificate)")
        has_credentials = bool(self.sasl_username or self.sasl_password.get_secret_value())
        if uses_sasl and not (self.sasl_username and self.sasl_password.get_secret_value()):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_username "
                             "and sasl_password")
        if has_credentials and not uses_sasl:
            raise ValueError(f"sasl_username/sasl_password set but security_protocol is "
                             f"{self.security_protocol} (use SASL_PLAINTEXT or SASL_SSL)")
        return self


class RedisSettings(BaseModel):
    """The Redis holding per-ticker risk state."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # URL password

    url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis URL; `redis+cluster://host:port` (any one node) for a Redis Cluster.",
    )
    cluster: bool = Field(
        default=False, description="Treat `url` as a Redis Cluster node (same as `+cluster`)."
    )
    key_prefix: str = Field(
        default="tp:", description="Prefix of every Redis key (no `{` on a cluster)."
    )
    retry_forever: bool = Field(
        default=True,
        description="Wait and retry while Redis is unreachable or refuses writes (OOM, "
        "READONLY, LOADING, failover); off: fail the call (StoreUnavailable).",
    )
    allow_eviction: bool = Field(
        default=False,
        description="Run even on an evicting maxmemory-policy (allkeys-*, volatile-*), which "
        "can drop risk state and counted doc ids (double counting).",
    )
    repair_window_s: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="Commits of the last N seconds are re-committed (idempotently) when Redis "
        "comes back after an outage: a crash loses up to ~1 s with appendfsync everysec.",
    )


def renamed(section: str, data: Any, old: str, new: str) -> Any:
    """Accept a setting under its old name for one release, with a warning naming the new one."""
    if isinstance(data, dict) and old in data:
        log.warning("setting %s.%s (TICKERPULSE_%s__%s) is deprecated and will be removed in "
                    "the next release: use %s", section, old, section.upper(), old.upper(), new)
    return data


class BatchSettings(BaseModel):
    """How many messages each agent takes at once: faust's `take(n, within)`."""

    model_config = ConfigDict(extra="forbid")

    ingest: int = Field(
        default=128, ge=1,
        description="Raw messages per ingest batch (one Redis novelty call per batch).",
    )
    score: int = Field(
        default=128, ge=1,
        description="Documents per score batch (the engine splits it under its token budget).",
    )
    aggregate: int = Field(
        default=256, ge=1,
        description="Scored mentions per aggregate batch (one Redis risk commit per batch).",
    )
    within_s: float = Field(
        default=0.05, gt=0, description="Longest an agent waits to fill a batch."
    )


class DriftSettings(BaseModel):
    """Feed drift against the model's reference profile (``streams.drift``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True,
        description="Watch drift when the model card holds a reference profile.",
    )
    window: int = Field(default=2000, ge=10, description="Last scored texts per kind compared.")
    min_texts: int = Field(
        default=200, ge=1, description="Texts a kind's window needs before drift is published."
    )
    interval_s: float = Field(
        default=60.0, gt=0, description="How often each kind's drift goes to the risk topic."
    )


class ReviewSettings(BaseModel):
    """Texts sampled for a human label by the score stage (``streams.review``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True, description="Sample texts worth a human look to the `review` topic."
    )
    per_source_per_minute: float = Field(
        default=6.0, gt=0,
        description="Candidates each source may add per minute (token bucket, burst as many).",
    )
    per_minute: float = Field(
        default=60.0, gt=0,
        description="Candidates all sources together may add per minute (token bucket, burst "
        "as many): a feed that rotates its source names cannot flood the queue.",
    )
    min_priority: float = Field(
        default=0.5, ge=0, le=1, description="Lowest priority (0..1) of a sampled text."
    )
    max_text_chars: int = Field(
        default=2000, ge=1, le=20_000, description="A sampled text is cut to this length."
    )
    low_confidence: float = Field(
        default=0.55, ge=0, le=1, description="Document confidence below: `low_confidence`."
    )
    margin: float = Field(
        default=0.15, ge=0, le=1,
        description="Gap between the top two probabilities below: `near_boundary`.",
    )
    entity_confidence: float = Field(
        default=0.55, ge=0, le=1,
        description="A ticker's or entity's confidence below: `low_entity_confidence`.",
    )


class StreamSettings(BaseModel):
    """Agents, validation limits and micro-batching of the stream."""

    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(default="tickerpulse", description="faust app id / consumer group.")
    batch: BatchSettings = Field(default_factory=BatchSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    max_text_chars: int = Field(default=20_000, ge=1, description="Longer texts are dead-lettered.")
    web_port: int = Field(
        default=6066, ge=0,
        description="faust worker web port (/metrics, /livez, /readyz); 0 = no web server.",
    )
    web_host: str = Field(
        default="127.0.0.1",
        description="Address the worker web port binds (0.0.0.0 for probes/scrapes from "
        "outside the host or pod).",
    )
    agents: str = Field(
        default="ingest,score,aggregate",
        description="Comma-separated agents this worker runs (scale each role apart).",
    )
    data_dir: str = Field(
        default="var/faust", description="faust's local data directory (no tables are kept)."
    )
    commit_interval_s: float = Field(
        default=1.0, gt=0, description="How often consumed offsets are committed."
    )
    model_check_s: float = Field(
        default=5.0, gt=0,
        description="How often, at most, the score stage reads the live model pointer "
        "(`tickerpulse replay promote`) and switches to a newly promoted model.",
    )
    max_message_bytes: int = Field(
        default=900_000,
        ge=4096,
        le=960_000,
        description="Largest message value read or produced. A bigger input is dead-lettered "
        "`oversize` with its size, SHA-256 and first 64 KiB (stays under the producer's "
        "1,000,000-byte request limit with key and headers).",
    )
    max_ticker_hints: int = Field(
        default=32, ge=0, le=1000,
        description="Most entries in a record's `tickers`; more: dead letter `too_many_tickers`.",
    )
    max_linked_tickers: int = Field(
        default=16, ge=1, le=1000,
        description="Most tickers one document is scored for; the most relevant are kept.",
    )
    unknown_ticker_hints: Literal["low_confidence", "reject"] = Field(
        default="low_confidence",
        description="Hints outside the known universe: kept as links of at most "
        "`unknown_hint_confidence`, or removed from the document at ingest.",
    )
    unknown_hint_confidence: float = Field(
        default=0.3, ge=0, le=1, description="Link confidence cap of an unknown hinted ticker."
    )
    ticker_universe_file: str = Field(
        default="",
        description="Extra known tickers: one per line (or first CSV column), or the SEC's "
        "company_tickers.json; empty = pytickersymbols + models/aliases.csv only.",
    )
    max_event_age_days: float = Field(
        default=1.0, gt=0,
        description="Older `published_at`/`created_at`: dead letter `timestamp_out_of_range`. "
        "At most risk.seen_window_s: an older event could be scored but never counted.",
    )
    max_event_future_s: float = Field(
        default=300.0, ge=0,
        description="Event times further ahead of the worker clock: dead letter "
        "`timestamp_out_of_range`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_batch_names(cls, data: Any) -> Any:
        """``score_batch_size`` once sized every agent (aggregate: at least 256); kept so."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        batch = dict(data.get("batch") or {})
        if "score_batch_size" in data:
            renamed("stream", data, "score_batch_size", "stream.batch.ingest/score/aggregate")
            n = int(data.pop("score_batch_size"))
            for agent, size in (("ingest", n), ("score", n), ("aggregate", max(n, 256))):
                batch.setdefault(agent, size)
        if "score_batch_within_s" in data:
            renamed("stream", data, "score_batch_within_s", "stream.batch.within_s")
            batch.setdefault("within_s", data.pop("score_batch_within_s"))
        if batch:
            data["batch"] = batch
        return data


class NoveltySettings(BaseModel):
    """Which documents are new: exact and near duplicates within a window (Redis index)."""

    model_config = ConfigDict(extra="forbid")

    window_s: int = Field(
        default=21_600,
        ge=60,
        description="How long a document counts as recent for novelty (Redis: about 1-2 KB "
        "per document over this window).",
    )
    near_duplicate_threshold: float = Field(
        default=0.6, gt=0, le=1, description="MinHash Jaccard at which a document is a near-dup."
    )


class RiskSettings(BaseModel):
    """Per-ticker risk scoring (pure, see streams/risk.py) and how long its state lives."""

    model_config = ConfigDict(extra="forbid")

    news_weight: float = Field(default=1.0, ge=0, description="Source weight of a news article.")
    social_weight: float = Field(
        default=0.5, ge=0, description="Base source weight of a social post (x reach x engagement)."
    )
    filing_weight: float = Field(
        default=1.2, ge=0,
        description="Source weight of an SEC filing or company press release (the issuer's own "
        "word).",
    )
    near_duplicate_weight: float = Field(
        default=0.25, ge=0, le=1, description="Evidence weight of a near-duplicate document."
    )
    exact_duplicate_weight: float = Field(
        default=0.0, ge=0, le=1, description="Evidence weight of an exact duplicate."
    )
    evidence_half_weight: float = Field(
        default=1.0, gt=0, description="Evidence weight at which sentiment counts half (shrinkage)."
    )
    buzz_z_saturation: float = Field(
        default=4.0, gt=0, description="Volume z-score at which the buzz component reaches 1."
    )
    buzz_min_history_s: float = Field(
        default=60.0, ge=0,
        description="Seconds a ticker must have been observed before its buzz_z is computed "
        "(0 before: buzz-spike cannot fire on a ticker's first mentions).",
    )
    buzz_history_s: float = Field(
        default=3600.0, gt=0,
        description="Observed span at which a ticker's own mention rate is its whole buzz "
        "baseline; before it, the baseline blends in the other tickers' volume.",
    )
    buzz_min_peers: int = Field(
        default=3, ge=1,
        description="Other tickers with recent mentions needed for the cross-section baseline.",
    )
    top_documents: int = Field(
        default=5, ge=1, le=50, description="Top contributing documents kept per ticker."
    )
    state_ttl_s: int = Field(
        default=3 * 86_400,
        ge=3600,
        description="Redis TTL of a ticker's state (and counted doc ids) after its last update; "
        "at least seen_window_s + max_future_s + 600.",
    )
    seen_window_s: int = Field(
        default=86_400,
        ge=600,
        description="A mention whose event time is older than this is refused (never counted), "
        "so counted doc ids are kept only this long (idempotency for good, see docs/redis.md).",
    )
    seen_max_per_ticker: int = Field(
        default=200_000,
        ge=1000,
        description="Counted doc ids kept per ticker at most; over it the oldest are dropped and "
        "mentions at or before their event time are refused from then on.",
    )
    max_future_s: int = Field(
        default=600,
        ge=0,
        description="A mention dated more than this after the worker's clock is refused.",
    )

    @model_validator(mode="after")
    def _ttl_covers_window(self) -> RiskSettings:
        if self.state_ttl_s < self.seen_window_s + self.max_future_s + 600:
            raise ValueError("risk.state_ttl_s must be at least seen_window_s + max_future_s "
                             "+ 600 (counted doc ids must outlive the window they guard)")
        return self

