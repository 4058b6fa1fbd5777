"""A transformers `Pipeline` for the two-head model: the per-message baseline of the benchmark.

The stock text-classification pipeline cannot compute the case-shape input, so this subclass
does the same three steps (preprocess, forward, postprocess) with the model's own encoding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Pipeline

from models.decode import decode_entities
from models.linking import TickerLinker
from models.records import SENTIMENT_LABELS
from models.shapes import encode, pad_batch
from models.store import LoadedModel


class _PipelineModel(nn.Module):
    """What `Pipeline` expects of a model: config, device, can_generate()."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        inner: Any = getattr(network, "encoder", None) or getattr(network, "classifier", None)
        self.config = inner.config

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def can_generate(self) -> bool:
        return False

    def forward(self, **inputs: torch.Tensor):  # noqa: ANN201
        return self.network(inputs["input_ids"], inputs["attention_mask"], inputs["case_ids"])


class TwoHeadPipeline(Pipeline):
    def __init__(
        self, loaded: LoadedModel, max_length: int = 128, linker: TickerLinker | None = None
    ) -> None:
        model: Any = _PipelineModel(loaded.network)  # duck-types the PreTrainedModel it reads
        super().__init__(model=model, tokenizer=loaded.tokenizer)
        self.max_length = max_length
        self.linker = linker  # with one, tickers are linked as the engine does

    def _sanitize_parameters(self, **kwargs):  # noqa: ANN003, ANN202
        return {}, {}, {}

    def preprocess(self, text: str):  # type: ignore[override]  # noqa: ANN201
        [enc] = encode(self.tokenizer, [text], self.max_length)
        arrays = pad_batch([enc], getattr(self.tokenizer, "pad_token_id", 0) or 0)
        inputs = {k: torch.from_numpy(v) for k, v in arrays.items()}
        return {"inputs": inputs, "text": text, "offsets": enc.offsets, "words": enc.words}

    def _forward(self, model_inputs: dict):  # type: ignore[override]  # noqa: ANN201
        sent, tags = self.model(**model_inputs["inputs"])
        return {**model_inputs, "sent": sent, "tags": tags}

    def postprocess(self, outputs: dict):  # type: ignore[override]  # noqa: ANN201
        probs = torch.softmax(outputs["sent"][0].float(), -1)
        best = int(probs.argmax())
        entities: tuple = ()
        if outputs["tags"] is not None:
            tag_probs = torch.softmax(outputs["tags"][0].float(), -1)
            scores, ids = tag_probs.max(-1)
            entities = decode_entities(
                outputs["text"], ids.tolist(), scores.tolist(), outputs["offsets"], outputs["words"]
            )
        tickers = self.linker.link(outputs["text"], entities) if self.linker else ()
        return {
            "label": SENTIMENT_LABELS[best],
            "score": float(probs[best]),
            "entities": entities,
            "tickers": tickers,
        }
