"""Evaluation through the serving path (the engine), so measured = served."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from models.data import EntityExample, SentimentExample
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


def validate(
    loaded: LoadedModel,
    sentiment: dict[str, list[SentimentExample]],
    entities: Sequence[EntityExample],
    max_length: int,
) -> dict:
    """Per-source validation metrics and the selection score (mean of macro-F1s and ORG F1)."""
    was_training = loaded.network.training
    loaded.network.eval()
    metrics: dict = {}
    with torch.inference_mode(), torch_engine(loaded, max_length) as engine:
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
    parts = [m["macro_f1"] for m in metrics.values() if "macro_f1" in m]
    if "entities" in metrics:
        parts.append(metrics["entities"]["per_type_f1"]["ORG"])
    metrics["selection_score"] = round(float(np.mean(parts)), 4) if parts else 0.0
    loaded.network.train(was_training)
    return metrics
