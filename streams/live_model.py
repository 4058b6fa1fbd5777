"""The engine the live score stage calls: the promoted model, switched without a restart.

:class:`LiveModel` satisfies :class:`streams.processing.Engine`. Before a prediction, at most
every ``stream.model_check_s`` seconds, it reads the live model pointer
(:mod:`streams.store.model_pointer`). When the pointer names another model directory than the
one served, it loads and starts the new engine off the event loop (``asyncio.to_thread``),
swaps it in between two batches, tells ``on_switch`` (the worker re-bases feed drift on the
new model's reference profile), and closes the old one. A pointer that cannot be read, or a
model that does not load, is logged and counted (``model_switches_total{outcome="failed"}``)
and the old model keeps serving; the pointer is tried again at the next check.

The score stage runs at concurrency 1, so a batch is predicted wholly by one model: every
ScoredMention (and so every RiskUpdate) after the cut-over carries the new ``model_version``,
every one before it the old one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from models.records import Prediction
from streams.metrics import Metrics
from streams.store.model_pointer import ModelPointer

log = logging.getLogger(__name__)


class ServingEngine(Protocol):
    """A started engine (``models.api.InferenceEngine``)."""

    model_version: str

    @property
    def running(self) -> bool: ...

    async def predict(
        self, texts: Sequence[str], hints: Sequence[Sequence[str]] | None = None
    ) -> list[Prediction]: ...

    def close(self) -> None: ...


def same_model(a: str, b: str) -> bool:
    return str(Path(a).resolve()) == str(Path(b).resolve()) if a and b else a == b


class LiveModel:
    """The served engine, following the live model pointer."""

    def __init__(
        self, engine: ServingEngine, path: str,
        read_pointer: Callable[[], Awaitable[ModelPointer | None]],
        load: Callable[[ModelPointer], ServingEngine], check_s: float, metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        on_switch: Callable[[ServingEngine, str], None] | None = None,
    ) -> None:
        self.engine, self.path = engine, path
        self.on_switch = on_switch  # (new engine, its path): e.g. drift takes its profile
        self.model_version = engine.model_version
        self.read_pointer, self.load, self.check_s = read_pointer, load, check_s
        self.metrics, self.clock = metrics, clock
        self._checked: float | None = None

    @property
    def running(self) -> bool:
        return self.engine.running

    async def predict(
        self, texts: Sequence[str], hints: Sequence[Sequence[str]] | None = None
    ) -> list[Prediction]:
        await self.follow_pointer()
        return await self.engine.predict(texts, hints)

    async def follow_pointer(self) -> bool:
        """Switch to the pointer's model if it changed (at most every ``check_s``); True if
        a switch happened."""
        now = self.clock()
        if self._checked is not None and now - self._checked < self.check_s:
            return False
        self._checked = now
        try:
            pointer = await self.read_pointer()
        except Exception:  # noqa: BLE001 - a pointer we cannot read leaves the model as it is
            log.exception("could not read the live model pointer; still serving %s",
                          self.model_version)
            self.metrics.inc("model_switches_total", outcome="failed")
            return False
        if pointer is None or same_model(pointer.path, self.path):
            return False
        try:
            new = await asyncio.to_thread(self.load, pointer)
        except Exception:  # noqa: BLE001 - a model that does not load must not stop scoring
            log.exception("promoted model %s (%s) did not load; still serving %s",
                          pointer.path, pointer.version, self.model_version)
            self.metrics.inc("model_switches_total", outcome="failed")
            return False
        old, old_version = self.engine, self.model_version
        self.engine, self.path, self.model_version = new, pointer.path, new.model_version
        if self.on_switch is not None:
            try:
                self.on_switch(new, pointer.path)
            except Exception:  # noqa: BLE001 - the switch is done; its followers are extras
                log.exception("after switching to %s", new.model_version)
        self.metrics.inc("model_switches_total", outcome="switched")
        log.warning("switched the live model %s -> %s (%s, promoted %s by %s)", old_version,
                    new.model_version, pointer.path, pointer.promoted_at, pointer.who)
        await asyncio.to_thread(old.close)
        return True

    def close(self) -> None:
        self.engine.close()
