"""Sentiment about one entity: character spans -> token masks -> the target head.

The engine asks the target head about every linked ticker's spans (and any span a caller
names, e.g. `model eval-targets`); all spans of a batch go through the head in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from models.records import SENTIMENT_LABELS, TargetSentiment
from models.shapes import Encoded

Span = tuple[int, int]


def token_mask(enc: Encoded, spans: Sequence[Span], width: int) -> np.ndarray:
    """1 on every token that overlaps one of the character spans (special tokens never)."""
    mask = np.zeros(width, dtype=np.float32)
    for i, (start, end) in enumerate(enc.offsets[:width]):
        if end > start and any(start < s_end and s_start < end for s_start, s_end in spans):
            mask[i] = 1.0
    return mask


def target_probabilities(
    head: torch.nn.Module,
    states: np.ndarray,  # [B, T, H]
    pooled: np.ndarray,  # [B, H]
    attention_mask: np.ndarray,  # [B, T]
    rows: Sequence[int],
    masks: Sequence[np.ndarray],  # each [T]
) -> np.ndarray:
    """Probabilities [N, 3] for N spans (rows[i]: the batch row span i is in)."""
    if not rows:
        return np.zeros((0, len(SENTIMENT_LABELS)), dtype=np.float32)
    index = torch.as_tensor(np.asarray(rows, dtype=np.int64))
    with torch.inference_mode():
        s = torch.from_numpy(np.ascontiguousarray(states, dtype=np.float32))[index]
        p = torch.from_numpy(np.ascontiguousarray(pooled, dtype=np.float32))[index]
        a = torch.from_numpy(attention_mask)[index]
        m = torch.from_numpy(np.stack(masks))
        logits = head(s, a, m, p)
        return torch.softmax(logits.float(), dim=-1).numpy()


def as_target(probs: np.ndarray, source: str = "entity") -> TargetSentiment:
    best = int(np.argmax(probs))
    return TargetSentiment(
        label=SENTIMENT_LABELS[best],
        probabilities={label: float(probs[i]) for i, label in enumerate(SENTIMENT_LABELS)},
        confidence=float(probs[best]),
        source=source,
    )
