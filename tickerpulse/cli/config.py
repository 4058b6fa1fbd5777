"""`tickerpulse config`: show the effective settings and the README table."""

from __future__ import annotations

import click

from tickerpulse.settings import load_settings
from tickerpulse.settings_doc import settings_table


@click.group()
def config() -> None:
    """Inspect the settings tree."""


@config.command("show")
def show() -> None:
    """Print the effective settings as JSON (secrets masked)."""
    click.echo(load_settings().model_dump_json(indent=2))


@config.command("table")
def table() -> None:
    """Print the settings as the README's Markdown table."""
    click.echo(settings_table())
