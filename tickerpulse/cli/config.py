"""`tickerpulse config`: show the effective settings and the README table.

``config show`` prints no secret: every ``SecretStr`` as ``***`` (empty ones as ""), the
password of every URL (``redis://:***@host``, ``postgresql://user:***@host/db``), query
parameters that look like credentials, and any value under a key naming a password, token,
secret or key.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import click
from pydantic import BaseModel, SecretStr

from tickerpulse.settings import load_settings
from tickerpulse.settings_doc import settings_table

MASK = "***"
_SECRET_KEY = re.compile(r"pass|secret|token|credential|api_?key|private|sig|auth",
                         re.IGNORECASE)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def redact_url(value: str) -> str:
    """``value`` with the password of its userinfo and credential-like query values masked."""
    if not _URL.match(value):
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return MASK  # unparsable URL: show nothing rather than a password
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_KEY.search(k) and v else v) for k, v in pairs],
                          safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return value
    return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
            + (f"#{parts.fragment}" if parts.fragment else ""))


def redact(value: Any, key: str = "") -> Any:
    """A JSON-ready copy of a settings value with every secret masked."""
    if isinstance(value, BaseModel):
        return {name: redact(getattr(value, name), name) for name in type(value).model_fields}
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        if value and _SECRET_KEY.search(key) and not key.endswith(("_file", "_files")):
            return MASK
        return redact_url(value)
    return value


@click.group()
def config() -> None:
    """Inspect the settings tree."""


@config.command("show")
def show() -> None:
    """Print the effective settings as JSON (secrets and URL passwords shown as ***)."""
    click.echo(json.dumps(redact(load_settings()), indent=2, default=str))


@config.command("table")
def table() -> None:
    """Print the settings as the README's Markdown table."""
    click.echo(settings_table())
