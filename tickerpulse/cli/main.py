"""The `tickerpulse` command. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import importlib
import logging

import click

# (module, attribute) of every command or group; a module owns one group of commands.
_COMMANDS: list[tuple[str, str]] = [
    ("tickerpulse.cli.config", "config"),
    ("tickerpulse.cli.model", "model"),
    ("tickerpulse.cli.services", "services"),
    ("tickerpulse.cli.simulate", "simulate"),
    ("tickerpulse.cli.worker", "worker"),
    ("tickerpulse.cli.bench", "bench"),
    ("tickerpulse.cli.webhook", "webhook"),
    ("tickerpulse.cli.alerts", "alerts"),
    ("tickerpulse.cli.api", "api"),
    ("tickerpulse.cli.demo", "demo"),
]


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """tickerpulse: streaming financial sentiment monitor."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    for module_name, attr in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # the group is not written yet
                continue
            raise
        cli.add_command(getattr(module, attr))


_register()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
