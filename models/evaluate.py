"""Evaluation through the serving path (the engine), so measured = served."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from models.data import EntityExample, SentimentExample, TargetExample, TargetRow, find_entity
from models.engine import InferenceEngine
from models.metrics import classification_report, entity_report, gold_spans
from models.records import SENTIMENT_LABELS, Prediction
from models.runners import TorchRunner
from models.settings import EngineSettings
from models.store import LoadedModel


def torch_engine(loaded: LoadedModel, max_length: int = 128) -> InferenceEngine:
    """An fp32 torch engine without linking (validation during training, baselines)."""
    settings = EngineSettings(backend="torch", max_wait_ms=0, max_length=max_length)
    return InferenceEngine(loaded, TorchRunner(loaded.network), settings, linker=None)


def predict_all(
    engine: InferenceEngine, texts: Sequence[str], chunk: int = 512
) -> list[Prediction]:
    out: list[Prediction] = []
    for i in range(0, len(texts), chunk):
        out.extend(engine.predict_sync(list(texts[i : i + chunk])))
    return out


def sentiment_eval(
    engine: InferenceEngine, examples: Sequence[SentimentExample]
) -> tuple[dict, np.ndarray]:
    """The classification report and the probability matrix [n, 3] (for ROC curves)."""
    preds = predict_all(engine, [e.text for e in examples])
    report = classification_report([e.label for e in examples], [p.sentiment for p in preds])
    probs = np.array([[p.probabilities[label] for label in SENTIMENT_LABELS] for p in preds])
    return report, probs


def entity_eval(engine: InferenceEngine, examples: Sequence[EntityExample]) -> dict:
    preds = predict_all(engine, [e.text for e in examples])
    gold = [gold_spans(e.words, e.tags) for e in examples]
    pred = [{(ent.label, ent.start, ent.end) for ent in p.entities} for p in preds]
    return entity_report(gold, pred)


def target_eval(engine: InferenceEngine, examples: Sequence[TargetExample]) -> dict:
    """Entity-level sentiment on located spans: the target head's report, `mixed_accuracy`
    (texts whose entities differ), and the document-sentiment baseline on the same rows."""
    gold: list[str] = []
    pred: list[str] = []
    base: list[str] = []
    mixed: list[bool] = []
    for i in range(0, len(examples), 512):
        chunk = examples[i : i + 512]
        spans = [[(s, e) for s, e, _ in ex.targets] for ex in chunk]
        preds = engine.predict_sync([ex.text for ex in chunk], targets=spans)
        for ex, p in zip(chunk, preds, strict=True):
            for (_, _, label), target in zip(ex.targets, p.targets, strict=True):
                gold.append(label)
                pred.append(target.label)
                base.append(p.sentiment)
                mixed.append(ex.mixed)
    report = classification_report(gold, pred)
    on_mixed = [g == p for g, p, m in zip(gold, pred, mixed, strict=True) if m]
    report["mixed_n"] = len(on_mixed)
    report["mixed_accuracy"] = round(float(np.mean(on_mixed)), 4) if on_mixed else 0.0
    baseline = classification_report(gold, base)
    base_mixed = [g == b for g, b, m in zip(gold, base, mixed, strict=True) if m]
    baseline["mixed_accuracy"] = round(float(np.mean(base_mixed)), 4) if base_mixed else 0.0
    report["document_baseline"] = {
        k: baseline[k] for k in ("accuracy", "macro_f1", "mixed_accuracy")
    }
    return report


class _Counted:
    """An engine whose blocking predictions advance a progress bar (on a terminal's stderr
    only), a text a step; every other attribute is the engine's own."""

    def __init__(self, engine: InferenceEngine, desc: str, total: int) -> None:
        from tqdm.auto import tqdm

        self._engine = engine
        self._bar = tqdm(desc=desc, total=total, unit="text", disable=None, leave=False)

    def predict_sync(self, texts: Sequence[str], *args: Any, **kwargs: Any) -> list[Prediction]:
        out = self._engine.predict_sync(texts, *args, **kwargs)
        self._bar.update(len(texts))
        return out

    def __enter__(self) -> InferenceEngine:
        return self  # type: ignore[return-value]  # stands in for the engine it wraps

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def validate(
    loaded: LoadedModel,
    sentiment: dict[str, list[SentimentExample]],
    entities: Sequence[EntityExample],
    max_length: int,
    targets: Sequence[TargetExample] = (),
) -> dict:
    """Per-source validation metrics and the selection score (mean of the sentiment
    macro-F1s, ORG F1 and the entity-sentiment macro-F1)."""
    was_training = loaded.network.training
    loaded.network.eval()
    metrics: dict = {}
    total = sum(len(rows) for rows in sentiment.values()) + len(entities) + len(targets)
    with (torch.inference_mode(), torch_engine(loaded, max_length) as served,
          _Counted(served, "validate", total) as engine):
        for source, rows in sentiment.items():
            report, _ = sentiment_eval(engine, rows)
            metrics[source] = {k: report[k] for k in ("n", "accuracy", "macro_f1")}
        if entities:
            report = entity_eval(engine, entities)
            metrics["entities"] = {
                "n": report["n"],
                "f1": report["f1"],
                "precision": report["precision"],
                "recall": report["recall"],
                "per_type_f1": {k: v["f1"] for k, v in report["per_type"].items()},
            }
        if targets:
            report = target_eval(engine, targets)
            metrics["targets"] = {
                k: report[k]
                for k in ("n", "accuracy", "macro_f1", "mixed_accuracy", "document_baseline")
            }
    parts = [m["macro_f1"] for m in metrics.values() if "macro_f1" in m]
    if "entities" in metrics:
        parts.append(metrics["entities"]["per_type_f1"]["ORG"])
    metrics["selection_score"] = round(float(np.mean(parts)), 4) if parts else 0.0
    loaded.network.train(was_training)
    return metrics


def _words(text: str) -> set[str]:
    return {
        w for w in "".join(c if c.isalnum() else " " for c in text.lower()).split() if len(w) > 2
    }


def locate_by_entities(entity: str, prediction: Prediction) -> tuple[int, int] | None:
    """The predicted entity span sharing most words with `entity` (None when none shares one)."""
    wanted = _words(entity)
    best, best_overlap = None, 0
    for ent in prediction.entities:
        overlap = len(wanted & _words(ent.text))
        if overlap > best_overlap:
            best, best_overlap = (ent.start, ent.end), overlap
    return best


def target_rows_eval(
    engine: InferenceEngine, rows: Sequence[TargetRow], progress: bool = False
) -> dict:
    """`eval-targets`: for each `text,entity,label` row, locate the entity in the text
    (case-insensitive string match, else the model's own entity span sharing a word with it)
    and predict that entity's sentiment. A row whose entity is not located gets the
    document's sentiment (and counts against `found`). Reported beside the document-level
    baseline (the document's sentiment for every entity) on the same rows."""
    from tqdm.auto import tqdm

    texts = list(dict.fromkeys(r.text for r in rows))
    spans: dict[int, tuple[int, int] | None] = {
        i: find_entity(r.text, r.entity) for i, r in enumerate(rows)
    }
    unresolved = sorted({rows[i].text for i, s in spans.items() if s is None})
    if unresolved:
        found_by_model = dict(zip(unresolved, predict_all(engine, unresolved), strict=True))
        for i, span in spans.items():
            if span is None:
                spans[i] = locate_by_entities(rows[i].entity, found_by_model[rows[i].text])
    asks: dict[str, list[tuple[int, int]]] = {t: [] for t in texts}
    for i, r in enumerate(rows):
        span = spans[i]
        if span is not None and span not in asks[r.text]:
            asks[r.text].append(span)
    answers: dict[str, Prediction] = {}
    bar = tqdm(total=len(texts), desc="eval-targets", unit="text", disable=not progress)
    for k in range(0, len(texts), 256):
        chunk = texts[k : k + 256]
        for text, p in zip(
            chunk, engine.predict_sync(chunk, targets=[asks[t] for t in chunk]), strict=True
        ):
            answers[text] = p
        bar.update(len(chunk))
    bar.close()
    labels_by_text: dict[str, set[str]] = {}
    for r in rows:
        labels_by_text.setdefault(r.text, set()).add(r.label)
    gold, pred, base, mixed = [], [], [], []
    for i, r in enumerate(rows):
        p = answers[r.text]
        span = spans[i]
        pred.append(p.targets[asks[r.text].index(span)].label if span is not None else p.sentiment)
        gold.append(r.label)
        base.append(p.sentiment)
        mixed.append(len(labels_by_text[r.text]) > 1)
    report = _with_mixed(classification_report(gold, pred), gold, pred, mixed)
    report["found"] = round(sum(s is not None for s in spans.values()) / max(len(rows), 1), 4)
    report["found_by_string"] = round(
        sum(find_entity(r.text, r.entity) is not None for r in rows) / max(len(rows), 1), 4
    )
    report["document_baseline"] = _with_mixed(classification_report(gold, base), gold, base, mixed)
    return report


def _with_mixed(report: dict, gold: list[str], pred: list[str], mixed: list[bool]) -> dict:
    hits = [g == p for g, p, m in zip(gold, pred, mixed, strict=True) if m]
    report["mixed_n"] = len(hits)
    report["mixed_accuracy"] = round(float(np.mean(hits)), 4) if hits else 0.0
    return report
