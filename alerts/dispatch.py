"""The delivery pipeline: drain the SQL outbox through the notifiers, in order per ticker."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from alerts.metrics import delivery_outcome
from alerts.notifiers import Notifier
from alerts.retry import next_attempt_at
from alerts.settings import RetrySettings
from alerts.store.outbox import AttemptResult, Claimed, OutboxQueue
from streams.metrics import Metrics

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Dispatcher:
    """``run_once`` sends every due delivery; called after each decision and by the retry job.

    Each round claims the oldest pending delivery of every (channel, ticker) queue, sends them
    concurrently and records each attempt; rounds repeat until nothing is due. A claim lasts
    ``claim_s`` on the database's clock; a result is recorded only under the claim's fencing
    token (see :mod:`alerts.store.outbox`), so a worker that outlived its claim changes nothing.
    """

    def __init__(
        self,
        queue: OutboxQueue,
        notifiers: Mapping[str, Notifier],
        policy: RetrySettings,
        clock: Callable[[], datetime],
        *,
        holder: str | None = None,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.queue = queue
        self.notifiers = dict(notifiers)
        self.policy = policy
        self.clock = clock
        self.holder = holder or worker_id()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._lock = asyncio.Lock()
        self._kicked = False
        self._task: asyncio.Task[None] | None = None
        self.attempts_made = 0

    def kick(self) -> None:
        """Deliver soon, in the background (the consumer does not wait for receivers)."""
        self._kicked = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._kicked:
            self._kicked = False
            try:
                await self.run_once()
            except Exception:  # the retry job picks up whatever is left
                log.exception("delivery round failed")

    async def wait_idle(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def run_once(self) -> int:
        async with self._lock:
            made = 0
            while True:
                claim_for = timedelta(seconds=self.policy.claim_s)
                heads = await asyncio.to_thread(
                    self.queue.claim_heads, self.clock(), self.holder, claim_for
                )
                if not heads:
                    return made
                await asyncio.gather(*(self._deliver(item) for item in heads))
                made += len(heads)
                self.attempts_made += len(heads)

    async def _deliver(self, item: Claimed) -> None:
        notifier = self.notifiers.get(item.channel)
        took: float | None = None  # seconds the notifier took (the latency histogram)
        if notifier is None:
            result = AttemptResult("fatal", 0.0, None, f"channel {item.channel} not configured")
        else:
            started = time.perf_counter()
            try:
                result = await notifier.send(item.event_id, item.ticker, item.payload.encode())
                took = time.perf_counter() - started
            except Exception as exc:  # a notifier bug must not stop the other deliveries
                log.exception("notifier %s failed on %s", item.channel, item.event_id,
                              extra={"event_id": item.event_id, "ticker": item.ticker})
                result = AttemptResult("retryable", 0.0, None, f"internal: {exc!r}"[:500])
        now = self.clock()
        next_at = None
        if result.outcome == "retryable":
            next_at = next_attempt_at(now, item.attempt, item.deadline_at, self.policy, self.rng)
        try:
            status = await asyncio.to_thread(self.queue.record, item, result, now, next_at)
        except Exception as exc:  # SQL unreachable: the claim expires, the delivery goes again
            log.warning("%s %s attempt %d (%s) not recorded, resent after the claim expires: "
                        "%s", item.channel, item.event_id, item.attempt, result.outcome, exc)
            return
        outcome = delivery_outcome(result.outcome, next_at is not None)
        if self.metrics is not None:
            self.metrics.inc("alert_deliveries_total", channel=item.channel,
                             outcome=outcome)
            if took is not None:
                self.metrics.record("alert_delivery_duration_seconds", took,
                                    channel=item.channel)
        level = logging.INFO if status not in ("failed", "stale") else logging.WARNING
        log.log(level, "%s %s attempt %d: %s (%s)", item.channel, item.event_id, item.attempt,
                result.outcome, result.error or result.http_status,
                extra={"event_id": item.event_id, "ticker": item.ticker,
                       "channel": item.channel, "outcome": outcome})
