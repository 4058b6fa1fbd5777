"""Continual fine-tuning: an existing model, reviewed labels, rehearsal, and a guard.

`finetune` loads a tickerpulse model directory (encoder and all three heads), adds labelled
rows (`models.added_data`), mixes in a seeded sample of the parent's own training data
(rehearsal: `replay_ratio` original rows per added row, drawn from the same split as the
parent's, so no validation row leaks in, and never a text that an added row relabels), and
trains a short schedule at a low learning rate, fully or with LoRA adapters
(`models.adapter`). Then the guard (`models.guard`) compares the new model's validation
metrics with the parent's on the same split: when any drops by more than `max_drop`, nothing
is written. The model is built in a scratch folder beside the output and renamed into place
only after the guard passed (or was overridden with `force`), with its int8 ONNX graph and
drift reference profile, so a reader never sees half a model.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.added_data import AddedData, load_added
from models.card import library_versions, read_card, write_card
from models.data import Corpus, load_corpus
from models.evaluate import validate
from models.guard import DEFAULT_MAX_DROP, GuardReport, check
from models.settings import ModelSettings
from models.store import LoadedModel, load_model, save_model, weights_digest, write_meta
from models.train import LICENCE_NOTE, TrainConfig, _Trainer

log = logging.getLogger(__name__)


@dataclass
class FineTuneConfig:
    parent: Path
    output: Path
    added: list[Path]
    replay_ratio: float = 4.0  # original training rows per added row
    add_repeat: int = 1  # show each added row this many times
    steps: int | None = None  # None: `epochs` passes over the mix
    epochs: int = 2
    lr: float | None = None  # None: 2e-5 (full) / 3e-4 (LoRA adapters)
    head_lr: float = 1e-4  # heads and case embedding
    batch_size: int = 16
    warmup: float = 0.1
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int | None = None  # None: 2 x r
    lora_dropout: float = 0.05
    max_drop: float = DEFAULT_MAX_DROP
    force: bool = False  # write even when the guard fails (the card says so)
    seed: int | None = None  # None: the parent's training seed (its validation split)
    device: str = "auto"
    bf16: bool | None = None  # None: as the parent was trained, where the hardware has it
    threads: int = 0
    serving_files: bool = True  # int8 ONNX graph and drift reference profile
    name: str = "tp-ft"


@dataclass
class FineTuneResult:
    written: bool
    directory: Path | None
    guard: GuardReport
    card: dict
    added_metrics: dict  # accuracy on the added rows, parent vs new (informative)
    steps: int
    steps_per_second: float
    sizes: dict = field(default_factory=dict)  # bytes: artefact (without onnx/) and parent


def _hyper(card: dict, key: str, default: Any) -> Any:
    return (card.get("hyperparameters") or {}).get(key, default)


def rehearsal(corpus: Corpus, added: AddedData, ratio: float, seed: int) -> Corpus:
    """The training mix: the added rows plus round(ratio x added rows) original training
    rows, drawn per kind (sentiment, entity, target) in proportion to the original mix,
    seeded; an original row whose text an added row relabels is never drawn."""
    relabelled = {e.text for e in added.sentiment} | {e.text for e in added.targets}
    pools: dict[str, list[Any]] = {
        "sentiment": [e for e in corpus.sentiment_train if e.text not in relabelled],
        "entity": list(corpus.entity_train),
        "target": [e for e in corpus.target_train if e.text not in relabelled],
    }
    total = sum(len(p) for p in pools.values()) or 1
    wanted = round(ratio * added.rows)
    rng = random.Random(seed)
    picked = {
        kind: rng.sample(pool, min(len(pool), round(wanted * len(pool) / total)))
        for kind, pool in pools.items()
    }
    return Corpus(
        picked["sentiment"] + added.sentiment,
        corpus.sentiment_val,
        picked["entity"],
        corpus.entity_val,
        picked["target"] + added.targets,
        corpus.target_val,
    )


def _same_split(metrics: dict, corpus: Corpus) -> bool:
    """The card's metrics were measured on this split (same sources and sizes)."""
    sizes = {s: len(rows) for s, rows in corpus.sentiment_val.items()}
    if any((metrics.get(s) or {}).get("n") != n for s, n in sizes.items()):
        return False
    return (metrics.get("entities") or {}).get("n") == len(corpus.entity_val)


def added_metrics(loaded: LoadedModel, added: AddedData, max_length: int) -> dict:
    """Accuracy on the added rows themselves (document and entity rows), measured as the
    validation is (`models.evaluate.validate`)."""
    metrics = validate(loaded, {"sentiment": added.sentiment} if added.sentiment else {}, (),
                       max_length, added.targets)
    out = {"sentiment": metrics["sentiment"]} if "sentiment" in metrics else {}
    if "targets" in metrics:
        out["targets"] = {k: metrics["targets"][k] for k in ("n", "accuracy", "macro_f1")}
    return out


def _train_config(cfg: FineTuneConfig, parent_card: dict, seed: int, max_length: int,
                  scratch: Path) -> TrainConfig:
    lr = cfg.lr if cfg.lr is not None else (3e-4 if cfg.lora else 2e-5)
    return TrainConfig(
        base=str(parent_card.get("base", "")),
        output=scratch,
        seed=seed,
        lr=lr,
        head_lr=cfg.head_lr,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        warmup=cfg.warmup,
        max_length=max_length,
        patience=None,
        steps=cfg.steps,
        eval_every=cfg.steps or 10**9,  # validate once, at the end (the guard's measurement)
        device=cfg.device,
        threads=cfg.threads,
        freeze_word_embeddings=bool(_hyper(parent_card, "freeze_word_embeddings", False))
        and not cfg.lora,
        bf16=_bf16(cfg, parent_card),
        name=cfg.name,
    )


def _bf16(cfg: FineTuneConfig, parent_card: dict) -> bool:
    if cfg.bf16 is not None:
        return cfg.bf16
    from models.default import bf16_supported

    return bool(_hyper(parent_card, "bf16", False)) and bf16_supported()


def method_record(cfg: FineTuneConfig) -> dict:
    if not cfg.lora:
        return {"kind": "full"}
    from models.adapter import FULL_MODULES, LORA_TARGETS

    return {
        "kind": "lora",
        "r": cfg.lora_r,
        "alpha": cfg.lora_alpha or 2 * cfg.lora_r,
        "dropout": cfg.lora_dropout,
        "target_modules": list(LORA_TARGETS),
        "modules_to_save": list(FULL_MODULES),
    }


def finetune(cfg: FineTuneConfig, settings: ModelSettings, show_progress: bool = True,
             echo=print) -> FineTuneResult:  # noqa: ANN001
    """Fine-tune `cfg.parent` on the added files; write `cfg.output` only if the guard
    passes (or `force`). See the module docstring."""
    output = Path(cfg.output)
    if output.exists():
        raise FileExistsError(f"{output} exists: choose a new output directory")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    parent = load_model(str(cfg.parent))
    parent_dir = Path(parent.path).resolve()
    parent_card = read_card(parent_dir) or {}
    parent_digest = weights_digest(parent.network)
    seed = cfg.seed if cfg.seed is not None else int(_hyper(parent_card, "seed", settings.seed))
    max_length = int(_hyper(parent_card, "max_length", min(parent.max_length, 64)))
    corpus = load_corpus(settings.data_dir, seed)
    held = {e.text for rows in corpus.sentiment_val.values() for e in rows}
    held |= {e.text for e in corpus.target_val}
    added, dropped = load_added(cfg.added).without_texts(held)
    if not added.rows:
        raise ValueError("no added rows left (every added text is in the validation split)")
    mix = rehearsal(corpus, replace(added, sentiment=added.sentiment * cfg.add_repeat,
                                    targets=added.targets * cfg.add_repeat),
                    cfg.replay_ratio / cfg.add_repeat, seed)
    echo(f"parent {parent.version}: {added.rows} added rows (x{cfg.add_repeat}), "
         f"{dropped} left out (validation texts), {mix_size(mix) - added.rows * cfg.add_repeat} "
         "replayed original rows")
    stored = parent_card.get("validation_metrics")
    if stored and _same_split(stored, corpus):
        parent_metrics, metrics_from = stored, "card"
    else:
        echo("validating the parent (its card lacks metrics on this split)")
        parent_metrics = validate(parent, corpus.sentiment_val, corpus.entity_val, max_length,
                                  corpus.target_val)
        metrics_from = "re-evaluated"
    on_added = {"parent": added_metrics(parent, added, max_length)}

    torch.manual_seed(seed)
    np.random.seed(seed)
    scratch = output.parent / f".{output.name}.partial-{os.getpid()}"
    start = parent
    if cfg.lora:
        from models.adapter import wrap_lora

        start = replace(parent, network=wrap_lora(parent.network, cfg.lora_r,
                                                  cfg.lora_alpha or 2 * cfg.lora_r,
                                                  cfg.lora_dropout))
    trainer = _Trainer(_train_config(cfg, parent_card, seed, max_length, scratch), mix, start)
    trainer.run(show_progress)
    seconds = trainer.elapsed()
    assert trainer.best is not None  # run() always validates once  # noqa: S101
    _score, state, new_metrics = trainer.best
    trainer.network.load_state_dict(state)
    trainer.network.to("cpu").eval()  # type: ignore[arg-type]
    adapter = None
    if cfg.lora:
        from models.adapter import adapter_state

        adapter = adapter_state(trainer.network)
    network = trainer.network.merge_and_unload() if cfg.lora else trainer.network  # type: ignore[operator]
    merged = replace(parent, network=network.eval())
    on_added["new"] = added_metrics(merged, added, max_length)
    guard = check(parent_metrics, new_metrics, cfg.max_drop)
    steps_per_s = trainer.steps_done / max(seconds - trainer.eval_seconds, 1e-9)
    created = datetime.now(UTC)
    version = f"{cfg.name}-{created:%Y%m%dT%H%M%S}-{weights_digest(network)[:8]}"
    card = {
        "version": version,
        "created": created.isoformat(timespec="seconds"),
        "base": parent_card.get("base", ""),
        "parent": {"version": parent.version, "path": str(parent_dir),
                   "weights_digest": parent_digest},
        "added_data": {"files": added.files, "rows": {"sentiment": len(added.sentiment),
                                                      "targets": len(added.targets)},
                       "left_out_validation_texts": dropped, "repeat": cfg.add_repeat},
        "rehearsal": {"ratio": cfg.replay_ratio, "seed": seed, "data_dir": str(settings.data_dir),
                      "rows": {"sentiment": len(mix.sentiment_train) - len(added.sentiment)
                               * cfg.add_repeat, "entity": len(mix.entity_train),
                               "target": len(mix.target_train) - len(added.targets)
                               * cfg.add_repeat}},
        "guard": {**guard.to_dict(), "overridden": not guard.passed and cfg.force,
                  "parent_metrics_from": metrics_from, "parent_metrics": parent_metrics},
        "method": method_record(cfg),
        "data": mix.sizes(),
        "hyperparameters": {k: v for k, v in vars(trainer.cfg).items()
                            if k in ("seed", "lr", "head_lr", "batch_size", "epochs", "warmup",
                                     "max_length", "steps", "bf16", "freeze_word_embeddings")},
        "steps": trainer.steps_done,
        "training_seconds": round(seconds, 1),
        "validation_metrics": new_metrics,
        "added_data_metrics": on_added,
        "libraries": library_versions(),
        "licence_note": parent_card.get("licence_note", LICENCE_NOTE),
    }
    result = FineTuneResult(False, None, guard, card, on_added, trainer.steps_done, steps_per_s)
    if not guard.passed and not cfg.force:
        return result
    try:
        _write(cfg, adapter, network, merged, card, scratch, settings, corpus)
        scratch.rename(output)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch)
    from models.adapter import directory_bytes

    result.sizes = {"artefact": directory_bytes(output), "parent": directory_bytes(parent_dir)}
    result.written, result.directory = True, output
    return result


def mix_size(corpus: Corpus) -> int:
    return len(corpus.sentiment_train) + len(corpus.entity_train) + len(corpus.target_train)


def _write(cfg: FineTuneConfig, adapter: tuple[Any, Any] | None, network: torch.nn.Module,
           merged: LoadedModel, card: dict, scratch: Path, settings: ModelSettings,
           corpus: Corpus) -> None:
    """The model directory in `scratch`: weights (or adapter), card, int8 graph, profile."""
    if adapter is not None:
        from models.adapter import write_adapter

        write_adapter(*adapter, scratch)
        merged.tokenizer.save_pretrained(scratch)
        write_meta(scratch, card["version"], merged.max_length, adapter_of=card["parent"])
        write_card(scratch, card)
    else:
        save_model(network, merged.tokenizer, scratch,  # type: ignore[arg-type]
                   version=card["version"], max_length=merged.max_length, card=card,
                   gazetteer=merged.gazetteer)
    if not cfg.serving_files:
        return
    from models.default import profile_model
    from models.onnx_export import ONNX_DIR, build_int8
    from models.profile import store_profile

    started = time.monotonic()
    (scratch / ONNX_DIR).mkdir(exist_ok=True)
    build_int8(load_model(str(scratch)), scratch / ONNX_DIR)
    store_profile(scratch, profile_model(scratch, settings, corpus))
    log.info("int8 graph and reference profile in %.0f s", time.monotonic() - started)
