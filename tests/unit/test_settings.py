"""The settings tree: env overrides, strictness, and the README table kept in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tickerpulse.settings import Settings
from tickerpulse.settings_doc import BEGIN, END, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


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


def test_readme_settings_table_matches_code() -> None:
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "README lacks the settings-table markers"
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert documented == settings_table(), "run `tickerpulse config table` and paste it"
