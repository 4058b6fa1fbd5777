"""A transformers `Pipeline` for the tickerpulse model: the per-message baseline of the benchmark.

The stock text-classification pipeline cannot compute the case-shape input, so this subclass
does the same three steps (preprocess, forward, postprocess) with the model's own encoding and
the engine's post-processing (`models.postprocess`: entities, links, per-ticker sentiment).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Pipeline

from models.linking import TickerLinker
from models.postprocess import Request, postprocess
from models.runners import BatchOutput, ServingHead
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
        return ServingHead(self.network)(
            inputs["input_ids"], inputs["attention_mask"], inputs["case_ids"]
        )


class TickerpulsePipeline(Pipeline):
    def __init__(
        self, loaded: LoadedModel, max_length: int = 128, linker: TickerLinker | None = None
    ) -> None:
        model: Any = _PipelineModel(loaded.network)  # duck-types the PreTrainedModel it reads
        super().__init__(model=model, tokenizer=loaded.tokenizer)
        self.loaded = loaded
        self.max_length = max_length
        self.linker = linker  # with one, tickers are linked as the engine does

    def _sanitize_parameters(self, **kwargs):  # noqa: ANN003, ANN202
        return {}, {}, {}

    def preprocess(self, text: str):  # type: ignore[override]  # noqa: ANN201
        [enc] = encode(self.tokenizer, [text], self.max_length, self.loaded.gazetteer)
        arrays = pad_batch([enc], getattr(self.tokenizer, "pad_token_id", 0) or 0)
        inputs = {k: torch.from_numpy(v) for k, v in arrays.items()}
        return {"inputs": inputs, "text": text, "enc": enc}

    def _forward(self, model_inputs: dict):  # type: ignore[override]  # noqa: ANN201
        outputs = self.model(**model_inputs["inputs"])
        return {**model_inputs, "outputs": BatchOutput(*(t.float().numpy() for t in outputs))}

    def postprocess(self, outputs: dict):  # type: ignore[override]  # noqa: ANN201
        request = Request(outputs["text"], outputs["enc"])
        mask = outputs["inputs"]["attention_mask"].numpy()
        [pred] = postprocess(
            self.loaded, [request], outputs["outputs"], mask, self.linker, self.loaded.version
        )
        return {
            "label": pred.sentiment,
            "score": pred.confidence,
            "entities": pred.entities,
            "tickers": pred.tickers,
        }
