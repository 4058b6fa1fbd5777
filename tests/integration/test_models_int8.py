"""The served int8 model keeps the fp32 model's decisions on real validation texts.

int8 is allowed to move digits, not accuracy: on the default model's own validation split
(FPB + TFNS, never trained on) int8 accuracy stays within one point of fp32 and the two agree
on at least 97 % of the labels, on any x86-64 CPU (AVX2 or AVX-512).
"""

from __future__ import annotations

import pytest

from models.data import load_corpus
from models.settings import EngineSettings, ModelSettings
from models.store import META_FILE, default_model_dir

pytestmark = pytest.mark.slow
SETTINGS = ModelSettings()
TEXTS_PER_SOURCE = 250
MAX_ACCURACY_LOSS = 0.01
MIN_LABEL_AGREEMENT = 0.97


def test_int8_keeps_fp32_accuracy_on_real_texts():
    if not (default_model_dir(SETTINGS.cache_dir) / META_FILE).exists():
        pytest.skip("default model not built (run `tickerpulse model build-default`)")
    if not (SETTINGS.data_dir / "tfns_train.csv").exists():
        pytest.skip(f"no shared data at {SETTINGS.data_dir}")
    from models.loader import load_engine

    corpus = load_corpus(SETTINGS.data_dir, seed=SETTINGS.seed)
    rows = [ex for source in sorted(corpus.sentiment_val)
            for ex in corpus.sentiment_val[source][:TEXTS_PER_SOURCE]]
    texts, gold = [ex.text for ex in rows], [ex.label for ex in rows]
    labels = {}
    for backend in ("torch", "onnx-int8"):
        with load_engine(SETTINGS, EngineSettings(backend=backend)) as engine:
            labels[backend] = [p.sentiment for p in engine.predict_sync(texts)]

    def accuracy(predicted: list[str]) -> float:
        return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)

    fp32, int8 = accuracy(labels["torch"]), accuracy(labels["onnx-int8"])
    agreement = sum(a == b for a, b in zip(labels["torch"], labels["onnx-int8"], strict=True))
    assert int8 >= fp32 - MAX_ACCURACY_LOSS, (fp32, int8)
    assert agreement / len(texts) >= MIN_LABEL_AGREEMENT, agreement / len(texts)
