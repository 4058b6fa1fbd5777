"""`tickerpulse demo`: the whole product on embedded defaults with a simulated feed."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--duration", type=float, default=120.0, show_default=True,
              help="Seconds of simulated feed.")
@click.option("--rate", type=float, default=20.0, show_default=True, help="Messages per second.")
@click.option("--keep", is_flag=True, help="Keep serving the dashboard until Ctrl-C.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("var/demo"),
              show_default=True, help="Logs, alert history and the risk plot.")
def demo(duration: float, rate: float, keep: bool, out: Path) -> None:
    """Broker, worker, alerts and dashboard on embedded defaults, fed by the simulator."""
    from tickerpulse.demo import run_demo
    from tickerpulse.logs import setup_logging
    from tickerpulse.settings import load_settings

    settings = load_settings()
    setup_logging(settings)
    run_demo(settings, duration, rate, keep, out)
