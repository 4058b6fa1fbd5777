"""`tickerpulse bench`: benchmarks that print their figures beside the baseline they beat.

Each benchmark lives in its own module (`bench_inference`, `bench_pipeline`, `bench_replay`).
"""

from __future__ import annotations

import click

from tickerpulse.cli.bench_inference import inference
from tickerpulse.cli.bench_pipeline import pipeline
from tickerpulse.cli.bench_replay import replay


@click.group()
def bench() -> None:
    """Benchmarks (commands, not tests): figures side by side with their baselines."""


bench.add_command(inference)
bench.add_command(pipeline)
bench.add_command(replay)
