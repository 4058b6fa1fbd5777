"""`tickerpulse api`: the dashboard (page at /, JSON under /api/v1, OpenAPI at /openapi.json)
and its bearer tokens (`api token create|list|revoke`)."""

from __future__ import annotations

import json
import math

import click

from tickerpulse.settings import Settings, load_settings


@click.group()
def api() -> None:
    """The dashboard HTTP API and page."""


def refuse_open_bind(settings: Settings, host: str, active_tokens: int) -> None:
    """No token and a non-loopback address: anyone reaching the port could mute alerts."""
    from tickerpulse.dashboard import is_loopback

    if active_tokens or is_loopback(host) or settings.api.insecure:
        return
    raise click.ClickException(
        f"refusing to serve the API on {host}: no API token exists, so anyone who can reach "
        "this address could read risk and alerts and mute rules. Create one first "
        "(`tickerpulse api token create --name NAME --role admin`), bind to 127.0.0.1, "
        "or set TICKERPULSE_API__INSECURE=true to serve it open on purpose."
    )


@api.command("serve")
@click.option("--host", default=None, help="Bind address (default: api.host).")
@click.option("--port", type=int, default=None, help="Port (default: api.port).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the dashboard until Ctrl-C or SIGTERM."""
    import uvicorn

    from tickerpulse.dashboard import build_dashboard
    from tickerpulse.logs import setup_logging

    settings = load_settings()
    setup_logging(settings)
    host = host or settings.api.host
    port = port or settings.api.port
    dashboard = build_dashboard(settings, host=host)
    try:
        refuse_open_bind(settings, host, len(dashboard.tokens.active()))
        click.echo(f"dashboard on http://{host}:{port}/")
        # log_config=None: uvicorn's lines go through tickerpulse's handler (format,
        # redaction); its own access log is off because it prints query strings.
        uvicorn.run(dashboard.app, host=host, port=port, log_config=None, access_log=False,
                    timeout_graceful_shutdown=math.ceil(settings.api.shutdown_grace_s))
    finally:
        dashboard.alerts.close()


@api.command("openapi")
def openapi() -> None:
    """Print the OpenAPI document of the dashboard API."""
    from tickerpulse.dashboard import build_dashboard

    click.echo(json.dumps(build_dashboard(load_settings()).app.openapi(), indent=2))


@api.group("token")
def token() -> None:
    """Bearer tokens of the API (only their SHA-256 is stored, in the alert database)."""


def _tokens():  # type: ignore[no-untyped-def]
    from alerts.store.repository import AlertStore
    from alerts.store.tokens import TokenStore

    settings = load_settings()
    store = AlertStore(settings.alerts.database_url, migrate=settings.alerts.migrate_on_start)
    return store, TokenStore(store.engine)


@token.command("create")
@click.option("--name", required=True, help="Who or what holds it (unique; shown in logs).")
@click.option("--role", type=click.Choice(["read", "admin"]), required=True,
              help="read: risk and alerts; admin: also silences, rules text, delivery errors.")
def token_create(name: str, role: str) -> None:
    """Create a token and print it once (it cannot be shown again)."""
    import re

    from alerts.errors import AlertsError
    from alerts.store.tokens import NAME_PATTERN
    from streams.contracts import utc_now

    if not re.match(NAME_PATTERN, name):
        raise click.BadParameter("1-64 of A-Z a-z 0-9 _ . @ -", param_hint="--name")
    store, tokens = _tokens()
    try:
        value = tokens.create(name, role, utc_now())
    except AlertsError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(value)
    click.echo(f"token {name!r} ({role}) created; it is shown only this once.", err=True)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def token_list(as_json: bool) -> None:
    """Names, roles, creation, last use and revocation of every token (never the hash)."""
    store, tokens = _tokens()
    try:
        rows = tokens.all()
    finally:
        store.close()

    def iso(value) -> str:  # type: ignore[no-untyped-def]
        return value.isoformat(timespec="seconds") if value else "-"

    if as_json:
        for t in rows:
            click.echo(json.dumps({"name": t.name, "role": t.role, "created_at": iso(t.created_at),
                                   "last_used_at": iso(t.last_used_at),
                                   "revoked_at": iso(t.revoked_at)}))
        return
    click.echo(f"{'name':24} {'role':6} {'created':26} {'last used':26} revoked")
    for t in rows:
        click.echo(f"{t.name:24} {t.role:6} {iso(t.created_at):26} {iso(t.last_used_at):26} "
                   f"{iso(t.revoked_at)}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke a token by name (the API refuses it within api.token_refresh_s)."""
    from alerts.errors import NotFoundError
    from streams.contracts import utc_now

    store, tokens = _tokens()
    try:
        info = tokens.revoke(name, utc_now())
    except NotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"token {info.name!r} revoked at {info.revoked_at:%Y-%m-%dT%H:%M:%SZ}")
