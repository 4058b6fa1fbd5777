"""`tickerpulse bench inference`: the engine against the two usual ways, same model and texts.

Rows: transformers `Pipeline` called once per message; a plain fixed-size batch loop (torch
fp32, batch 32, texts in arrival order); the engine in torch fp32 (token-budget batches,
length sorting); the engine as served (auto backend: ONNX Runtime int8 on a CPU). Every row
does the same work per text inside the timed region: tokenise, run the model, decode the
entities, link the tickers (one shared linker). Accuracy is on a labelled set (the model's
validation split of FPB + TFNS by default), its change measured against the fp32 batch loop.
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from pathlib import Path

import click
import numpy as np
from tqdm.auto import tqdm

from tickerpulse.settings import load_settings

WORK = (
    "tokenise, model forward, decode entities, link tickers, each linked ticker's own "
    "sentiment (every row)"
)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def _row(name: str, n: int, timed: tuple[float, list[float], list[str]], gold: list[str]) -> dict:
    seconds, latencies, preds = timed
    correct = sum(p == g for p, g in zip(preds, gold, strict=True))
    return {
        "name": name,
        "texts": n,
        "seconds": round(seconds, 3),
        "texts_per_s": round(n / seconds, 1),
        "batch_p50_ms": round(_pct(latencies, 50) * 1000, 2),
        "batch_p99_ms": round(_pct(latencies, 99) * 1000, 2),
        "accuracy": round(correct / n, 4),
    }


def _labelled(data: Path | None, n: int) -> tuple[list[str], list[str]]:
    from models.data import load_corpus, load_csv

    settings = load_settings().model
    if data is not None:
        rows = load_csv(data)
    else:
        corpus = load_corpus(settings.data_dir, settings.seed)
        rows = [r for source in corpus.sentiment_val.values() for r in source]
        rows.sort(
            key=lambda r: zlib.crc32(r.text.encode())
        )  # interleave sources, deterministically
    rows = (rows * (n // max(len(rows), 1) + 1))[:n]
    return [r.text for r in rows], [r.label for r in rows]


def _per_message(loaded, texts: list[str], max_length: int, linker) -> tuple[float, list, list]:  # noqa: ANN001
    from models.hf_pipeline import TickerpulsePipeline

    pipe = TickerpulsePipeline(loaded, max_length, linker)
    pipe(texts[0])  # warm-up
    latencies: list[float] = []
    preds: list[str] = []
    started = time.perf_counter()
    for text in tqdm(texts, desc="pipeline per message", file=sys.stderr, mininterval=1):
        t0 = time.perf_counter()
        preds.append(pipe(text)["label"])
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - started, latencies, preds


def _plain_batches(loaded, texts: list[str], max_length: int, linker, size: int = 32):  # noqa: ANN001, ANN202
    import torch

    from models.postprocess import Request, postprocess
    from models.runners import BatchOutput, ServingHead
    from models.shapes import encode, pad_batch

    head = ServingHead(loaded.network).eval()

    def run(chunk: list[str]) -> list[str]:
        encoded = encode(loaded.tokenizer, chunk, max_length, loaded.gazetteer)
        arrays = pad_batch(encoded, loaded.tokenizer.pad_token_id)
        with torch.inference_mode():
            outputs = head(**{k: torch.from_numpy(v) for k, v in arrays.items()})
        out = BatchOutput(*(t.float().numpy() for t in outputs))
        requests = [Request(t, e) for t, e in zip(chunk, encoded, strict=True)]
        preds = postprocess(loaded, requests, out, arrays["attention_mask"], linker, "")
        return [p.sentiment for p in preds]  # the same post-processing as the engine's

    run(texts[:size])
    latencies: list[float] = []
    preds: list[str] = []
    started = time.perf_counter()
    for i in tqdm(
        range(0, len(texts), size), desc="plain batch-32", file=sys.stderr, mininterval=1
    ):
        t0 = time.perf_counter()
        preds.extend(run(texts[i : i + size]))
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - started, latencies, preds


def _engine(engine, texts: list[str]) -> tuple[float, list, list]:  # noqa: ANN001
    with engine:
        engine.predict_sync(texts[:64])  # warm-up
        engine.batch_latencies.clear()
        started = time.perf_counter()
        preds: list[str] = []
        step = 512
        for i in tqdm(
            range(0, len(texts), step),
            desc=f"engine {engine.backend}",
            file=sys.stderr,
            mininterval=1,
        ):
            preds.extend(p.sentiment for p in engine.predict_sync(texts[i : i + step]))
        seconds = time.perf_counter() - started
        return seconds, list(engine.batch_latencies), preds


@click.command("inference")
@click.option("--n", "n", default=2000, show_default=True, help="Texts per method.")
@click.option("--model", "model_path", default=None, help="Model dir (default: configured).")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="CSV whose header names `text` and `label` [default: the validation part of the "
    "labelled data in model.data_dir].",
)
@click.option("--json", "as_json", is_flag=True, help="End with one JSON object (last line).")
def inference(n: int, model_path: str | None, data: Path | None, as_json: bool) -> None:
    """Texts/s, batch latency and accuracy: per-message pipeline vs batch loop vs engine."""
    from models.engine import InferenceEngine
    from models.linking import TickerLinker
    from models.loader import load_engine
    from models.runners import TorchRunner
    from models.store import load_model, serving_path

    settings = load_settings()
    path = serving_path(model_path or settings.model.path, settings.model.cache_dir)
    loaded = load_model(path, settings.engine.max_length)
    max_length = settings.engine.max_length
    texts, gold = _labelled(data, n)
    linker = TickerLinker.default()  # every row links tickers with it
    rows = [
        _row("pipeline per message", n, _per_message(loaded, texts, max_length, linker), gold),
        _row("plain batch-32 fp32", n, _plain_batches(loaded, texts, max_length, linker), gold),
    ]
    fp32_engine = InferenceEngine(loaded, TorchRunner(loaded.network), settings.engine, linker)
    rows.append(_row("engine torch fp32", n, _engine(fp32_engine, texts), gold))
    served = load_engine(settings.model.model_copy(update={"path": path}), settings.engine, linker)
    rows.append(_row(f"engine {served.backend}", n, _engine(served, texts), gold))
    base = rows[1]
    for row in rows:
        row["accuracy_change_pts"] = round((row["accuracy"] - base["accuracy"]) * 100, 2)
        row["speedup_vs_batch"] = round(row["texts_per_s"] / base["texts_per_s"], 2)
    result = {
        "engine_texts_per_s": rows[-1]["texts_per_s"],
        "pipeline_per_message_texts_per_s": rows[0]["texts_per_s"],
        "plain_batch_texts_per_s": rows[1]["texts_per_s"],
        "engine_vs_pipeline": round(rows[-1]["texts_per_s"] / rows[0]["texts_per_s"], 2),
        "engine_vs_plain_batch": rows[-1]["speedup_vs_batch"],
        "engine_accuracy_change_pts": rows[-1]["accuracy_change_pts"],
        "fp32_accuracy": base["accuracy"],
        "engine_backend": served.backend,
        "model_version": loaded.version,
        "n": n,
        "rows": rows,
        "threads": _threads(),
        "work_per_text": WORK,
    }
    _table(rows)  # the figures side by side, always; with --json the last line is the JSON
    click.echo(json.dumps(result, sort_keys=True))


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _table(rows: list[dict]) -> None:
    click.echo(
        f"{'method':<26}{'texts/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'accuracy':>10}"
        f"{'Δacc pts':>10}{'x batch':>9}{'x per-msg':>11}"
    )
    per_message = rows[0]["texts_per_s"]  # the first row is the per-message pipeline
    for r in rows:
        click.echo(
            f"{r['name']:<26}{r['texts_per_s']:>9.1f}{r['batch_p50_ms']:>9.1f}"
            f"{r['batch_p99_ms']:>9.1f}{r['accuracy']:>10.4f}"
            f"{r['accuracy_change_pts']:>+10.2f}{r['speedup_vs_batch']:>9.2f}"
            f"{r['texts_per_s'] / per_message:>11.2f}"
        )
    click.echo(
        "p50/p99: latency of one model call (one message for the pipeline, one batch "
        f"otherwise); work per text in every row: {WORK}",
        err=True,
    )
