import asyncio
import threading
import time

import numpy as np
import pytest

from models.engine import InferenceEngine
from models.errors import EngineClosedError
from models.linking import TickerLinker
from models.loader import load_engine
from models.records import Prediction
from models.runners import BatchOutput
from models.settings import EngineSettings, ModelSettings
from models.store import load_model
from models.testing import tiny_model_dir


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def loaded(tiny_dir):
    return load_model(str(tiny_dir))


class RecordingRunner:
    """Stands in for the model: records shapes and threads, sentiment from text length."""

    name = "fake"

    def __init__(self, delay=0.0, gate=None):
        self.shapes, self.threads, self.delay, self.gate = [], set(), delay, gate

    def __call__(self, batch):
        if self.gate is not None:
            self.gate.wait(5)
        self.threads.add(threading.current_thread().name)
        self.shapes.append(batch["input_ids"].shape)
        time.sleep(self.delay)
        rows = batch["input_ids"].shape[0]
        probs = np.tile(np.array([[0.1, 0.2, 0.7]], dtype=np.float32), (rows, 1))
        tags = np.full((*batch["input_ids"].shape, 7), np.log(0.1 / 6), dtype=np.float32)
        tags[..., 0] = np.log(0.9)  # "O" everywhere
        return BatchOutput(probs, tags)


def make(loaded, runner, **settings):
    return InferenceEngine(loaded, runner, EngineSettings(**settings), linker=None)


async def test_batches_respect_token_budget_and_size(loaded):
    runner = RecordingRunner()
    texts = [("word " * n).strip() for n in [1, 40, 3, 25, 2, 60, 5, 8, 13, 30] * 5]
    with make(loaded, runner, max_batch_size=8, max_batch_tokens=200, max_wait_ms=20) as engine:
        preds = await engine.predict(texts)
    assert len(preds) == len(texts) and all(isinstance(p, Prediction) for p in preds)
    assert sum(rows for rows, _ in runner.shapes) == len(texts)
    for rows, width in runner.shapes:
        assert rows <= 8
        assert rows == 1 or rows * width <= 200


async def test_model_runs_on_one_dedicated_thread(loaded):
    runner = RecordingRunner()
    with make(loaded, runner) as engine:
        await asyncio.gather(*(engine.predict([f"text {i}"]) for i in range(20)))
    assert runner.threads == {"tickerpulse-inference"}


async def test_backpressure_predict_waits_when_queue_full(loaded):
    gate = threading.Event()
    runner = RecordingRunner(gate=gate)
    engine = make(loaded, runner, max_queue=4, max_batch_size=2, max_wait_ms=0, sort_window=2)
    with engine:
        task = asyncio.create_task(engine.predict([f"t{i}" for i in range(12)]))
        await asyncio.sleep(0.3)
        assert not task.done()
        assert engine.queued <= 4  # bounded while the model is stuck
        gate.set()
        preds = await asyncio.wait_for(task, 10)
    assert len(preds) == 12


async def test_loop_stays_responsive_while_model_is_slow(loaded):
    runner = RecordingRunner(delay=0.2)
    with make(loaded, runner, max_wait_ms=0) as engine:
        task = asyncio.create_task(engine.predict(["a", "b"]))
        ticks = 0
        while not task.done():
            await asyncio.sleep(0.01)
            ticks += 1
        await task
    assert ticks >= 10  # the event loop kept running during inference


def test_max_wait_gathers_a_batch(loaded):
    runner = RecordingRunner()
    with make(loaded, runner, max_wait_ms=200, max_batch_size=64) as engine:
        results = []
        threads = [
            threading.Thread(target=lambda i=i: results.append(engine.predict_sync([f"text {i}"])))
            for i in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 6
    assert max(rows for rows, _ in runner.shapes) >= 2  # waited for company


def test_close_drains_admitted_texts_and_rejects_new(loaded):
    gate = threading.Event()
    runner = RecordingRunner(gate=gate)
    engine = make(loaded, runner, max_batch_size=1, sort_window=1, max_wait_ms=0)
    engine.start()
    results = []
    worker = threading.Thread(target=lambda: results.append(_catch(engine, ["a", "b", "c"])))
    worker.start()
    time.sleep(0.2)
    closer = threading.Thread(target=engine.close)
    closer.start()
    gate.set()
    closer.join(5)
    worker.join(5)
    assert [p.sentiment for p in results[0]] == ["positive"] * 3  # admitted work finishes
    assert not closer.is_alive()
    with pytest.raises(EngineClosedError):
        engine.predict_sync(["late"])


def _catch(engine, texts):
    try:
        return engine.predict_sync(texts)
    except EngineClosedError as exc:
        return exc


def test_predict_rejects_a_bare_string_and_bad_hints(loaded):
    with make(loaded, RecordingRunner()) as engine:
        with pytest.raises(TypeError):
            engine.predict_sync("one text")
        with pytest.raises(ValueError):
            engine.predict_sync(["a", "b"], [["AAPL"]])


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
async def test_real_tiny_model_end_to_end(tiny_dir, tmp_path, backend):
    settings = ModelSettings(path=str(tiny_dir), cache_dir=tmp_path)
    engine = load_engine(settings, EngineSettings(backend=backend), TickerLinker.default())
    with engine:
        preds = await engine.predict(
            ["$TSLA falls after recall", "Markets were calm"], hints=[[], ["AAPL"]]
        )
    assert engine.model_version == "tiny-0"
    first, second = preds
    assert first.sentiment in ("negative", "neutral", "positive")
    assert abs(sum(first.probabilities.values()) - 1) < 1e-4
    assert first.confidence == max(first.probabilities.values())
    assert [t.ticker for t in first.tickers] == ["TSLA"]
    assert second.tickers[0].ticker == "AAPL" and second.tickers[0].method == "hint"
    assert all(p.model_version == "tiny-0" for p in preds)
    # every ticker gets its own sentiment: the target head where the text names it, the
    # document's for a hint the text does not contain
    tsla, aapl = first.tickers[0].sentiment, second.tickers[0].sentiment
    assert tsla.source == "entity" and abs(sum(tsla.probabilities.values()) - 1) < 1e-4
    assert aapl.source == "document" and aapl.label == second.sentiment


def test_target_spans_get_their_own_sentiment(tiny_dir, tmp_path):
    engine = load_engine(
        ModelSettings(path=str(tiny_dir), cache_dir=tmp_path), EngineSettings(backend="torch")
    )
    text = "Gold shines on seasonal demand; Silver dull"
    with engine:
        [pred] = engine.predict_sync([text], targets=[[(0, 4), (32, 38), (100, 104)]])
        with pytest.raises(ValueError, match="target lists"):
            engine.predict_sync([text, text], targets=[[(0, 4)]])
    gold, silver, outside = pred.targets
    assert gold.source == silver.source == "entity"
    assert gold.probabilities != silver.probabilities  # different spans, different inputs
    assert outside.source == "document" and outside.label == pred.sentiment


# What int8 promises is the same decision, not the same digits. ONNX Runtime's int8 kernels
# differ by instruction set (AVX2 vs AVX-512/VNNI): on a random tiny model the largest
# probability difference measured 0.010 on one CPU and 0.0203 on another. The bound below is
# 2.5x the worst measured, and labels must agree wherever fp32 is not within that bound of a
# tie. Accuracy on real texts is checked on the real model in
# tests/integration/test_models_int8.py.
INT8_PROBABILITY_BOUND = 0.05


def test_onnx_int8_close_to_torch(tiny_dir, tmp_path):
    texts = ["Nokia shares rose 5 % in Helsinki", "Apple cut guidance", "flat"]
    out = {}
    for backend in ("torch", "onnx-int8"):
        engine = load_engine(
            ModelSettings(path=str(tiny_dir), cache_dir=tmp_path), EngineSettings(backend=backend)
        )
        with engine:
            out[backend] = engine.predict_sync(texts, targets=[[(0, 5)], [(0, 5)], [(0, 4)]])
    for a, b in zip(out["torch"], out["onnx-int8"], strict=True):
        for label in a.probabilities:
            assert abs(a.probabilities[label] - b.probabilities[label]) < INT8_PROBABILITY_BOUND
        for ta, tb in zip(a.targets, b.targets, strict=True):  # the head reads int8 states
            for label, value in ta.probabilities.items():
                assert abs(value - tb.probabilities[label]) < INT8_PROBABILITY_BOUND
        top, second = sorted(a.probabilities.values(), reverse=True)[:2]
        if top - second > 2 * INT8_PROBABILITY_BOUND:
            assert a.sentiment == b.sentiment
    assert (tiny_dir / "onnx" / "model.int8.onnx").exists()  # cached in the model dir


def test_unknown_backend_is_a_clear_error(tiny_dir, tmp_path):
    with pytest.raises(ValueError, match="not one of"):
        load_engine(
            ModelSettings(path=str(tiny_dir), cache_dir=tmp_path), EngineSettings(backend="tpu")
        )


def test_every_entity_span_gets_its_own_sentiment(loaded):
    class EntityRunner:
        name = "fake-entities"

        def __call__(self, batch):
            rows, width = batch["input_ids"].shape
            tags = np.full((rows, width, 7), np.log(0.01), dtype=np.float32)
            tags[..., 0] = np.log(0.9)
            tags[:, 1, 0], tags[:, 1, 1] = np.log(0.01), np.log(0.9)  # first word: B-ORG
            rng = np.random.default_rng(0)
            states = rng.normal(size=(rows, width, 32)).astype(np.float32)
            return BatchOutput(
                np.tile([[0.2, 0.5, 0.3]], (rows, 1)).astype(np.float32), tags, states,
                states.mean(1),
            )

    with make(loaded, EntityRunner(), max_wait_ms=0) as engine:
        [pred] = engine.predict_sync(["Nokia rose while Ericsson fell"])
    [nokia] = pred.entities
    assert nokia.text == "Nokia" and nokia.sentiment.source == "entity"
    assert abs(sum(nokia.sentiment.probabilities.values()) - 1) < 1e-5
