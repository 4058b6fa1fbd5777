"""The settings tree: env overrides, strictness, the settings table in docs kept in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tickerpulse.settings import Settings
from tickerpulse.settings_doc import BEGIN, END, settings_table

SETTINGS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_nested_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKERPULSE_REDIS__URL", "redis://example:6380/3")
    monkeypatch.setenv("TICKERPULSE_ENGINE__MAX_BATCH_SIZE", "7")
    settings = Settings()
    assert settings.redis.url == "redis://example:6380/3"
    assert settings.engine.max_batch_size == 7


def test_unknown_and_invalid_settings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        Settings(redis={"nope": 1})  # type: ignore[arg-type]
    monkeypatch.setenv("TICKERPULSE_ENGINE__MAX_BATCH_SIZE", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_settings_table_matches_code() -> None:
    text = SETTINGS_PAGE.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/configuration.md lacks the settings-table markers"
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert documented == settings_table(), "run `python scripts/sync_settings_table.py`"


def test_event_window_may_not_outlast_the_idempotency_window() -> None:
    with pytest.raises(ValidationError, match="max_event_age_days"):
        Settings(stream={"max_event_age_days": 2}, risk={"seen_window_s": 86_400})
    Settings(stream={"max_event_age_days": 2}, risk={"seen_window_s": 2 * 86_400})
