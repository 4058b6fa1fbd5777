"""`build-default`: the default model, trained from the data folder in a fixed number of steps.

Trains into a scratch folder beside the cache, builds the int8 ONNX graph there, then
renames it into place, so a reader never sees half a model. The same data, seed and recipe
give the same model on a busy or an idle machine: the recipe fixes the number of optimizer
steps, not a wall-time budget (a busy machine only takes longer).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import torch

from models.card import write_card
from models.data import Corpus, load_corpus
from models.profile import store_profile
from models.settings import EngineSettings, ModelSettings
from models.store import default_model_dir, load_model
from models.train import TrainConfig, train

# Recipes. `default`: sized for a 2-core CPU and a build under 20 minutes (seconds_per_step
# measured on 2 AVX-512 cores with bf16; an AVX2-only CPU takes about 1.5x). A small model
# likes a higher learning rate than BERT-base; entity sentences are oversampled.
# `full`: more passes, for a bigger machine or a GPU (minutes there, hours on 2 cores).
RECIPES: dict[str, dict] = {
    "default": {
        "lr": 1e-4,
        "head_lr": 5e-4,
        "batch_size": 16,
        "steps": 3600,
        "eval_every": 1200,
        "patience": None,
        "max_length": 64,
        "warmup": 0.06,
        "entity_repeat": 3,
        "mixed_repeat": 3,
        "gazetteer": False,
        "freeze_word_embeddings": True,
    },
    "full": {
        "lr": 8e-5,
        "head_lr": 4e-4,
        "batch_size": 32,
        "epochs": 8,
        "eval_every": 500,
        "patience": None,
        "max_length": 96,
        "warmup": 0.06,
        "entity_repeat": 3,
        "mixed_repeat": 3,
        "gazetteer": False,
        "freeze_word_embeddings": False,
    },
}
SECONDS_PER_STEP = {"default": 0.26, "full": 1.2}  # 2-core CPU reference, training only


def bf16_supported() -> bool:
    """bfloat16 matmuls in hardware (AVX512-BF16/AMX on a CPU; any recent GPU)."""
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def expected_minutes(recipe: str, steps: int) -> float:
    """Rough wall time of a build on a 2-core CPU (training, validation, ONNX)."""
    per_step = SECONDS_PER_STEP.get(recipe, SECONDS_PER_STEP["default"])
    if not bf16_supported():
        per_step *= 1.5
    return (steps * per_step + 150) / 60


def profile_model(directory: Path, settings: ModelSettings, corpus: Corpus) -> dict:
    """The reference profile of the model in ``directory`` on its validation texts."""
    from models.api import load_engine
    from models.profile import profile

    texts = {source: [e.text for e in rows] for source, rows in corpus.sentiment_val.items()}
    with load_engine(settings.model_copy(update={"path": str(directory)}),
                     EngineSettings(max_wait_ms=0.0)) as engine:
        return profile(engine, texts)


def build_default(
    settings: ModelSettings,
    recipe: str = "default",
    show_progress: bool = True,
    overrides: dict | None = None,
    echo=print,  # noqa: ANN001
) -> tuple[Path, dict]:
    started = time.monotonic()
    target = default_model_dir(settings.cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".building-{int(time.time())}"
    corpus = load_corpus(settings.data_dir, settings.seed)
    params = {**RECIPES[recipe], **(overrides or {})}
    cfg = TrainConfig(
        base=settings.base_checkpoint,
        output=scratch,
        seed=settings.seed,
        log_dir=settings.cache_dir / "runs" / "default",
        name="tp-default",
        threads=os.cpu_count() or 1,  # fixed: the thread count changes float sums
        bf16=bf16_supported(),
        extra={"recipe": recipe},
        universe_file=settings.data_dir / "tickers" / "sec_company_tickers.json",
        **params,
    )
    if cfg.steps and show_progress:
        device = "GPU" if torch.cuda.is_available() else "CPU"
        echo(
            f"building the default model: recipe {recipe!r}, {cfg.steps:,} steps on the {device}"
            + (
                ""
                if device == "GPU"
                else f", about {expected_minutes(recipe, cfg.steps):.0f} minutes on 2 cores"
            )
        )
    result = train(cfg, corpus, show_progress=show_progress)
    from models.onnx_export import ONNX_DIR, build_int8

    (scratch / ONNX_DIR).mkdir(exist_ok=True)
    build_int8(load_model(str(scratch)), scratch / ONNX_DIR)
    if target.exists():
        shutil.rmtree(target)
    scratch.rename(target)
    card = dict(result.card)
    card["recipe"] = recipe
    card["build_seconds"] = round(time.monotonic() - started, 1)
    write_card(target, card)
    card = store_profile(target, profile_model(target, settings, corpus))  # drift baseline
    return target, card
