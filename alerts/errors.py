"""The alerts layer's one error hierarchy (mapped to HTTP / exit codes in the composition root).

A failed delivery is not an exception: a notifier returns its outcome (ok, retryable, fatal;
:data:`alerts.store.outbox.AttemptOutcome`) and the dispatcher decides on retries.

    AlertsError
    ├── RulesError                 a rules file is invalid (names file, line, field)
    ├── WebhookSecretError         a `whsec_` secret is malformed
    ├── WebhookVerificationError   a received webhook fails verification (receiver side)
    └── NotFoundError              an alert or silence id that does not exist
"""

from __future__ import annotations


class AlertsError(Exception):
    """Base of every error raised by the alerts layer."""


class RulesError(AlertsError):
    """A rules file failed validation; ``str()`` reads ``file:line: field: message``."""

    def __init__(self, path: str, line: int | None, field: str, message: str) -> None:
        self.path, self.line, self.field, self.message = path, line, field, message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class WebhookSecretError(AlertsError, ValueError):
    """A webhook secret is not `whsec_` + base64."""


class WebhookVerificationError(AlertsError):
    """A received webhook is missing headers, too old/new, or no signature matches."""


class NotFoundError(AlertsError, LookupError):
    """No such alert or silence."""
