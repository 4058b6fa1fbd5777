"""The one typed settings tree.

Every section is owned by the layer that uses it and composed here; constructors receive their
section, leaf modules never read the environment. Environment variables use the prefix
``TICKERPULSE_`` and ``__`` between nested names, e.g. ``TICKERPULSE_REDIS__URL``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from alerts.settings import AlertSettings
from models.settings import EngineSettings, ModelSettings
from streams.settings import (
    KafkaSettings,
    NoveltySettings,
    RedisSettings,
    RiskSettings,
    StreamSettings,
    renamed,
)
from tickerpulse.secret_files import EnvWithFiles


class ApiSettings(BaseModel):
    """The dashboard HTTP API."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Bind address of the dashboard API.")
    port: int = Field(default=8080, description="Port of the dashboard API.")
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base URL used in links sent out in alerts."
    )
    insecure: bool = Field(
        default=False,
        description="Allow serving a non-loopback address while no API token exists (the "
        "API is then open to anyone who can reach it).",
    )
    max_silence_days: float = Field(
        default=30.0, gt=0, description="Longest silence the API accepts (longer: 422)."
    )
    backend_timeout_s: float = Field(
        default=2.0, gt=0, description="Bound of one Redis or SQL read by the API; past it: 503."
    )
    readiness_timeout_s: float = Field(
        default=1.0, gt=0, description="Bound of each /readyz check (Redis, SQL)."
    )
    token_refresh_s: float = Field(
        default=2.0, gt=0, description="How often the API re-reads the API tokens from SQL "
        "(new and revoked tokens take effect within this)."
    )
    shutdown_grace_s: float = Field(
        default=5.0, ge=0, description="On SIGTERM, requests in flight get this long to finish."
    )
    access_log: bool = Field(default=True, description="Log every request (logger "
                             "`tickerpulse.api.access`, level INFO).")


class LogSettings(BaseModel):
    """Logging of every process (worker, alerts worker, API, demo)."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Root log level."
    )
    format: Literal["text", "json"] = Field(
        default="text", description="`text` lines, or `json`: one JSON object per line."
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


# (section, old name, name in the novelty section): accepted with a warning for one release
_MOVED_TO_NOVELTY = (
    ("stream", "novelty_window_s", "window_s"),
    ("risk", "near_duplicate_threshold", "near_duplicate_threshold"),
)


class Settings(BaseSettings):
    """Root of the settings tree."""

    model_config = SettingsConfigDict(
        env_prefix="TICKERPULSE_",
        env_nested_delimiter="__",
        extra="forbid",
        env_file=None,
        hide_input_in_errors=True,  # a rejected value may be a secret: never echo it
    )

    model: ModelSettings = Field(default_factory=ModelSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    novelty: NoveltySettings = Field(default_factory=NoveltySettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @model_validator(mode="before")
    @classmethod
    def _moved_to_novelty(cls, data: Any) -> Any:
        """Novelty settings once lived in ``stream`` and ``risk``; the old names still work."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        novelty = dict(data.get("novelty") or {})
        for section, old, new in _MOVED_TO_NOVELTY:
            values = data.get(section)
            if isinstance(values, dict) and old in values:
                renamed(section, values, old, f"novelty.{new}")
                values = dict(values)
                novelty.setdefault(new, values.pop(old))
                data[section] = values
        if novelty:
            data["novelty"] = novelty
        return data

    @model_validator(mode="after")
    def _event_window_within_idempotency_window(self) -> Settings:
        """An event the risk state refuses as too old must be dead-lettered, not dropped."""
        if self.stream.max_event_age_days * 86_400 > self.risk.seen_window_s:
            raise ValueError(
                "stream.max_event_age_days must not exceed risk.seen_window_s: an older event "
                "would be scored, then refused by the risk state without a dead letter")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment, where any ``X_FILE`` reads ``X`` from a file (secret_files.py)."""
        env = EnvWithFiles(settings_cls, env_settings, "TICKERPULSE_", "__")
        return init_settings, env, dotenv_settings, file_secret_settings


def load_settings() -> Settings:
    return Settings()
