"""The one typed settings tree.

Every section is owned by the layer that uses it and composed here; constructors receive their
section, leaf modules never read the environment. Environment variables use the prefix
``TICKERPULSE_`` and ``__`` between nested names, e.g. ``TICKERPULSE_REDIS__URL``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.settings import AlertSettings
from models.settings import EngineSettings, ModelSettings
from streams.settings import KafkaSettings, RedisSettings, RiskSettings, StreamSettings


class ApiSettings(BaseModel):
    """The dashboard HTTP API."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Bind address of the dashboard API.")
    port: int = Field(default=8080, description="Port of the dashboard API.")
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base URL used in links sent out in alerts."
    )


class Settings(BaseSettings):
    """Root of the settings tree."""

    model_config = SettingsConfigDict(
        env_prefix="TICKERPULSE_",
        env_nested_delimiter="__",
        extra="forbid",
        env_file=None,
    )

    model: ModelSettings = Field(default_factory=ModelSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)


def load_settings() -> Settings:
    return Settings()
