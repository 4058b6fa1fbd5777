"""Progress bars for long commands: on a terminal's stderr only (pipes and logs stay clean)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
CHUNK = 256  # texts per engine call: a full length-sorting window, a bar step every call


def progress(items: Iterable[T], desc: str, total: int | None, unit: str) -> Iterator[T]:
    """``items`` as they are consumed, counted on a bar (hidden when stderr is no terminal)."""
    yield from tqdm(items, desc=desc, total=total, unit=unit, disable=None, leave=False)


class ProgressEngine:
    """An inference engine whose blocking predictions advance a bar, ``CHUNK`` texts a step;
    a context manager that closes the bar (not the engine). Every other attribute is the
    engine's own."""

    def __init__(self, engine: Any, desc: str, total: int) -> None:
        self._engine = engine
        self._bar = tqdm(desc=desc, total=total, unit="text", disable=None, leave=False)

    def predict_sync(
        self, texts: Sequence[str], hints: Sequence[Any] | None = None,
        targets: Sequence[Any] | None = None,
    ) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(texts), CHUNK):
            part = slice(start, start + CHUNK)
            extra: dict[str, Any] = {} if targets is None else {"targets": targets[part]}
            out.extend(self._engine.predict_sync(
                list(texts[part]), None if hints is None else hints[part], **extra))
            self._bar.update(len(texts[part]))
        return out

    def __enter__(self) -> ProgressEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)
