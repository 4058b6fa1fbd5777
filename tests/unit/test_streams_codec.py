"""Codec: every kind of bad input becomes a dead letter with its reason; good input decodes once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from streams.codec import DeadLetter, decode_input, to_document
from streams.contracts import NewsArticle, SocialPost
from streams.errors import DLQ_REASONS, InputError

NEWS = {
    "schema_version": 1, "id": "n1", "source": "wire", "published_at": "2026-11-28T10:00:00Z",
    "headline": "  Apple   shares slide after earnings miss ", "body": "Guidance was cut.",
    "url": "https://example.com/n1", "tickers": ["$aapl", "AAPL"],
}
POST = {
    "schema_version": 1, "id": "p1", "platform": "x", "created_at": "2026-11-28T10:00:00+00:00",
    "text": "$TSLA to the moon", "author": {"id": "u1", "followers": 1200, "verified": True},
    "engagement": {"likes": 5, "reposts": 2, "replies": 1},
}


def _bytes(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_news_decodes_and_normalises() -> None:
    rec = decode_input(_bytes(NEWS), "news", 1000)
    assert isinstance(rec, NewsArticle)
    doc = to_document(rec, datetime(2026, 11, 28, tzinfo=UTC))
    assert doc.doc_id == "news:wire:n1"
    assert doc.text == "Apple shares slide after earnings miss. Guidance was cut."
    assert doc.excerpt == "Apple shares slide after earnings miss"
    assert doc.ticker_hints == ["AAPL"]


def test_post_decodes_with_behaviour_signals() -> None:
    rec = decode_input(_bytes(POST), "social", 1000)
    assert isinstance(rec, SocialPost)
    doc = to_document(rec, datetime(2026, 11, 28, tzinfo=UTC))
    assert (doc.doc_id, doc.followers, doc.verified, doc.engagement.reposts) == (
        "social:x:p1", 1200, True, 2)


@pytest.mark.parametrize(
    ("raw", "kind", "reason"),
    [
        (b"\xff\xfe{}", "news", "invalid_utf8"),
        (b"", "news", "invalid_json"),
        (None, "social", "invalid_json"),
        (b'{"schema_version": 1, "id": ', "news", "invalid_json"),
        (b"[1, 2]", "news", "wrong_type"),
        (_bytes({**NEWS, "schema_version": 2}), "news", "unknown_schema_version"),
        (_bytes({k: v for k, v in NEWS.items() if k != "schema_version"}), "news",
         "unknown_schema_version"),
        (_bytes({k: v for k, v in NEWS.items() if k != "url"}), "news", "missing_field"),
        (_bytes({**NEWS, "published_at": "yesterday"}), "news", "wrong_type"),
        (_bytes({**NEWS, "published_at": "2026-11-28T10:00:00"}), "news", "wrong_type"),
        (_bytes({**POST, "author": {"id": "u", "followers": "many"}}), "social", "wrong_type"),
        (_bytes({**POST, "text": "x" * 101}), "social", "text_too_long"),
        (_bytes({**NEWS, "headline": "   "}), "news", "empty_text"),
        (_bytes({**POST, "text": ""}), "social", "empty_text"),
    ],
)
def test_bad_input_raises_with_reason(raw: bytes | None, kind: str, reason: str) -> None:
    with pytest.raises(InputError) as info:
        decode_input(raw, kind, 100)  # type: ignore[arg-type]
    assert info.value.reason == reason
    assert reason in DLQ_REASONS
    letter = DeadLetter.from_error(info.value, "news.raw", 3, 42, b"k", raw)
    headers = dict(letter.headers())
    assert headers["tp-dlq-reason"] == reason.encode()
    assert (headers["tp-source-topic"], headers["tp-source-partition"],
            headers["tp-source-offset"]) == (b"news.raw", b"3", b"42")
    assert headers["tp-dlq-detail"]
