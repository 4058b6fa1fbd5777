"""Backends that run one padded batch: torch (CPU fp32 or GPU autocast) and ONNX Runtime.

Each runner maps numpy inputs (input_ids, attention_mask, case_ids) to a `BatchOutput`:
document sentiment probabilities, entity-tag log-probabilities (decoded by
`models.tagging`), and the token / document states the target head reads.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)
OUTPUT_NAMES = ("probabilities", "tag_logprobs", "states", "pooled")


@dataclass
class BatchOutput:
    probabilities: np.ndarray  # [B, 3] document sentiment
    tag_logprobs: np.ndarray | None = None  # [B, T, tags]; None: a sentiment-only model
    states: np.ndarray | None = None  # [B, T, H] token states (target head input)
    pooled: np.ndarray | None = None  # [B, H] document state (target head input)


class ServingHead(nn.Module):
    """Network + softmax / log-softmax: what the engine decodes."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, input_ids, attention_mask, case_ids):  # noqa: ANN001
        out = self.network(input_ids, attention_mask, case_ids)
        probs = torch.softmax(out.logits.float(), dim=-1)
        if out.entity_logits is None:
            return (probs,)
        tags = torch.log_softmax(out.entity_logits.float(), dim=-1)
        return probs, tags, out.last_hidden_state.float(), out.pooled.float()


class TorchRunner:
    name = "torch"
    batch_size = 64  # the engine's max_batch_size when the setting is unset

    def __init__(self, network: nn.Module, device: str | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.head = ServingHead(network).to(self.device).eval()
        cuda = self.device.type == "cuda"
        self.dtype = (
            (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
            if (cuda)
            else None
        )
        if cuda:
            self.name = f"torch-cuda-{str(self.dtype).removeprefix('torch.')}"

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    @torch.inference_mode()
    def __call__(self, batch: dict[str, np.ndarray]) -> BatchOutput:
        inputs = {k: self._to_device(v) for k, v in batch.items()}
        autocast = (
            torch.autocast(device_type="cuda", dtype=self.dtype) if self.dtype else nullcontext()
        )
        with autocast:
            outputs = self.head(**inputs)
        return BatchOutput(*(t.float().cpu().numpy() for t in outputs))


class OnnxRunner:
    name = "onnx-int8"
    # Measured on this 2-core CPU, the default model, real texts sorted by length (texts/s of
    # the session alone): batch 8: 265, 16: 255, 32: 220, 64: 177 (smaller batches keep the
    # activations in the per-core L2 cache). Entity F1 (FiNER-ORD validation; fp32 0.776)
    # moves with the batch's dynamic int8 ranges: 8: 0.769, 16: 0.762, 32: 0.772, 64: 0.772,
    # so 32 is the fastest size that keeps the entity accuracy of 64.
    batch_size = 32

    def __init__(self, onnx_path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads > 0:
            options.intra_op_num_threads = threads
        # Idle worker threads sleep instead of spinning: on a CPU shared with the event loop
        # and other jobs, spinning steals the cores the batch needs (measured here on 2 busy
        # cores: 295 vs 217 texts/s).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, batch: dict[str, np.ndarray]) -> BatchOutput:
        return BatchOutput(*self.session.run(self.outputs, batch))
