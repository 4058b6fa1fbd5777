"""Constrained BIO decoding: the best tag sequence in which every I-X follows B-X or I-X.

Per-token argmax can emit impossible sequences (O I-ORG, B-PER I-ORG) that the span decoder
then has to guess about; Viterbi over the tag log-probabilities with those transitions
forbidden picks the best *valid* sequence instead. Batched over rows in numpy: one step per
token position, each a [B, K, K] max, so the cost per batch is a few hundred microseconds.
"""

from __future__ import annotations

import numpy as np

from models.records import ENTITY_TAGS

_K = len(ENTITY_TAGS)


def _transitions() -> tuple[np.ndarray, np.ndarray]:
    """(allowed[prev, cur], allowed_start[cur]) as 0 / -inf additive scores."""
    allowed = np.zeros((_K, _K))
    start = np.zeros(_K)
    for cur, tag in enumerate(ENTITY_TAGS):
        if not tag.startswith("I-"):
            continue
        start[cur] = -np.inf
        for prev, before in enumerate(ENTITY_TAGS):
            if before[2:] != tag[2:]:
                allowed[prev, cur] = -np.inf
    return allowed, start


TRANSITIONS, START = _transitions()


def constrained_tags(
    logprobs: np.ndarray, lengths: np.ndarray, first: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Best valid tags for `logprobs` [B, T, K] where row b's real tokens are positions
    first .. first+lengths[b]-1 (after [CLS]); other positions get O with score 1.

    Returns (tag ids [B, T], probability of each chosen tag [B, T]).
    """
    batch, width, _ = logprobs.shape
    ids = np.zeros((batch, width), dtype=np.int64)
    scores = np.ones((batch, width), dtype=np.float32)
    n = int(lengths.max(initial=0))
    if n == 0:
        return ids, scores
    window = logprobs[:, first : first + n].astype(np.float64)
    score = window[:, 0] + START
    back = np.zeros((batch, n, _K), dtype=np.int64)
    keep = np.broadcast_to(np.arange(_K), (batch, _K))
    for t in range(1, n):
        candidates = score[:, :, None] + TRANSITIONS[None]
        best_prev = candidates.argmax(axis=1)
        moved = candidates.max(axis=1) + window[:, t]
        active = (t < lengths)[:, None]
        score = np.where(active, moved, score)
        back[:, t] = np.where(active, best_prev, keep)
    path = np.zeros((batch, n), dtype=np.int64)
    path[:, n - 1] = score.argmax(axis=1)
    rows = np.arange(batch)
    for t in range(n - 1, 0, -1):
        path[:, t - 1] = back[rows, t, path[:, t]]
    chosen = np.take_along_axis(window, path[:, :, None], axis=2)[:, :, 0]
    valid = np.arange(n)[None, :] < lengths[:, None]
    ids[:, first : first + n] = np.where(valid, path, 0)
    scores[:, first : first + n] = np.where(valid, np.exp(chosen), 1.0)
    return ids, scores
