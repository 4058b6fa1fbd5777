"""`load_engine`: settings in, a ready (not yet started) inference engine out."""

from __future__ import annotations

import logging

import torch

from models.engine import InferenceEngine
from models.linking import TickerLinker
from models.settings import EngineSettings, ModelSettings
from models.store import LoadedModel, load_model, serving_path, set_threads

log = logging.getLogger(__name__)
BACKENDS = ("auto", "torch", "onnx-int8")


def make_runner(loaded: LoadedModel, model: ModelSettings, engine: EngineSettings):  # noqa: ANN201
    backend = engine.backend
    if backend not in BACKENDS:
        raise ValueError(f"engine backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "auto":
        cpu_onnx = not torch.cuda.is_available() and loaded.kind != "sentiment-only"
        backend = "onnx-int8" if cpu_onnx else "torch"
    set_threads(engine.threads)
    if backend == "onnx-int8":
        from models.onnx_export import int8_path
        from models.runners import OnnxRunner

        return OnnxRunner(int8_path(loaded, model.cache_dir), engine.threads)
    from models.runners import TorchRunner

    return TorchRunner(loaded.network)


def load_engine(
    model: ModelSettings, engine: EngineSettings, linker: TickerLinker | None = None
) -> InferenceEngine:
    """The engine for `model.path`, or the cached default model (ModelNotFoundError if none)."""
    loaded = load_model(serving_path(model.path, model.cache_dir), engine.max_length)
    runner = make_runner(loaded, model, engine)
    log.info("serving %s (%s) with %s", loaded.version, loaded.kind, getattr(runner, "name", ""))
    return InferenceEngine(loaded, runner, engine, linker or TickerLinker.default())
