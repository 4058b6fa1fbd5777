"""Bytes in, typed records or dead letters out: the only place raw messages are read.

``decode_document`` turns one producer value (a raw topic of :data:`streams.sources.SOURCES`:
``news.raw``, ``social.raw``, ``filings.raw``) into the normalised :class:`Document` the model
reads, with the contract and ``to_document`` of its source; ``decode_record`` reads our own
internal topics (``docs``, ``scored``). Both raise only :class:`~streams.errors.InputError`
subclasses, whose ``reason`` is the dead-letter reason, whatever the bytes (a property-based
fuzz test holds it to that). ``encode_bounded`` is the one way a record becomes bytes to
produce: never larger than ``stream.max_message_bytes``. ``DeadLetter`` carries the original
bytes (or, when too big to re-produce, a prefix with the size and SHA-256 of the whole) plus
the reason and the source coordinates that go into the ``<topic>.dlq`` message headers.

The rules (docs/input-contracts.md): JSON objects nested at most :data:`MAX_DEPTH` deep, no
lone surrogates, no NaN/Infinity; ticker hints match :data:`models.tickers.TICKER_PATTERN`;
counts at most :data:`streams.contracts.MAX_COUNT`; text normalised (NFC, control and
zero-width characters out, whitespace collapsed) before the emptiness check; event times
within ``stream.max_event_age_days`` back and ``stream.max_event_future_s`` ahead.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from models.tickers import known_universe, normalise_ticker
from streams.contracts import Document, accepted_versions
from streams.errors import (
    EmptyText,
    InputError,
    InvalidJson,
    InvalidTicker,
    InvalidUnicode,
    InvalidUtf8,
    MessageTooLarge,
    MissingField,
    NestingTooDeep,
    TextTooLong,
    TimestampOutOfRange,
    TooManyTickers,
    UnknownSchemaVersion,
    ValueOutOfRange,
    WrongType,
)
from streams.settings import StreamSettings
from streams.sources import source_for, source_of
from streams.text import EXCERPT_CHARS as EXCERPT_CHARS
from streams.text import doc_id_for as doc_id_for
from streams.text import escape_id_part as escape_id_part
from streams.text import normalise_text

MAX_DEPTH = 16  # the contracts nest 3 deep; anything deeper is not one of them
OVERSIZE_PREFIX_BYTES = 65_536  # what a dead letter keeps of a value too big to re-produce
MAX_KEY_BYTES = 1024  # longer keys are cut in dead letters (only the value is ours to keep)
HEADER_REASON = "tp-dlq-reason"
HEADER_DETAIL = "tp-dlq-detail"
HEADER_TOPIC = "tp-source-topic"
HEADER_PARTITION = "tp-source-partition"
HEADER_OFFSET = "tp-source-offset"
HEADER_SIZE = "tp-original-bytes"
HEADER_SHA256 = "tp-original-sha256"
HEADER_TRUNCATED = "tp-truncated"

_SURROGATE = re.compile("[\ud800-\udfff]")
_INF_DAYS = 1e6
# A Document holds no more of an input than its strings (normalised: never longer), plus an
# excerpt (<= 200 characters), escaped ids (<= 3x), a novelty verdict and field names.
_DOC_OVERHEAD = 8192

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Limits:
    """Every bound the stages enforce (from :class:`StreamSettings`; defaults = its defaults)."""

    max_text_chars: int = 20_000
    max_message_bytes: int = 900_000
    max_ticker_hints: int = 32
    max_linked_tickers: int = 16
    max_event_age: timedelta = timedelta(days=30)
    max_event_future: timedelta = timedelta(seconds=300)
    unknown_ticker_hints: Literal["low_confidence", "reject"] = "low_confidence"
    unknown_hint_confidence: float = 0.3
    universe: frozenset[str] | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, stream: StreamSettings) -> Limits:
        return cls(
            max_text_chars=stream.max_text_chars,
            max_message_bytes=stream.max_message_bytes,
            max_ticker_hints=stream.max_ticker_hints,
            max_linked_tickers=stream.max_linked_tickers,
            max_event_age=timedelta(days=min(stream.max_event_age_days, _INF_DAYS)),
            max_event_future=timedelta(seconds=stream.max_event_future_s),
            unknown_ticker_hints=stream.unknown_ticker_hints,
            unknown_hint_confidence=stream.unknown_hint_confidence,
            universe=known_universe(stream.ticker_universe_file or None),
        )

    @classmethod
    def of(cls, value: Limits | StreamSettings | int | None) -> Limits:
        """Limits as given, from settings, or the defaults with ``max_text_chars`` = an int."""
        if isinstance(value, Limits):
            return value
        if isinstance(value, StreamSettings):
            return cls.from_settings(value)
        return cls() if value is None else cls(max_text_chars=value)


@dataclass(frozen=True)
class DeadLetter:
    """A rejected message: its bytes (all, or a prefix when too big), why, where from."""

    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    original_size: int = 0
    sha256: str = ""  # of the whole original value, when ``value`` is only its prefix

    @property
    def truncated(self) -> bool:
        return bool(self.sha256)

    @classmethod
    def from_error(
        cls, error: InputError, topic: str, partition: int, offset: int,
        key: bytes | None, value: bytes | None, max_value_bytes: int = Limits.max_message_bytes,
    ) -> DeadLetter:
        value = value or b""
        digest = ""
        if len(value) > max_value_bytes:
            digest = hashlib.sha256(value).hexdigest()
        kept = value[:OVERSIZE_PREFIX_BYTES] if digest else value
        return cls(error.reason, error.detail[:500], topic, partition, offset,
                   key[:MAX_KEY_BYTES] if key else key, kept, len(value), digest)

    def headers(self) -> list[tuple[str, bytes]]:
        out = [
            (HEADER_REASON, self.reason.encode()),
            (HEADER_DETAIL, self.detail.encode("utf-8", "replace")),
            (HEADER_TOPIC, self.topic.encode("utf-8", "replace")),
            (HEADER_PARTITION, str(self.partition).encode()),
            (HEADER_OFFSET, str(self.offset).encode()),
            (HEADER_SIZE, str(self.original_size).encode()),
        ]
        if self.truncated:
            out += [(HEADER_SHA256, self.sha256.encode()),
                    (HEADER_TRUNCATED, str(len(self.value)).encode())]
        return out


# ---- bytes -> JSON object -------------------------------------------------------------


def _no_constants(name: str) -> float:
    raise InvalidJson(f"not JSON: {name} is not a number")


def _parse_json(raw: bytes | None, max_bytes: int) -> dict[str, Any]:
    if not raw:
        raise InvalidJson("empty message (no value)")
    if len(raw) > max_bytes:
        raise MessageTooLarge(f"{len(raw)} bytes, limit {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUtf8(f"not UTF-8 at byte {exc.start}: {exc.reason}") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise NestingTooDeep("JSON nested too deep to parse") from None
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise InvalidJson(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(value, dict):
        raise WrongType(f"expected a JSON object, got {type(value).__name__}")
    _check_tree(value)
    return value


def _check_tree(root: dict[str, Any]) -> None:
    """Depth, lone surrogates and non-finite numbers, without recursion."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise NestingTooDeep(f"JSON nested deeper than {MAX_DEPTH} levels")
        items = (node.items() if isinstance(node, dict)
                 else ((None, v) for v in node))
        for key, item in items:
            if key is not None and _SURROGATE.search(key):
                raise InvalidUnicode(f"lone surrogate in key {key.encode('unicode_escape')!r}")
            if isinstance(item, str):
                if _SURROGATE.search(item):
                    where = f" in {key!r}" if key is not None else ""
                    raise InvalidUnicode(f"lone surrogate{where}: not a Unicode string")
            elif isinstance(item, float) and not math.isfinite(item):
                raise InvalidJson(f"number out of range in {key!r}")
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1))


# ---- JSON object -> record --------------------------------------------------------------


def _validation_error(exc: ValidationError) -> InputError:
    errors = exc.errors()
    missing = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "missing"]
    if missing:
        return MissingField(f"missing {', '.join(missing)}")
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "(record)"
    detail = f"{where}: {first['msg']}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")
    if any(str(p) in ("ticker", "ticker_hints") for p in first["loc"]):
        return InvalidTicker(detail)
    if first["type"] in ("less_than_equal", "greater_than_equal"):
        return ValueOutOfRange(detail)
    return WrongType(detail)


def _validate(model: type[R], data: dict[str, Any]) -> R:
    version, accepted = data.get("schema_version"), accepted_versions(model)
    if version not in accepted or isinstance(version, bool):
        raise UnknownSchemaVersion(f"schema_version {str(version)[:40]!r} is not "
                                   f"{' or '.join(map(str, accepted))}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a validator's own failure
        raise WrongType(f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _printable(name: str, value: str | None) -> None:
    if value is not None and not value.isprintable():
        raise WrongType(f"{name}: control, invisible or separator character")


def _check_time(name: str, at: datetime, now: datetime | None, limits: Limits) -> None:
    if now is None:
        return
    try:
        too_old = at < now - limits.max_event_age
        too_new = at > now + limits.max_event_future
    except OverflowError:
        too_old, too_new = True, False
    if too_old:
        raise TimestampOutOfRange(f"{name} {at.isoformat()} is older than {limits.max_event_age}")
    if too_new:
        raise TimestampOutOfRange(f"{name} {at.isoformat()} is more than "
                                  f"{limits.max_event_future} ahead of {now.isoformat()}")


def _check_hints(tickers: list[str], limits: Limits) -> list[str]:
    if len(tickers) > limits.max_ticker_hints:
        raise TooManyTickers(f"{len(tickers)} ticker hints, limit {limits.max_ticker_hints}")
    out: dict[str, None] = {}
    for i, raw in enumerate(tickers):
        ticker = normalise_ticker(raw)
        if ticker is None:
            shown = raw[:40].encode("unicode_escape", "replace").decode()
            raise InvalidTicker(f"tickers[{i}] {shown!r} is not a ticker")
        out.setdefault(ticker)
    return list(out)


def decode_input(
    raw: bytes | None, kind: str, limits: Limits | int | None = None,
    now: datetime | None = None,
) -> BaseModel:
    """Decode one producer message of the input source ``kind`` into its contract; raises an
    InputError naming the dead-letter reason (ConfigurationError for a kind with no source).
    ``now`` (the ingest clock) enables the event-time window."""
    source = source_of(kind)
    limits = Limits.of(limits)
    record: BaseModel = _validate(source.contract, _parse_json(raw, limits.max_message_bytes))
    facts = source.facts(record)
    for field_name, value in facts.ids.items():
        _printable(field_name, value)
    if not normalise_text(facts.required_text):
        raise EmptyText(f"{facts.required_name} is blank once control and zero-width "
                        "characters are removed")
    if len(facts.text) > limits.max_text_chars:
        raise TextTooLong(f"text has {len(facts.text)} characters, limit {limits.max_text_chars}")
    _check_hints(facts.tickers, limits)
    _check_time(facts.time_name, facts.event_time, now, limits)
    return record


def decode_document(
    raw: bytes | None, kind: str, limits: Limits, now: datetime
) -> Document:
    """A producer message as the Document to publish on ``docs`` (checked to fit in
    ``max_message_bytes`` once encoded)."""
    doc = to_document(decode_input(raw, kind, limits, now), now)
    if limits.unknown_ticker_hints == "reject" and limits.universe is not None:
        kept = [t for t in doc.ticker_hints if t in limits.universe]
        if len(kept) != len(doc.ticker_hints):
            doc = doc.model_copy(update={"ticker_hints": kept})
    if raw is not None and len(raw) + _DOC_OVERHEAD > limits.max_message_bytes:
        encode_bounded(doc, limits.max_message_bytes)  # else it is smaller than the input
    return doc


def decode_record(
    raw: bytes | None, model: type[R], limits: Limits, now: datetime | None = None
) -> R:
    """One record of an internal topic (``docs``: Document, ``scored``: ScoredMention),
    held to the same bounds as ingest: a foreign or newer producer's record dead-letters."""
    record = _validate(model, _parse_json(raw, limits.max_message_bytes))
    for name in ("doc_id", "source", "url", "excerpt"):
        _printable(name, getattr(record, name, None))
    if isinstance(record, Document):
        if len(record.ticker_hints) > limits.max_ticker_hints:
            raise TooManyTickers(f"{len(record.ticker_hints)} ticker hints, "
                                 f"limit {limits.max_ticker_hints}")
        if len(record.text) > limits.max_text_chars + 2:  # headline + ". " + body
            raise TextTooLong(f"text has {len(record.text)} characters")
        if not normalise_text(record.text):
            raise EmptyText("document text is blank")
    at = getattr(record, "published_at", None)
    if isinstance(at, datetime):
        _check_time("published_at", at, now, limits)
    return record


def encode_bounded(record: BaseModel, max_bytes: int) -> bytes:
    """The record's JSON bytes; MessageTooLarge when over ``max_bytes``."""
    try:
        value = record.model_dump_json().encode("utf-8")
    except (UnicodeEncodeError, ValueError) as exc:
        raise InvalidUnicode(f"cannot encode the record: {str(exc)[:200]}") from None
    if len(value) > max_bytes:
        raise MessageTooLarge(f"record would be {len(value)} bytes, limit {max_bytes}")
    return value


# ---- record -> Document -------------------------------------------------------------------


def to_document(record: BaseModel, ingested_at: datetime) -> Document:
    """Normalise a valid input record into the Document the score agent reads (its source's
    ``to_document``)."""
    return source_for(record).document(record, ingested_at)
