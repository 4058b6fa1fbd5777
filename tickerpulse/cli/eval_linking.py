"""`tickerpulse model eval-linking`: ticker-linking precision/recall (see models/linkeval.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from tickerpulse.cli.progress import ProgressEngine
from tickerpulse.settings import load_settings


def _load_engine(model_path: str | None, linker):  # noqa: ANN001, ANN202
    from models.loader import load_engine

    settings = load_settings()
    model_settings = settings.model.model_copy(update={"path": model_path or settings.model.path})
    engine_settings = settings.engine.model_copy(update={"max_wait_ms": 0.0})
    return load_engine(model_settings, engine_settings, linker)


def load_linking_engine(model_path: str | None, universe: str):  # noqa: ANN201
    """The engine whose linker knows ``universe`` too (ModelNotFoundError as a CLI error)."""
    from models.errors import ModelError
    from models.linking import TickerLinker

    try:
        return _load_engine(model_path, TickerLinker.default(universe or None))
    except (ModelError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


def _line(view: str, m: dict) -> str:
    return (
        f"{view:<7} n={m['n']} gold={m['gold']} predicted={m['predicted']} "
        f"precision={m['precision']:.4f} recall={m['recall']:.4f} f1={m['f1']:.4f}"
    )


def _show(errors: list[dict], limit: int) -> None:
    for row in errors[:limit]:
        what = " ".join([f"-{t}" for t in row["missed"]] + [f"+{t}" for t in row["wrong"]])
        click.echo(f"  {what:<16} {row['text']}")


def eval_link_set(
    data: Path, universe: str, model_path: str | None, no_model: bool, show_errors: int
) -> dict:
    """The hand-labelled `text,tickers` set: the linker alone, then with the model's
    entities when a model is there (the default model may not be built: then only the
    first, and `model` is null)."""
    from models.errors import ModelError, ModelNotFoundError
    from models.linkeval import (
        engine_predictions,
        linker_predictions,
        load_link_set,
        mistakes,
        scores,
    )
    from models.linking import TickerLinker

    try:
        cases = load_link_set(data)
        linker = TickerLinker.default(universe or None)
    except (ModelError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    start = time.perf_counter()
    found = linker_predictions(linker, cases)
    per_text_us = (time.perf_counter() - start) / max(len(cases), 1) * 1e6
    report: dict = {"data": str(data), "universe": universe or "embedded",
                    "linker": scores(cases, found), "linker_us_per_text": round(per_text_us, 1),
                    "model": None, "model_version": None}
    click.echo(_line("linker", report["linker"]))
    _show(mistakes(cases, found), show_errors)
    if no_model:
        return report
    try:
        engine = _load_engine(model_path, linker)
    except ModelNotFoundError as exc:
        if model_path:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"model   none ({exc})", file=sys.stderr)
        return report
    with engine, ProgressEngine(engine, "eval-linking", len(cases)) as tracked:
        found = engine_predictions(tracked, cases)  # type: ignore[arg-type]
        report["model_version"] = engine.model_version
    report["model"] = scores(cases, found)
    click.echo(_line("model", report["model"]))
    _show(mistakes(cases, found), show_errors)
    return report
