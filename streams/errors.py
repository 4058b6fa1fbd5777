"""The streaming layer's one error hierarchy, and where each error goes.

::

    StreamError                      base of everything raised on purpose in streams/
    ├── InputError                   a record from a producer is unusable -> ``<topic>.dlq``
    │   ├── InvalidUtf8              bytes are not UTF-8                  reason ``invalid_utf8``
    │   ├── InvalidJson              text is not one JSON object          reason ``invalid_json``
    │   ├── UnknownSchemaVersion     ``schema_version`` absent or unknown
    │   │                            reason ``unknown_schema_version``
    │   ├── MissingField             a required field is absent           reason ``missing_field``
    │   ├── WrongType                a field has the wrong type/format    reason ``wrong_type``
    │   ├── TextTooLong              text over ``stream.max_text_chars``  reason ``text_too_long``
    │   └── EmptyText                blank headline/post text             reason ``empty_text``
    ├── StoreError                   the Redis risk store
    │   ├── StoreUnavailable         Redis unreachable: retried forever (never skips)
    │   └── StoreConflict            optimistic-concurrency retries exhausted
    └── ConfigurationError           settings that cannot work (bad broker/Redis address...)

The mapping to dead letters is in one place: :attr:`InputError.reason` is the DLQ reason
header, set by :mod:`streams.codec`. Nothing else is dead-lettered: an error that is not an
``InputError`` is a bug or an outage, and the agent retries or stops instead of dropping.
"""

from __future__ import annotations


class StreamError(Exception):
    """Base of every error the streaming layer raises on purpose."""


class InputError(StreamError):
    """A producer's record cannot be used; it goes to the dead-letter topic with ``reason``."""

    reason = "invalid"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidUtf8(InputError):
    reason = "invalid_utf8"


class InvalidJson(InputError):
    reason = "invalid_json"


class UnknownSchemaVersion(InputError):
    reason = "unknown_schema_version"


class MissingField(InputError):
    reason = "missing_field"


class WrongType(InputError):
    reason = "wrong_type"


class TextTooLong(InputError):
    reason = "text_too_long"


class EmptyText(InputError):
    reason = "empty_text"


DLQ_REASONS: tuple[str, ...] = tuple(
    cls.reason
    for cls in (
        InvalidUtf8,
        InvalidJson,
        UnknownSchemaVersion,
        MissingField,
        WrongType,
        TextTooLong,
        EmptyText,
    )
)


class StoreError(StreamError):
    """The Redis risk store failed."""


class StoreUnavailable(StoreError):
    """Redis cannot be reached (raised only when ``redis.retry_forever`` is off)."""


class StoreConflict(StoreError):
    """Concurrent writers kept changing a ticker's state; optimistic retries exhausted."""


class ConfigurationError(StreamError):
    """Settings that cannot work."""
