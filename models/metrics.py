"""Metrics: sentence classification and exact-span entity scores (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from models.records import ENTITY_TYPES, SENTIMENT_LABELS

Span = tuple[str, int, int]  # (type, start, end)


def classification_report(gold: Sequence[str], pred: Sequence[str]) -> dict:
    """n, accuracy, macro_f1, per_class P/R/F1/support, confusion (rows gold, cols pred)."""
    labels = list(SENTIMENT_LABELS)
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, pred, strict=True):
        confusion[index[g], index[p]] += 1
    per_class = {}
    for i, label in enumerate(labels):
        tp = int(confusion[i, i])
        precision = tp / max(int(confusion[:, i].sum()), 1)
        recall = tp / max(int(confusion[i, :].sum()), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": int(confusion[i, :].sum()),
        }
    n = int(confusion.sum())
    return {
        "n": n,
        "accuracy": round(float(np.trace(confusion)) / max(n, 1), 4),
        "macro_f1": round(float(np.mean([c["f1"] for c in per_class.values()])), 4),
        "per_class": per_class,
        "labels": labels,
        "confusion": confusion.tolist(),
    }


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "gold": n_gold,
        "predicted": n_pred,
    }


def entity_report(gold: Iterable[set[Span]], pred: Iterable[set[Span]]) -> dict:
    """Exact-span P/R/F1 overall and per type, over sentences of span sets."""
    counts = {kind: [0, 0, 0] for kind in ENTITY_TYPES}  # tp, predicted, gold
    sentences = 0
    for g, p in zip(gold, pred, strict=True):
        sentences += 1
        for kind in counts:
            gk = {s for s in g if s[0] == kind}
            pk = {s for s in p if s[0] == kind}
            counts[kind][0] += len(gk & pk)
            counts[kind][1] += len(pk)
            counts[kind][2] += len(gk)
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    report = _prf(*total)
    report["n"] = sentences
    report["per_type"] = {kind: _prf(*c) for kind, c in counts.items()}
    return report


def gold_spans(words: Sequence[str], tags: Sequence[str]) -> set[Span]:
    """Character spans (in the words joined by spaces) of the BIO entities."""
    from models.decode import bio_spans

    starts, pos = [], 0
    for word in words:
        starts.append(pos)
        pos += len(word) + 1
    return {(kind, starts[a], starts[b - 1] + len(words[b - 1])) for kind, a, b in bio_spans(tags)}
