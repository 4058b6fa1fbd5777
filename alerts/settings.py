"""Settings sections owned by the alerts layer."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)


def _check_whsec(value: SecretStr) -> SecretStr:
    from alerts.signing import decode_secret

    decode_secret(value.get_secret_value())  # raises a clear error when malformed
    return value


class WebhookEndpointSettings(BaseModel):
    """One webhook receiver and its Standard Webhooks `whsec_` secrets.

    Every secret signs each message (one ``v1,`` signature per secret in
    ``webhook-signature``), so a receiver holding any one of them verifies: add the new secret,
    move the receiver over, then drop the old one. Secrets come from ``secret``, ``secrets``
    and the files in ``secret_files``, together.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # secrets stay out

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Endpoint name (unique).")
    url: str = Field(min_length=1, description="URL the signed alerts are POSTed to.")
    secret: SecretStr | None = Field(
        default=None, description="`whsec_` + base64 of 24-64 random bytes."
    )
    secrets: list[SecretStr] = Field(
        default_factory=list,
        description="More `whsec_` secrets signing side by side (rotation).",
    )
    secret_files: list[str] = Field(
        default_factory=list,
        description="Files holding `whsec_` secrets, one per line (Docker/Kubernetes secrets); "
        "read when the settings load.",
    )
    timeout_s: float = Field(default=5.0, gt=0, description="Per-request timeout.")
    enabled: bool = Field(default=True, description="Disabled endpoints receive nothing.")
    digest: bool = Field(default=False, description="Also send a daily digest to this endpoint.")
    _from_files: list[SecretStr] = PrivateAttr(default_factory=list)

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else _check_whsec(value)

    @field_validator("secrets")
    @classmethod
    def _whsecs(cls, value: list[SecretStr]) -> list[SecretStr]:
        return [_check_whsec(v) for v in value]

    @model_validator(mode="after")
    def _read_files(self) -> WebhookEndpointSettings:
        loaded: list[SecretStr] = []
        for path in self.secret_files:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"endpoint {self.name}: cannot read secret file {path}: "
                                 f"{exc.strerror}") from None
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if not lines:
                raise ValueError(f"endpoint {self.name}: secret file {path} is empty")
            for line in lines:
                try:
                    loaded.append(_check_whsec(SecretStr(line)))
                except ValueError as exc:  # never echo the file's content
                    raise ValueError(f"endpoint {self.name}: secret file {path}: {exc}") from None
        self._from_files = loaded
        if not self.signing_secrets():
            raise ValueError(f"endpoint {self.name} needs a secret (secret, secrets or "
                             "secret_files)")
        return self

    def signing_secrets(self) -> list[str]:
        """Every distinct secret of this endpoint, in configuration order."""
        values = ([self.secret] if self.secret is not None else []) + self.secrets
        return list(dict.fromkeys(s.get_secret_value() for s in values + self._from_files))


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


class ReviewQueueSettings(BaseModel):
    """The review queue in SQL, filled from the `review` topic by the alerts worker."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True, description="The alerts worker stores the `review` topic in SQL."
    )
    consumer_group: str = Field(
        default="tickerpulse-review", description="Consumer group reading the `review` topic."
    )
    max_items: int = Field(
        default=5000, ge=1,
        description="Most unlabelled items kept; beyond, the lowest priority ones are evicted.",
    )


class AlertSettings(BaseModel):
    """Alert rules, delivery and history."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # URL passwords

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
    review: ReviewQueueSettings = Field(default_factory=ReviewQueueSettings)

    @field_validator("endpoints")
    @classmethod
    def _unique_names(cls, value: list[WebhookEndpointSettings]) -> list[WebhookEndpointSettings]:
        names = [e.name for e in value]
        if len(names) != len(set(names)):
            raise ValueError(f"webhook endpoint names must be unique: {names}")
        return value
