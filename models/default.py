"""`build-default`: the default model, trained from the shared data within a time budget.

Trains into a scratch folder beside the cache, builds the int8 ONNX graph there, then
renames it into place, so a reader never sees half a model.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import torch

from models.card import write_card
from models.data import load_corpus
from models.settings import ModelSettings
from models.store import default_model_dir, load_model
from models.train import TrainConfig, train

# Chosen for a 2-core CPU and a 15-minute build (see the README's model section): a small
# model likes a higher learning rate than BERT-base; entity sentences are oversampled twice.
DEFAULT_RECIPE = {
    "lr": 1e-4,
    "head_lr": 5e-4,
    "batch_size": 16,
    "epochs": 3,
    "max_length": 64,
    "warmup": 0.06,
    "patience": 2,
    "entity_repeat": 2,
    "freeze_word_embeddings": True,
}


def bf16_supported() -> bool:
    """bfloat16 matmuls in hardware (AVX512-BF16/AMX): measured 53 vs 37 examples/s here."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


TRAIN_BUDGET_S = 12.5 * 60  # training + validation; loading, saving and ONNX come on top


def training_threads() -> int:
    """One intra-op thread on a busy machine, all cores on an idle one.

    Measured here on 2 cores shared with other jobs: 32 training examples/s with one thread,
    22 with two (the two threads wait on each other's barriers while the other jobs run).
    """
    return 1 if os.getloadavg()[0] >= 1.0 else 0


def build_default(
    settings: ModelSettings,
    budget_s: float = TRAIN_BUDGET_S,
    show_progress: bool = True,
    recipe: dict | None = None,
) -> tuple[Path, dict]:
    started = time.monotonic()
    target = default_model_dir(settings.cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".building-{int(time.time())}"
    corpus = load_corpus(settings.data_dir, settings.seed)
    cfg = TrainConfig(
        base=settings.base_checkpoint,
        output=scratch,
        seed=settings.seed,
        time_budget_s=budget_s,
        log_dir=settings.cache_dir / "runs" / "default",
        name="tp-default",
        threads=training_threads(),
        **({"bf16": bf16_supported(), **DEFAULT_RECIPE} if recipe is None else recipe),
    )
    result = train(cfg, corpus, show_progress=show_progress)
    from models.onnx_export import ONNX_DIR, build_int8

    (scratch / ONNX_DIR).mkdir(exist_ok=True)
    build_int8(load_model(str(scratch)), scratch / ONNX_DIR)
    if target.exists():
        shutil.rmtree(target)
    scratch.rename(target)
    card = dict(result.card)
    card["build_seconds"] = round(time.monotonic() - started, 1)
    write_card(target, card)
    return target, card
