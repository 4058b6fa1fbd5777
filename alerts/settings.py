"""Settings sections owned by the alerts layer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class WebhookEndpointSettings(BaseModel):
    """One webhook receiver; its secret is a Standard Webhooks `whsec_` base64 secret."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Endpoint name (unique).")
    url: str = Field(min_length=1, description="URL the signed alerts are POSTed to.")
    secret: SecretStr = Field(description="`whsec_` + base64 of 24-64 random bytes.")
    timeout_s: float = Field(default=5.0, gt=0, description="Per-request timeout.")
    enabled: bool = Field(default=True, description="Disabled endpoints receive nothing.")
    digest: bool = Field(default=False, description="Also send a daily digest to this endpoint.")

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr) -> SecretStr:
        from alerts.signing import decode_secret

        decode_secret(value.get_secret_value())  # raises a clear error when malformed
        return value


class RetrySettings(BaseModel):
    """Exponential backoff with jitter for webhook and Kafka deliveries."""

    model_config = ConfigDict(extra="forbid")

    initial_backoff_s: float = Field(default=1.0, gt=0, description="First retry delay.")
    multiplier: float = Field(default=2.0, ge=1.0, description="Backoff growth per attempt.")
    max_backoff_s: float = Field(default=300.0, gt=0, description="Upper bound of one delay.")
    jitter: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Fraction of each delay drawn at random."
    )
    deadline_s: float = Field(
        default=86_400.0, gt=0, description="After this long undelivered, an alert is failed."
    )
    claim_s: float = Field(
        default=120.0, gt=0, description="A delivery claimed by a worker is retaken after this."
    )


class SchedulerSettings(BaseModel):
    """APScheduler jobs and the leader lease that lets one scheduler act at a time."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Run the scheduled jobs in `alerts run`.")
    delivery_interval_s: float = Field(default=1.0, gt=0, description="Retry job period.")
    snapshot_interval_min: float = Field(
        default=5.0, gt=0, description="Risk snapshots to SQL every N minutes."
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Alerts, attempts and snapshots older are deleted."
    )
    retention_interval_min: float = Field(default=60.0, gt=0, description="Clean-up period.")
    digest_hour_utc: int = Field(default=8, ge=0, le=23, description="Hour of the daily digest.")
    lease_s: float = Field(
        default=15.0, gt=0, description="Leader lease length; another scheduler takes over after."
    )


class AlertSettings(BaseModel):
    """Alert rules, delivery and history."""

    model_config = ConfigDict(extra="forbid")

    database_url: str = Field(
        default="sqlite:///var/tickerpulse.db",
        description="SQLAlchemy URL of the alert history (SQLite file or PostgreSQL).",
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply Alembic migrations when the alerts worker starts."
    )
    rules_path: str = Field(
        default="",
        description="YAML rules file, validated at start; empty = the packaged example rules.",
    )
    endpoints: list[WebhookEndpointSettings] = Field(
        default_factory=list, description="Webhook endpoints (JSON list in the environment)."
    )
    kafka_enabled: bool = Field(
        default=True, description="Also publish every alert on the Kafka `alerts` topic."
    )
    consumer_group: str = Field(
        default="tickerpulse-alerts", description="Consumer group reading the `risk` topic."
    )
    timer_interval_s: float = Field(
        default=5.0, gt=0, description="How often `for`/cooldown/repeat timers run without input."
    )
    webhook_timestamp_tolerance_s: int = Field(
        default=300, gt=0, description="Receiver helper: accepted clock skew of signatures."
    )
    http_port: int = Field(
        default=6067, ge=0, le=65535,
        description="Port of the alerts worker's /metrics, /livez, /readyz; 0 = no server.",
    )
    http_host: str = Field(
        default="127.0.0.1",
        description="Address that server binds (0.0.0.0 for probes/scrapes from outside).",
    )
    retry: RetrySettings = Field(default_factory=RetrySettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)

    @field_validator("endpoints")
    @classmethod
    def _unique_names(cls, value: list[WebhookEndpointSettings]) -> list[WebhookEndpointSettings]:
        names = [e.name for e in value]
        if len(names) != len(set(names)):
            raise ValueError(f"webhook endpoint names must be unique: {names}")
        return value
