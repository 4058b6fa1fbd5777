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


def test_each_agent_has_its_own_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKERPULSE_STREAM__BATCH__AGGREGATE", "512")
    batch = Settings().stream.batch
    assert (batch.ingest, batch.score, batch.aggregate) == (128, 128, 512)


def test_old_batch_size_sizes_all_agents_as_before_and_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TICKERPULSE_STREAM__SCORE_BATCH_SIZE", "64")
    monkeypatch.setenv("TICKERPULSE_STREAM__SCORE_BATCH_WITHIN_S", "0.2")
    monkeypatch.setenv("TICKERPULSE_STREAM__BATCH__SCORE", "32")  # the new name wins
    with caplog.at_level("WARNING", logger="streams.settings"):
        batch = Settings().stream.batch
    assert (batch.ingest, batch.score, batch.aggregate, batch.within_s) == (64, 32, 256, 0.2)
    assert "stream.score_batch_size (TICKERPULSE_STREAM__SCORE_BATCH_SIZE) is deprecated" in (
        caplog.text)
    assert "stream.batch.within_s" in caplog.text
    assert Settings(stream={"score_batch_size": 300}).stream.batch.aggregate == 300  # type: ignore[arg-type]


def test_novelty_settings_under_their_old_names_still_work_and_warn(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TICKERPULSE_RISK__NEAR_DUPLICATE_THRESHOLD", "0.7")
    monkeypatch.setenv("TICKERPULSE_STREAM__NOVELTY_WINDOW_S", "600")
    with caplog.at_level("WARNING", logger="streams.settings"):
        settings = Settings()
    assert (settings.novelty.near_duplicate_threshold, settings.novelty.window_s) == (0.7, 600)
    assert "use novelty.near_duplicate_threshold" in caplog.text
    assert "use novelty.window_s" in caplog.text
    monkeypatch.setenv("TICKERPULSE_NOVELTY__WINDOW_S", "900")
    assert Settings().novelty.window_s == 900


def test_settings_without_old_names_warn_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        Settings(novelty={"window_s": 120}, stream={"batch": {"score": 8}})  # type: ignore[arg-type]
    assert "deprecated" not in caplog.text
