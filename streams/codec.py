"""Bytes from producers in, typed records or dead letters out: the only place raw input is read.

``decode_input`` turns one Kafka value into a :class:`NewsArticle` / :class:`SocialPost` or
raises an :class:`~streams.errors.InputError` whose ``reason`` is the dead-letter reason.
``to_document`` normalises a valid record into the :class:`Document` the model reads.
``DeadLetter`` carries the original bytes plus the reason and the source coordinates that go
into the ``<topic>.dlq`` message headers.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from streams.contracts import (
    SCHEMA_VERSION,
    Document,
    DocumentKind,
    NewsArticle,
    SocialPost,
)
from streams.errors import (
    EmptyText,
    InputError,
    InvalidJson,
    InvalidUtf8,
    MissingField,
    TextTooLong,
    UnknownSchemaVersion,
    WrongType,
)

EXCERPT_CHARS = 200
_WS = re.compile(r"\s+")
HEADER_REASON = "tp-dlq-reason"
HEADER_DETAIL = "tp-dlq-detail"
HEADER_TOPIC = "tp-source-topic"
HEADER_PARTITION = "tp-source-partition"
HEADER_OFFSET = "tp-source-offset"

InputRecord = NewsArticle | SocialPost


@dataclass(frozen=True)
class DeadLetter:
    """A rejected input: the original bytes, why, and where they came from."""

    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @classmethod
    def from_error(
        cls, error: InputError, topic: str, partition: int, offset: int,
        key: bytes | None, value: bytes | None,
    ) -> DeadLetter:
        return cls(error.reason, error.detail[:500], topic, partition, offset, key, value or b"")

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (HEADER_REASON, self.reason.encode()),
            (HEADER_DETAIL, self.detail.encode("utf-8", "replace")),
            (HEADER_TOPIC, self.topic.encode()),
            (HEADER_PARTITION, str(self.partition).encode()),
            (HEADER_OFFSET, str(self.offset).encode()),
        ]


def _parse_json(raw: bytes | None) -> dict[str, object]:
    if not raw:
        raise InvalidJson("empty message (no value)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUtf8(f"not UTF-8 at byte {exc.start}: {exc.reason}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(value, dict):
        raise WrongType(f"expected a JSON object, got {type(value).__name__}")
    return value


def _validation_error(exc: ValidationError) -> InputError:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "(record)"
    detail = f"{where}: {first['msg']}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")
    if any(e["type"] == "missing" for e in errors):
        missing = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "missing"]
        return MissingField(f"missing {', '.join(missing)}")
    return WrongType(detail)


def decode_input(raw: bytes | None, kind: DocumentKind, max_text_chars: int) -> InputRecord:
    """Decode one producer message; raises an InputError naming the dead-letter reason."""
    data = _parse_json(raw)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise UnknownSchemaVersion(f"schema_version {version!r} is not {SCHEMA_VERSION}")
    model: type[InputRecord] = NewsArticle if kind == "news" else SocialPost
    try:
        record = model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    text = _record_text(record)
    required = record.headline if isinstance(record, NewsArticle) else record.text
    if not required.strip():
        raise EmptyText("headline is blank" if kind == "news" else "post text is blank")
    if len(text) > max_text_chars:
        raise TextTooLong(f"text has {len(text)} characters, limit {max_text_chars}")
    return record


def normalise_text(text: str) -> str:
    """NFC, control characters removed, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return _WS.sub(" ", text).strip()


def _record_text(record: InputRecord) -> str:
    if isinstance(record, NewsArticle):
        return record.headline + ("\n" + record.body if record.body else "")
    return record.text


def _hints(tickers: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for t in tickers:
        t = t.strip().lstrip("$").upper()
        if t:
            seen.setdefault(t)
    return list(seen)


def doc_id_for(kind: Literal["news", "social"], source: str, record_id: str) -> str:
    return f"{kind}:{source}:{record_id}"


def to_document(record: InputRecord, ingested_at: datetime) -> Document:
    """Normalise a valid input record into the Document the score agent reads."""
    if isinstance(record, NewsArticle):
        headline = normalise_text(record.headline)
        body = normalise_text(record.body) if record.body else ""
        return Document(
            doc_id=doc_id_for("news", record.source, record.id),
            kind="news",
            source=record.source,
            published_at=record.published_at,
            text=f"{headline}. {body}" if body else headline,
            excerpt=headline[:EXCERPT_CHARS],
            url=record.url,
            ticker_hints=_hints(record.tickers),
            ingested_at=ingested_at,
        )
    text = normalise_text(record.text)
    return Document(
        doc_id=doc_id_for("social", record.platform, record.id),
        kind="social",
        source=record.platform,
        published_at=record.created_at,
        text=text,
        excerpt=text[:EXCERPT_CHARS],
        url=None,
        ticker_hints=_hints(record.tickers),
        followers=record.author.followers,
        verified=record.author.verified,
        engagement=record.engagement,
        ingested_at=ingested_at,
    )
