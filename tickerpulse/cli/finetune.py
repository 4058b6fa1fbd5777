"""`tickerpulse model train --from DIR --add FILE`: continual fine-tuning (models.finetune)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tickerpulse.settings import load_settings

GUARD_EXIT = 3  # the guard refused the new model: nothing was written


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _added_line(on_added: dict) -> str:
    parts = []
    for kind in ("sentiment", "targets"):
        before, after = on_added["parent"].get(kind), on_added["new"].get(kind)
        if before and after:
            parts.append(f"{kind} {before['n']} rows: accuracy {before['accuracy']:.4f} -> "
                         f"{after['accuracy']:.4f}")
    return "on the added rows (informative, not guarded): " + "; ".join(parts)


def run_finetune(parent: Path, output: Path, added: tuple[Path, ...], data_dir: Path | None,
                 seed: int | None, options: dict) -> None:
    """Fine-tune, print the guard's table and the figures; exit GUARD_EXIT when refused."""
    from models.errors import ModelError
    from models.finetune import FineTuneConfig, finetune
    from models.guard import render

    if not added:
        raise click.UsageError("--from needs at least one --add FILE.csv")
    settings = load_settings().model
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    cfg = FineTuneConfig(parent=parent, output=output, added=list(added), seed=seed, **options)
    try:
        result = finetune(cfg, settings, echo=click.echo)
    except (ModelError, FileExistsError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(render(result.guard))
    click.echo(_added_line(result.added_metrics))
    click.echo(f"{result.steps} steps at {result.steps_per_second:.2f} steps/s")
    summary = {
        "written": result.written,
        "path": str(result.directory) if result.directory else None,
        "version": result.card["version"] if result.written else None,
        "parent": result.card["parent"],
        "guard": result.card["guard"] | {"parent_metrics": None},
        "added_data_metrics": result.added_metrics,
        "steps": result.steps,
        "steps_per_second": round(result.steps_per_second, 3),
        "sizes": result.sizes,
    }
    if not result.written:
        click.echo(f"guard refused the new model: nothing written to {output} "
                   "(--max-drop to allow more, --force to write anyway)", err=True)
        click.echo(json.dumps(summary, sort_keys=True))
        raise click.exceptions.Exit(GUARD_EXIT)
    if result.card["guard"]["overridden"]:
        click.echo("guard failed and was overridden (--force): the card says so", err=True)
    sizes = result.sizes
    click.echo(f"saved {output} (version {result.card['version']}): {_size(sizes['artefact'])} "
               f"without onnx/, parent {_size(sizes['parent'])}")
    click.echo(json.dumps(summary, sort_keys=True))
