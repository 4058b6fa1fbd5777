"""Settings sections owned by the streaming layer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


class RedisSettings(BaseModel):
    """The Redis holding per-ticker risk state."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL.")
    key_prefix: str = Field(default="tp:", description="Prefix of every Redis key.")
    retry_forever: bool = Field(
        default=True, description="Wait and retry while Redis is unreachable."
    )


class StreamSettings(BaseModel):
    """Agents, validation limits and micro-batching of the stream."""

    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(default="tickerpulse", description="faust app id / consumer group.")
    score_batch_size: int = Field(default=64, ge=1, description="`take(n, within)` batch size.")
    score_batch_within_s: float = Field(default=0.05, gt=0, description="`take` max wait.")
    max_text_chars: int = Field(default=20_000, ge=1, description="Longer texts are dead-lettered.")
    novelty_window_s: int = Field(
        default=86_400, ge=60, description="How long a document counts as recent for novelty."
    )
    web_port: int = Field(default=6066, description="faust worker web port.")
