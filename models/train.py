"""Fine-tuning: one encoder, three heads, mixed sources, a fixed number of steps.

Sentiment texts (FPB, TFNS), entity sentences (FiNER-ORD) and entity-sentiment headlines
(SEntFiN) share batches; each loss only counts the labels a row has. Linear warmup then
decay over `steps` optimizer steps (default: `epochs` passes), so the same data and seed give
the same model on a busy or an idle machine. Validation every `eval_every` steps and at the
end; the best checkpoint (selection score: mean of per-source sentiment macro-F1, ORG F1 and
entity-sentiment macro-F1) is kept; with `patience` set, training stops after that many
evaluations without improvement. Runs on CUDA when there is one (bf16 autocast).
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
from models.gazetteer import Gazetteer
from models.store import LoadedModel, new_network, save_model, weights_digest

log = logging.getLogger(__name__)
LICENCE_NOTE = (
    "Trained on Financial PhraseBank (CC BY-NC-SA 3.0), Twitter Financial News Sentiment "
    "(MIT), SEntFiN 1.0 (MIT) and FiNER-ORD (CC BY-NC 4.0): non-commercial use only."
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
    patience: int | None = 2  # None: no early stopping
    entity_weight: float = 1.0
    target_weight: float = 1.0
    entity_repeat: int = 1  # oversample entity sentences
    source_repeat: dict[str, int] = field(default_factory=dict)  # oversample a sentiment source
    mixed_repeat: int = 1  # oversample entity-sentiment texts whose entities differ
    steps: int | None = None  # optimizer steps; None: `epochs` passes over the data
    eval_every: int | None = None
    device: str = "auto"  # auto | cpu | cuda
    gazetteer: bool = False  # company names as an input feature (models.gazetteer); off by
    # default: it lowered ORG F1 (docs/model.md)
    universe_file: Path | None = None  # the SEC ticker list, when there is one
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
        encoder = name.removeprefix("base_model.model.").startswith("encoder.")  # peft prefix
        lr = cfg.lr if encoder else head_lr
        decay = 0.0 if (param.ndim == 1 or "LayerNorm" in name) else cfg.weight_decay
        groups.setdefault((lr, decay), []).append(param)
    return torch.optim.AdamW(
        [{"params": p, "lr": lr, "weight_decay": d} for (lr, d), p in groups.items()]
    )


def _schedule(progress: float, warmup: float) -> float:
    if progress < warmup:
        return progress / max(warmup, 1e-9)
    return max(0.0, (1.0 - progress) / max(1.0 - warmup, 1e-9))


def _loss(network: nn.Module, t: dict[str, torch.Tensor], cfg: TrainConfig) -> torch.Tensor:
    out = network(t["input_ids"], t["attention_mask"], t["case_ids"])
    sent_logits, tag_logits = out.logits, out.entity_logits
    loss = sent_logits.float().sum() * 0.0
    if (t["sentiment"] != IGNORE).any():
        loss = loss + nn.functional.cross_entropy(
            sent_logits.float(), t["sentiment"], ignore_index=IGNORE
        )
    if (t["tags"] != IGNORE).any():
        ner = nn.functional.cross_entropy(
            tag_logits.float().flatten(0, 1), t["tags"].flatten(), ignore_index=IGNORE
        )
        loss = loss + cfg.entity_weight * ner
    if len(t["target_rows"]):
        logits = network.target(  # type: ignore[operator]  # nn.Module attribute lookup
            out.last_hidden_state,
            out.pooled,
            t["attention_mask"],
            t["target_rows"],
            t["target_masks"],
        )
        target = nn.functional.cross_entropy(logits.float(), t["target_labels"])
        loss = loss + cfg.target_weight * target
    return loss


def training_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class _Trainer:
    """`start`: a loaded model to go on from (continual fine-tuning, `models.finetune`);
    None: fresh heads on `cfg.base`."""

    def __init__(self, cfg: TrainConfig, corpus: Corpus, start: LoadedModel | None = None) -> None:
        self.cfg, self.corpus = cfg, corpus
        if start is None:
            self.network, self.tokenizer = new_network(cfg.base)
            self.gazetteer = Gazetteer.from_catalogue(cfg.universe_file) if cfg.gazetteer else None
        else:
            self.network, self.tokenizer = start.network, start.tokenizer  # type: ignore[assignment]
            self.gazetteer = start.gazetteer
        self.device = training_device(cfg.device)
        self.network.to(self.device)  # type: ignore[arg-type]  # transformers' to() stub
        if cfg.freeze_word_embeddings:
            self.network.encoder.get_input_embeddings().weight.requires_grad_(False)
        self.loaded = LoadedModel(
            self.network,
            self.tokenizer,
            "training",
            cfg.max_length,
            "tickerpulse",
            str(cfg.output),
            self.gazetteer,
        )
        entity_rows = corpus.entity_train * cfg.entity_repeat
        sentiment_rows = [
            row
            for row in corpus.sentiment_train
            for _ in range(cfg.source_repeat.get(row.source, 1))
        ]
        self.features = build_features(
            self.tokenizer,
            sentiment_rows,
            entity_rows,
            cfg.max_length,
            [ex for ex in corpus.target_train for _ in range(cfg.mixed_repeat if ex.mixed else 1)],
            self.gazetteer,
        )
        self.optimizer = _optimizer(self.network, cfg)
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.steps_per_epoch = -(-len(self.features) // cfg.batch_size)
        self.total_steps = cfg.steps or self.steps_per_epoch * cfg.epochs
        self.writer = None
        if cfg.log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(cfg.log_dir))
        self.best: tuple[float, dict, dict] | None = None  # score, state, metrics
        self.history: list[dict] = []
        self.losses: list[float] = []
        self.stale = 0
        self.eval_seconds = 0.0  # of elapsed(): validation, not training steps
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def progress(self, step: int) -> float:
        return min(step / max(self.total_steps, 1), 1.0)

    def evaluate(self, step: int) -> bool:
        """Validate, keep the best; True when early stopping says stop."""
        began = time.monotonic()
        metrics = validate(
            self.loaded,
            self.corpus.sentiment_val,
            self.corpus.entity_val,
            self.cfg.max_length,
            self.corpus.target_val,
        )
        metrics["step"] = step
        self.eval_seconds += time.monotonic() - began
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
        return self.cfg.patience is not None and self.stale >= self.cfg.patience

    def step(self, batch: list[int], step: int) -> float:
        factor = _schedule(self.progress(step), self.cfg.warmup)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor
        arrays = collate([self.features[i] for i in batch], self.tokenizer.pad_token_id)
        tensors = {k: torch.from_numpy(v).to(self.device) for k, v in arrays.items()}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            loss = _loss(self.network, tensors, self.cfg)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
        self.optimizer.step()
        return float(loss.detach())

    def run(self, show_progress: bool) -> None:
        rng = random.Random(self.cfg.seed)
        self.network.train()
        bar = tqdm(
            total=self.total_steps,
            desc="train",
            unit="step",
            disable=not show_progress,
            dynamic_ncols=True,
            mininterval=1.0,
        )
        step, every, stop = 0, self.cfg.eval_every, False
        while step < self.total_steps:
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
                stop = bool(every and step % every == 0 and self.evaluate(step))
                if stop or step >= self.total_steps:
                    break
            if stop:
                break
            if not every and step < self.total_steps and self.evaluate(step):
                break  # no eval_every: validate at each pass's end
        bar.close()
        if not self.history or self.history[-1]["step"] != step:
            self.evaluate(step)
        self.steps_done = step


def _summary(metrics: dict) -> str:
    parts = []
    for source, m in metrics.items():
        if isinstance(m, dict) and "accuracy" in m:
            parts.append(f"{source} acc {m['accuracy']:.3f} F1 {m['macro_f1']:.3f}")
        elif source == "entities":
            parts.append(f"entities F1 {m['f1']:.3f} ORG {m['per_type_f1']['ORG']:.3f}")
        elif source == "targets":
            parts.append(f"targets acc {m['accuracy']:.3f} mixed {m['mixed_accuracy']:.3f}")
    return "; ".join(parts) + f"; score {metrics['selection_score']:.3f}"


def train(cfg: TrainConfig, corpus: Corpus, show_progress: bool = True) -> TrainResult:
    """Fine-tune, keep the best checkpoint, save it with its model card; return where."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    trainer = _Trainer(cfg, corpus)
    log.info("training %d steps on %s", trainer.total_steps, trainer.device)
    trainer.run(show_progress)
    seconds = trainer.elapsed()
    if trainer.best is None:  # run() always validates at least once
        raise RuntimeError("training ended without a validation")
    _score, state, metrics = trainer.best
    trainer.network.load_state_dict(state)
    trainer.network.to("cpu").eval()  # type: ignore[arg-type]
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
        gazetteer=trainer.gazetteer,
    )
    return TrainResult(Path(cfg.output), card, trainer.losses)
