"""LoRA adapter model directories: a small artefact that names its parent model.

Training wraps the parent network with peft (LoRA on the encoder's attention query/value;
the heads and the case embedding trained in full via `modules_to_save`). The directory holds::

    adapter_model.safetensors   peft's adapter state (lora_A/lora_B per layer, full heads)
    adapter_config.json         peft's LoraConfig (r, lora_alpha, target modules, ...)
    tokenizer.json, ...         the tokenizer (the parent's)
    README.md, model_card.json  the model card
    tickerpulse_model.json      format, version, max_length and `adapter_of`: the parent's
                                path, version and weights digest

Serving does not need peft: :func:`load_adapter` loads the parent, checks its weights digest
(a changed parent is refused), and merges W + (alpha / r) * B @ A with plain torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file
from torch import nn

from models.errors import ModelFormatError

if TYPE_CHECKING:
    from models.store import LoadedModel

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model."
LORA_TARGETS = ("query", "value")
FULL_MODULES = ("sentiment_head", "entity_head", "target_head", "case_embedding")


def wrap_lora(network: nn.Module, r: int, alpha: int, dropout: float) -> nn.Module:
    """The network with LoRA adapters (training only: needs the `[train]` extra, peft)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(LORA_TARGETS),
        modules_to_save=list(FULL_MODULES),
    )
    return get_peft_model(network, config)  # type: ignore[arg-type]


def adapter_state(peft_network: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """The adapter weights (LoRA A/B, full heads) and LoraConfig of a peft-wrapped network;
    take them before `merge_and_unload`, which removes the adapters."""
    from peft import get_peft_model_state_dict

    state = get_peft_model_state_dict(peft_network)
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}, (
        peft_network.peft_config["default"]
    )


def write_adapter(state: dict[str, torch.Tensor], config: Any, directory: Path) -> None:
    """Write adapter weights and peft's adapter_config.json into `directory`."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    save_file(state, str(directory / ADAPTER_WEIGHTS))
    config.save_pretrained(str(directory))


def merge_adapter(network: nn.Module, directory: Path) -> nn.Module:
    """Fold the adapter in `directory` into `network` (in place), plain torch."""
    config = json.loads((directory / ADAPTER_CONFIG).read_text())
    if config.get("use_rslora") or config.get("use_dora"):
        raise ModelFormatError(f"{directory}: rsLoRA/DoRA adapters are not supported")
    scale = float(config["lora_alpha"]) / float(config["r"])
    state = load_file(str(directory / ADAPTER_WEIGHTS))
    own = network.state_dict()
    updates: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        name = key.removeprefix(PEFT_PREFIX)
        if ".lora_B." in name:
            continue
        if ".lora_A." in name:
            module = name.split(".lora_A.")[0]
            b = state[key.replace(".lora_A.", ".lora_B.")]
            weight = f"{module}.weight"
            base = updates.get(weight, own[weight])
            updates[weight] = base + scale * (b.float() @ tensor.float()).to(base.dtype)
        elif name in own:
            updates[name] = tensor
        else:
            raise ModelFormatError(f"{directory}: adapter weight {key!r} has no place in the model")
    network.load_state_dict({**own, **updates})
    return network


def load_adapter(path: Path, meta: dict) -> LoadedModel:
    """The parent model with this directory's adapter merged in (what serving loads)."""
    from transformers import AutoTokenizer

    from models.store import LoadedModel, load_model, weights_digest

    parent = meta["adapter_of"]
    parent_path = Path(parent["path"])
    if not parent_path.exists():
        raise ModelFormatError(
            f"{path}: LoRA adapter of {parent_path} (version {parent['version']}), "
            "which is not there: restore the parent model or train a full model"
        )
    base = load_model(str(parent_path))
    digest = weights_digest(base.network)
    if digest != parent["weights_digest"]:
        raise ModelFormatError(
            f"{path}: LoRA adapter of {parent_path} version {parent['version']} (weights "
            f"{parent['weights_digest']}), but that directory now holds version "
            f"{base.version} (weights {digest}): the adapter only fits the model it was "
            "trained on; restore that parent or fine-tune again from the new one"
        )
    network = merge_adapter(base.network, path).eval()
    return LoadedModel(
        network,
        AutoTokenizer.from_pretrained(path),
        meta["version"],
        int(meta["max_length"]),
        "tickerpulse",
        str(path),
        base.gazetteer,
    )


def directory_bytes(directory: Path, skip: tuple[str, ...] = ("onnx",)) -> int:
    """Size of a model directory's files, leaving out the given top-level folders."""
    total = 0
    for file in Path(directory).rglob("*"):
        if file.is_file() and file.relative_to(directory).parts[0] not in skip:
            total += file.stat().st_size
    return total
