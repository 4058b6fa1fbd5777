"""`tickerpulse webhook`: verify a received webhook, send a signed test alert, make a secret."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import click
import httpx

from alerts.errors import WebhookSecretError, WebhookVerificationError
from alerts.notifiers import post_signed
from alerts.payload import sample_payload
from alerts.signing import DEFAULT_TOLERANCE_S, decode_secret, generate_secret, verify


@click.group()
def webhook() -> None:
    """Standard Webhooks helpers for endpoint owners."""


def _secrets(given: tuple[str, ...], files: tuple[str, ...]) -> list[str]:
    """The ``--secret`` values plus the secrets in ``--secret-file`` files (one per line)."""
    found = [(s, "--secret") for s in given]
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"{path}: {exc.strerror}",
                                     param_hint="--secret-file") from None
        found += [(line.strip(), "--secret-file") for line in text.splitlines() if line.strip()]
    if not found:
        raise click.UsageError("give --secret or --secret-file (or TICKERPULSE_WEBHOOK_SECRET)")
    for secret, hint in found:
        try:
            decode_secret(secret)
        except WebhookSecretError as exc:
            raise click.BadParameter(str(exc), param_hint=hint) from None
    return list(dict.fromkeys(s for s, _ in found))


def _secret_options(f):  # type: ignore[no-untyped-def]
    f = click.option("--secret-file", "secret_files", multiple=True, type=click.Path(),
                     help="File holding whsec_ secrets, one per line (repeatable).")(f)
    return click.option("--secret", "secrets_", multiple=True, envvar="TICKERPULSE_WEBHOOK_SECRET",
                        help="A whsec_ secret (repeatable; the environment variable may hold "
                             "several, space-separated).")(f)


@webhook.command("send-test")
@click.option("--url", required=True, help="The endpoint to POST to.")
@_secret_options
@click.option("--timeout", "timeout_s", default=10.0, show_default=True, help="Seconds.")
def send_test(url: str, secrets_: tuple[str, ...], secret_files: tuple[str, ...],
              timeout_s: float) -> None:
    """Send one signed sample alert (one signature per secret); exit non-zero unless the
    endpoint answers 2xx."""
    secrets = _secrets(secrets_, secret_files)
    event_id = f"evt_test_{uuid.uuid4().hex[:20]}"
    body = sample_payload(event=event_id).to_bytes()

    async def go():  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient(follow_redirects=False) as client:
            return await post_signed(client, url, secrets, event_id, body, timeout_s)

    result = asyncio.run(go())
    status = result.http_status if result.http_status is not None else "-"
    click.echo(f"{event_id} -> {url}: HTTP {status} in {result.latency_ms:.0f} ms "
               f"({result.outcome}{': ' + result.error if result.error else ''})")
    sys.exit(0 if result.outcome == "ok" else 1)


@webhook.command("verify")
@_secret_options
@click.option("--body", "body_path", required=True, type=click.Path(allow_dash=True),
              help="File holding the raw request body ('-' for stdin).")
@click.option("--header", "-H", "headers", multiple=True,
              help="A received header 'name: value' (repeat for each webhook-* header).")
@click.option("--id", "msg_id", help="webhook-id (instead of -H).")
@click.option("--timestamp", help="webhook-timestamp (instead of -H).")
@click.option("--signature", help="webhook-signature (instead of -H).")
@click.option("--tolerance", type=int, default=None,
              help=f"Accepted clock skew in seconds (default: the setting "
                   f"alerts.webhook_timestamp_tolerance_s, {DEFAULT_TOLERANCE_S}).")
def verify_cmd(secrets_: tuple[str, ...], secret_files: tuple[str, ...], body_path: str,
               headers: tuple[str, ...], msg_id: str | None, timestamp: str | None,
               signature: str | None, tolerance: int | None) -> None:
    """Verify a received webhook's signature; exit 0 when valid (a signature matches any of the
    secrets given), 1 otherwise."""
    secrets = _secrets(secrets_, secret_files)
    if tolerance is None:
        from tickerpulse.settings import load_settings

        tolerance = load_settings().alerts.webhook_timestamp_tolerance_s
    raw = sys.stdin.buffer.read() if body_path == "-" else Path(body_path).read_bytes()
    given: dict[str, str] = {}
    for line in headers:
        name, sep, value = line.partition(":")
        if not sep:
            raise click.BadParameter(f"not 'name: value': {line!r}", param_hint="--header")
        given[name.strip().lower()] = value.strip()
    for header, option in (("webhook-id", msg_id), ("webhook-timestamp", timestamp),
                           ("webhook-signature", signature)):
        if option is not None:
            given[header] = option
    try:
        event_id = verify(secrets, given, raw, tolerance_s=tolerance)
    except WebhookVerificationError as exc:
        click.echo(f"invalid: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps({"valid": True, "webhook_id": event_id}))


@webhook.command("secret")
def secret_cmd() -> None:
    """Print a fresh whsec_ secret for a new endpoint."""
    click.echo(generate_secret())
