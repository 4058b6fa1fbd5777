"""Logging of every tickerpulse process: one setup, text or JSON lines, secrets redacted.

``setup_logging(settings)`` is called by each process's CLI entry (stream worker, alerts
worker, API, demo). ``TICKERPULSE_LOG__LEVEL`` sets the root level and
``TICKERPULSE_LOG__FORMAT=json`` writes one JSON object per line with ``ts``, ``level``,
``logger``, ``message`` and whatever ids the call site passed with ``extra=`` (``doc_id``,
``event_id``, ``ticker``, the access log's ``method``/``path``/``status``/``duration_ms``).

A :class:`RedactingFilter` on the handler rewrites every record before it is formatted: the
values of all secret settings (``SecretStr`` fields, passwords inside URLs) and anything shaped
like a credential (API tokens ``tp_...``, webhook secrets ``whsec_...``, ``Bearer ...``,
``user:password@`` in URLs) become ``***``, in the message, its arguments, extras and
tracebacks alike.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

MASK = "***"
_PATTERNS = [
    (re.compile(r"\btp_[A-Za-z0-9_-]{16,}"), MASK),  # API tokens
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), MASK),  # webhook signing secrets
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}\s]+"), r"\1" + MASK),
    (re.compile(r"(://[^/@\s:]*:)[^/@\s]+@"), r"\1" + MASK + "@"),  # user:password@host
    (re.compile(r"(?i)([?&](?:token|access_token|api_key|apikey|secret|password)=)[^&\s]+"),
     r"\1" + MASK),
]
# attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_QUIET = ("httpx", "httpcore", "aiokafka", "kafka", "apscheduler", "uvicorn.access")


def secret_values(tree: BaseModel) -> list[str]:
    """Every secret in a settings tree: SecretStr values and passwords inside URL strings."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set):
            for item in value:
                walk(item)
        elif isinstance(value, str) and "://" in value and "@" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                return
            if password:
                found.extend({password, unquote(password)})

    walk(tree)
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no secret reaches any formatter or handler."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None  # the redacted exc_text stands in for it
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def build_handler(fmt: str, secrets: Iterable[str] = (), stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def _cli_verbosity() -> int:
    import click

    ctx = click.get_current_context(silent=True)
    return int(ctx.find_root().params.get("verbose") or 0) if ctx else 0


def setup_logging(settings: BaseModel, verbose: int | None = None) -> None:
    """Configure the root logger from ``settings.log`` (the whole tree: secrets come from it).

    ``verbose`` (default: the CLI's ``-v`` count) can only lower the level: 1 = INFO, 2 = DEBUG.
    """
    if verbose is None:
        verbose = _cli_verbosity()
    log = settings.log  # type: ignore[attr-defined]
    level = logging.getLevelName(log.level)
    if verbose:
        level = min(level, logging.WARNING - 10 * min(verbose, 2))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(build_handler(log.format, secret_values(settings)))
    root.setLevel(level)
    for name in _QUIET:  # chatty at INFO (one line per HTTP request or poll)
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
