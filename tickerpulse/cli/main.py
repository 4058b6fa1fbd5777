"""The `tickerpulse` command. Each command group lives in its own module and is added here."""

from __future__ import annotations

import logging

import click

from tickerpulse.cli.alerts import alerts
from tickerpulse.cli.api import api
from tickerpulse.cli.bench import bench
from tickerpulse.cli.config import config
from tickerpulse.cli.demo import demo
from tickerpulse.cli.model import model
from tickerpulse.cli.replay import replay
from tickerpulse.cli.services import services
from tickerpulse.cli.simulate import simulate
from tickerpulse.cli.webhook import webhook
from tickerpulse.cli.worker import worker
from tickerpulse.version import package_version

COMMANDS: tuple[click.Command, ...] = (
    config, model, services, simulate, worker, bench, webhook, alerts, api, demo, replay,
)


@click.group()
@click.version_option(package_version(), "-V", "--version", prog_name="tickerpulse",
                      message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """tickerpulse: streaming financial sentiment monitor."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
