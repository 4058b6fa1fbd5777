"""The inference engine: a bounded queue, token-budget micro-batches, one model thread.

    predict() ──▶ bounded queue (awaits when full) ──▶ model thread:
        collect up to `sort_window` texts (waiting at most max_wait_ms for a full batch)
        ──▶ tokenise ──▶ sort by length, cut batches under max_batch_tokens/max_batch_size
        ──▶ run the first batch, put the rest back at the queue front
        ──▶ `models.postprocess`: decode entities (constrained BIO), link tickers, the
           target head on every linked ticker's spans ──▶ resolve futures on their own event loop
           (loop.call_soon_threadsafe), or a concurrent Future for predict_sync.

The model never runs on an event loop: one dedicated thread owns it (and the tokenizer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from models.batching import plan_batches
from models.errors import EngineClosedError
from models.linking import TickerLinker
from models.postprocess import Request, postprocess
from models.records import Prediction
from models.runners import BatchOutput
from models.settings import EngineSettings
from models.shapes import Encoded, encode, pad_batch
from models.store import LoadedModel
from models.targets import Span

log = logging.getLogger(__name__)
Deliver = Callable[[Any], None]


@dataclass
class _Item:
    text: str
    hints: tuple[str, ...]
    deliver: Deliver
    enqueued: float
    encoded: Encoded | None = field(default=None)
    targets: tuple[Span, ...] = ()  # extra spans a caller asks the target head about

    @property
    def enc(self) -> Encoded:
        if self.encoded is None:
            raise RuntimeError("text not tokenised yet")
        return self.encoded


def _settle(future: asyncio.Future | concurrent.futures.Future, result: Any) -> None:
    if future.done():  # cancelled by the caller meanwhile
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _async_deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> Deliver:
    def deliver(result: Any) -> None:
        try:
            loop.call_soon_threadsafe(_settle, future, result)
        except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
            pass

    return deliver


class InferenceEngine:
    """Serve one model to many callers; see the module docstring for the data path."""

    def __init__(
        self,
        loaded: LoadedModel,
        runner: Callable[[dict[str, np.ndarray]], BatchOutput],
        settings: EngineSettings,
        linker: TickerLinker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model_version = loaded.version
        self.backend = getattr(runner, "name", type(runner).__name__)
        self._loaded = loaded
        self._runner = runner
        self._settings = settings
        self.max_batch_size: int = settings.max_batch_size or int(getattr(runner, "batch_size", 64))
        self._linker = linker
        self._clock = clock
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._space_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batch_latencies: deque[float] = deque(maxlen=100_000)
        self.batch_sizes: deque[int] = deque(maxlen=100_000)
        # Called on the model thread after each batch with (seconds, texts): metrics hook.
        self.on_batch: Callable[[float, int], None] | None = None

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._closed:
                raise EngineClosedError("engine is closed")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="tickerpulse-inference", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._wake_space_waiters()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        with self._cond:
            leftovers, self._queue = list(self._queue), deque()
        for item in leftovers:
            item.deliver(EngineClosedError("engine closed before this text was scored"))

    def __enter__(self) -> InferenceEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> bool:
        """The model thread is up and the engine not closed (readiness)."""
        return not self._closed and self._thread is not None and self._thread.is_alive()

    # callers ---------------------------------------------------------------------------
    async def predict(
        self, texts: Sequence[str], hints: Sequence[Sequence[str]] | None = None
    ) -> list[Prediction]:
        loop = asyncio.get_running_loop()
        futures = []
        for text, hint in zip(texts, self._hints(texts, hints), strict=True):
            future = loop.create_future()
            await self._put_async(_Item(text, hint, _async_deliver(loop, future), 0.0), loop)
            futures.append(future)
        return list(await asyncio.gather(*futures))

    def predict_sync(
        self,
        texts: Sequence[str],
        hints: Sequence[Sequence[str]] | None = None,
        targets: Sequence[Sequence[Span]] | None = None,
    ) -> list[Prediction]:
        """Blocking predict; `targets[i]`: character spans of text i to score with the target
        head (answered in `Prediction.targets`, same order)."""
        wanted = [()] * len(texts) if targets is None else [tuple(t) for t in targets]
        if len(wanted) != len(texts):
            raise ValueError(f"{len(wanted)} target lists for {len(texts)} texts")
        futures = []
        for text, hint, spans in zip(texts, self._hints(texts, hints), wanted, strict=True):
            future: concurrent.futures.Future = concurrent.futures.Future()
            self._put_blocking(_Item(text, hint, partial(_settle, future), 0.0, targets=spans))
            futures.append(future)
        return [f.result() for f in futures]

    @staticmethod
    def _hints(texts: Sequence[str], hints: Sequence[Sequence[str]] | None) -> list[tuple]:
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of texts, not one string")
        if hints is None:
            return [()] * len(texts)
        if len(hints) != len(texts):
            raise ValueError(f"{len(hints)} hint lists for {len(texts)} texts")
        return [tuple(h) for h in hints]

    def _admit(self, item: _Item) -> bool:
        """Append if there is room (caller holds the lock)."""
        if self._closed:
            raise EngineClosedError("engine is closed")
        if len(self._queue) >= self._settings.max_queue:
            return False
        item.enqueued = self._clock()
        self._queue.append(item)
        self._cond.notify_all()
        return True

    async def _put_async(self, item: _Item, loop: asyncio.AbstractEventLoop) -> None:
        if self._thread is None:
            self.start()
        while True:
            with self._cond:
                if self._admit(item):
                    return
                waiter = loop.create_future()
                self._space_waiters.append((loop, waiter))
            await waiter  # backpressure: resolved when the model thread frees room

    def _put_blocking(self, item: _Item) -> None:
        if self._thread is None:
            self.start()
        with self._cond:
            while not self._admit(item):
                self._cond.wait()

    def _wake_space_waiters(self) -> None:
        waiters, self._space_waiters = self._space_waiters, []
        for loop, waiter in waiters:
            try:
                loop.call_soon_threadsafe(_settle, waiter, None)
            except RuntimeError:
                pass

    # the model thread ------------------------------------------------------------------
    def _collect(self) -> list[_Item] | None:
        """Wait for work; take up to sort_window items (None when closed and drained)."""
        s = self._settings
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            deadline = self._queue[0].enqueued + s.max_wait_ms / 1000.0
            while len(self._queue) < self.max_batch_size and not self._closed:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            window = [self._queue.popleft() for _ in range(min(s.sort_window, len(self._queue)))]
            self._wake_space_waiters()
            self._cond.notify_all()  # blocking producers
            return window

    def _run(self) -> None:
        while True:
            window = self._collect()
            if window is None:
                return
            try:
                self._step(window)
            except Exception as exc:  # a broken batch fails its callers, not the thread
                log.exception("inference batch failed")
                for item in window:
                    item.deliver(exc)

    def _step(self, window: list[_Item]) -> None:
        s = self._settings
        fresh = [it for it in window if it.encoded is None]
        if fresh:
            encoded = encode(
                self._loaded.tokenizer,
                [it.text for it in fresh],
                s.max_length,
                self._loaded.gazetteer,
            )
            for it, enc in zip(fresh, encoded, strict=True):
                it.encoded = enc
        groups = plan_batches(
            [len(it.enc) for it in window], self.max_batch_size, s.max_batch_tokens
        )
        batch = [window[i] for i in groups[0]]
        rest = [window[i] for group in groups[1:] for i in group]
        if rest:
            with self._cond:
                self._queue.extendleft(reversed(rest))  # overflow back to the front
        self._execute(batch)

    def _execute(self, batch: list[_Item]) -> None:
        started = time.perf_counter()
        encoded = [it.enc for it in batch]
        arrays = pad_batch(encoded, self._loaded.tokenizer.pad_token_id or 0)
        results = postprocess(
            self._loaded,
            [Request(it.text, it.enc, it.hints, it.targets) for it in batch],
            self._runner(arrays),
            arrays["attention_mask"],
            self._linker,
            self.model_version,
        )
        elapsed = time.perf_counter() - started
        self.batch_latencies.append(elapsed)
        self.batch_sizes.append(len(batch))
        for item, result in zip(batch, results, strict=True):
            item.deliver(result)
        if self.on_batch is not None:
            self.on_batch(elapsed, len(batch))
