"""The public surface of the ML layer (what the stream layer codes against)."""

from __future__ import annotations

from models.engine import InferenceEngine
from models.errors import ModelError, ModelNotFoundError
from models.loader import load_engine
from models.records import (
    ENTITY_TYPES,
    SENTIMENT_LABELS,
    Entity,
    Prediction,
    TargetSentiment,
    TickerLink,
)

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
