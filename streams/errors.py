"""The streaming layer's one error hierarchy, and where each error goes.

::

    StreamError                  base of everything raised on purpose in streams/
    ├── InputError               a message cannot be used -> ``<topic>.dlq`` with ``reason``
    │   ├── RecordError          the bytes/record break the contract (the codec's verdict)
    │   │   ├── InvalidUtf8            bytes are not UTF-8                 invalid_utf8
    │   │   ├── InvalidJson            not one JSON object, NaN, huge int  invalid_json
    │   │   ├── NestingTooDeep         nested deeper than the contracts    nesting_too_deep
    │   │   ├── InvalidUnicode         a lone surrogate in a string        invalid_unicode
    │   │   ├── UnknownSchemaVersion   ``schema_version`` absent/unknown   unknown_schema_version
    │   │   ├── MissingField           a required field is absent          missing_field
    │   │   ├── WrongType              wrong type/format, control chars    wrong_type
    │   │   ├── ValueOutOfRange        a count over 10**10 (or negative)   value_out_of_range
    │   │   ├── TextTooLong            over ``stream.max_text_chars``      text_too_long
    │   │   ├── EmptyText              blank once normalised               empty_text
    │   │   ├── InvalidTicker          a hint breaks the ticker syntax     invalid_ticker
    │   │   ├── TooManyTickers         over ``stream.max_ticker_hints``    too_many_tickers
    │   │   └── TimestampOutOfRange    outside the event-time window       timestamp_out_of_range
    │   ├── MessageTooLarge      over ``stream.max_message_bytes``         oversize
    │   └── ProcessingFailed     a stage raised on this one message        processing_error
    ├── StoreError               the Redis risk store
    │   ├── StoreUnavailable     Redis unreachable: retried forever (never skips)
    │   └── StoreConflict        optimistic-concurrency retries exhausted
    └── ConfigurationError       settings that cannot work (bad broker/Redis address...)

The mapping to dead letters is in one place: :attr:`InputError.reason` is the DLQ reason
header. :data:`DLQ_REASONS` is derived from the classes. :func:`is_transient` says which
failures are not the message's fault (Redis, broker, timeouts): those wait, retry or stop the
worker without committing; any other failure of a stage is isolated to the one message that
causes it (``processing_error``).
"""

from __future__ import annotations

import asyncio


class StreamError(Exception):
    """Base of every error the streaming layer raises on purpose."""


class InputError(StreamError):
    """A message cannot be used; it goes to the dead-letter topic with ``reason``."""

    reason = "invalid"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RecordError(InputError):
    """The message's bytes or record break the contract of its topic (the codec's verdict)."""


class InvalidUtf8(RecordError):
    reason = "invalid_utf8"


class InvalidJson(RecordError):
    reason = "invalid_json"


class NestingTooDeep(RecordError):
    reason = "nesting_too_deep"


class InvalidUnicode(RecordError):
    reason = "invalid_unicode"


class UnknownSchemaVersion(RecordError):
    reason = "unknown_schema_version"


class MissingField(RecordError):
    reason = "missing_field"


class WrongType(RecordError):
    reason = "wrong_type"


class ValueOutOfRange(RecordError):
    reason = "value_out_of_range"


class TextTooLong(RecordError):
    reason = "text_too_long"


class EmptyText(RecordError):
    reason = "empty_text"


class InvalidTicker(RecordError):
    reason = "invalid_ticker"


class TooManyTickers(RecordError):
    reason = "too_many_tickers"


class TimestampOutOfRange(RecordError):
    reason = "timestamp_out_of_range"


class MessageTooLarge(InputError):
    """Bigger than ``stream.max_message_bytes``: dead-lettered with size, digest and a prefix."""

    reason = "oversize"


class ProcessingFailed(InputError):
    """A stage raised a non-transient error on this message alone (found by splitting)."""

    reason = "processing_error"


def _reasons(base: type[InputError]) -> tuple[str, ...]:
    out: list[str] = []
    todo = list(base.__subclasses__())
    while todo:
        cls = todo.pop(0)
        if "reason" in vars(cls) and cls.reason not in out:
            out.append(cls.reason)
        todo[0:0] = cls.__subclasses__()
    return tuple(out)


DLQ_REASONS: tuple[str, ...] = _reasons(InputError)
"""Every dead-letter reason (the ``tp-dlq-reason`` header), in the order drawn above."""
RECORD_REASONS: tuple[str, ...] = _reasons(RecordError)
"""The reasons a record's content can earn (what :func:`streams.feed.malformed` makes)."""


class StoreError(StreamError):
    """The Redis risk store failed."""


class StoreUnavailable(StoreError):
    """Redis cannot be reached (raised only when ``redis.retry_forever`` is off)."""


class StoreConflict(StoreError):
    """Concurrent writers kept changing a ticker's state; optimistic retries exhausted."""


class ConfigurationError(StreamError):
    """Settings that cannot work."""


def _service_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [StoreError, ConfigurationError, ConnectionError,
                                        TimeoutError,
                                        asyncio.TimeoutError, OSError, MemoryError]
    try:
        from redis import exceptions as rexc

        found += [rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError,
                  rexc.ReadOnlyError, rexc.OutOfMemoryError, rexc.ClusterDownError,
                  rexc.TryAgainError, rexc.AuthenticationError, rexc.ResponseError]
    except ImportError:  # pragma: no cover - redis is a dependency of streams
        pass
    try:
        from aiokafka import errors as kerr

        found.append(kerr.KafkaError)
    except ImportError:  # pragma: no cover
        pass
    try:
        from models.errors import EngineClosedError

        found.append(EngineClosedError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(found)


_SERVICE_ERRORS = _service_errors()


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is a failure of a service (Redis, broker, engine shut down, memory),
    not of the message being processed: the stage waits/retries and never dead-letters for it.

    Redis ``ResponseError`` (OOM, READONLY, LOADING, MASTERDOWN, a script error) counts as a
    service failure: a message cannot make Redis refuse a well-formed command.
    """
    if isinstance(exc, InputError):
        return False
    return isinstance(exc, _SERVICE_ERRORS)
