"""Property-based fuzz of the codec: whatever the bytes, the outcome is a record that keeps
every documented bound, or an InputError (the codec's own type) naming a dead-letter reason.

Three sources of input: arbitrary bytes; arbitrary JSON (any shape, deep nesting, lone
surrogates, huge and non-finite numbers); valid news/social/internal records with one field
replaced by an arbitrary value.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.tickers import is_ticker
from streams.codec import DeadLetter, Limits, decode_document, decode_record, encode_bounded
from streams.contracts import MAX_COUNT, Document, ScoredMention
from streams.errors import DLQ_REASONS, InputError
from support.records import mention

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
LIMITS = Limits(max_text_chars=2_000, max_message_bytes=200_000, max_ticker_hints=8)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
NEWS: dict[str, Any] = {
    "schema_version": 1, "id": "n1", "source": "wire", "published_at": "2026-11-28T10:00:00Z",
    "headline": "Apple shares slide", "body": "Guidance was cut.",
    "url": "https://example.com/n1", "tickers": ["$aapl", "MSFT"], "language": "en",
}
POST: dict[str, Any] = {
    "schema_version": 1, "id": "p1", "platform": "x", "created_at": "2026-11-28T10:00:00+00:00",
    "text": "$TSLA to the moon", "author": {"id": "u1", "followers": 1200, "verified": True},
    "engagement": {"likes": 5, "reposts": 2, "replies": 1}, "tickers": [], "language": "en",
}
DOC = json.loads(decode_document(json.dumps(NEWS).encode(), "news", LIMITS, NOW).to_json_bytes())
SCORED = json.loads(mention(1, at=NOW).to_json_bytes())

any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]),
                     st.sampled_from(["\x00", "\u200b", "\ufeff", "\u2028", ":", "%", "$"]))
texts = st.text(alphabet=any_char, max_size=40)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**9, max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True), texts,
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "2026-11-28T11:00:00Z",
                     "2026-11-28T10:00:00", "AAPL", "$brk-b", "A B", "X" * 40]),
)
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                     st.dictionaries(texts, inner, max_size=6)),
    max_leaves=30)


def _check(raw: bytes | None) -> None:
    """Every entry point: only InputError escapes; what decodes keeps the bounds."""
    for kind in ("news", "social"):
        try:
            doc = decode_document(raw, kind, LIMITS, NOW)  # type: ignore[arg-type]
        except InputError as exc:
            _check_error(exc, raw)
        else:
            _check_document(doc)
    for model in (Document, ScoredMention):
        try:
            record = decode_record(raw, model, LIMITS, NOW)
        except InputError as exc:
            _check_error(exc, raw)
        else:
            encode_bounded(record, LIMITS.max_message_bytes)


def _check_error(exc: InputError, raw: bytes | None) -> None:
    assert exc.reason in DLQ_REASONS
    letter = DeadLetter.from_error(exc, "news.raw", 0, 1, b"k", raw, LIMITS.max_message_bytes)
    assert len(letter.value) <= LIMITS.max_message_bytes
    assert dict(letter.headers())["tp-dlq-reason"] == exc.reason.encode()


def _check_document(doc: Document) -> None:
    value = encode_bounded(doc, LIMITS.max_message_bytes)
    assert Document.model_validate_json(value) == doc
    assert doc.text.strip() and doc.text.isprintable()
    assert all(is_ticker(t) for t in doc.ticker_hints)
    assert len(doc.ticker_hints) <= LIMITS.max_ticker_hints
    assert 0 <= doc.followers <= MAX_COUNT
    assert abs((doc.published_at - NOW).days) <= 31
    kind, source, record_id = doc.doc_id.split(":")
    assert kind == doc.kind and source and record_id


@FUZZ
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes(raw: bytes) -> None:
    _check(raw)


@FUZZ
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    _check(json.dumps(value).encode())


@FUZZ
@given(st.integers(min_value=1, max_value=50_000), json_values,
       st.sampled_from([NEWS, POST, DOC, SCORED]))
def test_deep_nesting_anywhere(depth: int, inner: Any, base: dict[str, Any]) -> None:
    _check(("[" * depth + json.dumps(inner) + "]" * depth).encode())
    key = sorted(base)[depth % len(base)]
    raw = json.dumps({**base, key: None})[:-1] + ", \"deep\": " + "[" * depth + "]" * depth + "}"
    _check(raw.encode())


@FUZZ
@given(st.sampled_from([NEWS, POST, DOC, SCORED]), st.data())
def test_valid_records_with_one_field_mutated(base: dict[str, Any], data: st.DataObject) -> None:
    record = json.loads(json.dumps(base))
    parent, key = record, data.draw(st.sampled_from(sorted(record)))
    while isinstance(parent[key], dict) and parent[key] and data.draw(st.booleans()):
        parent = parent[key]
        key = data.draw(st.sampled_from(sorted(parent)))
    if isinstance(parent[key], list) and data.draw(st.booleans()):
        parent[key] = data.draw(st.lists(json_values, max_size=40))
    else:
        parent[key] = data.draw(json_values)
    _check(json.dumps(record).encode())
    _check(json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.sampled_from([NEWS, POST]), st.lists(texts, max_size=12))
def test_any_ticker_hints(base: dict[str, Any], hints: list[str]) -> None:
    _check(json.dumps({**base, "tickers": hints}).encode())


@FUZZ
@given(st.binary(min_size=1, max_size=64))
def test_byte_flips_in_a_valid_record(noise: bytes) -> None:
    raw = bytearray(json.dumps(POST).encode())
    for i, b in enumerate(noise):
        raw[(i * 7919 + b) % len(raw)] = b
    _check(bytes(raw))


STRING_FIELDS = [(base, key) for base in (NEWS, POST, DOC, SCORED) for key in sorted(base)
                 if isinstance(base[key], str)]


@FUZZ
@given(st.sampled_from(STRING_FIELDS), texts)
def test_any_string_in_any_string_field(field: tuple[dict[str, Any], str], text: str) -> None:
    base, key = field
    _check(json.dumps({**base, key: text}).encode())
    _check(json.dumps({**base, key: text + "\udfff"}).encode())
