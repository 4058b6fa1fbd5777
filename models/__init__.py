"""tickerpulse ML layer: datasets, fine-tuning, evaluation, the inference engine, linking.

Takes texts, gives predictions; imports nothing from streams/alerts/tickerpulse. The public
names (see `models.api`) are imported lazily so that `models.settings` stays light.
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
    "TickerLink",
    "load_engine",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from models import api

        return getattr(api, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
