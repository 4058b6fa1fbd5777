"""Token-budget micro-batching, as pure functions (the engine thread calls them).

A batch's cost is what the accelerator really computes: every row padded to the longest,
so cost = longest x count. Sorting by length first (length bucketing) keeps that close to
the real token count.
"""

from __future__ import annotations

from collections.abc import Sequence


def padded_cost(lengths: Sequence[int]) -> int:
    return max(lengths, default=0) * len(lengths)


def take_batch(sorted_lengths: Sequence[int], max_size: int, max_tokens: int) -> int:
    """How many of the (ascending) lengths fit in one batch; at least one, always."""
    count = 0
    for length in sorted_lengths:
        if count >= max_size or (count + 1) * length > max_tokens:
            break
        count += 1
    return max(count, 1) if sorted_lengths else 0


def plan_batches(lengths: Sequence[int], max_size: int, max_tokens: int) -> list[list[int]]:
    """Indices of `lengths`, grouped into batches by ascending length under both limits."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    while order:
        n = take_batch([lengths[i] for i in order], max_size, max_tokens)
        batches.append(order[:n])
        order = order[n:]
    return batches
