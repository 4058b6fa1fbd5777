"""tickerpulse ML layer: datasets, fine-tuning, evaluation, the inference engine, linking.

Takes texts, gives predictions; imports nothing from streams/alerts/tickerpulse. The public
names are those of `models.api` (its `__all__`), imported lazily on first use so that
`models.settings` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    api = importlib.import_module("models.api")
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
