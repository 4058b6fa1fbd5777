"""The alerts layer's one error hierarchy (mapped to HTTP / exit codes in the composition root).

    AlertsError
    ├── RulesError                 a rules file is invalid (names file, line, field)
    ├── WebhookSecretError         a `whsec_` secret is malformed
    ├── WebhookVerificationError   a received webhook fails verification (receiver side)
    ├── DeliveryError              one delivery attempt failed
    │   ├── RetryableDeliveryError   timeout, connection error, 5xx, 408, 429: try again later
    │   └── FatalDeliveryError       any other non-2xx answer: never retried
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


class DeliveryError(AlertsError):
    """One delivery attempt failed; ``status`` is the HTTP status when there was one."""

    retryable = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableDeliveryError(DeliveryError):
    retryable = True


class FatalDeliveryError(DeliveryError):
    retryable = False


class NotFoundError(AlertsError, LookupError):
    """No such alert or silence."""
