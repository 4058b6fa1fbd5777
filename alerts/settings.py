"""Settings sections owned by the alerts layer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AlertSettings(BaseModel):
    """Alert rules, delivery and history."""

    model_config = ConfigDict(extra="forbid")

    database_url: str = Field(
        default="sqlite:///var/tickerpulse.db",
        description="SQLAlchemy URL of the alert history (SQLite file or PostgreSQL).",
    )
