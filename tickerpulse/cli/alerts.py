"""`tickerpulse alerts`: the worker, migrations, rules check, silences, history."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path

import click

from alerts.errors import AlertsError, NotFoundError, RulesError
from alerts.rules import load_rules, parse_duration
from alerts.store import migrate as migrations
from alerts.store.repository import AlertStore
from streams.contracts import utc_now
from tickerpulse.settings import Settings, load_settings

log = logging.getLogger(__name__)


@click.group()
def alerts() -> None:
    """Alert rules, the alerts worker and alert history."""


def _store(settings: Settings) -> AlertStore:
    return AlertStore(settings.alerts.database_url, migrate=settings.alerts.migrate_on_start)


@alerts.command("run")
def run() -> None:
    """Run the alerts worker: risk topic -> rules -> SQL outbox -> webhooks + alerts topic."""
    from tickerpulse.logs import setup_logging

    settings = load_settings()
    setup_logging(settings)
    try:
        asyncio.run(_run(settings))
    except RulesError as exc:
        raise click.ClickException(f"invalid rules: {exc}") from None


async def _run(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    from tickerpulse.alerts_worker import serve

    await serve(settings, stop)


@alerts.command("migrate")
@click.option("--revision", default="head", show_default=True,
              help="Alembic revision to upgrade to (`head`: the newest).")
def migrate(revision: str) -> None:
    """Apply the Alembic migrations to the alerts database."""
    url = load_settings().alerts.database_url
    migrations.upgrade(url, revision)
    click.echo(f"alerts database at revision {migrations.current(url)}")


@alerts.group("rules")
def rules() -> None:
    """Rules files."""


@rules.command("check")
@click.argument("path", type=click.Path())
def rules_check(path: str) -> None:
    """Validate a rules file; errors name file, line and field."""
    try:
        ruleset = load_rules(path)
    except RulesError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{path}: {len(ruleset.rules)} rules OK (version {ruleset.version})")
    for rule in ruleset.rules:
        click.echo(f"  {rule.name:<28} {rule.severity:<8} {rule.condition.metric}")


@alerts.group("silence")
def silence() -> None:
    """Silences: mute alerts by ticker and/or rule until they expire."""


@silence.command("add")
@click.option("--ticker", default=None, help="Mute this ticker only [default: every ticker].")
@click.option("--rule", default=None, help="Mute this rule only [default: every rule].")
@click.option("--for", "duration", default="1h", show_default=True,
              help="How long, e.g. 30m, 2h, 1d.")
@click.option("--comment", default="", help="Why (shown in lists and the dashboard).")
@click.option("--by", "created_by", default="cli", show_default=True,
              help="Who is silencing (recorded with the silence).")
def silence_add(ticker: str | None, rule: str | None, duration: str, comment: str,
                created_by: str) -> None:
    """Add a silence starting now."""
    now = utc_now()
    try:
        expires = now + parse_duration(duration)
        row = _store(load_settings()).add_silence(ticker=ticker, rule=rule, starts_at=now,
                                                  expires_at=expires, comment=comment,
                                                  created_by=created_by, now=now)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"silence {row.id}: ticker={row.ticker} rule={row.rule} until "
               f"{row.expires_at.isoformat()}")


@silence.command("list")
@click.option("--all", "include_expired", is_flag=True, help="Include expired silences.")
def silence_list(include_expired: bool) -> None:
    """List silences."""
    for row in _store(load_settings()).list_silences(utc_now(), include_expired=include_expired):
        click.echo(f"{row.id:>5} ticker={row.ticker or '*':<8} rule={row.rule or '*':<24} "
                   f"expires={row.expires_at.isoformat()} {row.comment}")


@silence.command("expire")
@click.argument("silence_id", type=int)
def silence_expire(silence_id: int) -> None:
    """Expire a silence now."""
    try:
        row = _store(load_settings()).expire_silence(silence_id, utc_now())
    except NotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"silence {row.id} expired at {row.expires_at.isoformat()}")


@alerts.command("list")
@click.option("--ticker", default=None, help="Only this ticker's alerts.")
@click.option("--delivery", "delivery_status", default=None,
              type=click.Choice(["pending", "delivered", "failed", "muted", "none"]),
              help="Only alerts whose delivery is in this state.")
@click.option("--limit", default=50, show_default=True, help="Most alerts listed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_alerts(ticker: str | None, delivery_status: str | None, limit: int,
                as_json: bool) -> None:
    """Recent alerts, newest first."""
    rows = _store(load_settings()).list_alerts(ticker=ticker, delivery_status=delivery_status,
                                               limit=limit)
    for a in rows:
        if as_json:
            click.echo(json.dumps({"event_id": a.event_id, "ticker": a.ticker, "rule": a.rule,
                                   "severity": a.severity, "status": a.status,
                                   "delivery_status": a.delivery_status,
                                   "decided_at": _iso(a.decided_at)}))
        else:
            click.echo(f"{_iso(a.decided_at)} {a.event_id} {a.ticker:<6} {a.rule:<24} "
                       f"{a.severity:<8} {a.status:<8} {a.delivery_status}")


@alerts.command("show")
@click.argument("event_id")
def show(event_id: str) -> None:
    """One alert with its payload and every delivery attempt."""
    try:
        alert, deliveries, attempts = _store(load_settings()).get_alert(event_id)
    except AlertsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(json.loads(alert.payload), indent=2))
    for d in deliveries:
        click.echo(f"{d.channel}: {d.status} after {d.attempts} attempt(s) {d.last_error or ''}")
    for t in attempts:
        click.echo(f"  #{t.attempt} {t.channel} {t.outcome} http={t.http_status} "
                   f"{t.latency_ms:.0f}ms {t.error or ''}")


@alerts.command("schema")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path), required=False)
def schema(output: Path | None) -> None:
    """The alert payload's JSON Schema: written to OUTPUT (its path printed), else printed."""
    from alerts.payload import export_schema, schema_json

    if output is None:
        click.echo(schema_json(), nl=False)
    else:
        click.echo(str(export_schema(output)))


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")
