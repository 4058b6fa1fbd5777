"""Backends that run one padded batch: torch (CPU fp32 or GPU autocast) and ONNX Runtime.

Each runner maps numpy inputs (input_ids, attention_mask, case_ids) to
(sentiment probabilities [B,3], tag ids [B,L] | None, tag scores [B,L] | None).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)
Outputs = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


class ServingHead(nn.Module):
    """Network + softmax/argmax, so only small tensors leave the device (and the graph)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, input_ids, attention_mask, case_ids):  # noqa: ANN001
        sent_logits, tag_logits = self.network(input_ids, attention_mask, case_ids)
        probs = torch.softmax(sent_logits.float(), dim=-1)
        if tag_logits is None:
            return probs, None, None
        tag_probs = torch.softmax(tag_logits.float(), dim=-1)
        scores, ids = tag_probs.max(dim=-1)
        return probs, ids, scores


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
    def __call__(self, batch: dict[str, np.ndarray]) -> Outputs:
        inputs = {k: self._to_device(v) for k, v in batch.items()}
        autocast = (
            torch.autocast(device_type="cuda", dtype=self.dtype) if self.dtype else nullcontext()
        )
        with autocast:
            probs, ids, scores = self.head(**inputs)
        if ids is None:
            return probs.cpu().numpy(), None, None
        return probs.cpu().numpy(), ids.cpu().numpy(), scores.cpu().numpy()


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

    def __call__(self, batch: dict[str, np.ndarray]) -> Outputs:
        result = self.session.run(self.outputs, batch)
        if len(result) == 1:
            return result[0], None, None
        return result[0], result[1], result[2]
