"""Settings sections owned by the streaming layer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class KafkaSettings(BaseModel):
    """How to reach the Kafka-protocol broker."""

    model_config = ConfigDict(extra="forbid")

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


class StreamSettings(BaseModel):
    """Agents, validation limits and micro-batching of the stream."""

    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(default="tickerpulse", description="faust app id / consumer group.")
    score_batch_size: int = Field(
        default=128, ge=1, description="`take(n, within)` batch size (the engine splits it)."
    )
    score_batch_within_s: float = Field(default=0.05, gt=0, description="`take` max wait.")
    max_text_chars: int = Field(default=20_000, ge=1, description="Longer texts are dead-lettered.")
    novelty_window_s: int = Field(
        default=21_600,
        ge=60,
        description="How long a document counts as recent for novelty (Redis: about 1-2 KB "
        "per document over this window).",
    )
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


class RiskSettings(BaseModel):
    """Per-ticker risk scoring (pure, see streams/risk.py) and how long its state lives."""

    model_config = ConfigDict(extra="forbid")

    news_weight: float = Field(default=1.0, ge=0, description="Source weight of a news article.")
    social_weight: float = Field(
        default=0.5, ge=0, description="Base source weight of a social post (x reach x engagement)."
    )
    near_duplicate_weight: float = Field(
        default=0.25, ge=0, le=1, description="Evidence weight of a near-duplicate document."
    )
    exact_duplicate_weight: float = Field(
        default=0.0, ge=0, le=1, description="Evidence weight of an exact duplicate."
    )
    near_duplicate_threshold: float = Field(
        default=0.6, gt=0, le=1, description="MinHash Jaccard at which a document is a near-dup."
    )
    evidence_half_weight: float = Field(
        default=1.0, gt=0, description="Evidence weight at which sentiment counts half (shrinkage)."
    )
    buzz_z_saturation: float = Field(
        default=4.0, gt=0, description="Volume z-score at which the buzz component reaches 1."
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


AGENT_NAMES = ("ingest", "score", "aggregate")
