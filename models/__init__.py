"""tickerpulse ML layer: datasets, fine-tuning, evaluation, the inference engine, linking.

Takes texts, gives predictions; imports nothing from streams/alerts/tickerpulse. The public
names (see `models.api`) are imported lazily so that `models.settings` stays light; the list
is kept here literally (a name not on it must fall through to the submodule import system,
so it cannot be derived from `models.api` without importing it), and
tests/unit/test_layers.py checks that it equals `models.api.__all__`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ENTITY_TYPES",
    "SENTIMENT_LABELS",
    "Entity",
    "InferenceEngine",
    "ModelError",
    "ModelNotFoundError",
    "Prediction",
    "TargetSentiment",
    "TickerLink",
    "load_engine",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from models import api

        return getattr(api, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
