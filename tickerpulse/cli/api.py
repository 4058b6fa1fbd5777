"""`tickerpulse api`: the dashboard (page at /, JSON under /api/v1, OpenAPI at /openapi.json)."""

from __future__ import annotations

import json

import click

from tickerpulse.settings import load_settings


@click.group()
def api() -> None:
    """The dashboard HTTP API and page."""


@api.command("serve")
@click.option("--host", default=None, help="Bind address (default: api.host).")
@click.option("--port", type=int, default=None, help="Port (default: api.port).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the dashboard until Ctrl-C."""
    import uvicorn

    from tickerpulse.dashboard import build_dashboard

    settings = load_settings()
    dashboard = build_dashboard(settings)
    click.echo(f"dashboard on http://{host or settings.api.host}:{port or settings.api.port}/")
    uvicorn.run(dashboard.app, host=host or settings.api.host, port=port or settings.api.port,
                log_level="warning")


@api.command("openapi")
def openapi() -> None:
    """Print the OpenAPI document of the dashboard API."""
    from tickerpulse.dashboard import build_dashboard

    click.echo(json.dumps(build_dashboard(load_settings()).app.openapi(), indent=2))
