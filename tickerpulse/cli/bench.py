"""`tickerpulse bench`: benchmarks that print their figures beside the baseline they beat.

Each benchmark lives in its own module (`bench_inference`, `bench_pipeline`) and is attached
here when present.
"""

from __future__ import annotations

import importlib

import click


@click.group()
def bench() -> None:
    """Benchmarks (commands, not tests): figures side by side with their baselines."""


for _module, _attr in [
    ("tickerpulse.cli.bench_inference", "inference"),
    ("tickerpulse.cli.bench_pipeline", "pipeline"),
]:
    try:
        bench.add_command(getattr(importlib.import_module(_module), _attr))
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise
