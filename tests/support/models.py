"""The built default model for the slow tests that need a real one."""

from __future__ import annotations

import pytest

from models.settings import ModelSettings
from models.store import serving_path


def default_model_or_skip(settings: ModelSettings) -> str:
    """The default model's directory; the test is skipped when it is not built or the shared
    training data is missing (`make test` builds the model first)."""
    try:
        path = serving_path(None, settings.cache_dir)
    except Exception:  # noqa: BLE001 - not built yet
        pytest.skip("no default model: run `tickerpulse model build-default`")
    if not (settings.data_dir / "tfns_train.csv").exists():
        pytest.skip(f"no shared data at {settings.data_dir}")
    return path
