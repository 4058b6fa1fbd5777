"""PNG figures for `model eval --plots`: confusion matrix and one-vs-rest ROC curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.records import SENTIMENT_LABELS


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_png(confusion: list[list[int]], path: Path, title: str = "") -> Path:
    plt = _pyplot()
    matrix = np.array(confusion)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    labels = list(SENTIMENT_LABELS)
    ax.set_xticks(range(3), labels)
    ax.set_yticks(range(3), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i in range(3):
        for j in range(3):
            colour = "white" if matrix[i, j] > matrix.max() / 2 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour)
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def roc_png(gold: list[str], probs: np.ndarray, path: Path, title: str = "") -> dict[str, float]:
    """One-vs-rest ROC curve per class; returns the AUC of each."""
    from sklearn.metrics import auc, roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    aucs: dict[str, float] = {}
    for i, label in enumerate(SENTIMENT_LABELS):
        truth = np.array([g == label for g in gold], dtype=int)
        if truth.min() == truth.max():  # one class only: no curve
            continue
        fpr, tpr, _ = roc_curve(truth, probs[:, i])
        aucs[label] = round(float(auc(fpr, tpr)), 4)
        ax.plot(fpr, tpr, label=f"{label} (AUC {aucs[label]:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or "one-vs-rest ROC")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return aucs
