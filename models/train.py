"""Fine-tuning: one encoder, two heads, mixed sources, early stopping, a time budget.

Sentiment texts (FPB, TFNS) and entity sentences (FiNER-ORD) share batches; each loss only
counts the labels a row has. Linear warmup then decay; when a time budget is set, the decay
follows whichever is further along, steps or wall time, so the schedule ends on time even on
a busy machine. Validation after every `eval_every` steps and at each epoch's end; the best
checkpoint (selection score: mean of per-source sentiment macro-F1 and ORG F1) is kept and
training stops after `patience` evaluations without improvement.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from models.card import library_versions
from models.data import Corpus
from models.evaluate import validate
from models.features import IGNORE, build_features, collate, length_grouped_batches
from models.store import LoadedModel, new_network, save_model, weights_digest

log = logging.getLogger(__name__)
LICENCE_NOTE = (
    "Trained on Financial PhraseBank (CC BY-NC-SA 3.0), Twitter Financial News Sentiment "
    "(MIT) and FiNER-ORD (CC BY-NC 4.0): non-commercial use only."
)


@dataclass
class TrainConfig:
    base: str
    output: Path
    seed: int = 42
    lr: float = 2e-5
    head_lr: float | None = None  # heads and case embedding (default: lr)
    batch_size: int = 16
    epochs: int = 3
    warmup: float = 0.06
    weight_decay: float = 0.01
    max_length: int = 64
    patience: int = 2
    entity_weight: float = 1.0
    entity_repeat: int = 1  # oversample entity sentences
    time_budget_s: float | None = None
    eval_every: int | None = None
    log_dir: Path | None = None
    threads: int = 0
    freeze_word_embeddings: bool = False  # half the parameters; saves optimizer time on CPU
    bf16: bool = False  # autocast the forward pass to bfloat16 (weights and optimizer stay fp32)
    name: str = "tp"
    extra: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    directory: Path
    card: dict
    losses: list[float]


def _optimizer(network: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    head_lr = cfg.head_lr or cfg.lr
    groups: dict[tuple[float, float], list] = {}
    for name, param in network.named_parameters():
        if not param.requires_grad:
            continue
        lr = cfg.lr if name.startswith("encoder.") else head_lr
        decay = 0.0 if (param.ndim == 1 or "LayerNorm" in name) else cfg.weight_decay
        groups.setdefault((lr, decay), []).append(param)
    return torch.optim.AdamW(
        [{"params": p, "lr": lr, "weight_decay": d} for (lr, d), p in groups.items()]
    )


def _schedule(progress: float, warmup: float) -> float:
    if progress < warmup:
        return progress / max(warmup, 1e-9)
    return max(0.0, (1.0 - progress) / max(1.0 - warmup, 1e-9))


def _loss(network: nn.Module, arrays: dict, entity_weight: float) -> torch.Tensor:
    t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    sent_logits, tag_logits = network(t["input_ids"], t["attention_mask"], t["case_ids"])
    loss = sent_logits.sum() * 0.0
    if (t["sentiment"] != IGNORE).any():
        loss = loss + nn.functional.cross_entropy(sent_logits, t["sentiment"], ignore_index=IGNORE)
    if (t["tags"] != IGNORE).any():
        ner = nn.functional.cross_entropy(
            tag_logits.flatten(0, 1), t["tags"].flatten(), ignore_index=IGNORE
        )
        loss = loss + entity_weight * ner
    return loss


class _Trainer:
    def __init__(self, cfg: TrainConfig, corpus: Corpus) -> None:
        self.cfg, self.corpus = cfg, corpus
        self.network, self.tokenizer = new_network(cfg.base)
        if cfg.freeze_word_embeddings:
            self.network.encoder.get_input_embeddings().weight.requires_grad_(False)
        self.loaded = LoadedModel(
            self.network, self.tokenizer, "training", cfg.max_length, "two-head", str(cfg.output)
        )
        entity_rows = corpus.entity_train * cfg.entity_repeat
        self.features = build_features(
            self.tokenizer, corpus.sentiment_train, entity_rows, cfg.max_length
        )
        self.optimizer = _optimizer(self.network, cfg)
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.steps_per_epoch = -(-len(self.features) // cfg.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.writer = None
        if cfg.log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(cfg.log_dir))
        self.best: tuple[float, dict, dict] | None = None  # score, state, metrics
        self.history: list[dict] = []
        self.losses: list[float] = []
        self.stale = 0
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def progress(self, step: int) -> float:
        done = step / max(self.total_steps, 1)
        budget = self.cfg.time_budget_s
        if budget:
            done = max(done, self.elapsed() / budget)
        return min(done, 1.0)

    def evaluate(self, step: int) -> bool:
        """Validate, keep the best; True when early stopping says stop."""
        metrics = validate(
            self.loaded, self.corpus.sentiment_val, self.corpus.entity_val, self.cfg.max_length
        )
        metrics["step"] = step
        self.history.append(metrics)
        if self.writer is not None:
            for source, m in metrics.items():
                if isinstance(m, dict):
                    for key in ("accuracy", "macro_f1", "f1"):
                        if key in m:
                            self.writer.add_scalar(f"val/{source}/{key}", m[key], step)
            self.writer.add_scalar("val/selection_score", metrics["selection_score"], step)
        score = metrics["selection_score"]
        tqdm.write(f"step {step}: {_summary(metrics)}")
        if self.best is None or score > self.best[0]:
            state = copy.deepcopy(self.network.state_dict())
            self.best, self.stale = (score, state, metrics), 0
            return False
        self.stale += 1
        return self.stale >= self.cfg.patience

    def step(self, batch: list[int], step: int) -> float:
        factor = _schedule(self.progress(step), self.cfg.warmup)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor
        arrays = collate([self.features[i] for i in batch], self.tokenizer.pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cfg.bf16):
            loss = _loss(self.network, arrays, self.cfg.entity_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
        self.optimizer.step()
        return float(loss.detach())

    def out_of_time(self) -> bool:
        budget = self.cfg.time_budget_s
        return budget is not None and budget > 0 and self.elapsed() >= budget

    def run(self, show_progress: bool) -> None:
        rng = random.Random(self.cfg.seed)
        self.network.train()
        bar = tqdm(
            total=self.total_steps,
            desc="train",
            disable=not show_progress,
            dynamic_ncols=True,
            mininterval=1.0,
        )
        step, stop = 0, False
        for _epoch in range(self.cfg.epochs):
            for batch in length_grouped_batches(self.features, self.cfg.batch_size, rng):
                loss = self.step(batch, step)
                step += 1
                self.losses.append(loss)
                bar.update(1)
                bar.set_postfix(
                    loss=f"{np.mean(self.losses[-50:]):.3f}",
                    lr=f"{self.optimizer.param_groups[0]['lr']:.1e}",
                )
                if self.writer is not None and step % 10 == 0:
                    self.writer.add_scalar("train/loss", np.mean(self.losses[-10:]), step)
                if self.out_of_time() or (
                    self.cfg.eval_every and step % self.cfg.eval_every == 0 and self.evaluate(step)
                ):
                    stop = True
                    break
            if stop:
                break
            if not (self.cfg.eval_every and step % self.cfg.eval_every == 0):
                if self.evaluate(step):
                    break
        bar.close()
        if self.history[-1:] == [] or self.history[-1]["step"] != step:
            self.evaluate(step)
        self.steps_done = step


def _summary(metrics: dict) -> str:
    parts = []
    for source, m in metrics.items():
        if isinstance(m, dict) and "accuracy" in m:
            parts.append(f"{source} acc {m['accuracy']:.3f} F1 {m['macro_f1']:.3f}")
        elif source == "entities":
            parts.append(f"entities F1 {m['f1']:.3f} ORG {m['per_type_f1']['ORG']:.3f}")
    return "; ".join(parts) + f"; score {metrics['selection_score']:.3f}"


def train(cfg: TrainConfig, corpus: Corpus, show_progress: bool = True) -> TrainResult:
    """Fine-tune, keep the best checkpoint, save it with its model card; return where."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    trainer = _Trainer(cfg, corpus)
    trainer.run(show_progress)
    seconds = trainer.elapsed()
    if trainer.best is None:  # run() always validates at least once
        raise RuntimeError("training ended without a validation")
    _score, state, metrics = trainer.best
    trainer.network.load_state_dict(state)
    trainer.network.eval()
    created = datetime.now(UTC)
    version = f"{cfg.name}-{created:%Y%m%dT%H%M%S}-{weights_digest(trainer.network)[:8]}"
    card = {
        "version": version,
        "created": created.isoformat(timespec="seconds"),
        "base": cfg.base,
        "data": {**corpus.sizes(), **cfg.extra.get("data", {})},
        "hyperparameters": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(cfg).items()
            if k not in ("output", "log_dir", "extra", "name")
        },
        "steps": trainer.steps_done,
        "training_seconds": round(seconds, 1),
        "validation_metrics": metrics,
        "validation_history": trainer.history,
        "libraries": library_versions(),
        "licence_note": LICENCE_NOTE,
    }
    if trainer.writer is not None:
        trainer.writer.close()
    save_model(
        trainer.network,
        trainer.tokenizer,
        cfg.output,
        version=version,
        max_length=max(cfg.max_length, 128),
        card=card,
    )
    return TrainResult(Path(cfg.output), card, trainer.losses)
