"""Retry timing (pure): exponential backoff with jitter, bounded by the delivery deadline."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from alerts.settings import RetrySettings


def backoff_s(attempt: int, policy: RetrySettings, rng: random.Random) -> float:
    """Delay after failed attempt number ``attempt`` (1-based).

    ``base = initial * multiplier**(attempt-1)`` capped at ``max_backoff_s``; a ``jitter``
    fraction of it is drawn at random so that many failed deliveries do not retry in lockstep.
    """
    base = min(policy.max_backoff_s, policy.initial_backoff_s * policy.multiplier ** (attempt - 1))
    return base * (1.0 - policy.jitter) + rng.uniform(0.0, base * policy.jitter)


def next_attempt_at(
    now: datetime, attempt: int, deadline_at: datetime, policy: RetrySettings, rng: random.Random
) -> datetime | None:
    """When to try again, or None when the deadline has passed (the delivery is failed).

    A retry that would land after the deadline is moved to the deadline: one last try.
    """
    if now >= deadline_at:
        return None
    return min(now + timedelta(seconds=backoff_s(attempt, policy, rng)), deadline_at)
