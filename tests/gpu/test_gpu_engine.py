"""GPU: the engine on CUDA with autocast; skipped without a CUDA device."""

from __future__ import annotations

import time

import pytest
import torch

from models.settings import EngineSettings, ModelSettings

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_tiny_model_runs_on_cuda_with_autocast(tmp_path):
    from models.loader import load_engine
    from models.testing import tiny_model_dir

    path = tiny_model_dir(tmp_path)
    engine = load_engine(ModelSettings(path=str(path), cache_dir=tmp_path), EngineSettings())
    assert engine.backend.startswith("torch-cuda-")
    with engine:
        preds = engine.predict_sync(["$NVDA jumps", "Markets were calm"] * 100)
    assert len(preds) == 200
    assert abs(sum(preds[0].probabilities.values()) - 1) < 1e-3


def test_default_model_throughput_on_short_texts(tmp_path):
    """The issue's bar: >= 20,000 texts/s on short texts, tokenisation included."""
    from models.loader import load_engine
    from models.store import META_FILE, default_model_dir

    settings = ModelSettings()
    if not (default_model_dir(settings.cache_dir) / META_FILE).exists():
        pytest.skip("default model not built")
    texts = [f"$AAPL shares rise {i % 97} percent after earnings beat" for i in range(40_000)]
    engine_settings = EngineSettings(
        max_batch_size=1024, max_batch_tokens=65536, sort_window=4096, max_queue=65536
    )
    with load_engine(settings, engine_settings) as engine:
        engine.predict_sync(texts[:2048])
        started = time.perf_counter()
        engine.predict_sync(texts)
        rate = len(texts) / (time.perf_counter() - started)
    print(f"GPU engine: {rate:.0f} texts/s")
    assert rate >= 20_000


def test_training_runs_on_cuda_with_bf16(tmp_path):
    """The training loop on the GPU (bf16 autocast): a few real steps lower the loss."""
    from models.data import Corpus, load_corpus
    from models.train import TrainConfig, train

    settings = ModelSettings()
    if not (settings.data_dir / "tfns_train.csv").exists():
        pytest.skip(f"no data at {settings.data_dir}")
    full = load_corpus(settings.data_dir, seed=7)
    small = Corpus(
        full.sentiment_train[:512], {"fpb": full.sentiment_val["fpb"][:64]},
        full.entity_train[:256], full.entity_val[:32],
        full.target_train[:256], full.target_val[:32],
    )
    cfg = TrainConfig(
        base=settings.base_checkpoint, output=tmp_path / "m", steps=60, batch_size=32,
        lr=1e-4, head_lr=1e-3, bf16=True, device="cuda", gazetteer=False, patience=None,
    )
    started = time.perf_counter()
    result = train(cfg, small, show_progress=False)
    print(f"GPU training: 60 steps of 32 in {time.perf_counter() - started:.1f} s")
    assert result.card["hyperparameters"]["device"] == "cuda"
    assert sum(result.losses[-10:]) < sum(result.losses[:10])
