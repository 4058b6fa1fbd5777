"""Codec: every kind of bad input becomes a dead letter with its reason; good input decodes once.

One test per edge of docs/input-contracts.md; the property-based fuzz is test_codec_fuzz.py."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from streams.codec import (
    OVERSIZE_PREFIX_BYTES,
    DeadLetter,
    Limits,
    decode_document,
    decode_input,
    decode_record,
    doc_id_for,
    encode_bounded,
    normalise_text,
    to_document,
)
from streams.contracts import Document, NewsArticle, ScoredMention, SocialPost
from streams.errors import DLQ_REASONS, RECORD_REASONS, InputError
from streams.feed import malformed
from streams.settings import StreamSettings
from support.records import mention

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
SEC_FILE = "/work/shared/data/tickers/sec_company_tickers.json"
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


def _decode(obj: object, kind: str = "news", limits: Limits | None = None) -> Document:
    raw = obj if isinstance(obj, bytes) else _bytes(obj)
    return decode_document(raw, kind, limits or Limits(), NOW)  # type: ignore[arg-type]


def _reason(obj: object, kind: str = "news", limits: Limits | None = None) -> str:
    with pytest.raises(InputError) as info:
        _decode(obj, kind, limits)
    return info.value.reason


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
    assert letter.value == (raw or b"") and not letter.truncated


@pytest.mark.parametrize(("kind", "reason"), [
    (k, r) for k in ("news", "social") for r in RECORD_REASONS
    if (k, r) != ("news", "value_out_of_range")])  # a news article has no count
def test_every_record_reason_has_a_sample_that_earns_it(kind: str, reason: str) -> None:
    assert _reason(malformed(7, reason, kind), kind) == reason  # type: ignore[arg-type]


def test_dlq_reasons_come_from_the_error_classes() -> None:
    assert set(RECORD_REASONS) < set(DLQ_REASONS)
    assert {"oversize", "processing_error", "invalid_unicode", "nesting_too_deep"} <= set(
        DLQ_REASONS)
    assert len(DLQ_REASONS) == len(set(DLQ_REASONS))


# ---- nesting, unicode, numbers ------------------------------------------------------------


@pytest.mark.parametrize("depth", [17, 1_000, 100_000])
def test_deep_nesting_is_dead_lettered_not_a_recursion_error(depth: int) -> None:
    raw = _bytes(NEWS)[:-1] + b', "body": ' + b"[" * depth + b"]" * depth + b"}"
    assert _reason(raw) == "nesting_too_deep"
    assert _reason(b"[" * depth + b"]" * depth) in {"nesting_too_deep", "wrong_type"}


@pytest.mark.parametrize("field", ["headline", "id", "source", "body", "url"])
def test_lone_surrogates_are_rejected_where_ever_they_are(field: str) -> None:
    assert _reason({**NEWS, field: "ok \udfff"}) == "invalid_unicode"
    assert _reason({**NEWS, "tickers": ["AAPL", "\udfff"]}) == "invalid_unicode"
    assert _reason({**NEWS, "\ud800": 1}) == "invalid_unicode"


def test_a_decoded_document_always_encodes() -> None:
    doc = _decode({**NEWS, "headline": "Apple \U0001f680 \u00e9t\u00e9", "tickers": ["$aapl"]})
    assert json.loads(doc.to_json_bytes())["ticker_hints"] == ["AAPL"]


@pytest.mark.parametrize("raw", [b'{"schema_version": NaN}', b'{"a": Infinity}',
                                 b'{"a": -Infinity}', b'{"a": 1e400}',
                                 b'{"a": ' + b"1" * 5000 + b"}"])
def test_non_finite_and_huge_numbers_are_invalid_json(raw: bytes) -> None:
    assert _reason(raw) == "invalid_json"


@pytest.mark.parametrize(("followers", "reason"),
                         [(10**40, "value_out_of_range"), (10**10 + 1, "value_out_of_range"),
                          (-1, "value_out_of_range"), (1.5, "wrong_type")])
def test_counts_are_bounded(followers: object, reason: str) -> None:
    assert _reason({**POST, "author": {"id": "u", "followers": followers}}, "social") == reason
    assert _reason({**POST, "engagement": {"likes": 10**40}}, "social") == "value_out_of_range"
    assert _decode({**POST, "author": {"id": "u", "followers": 10**10}}, "social").followers \
        == 10**10


@pytest.mark.parametrize("value", ["a\x00b", "a\u200bb", "a\nb", "a\u2028b"])
def test_identifiers_with_control_or_invisible_characters_are_wrong_type(value: str) -> None:
    assert _reason({**NEWS, "id": value}) == "wrong_type"
    assert _reason({**POST, "platform": value}, "social") == "wrong_type"


# ---- text normalised before the emptiness check -----------------------------------------


@pytest.mark.parametrize("headline", ["\x00", "\x00\x00 \x00", "\u200b\u200c\u200d",
                                      "\u2060\ufeff", " \u200b\t\x00\n "])
def test_invisible_only_text_is_empty(headline: str) -> None:
    assert _reason({**NEWS, "headline": headline}) == "empty_text"
    assert _reason({**POST, "text": headline}, "social") == "empty_text"


def test_zero_width_characters_are_removed_and_controls_become_spaces() -> None:
    assert normalise_text("Ap\u200bple\ufeff\x00shares\u2060 up") == "Apple shares up"
    doc = _decode({**NEWS, "headline": "\u200bApple\x00up", "body": None})
    assert doc.text == "Apple up" and doc.excerpt == "Apple up"


# ---- tickers ---------------------------------------------------------------------------


@pytest.mark.parametrize("hint", ["\x00", "A B", "\U0001f680", "X" * 40, "AAPL:US", "BRK/B",
                                  "", "$", "ÄPPL", "\u200bAAPL", "A\nB", "A..B", "-A"])
def test_hints_that_are_not_tickers_are_dead_lettered(hint: str) -> None:
    assert _reason({**NEWS, "tickers": ["AAPL", hint]}) == "invalid_ticker"


def test_hints_are_normalised_and_deduplicated() -> None:
    doc = _decode({**NEWS, "tickers": [" $aapl ", "AAPL", "brk-b", "7203.T", "VOLV-B.ST"]})
    assert doc.ticker_hints == ["AAPL", "BRK-B", "7203.T", "VOLV-B.ST"]


def test_too_many_hints_are_dead_lettered_at_the_setting() -> None:
    limits = Limits(max_ticker_hints=3)
    assert _decode({**NEWS, "tickers": ["A", "B", "C"]}, limits=limits).ticker_hints == [
        "A", "B", "C"]
    assert _reason({**NEWS, "tickers": ["A", "B", "C", "D"]}, limits=limits) == \
        "too_many_tickers"
    assert _reason({**NEWS, "tickers": ["AAPL"] * 100_000}) == "too_many_tickers"


def test_unknown_hints_are_removed_under_the_reject_policy(tmp_path: object) -> None:
    from pathlib import Path

    universe_file = Path(str(tmp_path)) / "mine.txt"
    universe_file.write_text("# my list\nZZZQ\nfoo bar\n", encoding="utf-8")
    reject = Limits.from_settings(StreamSettings(unknown_ticker_hints="reject",
                                                 ticker_universe_file=str(universe_file)))
    doc = _decode({**NEWS, "tickers": ["AAPL", "ZZZQ", "QQQQZ"]}, limits=reject)
    assert doc.ticker_hints == ["AAPL", "ZZZQ"]  # QQQQZ is in no list
    keep = Limits.from_settings(StreamSettings())
    assert _decode({**NEWS, "tickers": ["AAPL", "QQQQZ"]}, limits=keep).ticker_hints == [
        "AAPL", "QQQQZ"]


@pytest.mark.skipif(not __import__("os").path.exists(SEC_FILE), reason="no SEC ticker list")
def test_the_sec_ticker_list_works_as_the_universe_file() -> None:
    limits = Limits.from_settings(StreamSettings(unknown_ticker_hints="reject",
                                                 ticker_universe_file=SEC_FILE))
    assert limits.universe is not None and len(limits.universe) > 10_000
    doc = _decode({**NEWS, "tickers": ["HOOD", "QQQQZ"]}, limits=limits)
    assert doc.ticker_hints == ["HOOD"]


# ---- event-time window -----------------------------------------------------------------


@pytest.mark.parametrize(("at", "ok"), [
    ("0001-01-01T00:00:00Z", False),
    ("0001-01-01T00:00:00+14:00", False),
    ("9999-12-31T23:59:59-14:00", False),
    ((NOW - timedelta(days=30, seconds=1)).isoformat(), False),
    ((NOW - timedelta(days=29)).isoformat(), True),
    ((NOW + timedelta(seconds=299)).isoformat(), True),
    ((NOW + timedelta(seconds=301)).isoformat(), False),
])
def test_event_times_outside_the_window_are_dead_lettered(at: str, ok: bool) -> None:
    if ok:
        assert _decode({**NEWS, "published_at": at}).published_at == datetime.fromisoformat(at)
        assert _decode({**POST, "created_at": at}, "social")
    else:
        assert _reason({**NEWS, "published_at": at}) == "timestamp_out_of_range"
        assert _reason({**POST, "created_at": at}, "social") == "timestamp_out_of_range"


def test_the_window_follows_the_settings() -> None:
    limits = Limits.from_settings(StreamSettings(max_event_age_days=1, max_event_future_s=0))
    assert _reason({**NEWS, "published_at": "2026-11-27T11:59:00Z"}, limits=limits) == \
        "timestamp_out_of_range"
    assert _reason({**NEWS, "published_at": "2026-11-28T12:00:01Z"}, limits=limits) == \
        "timestamp_out_of_range"


# ---- doc ids ---------------------------------------------------------------------------


def test_doc_ids_cannot_collide() -> None:
    a = doc_id_for("news", "a:b", "c")
    b = doc_id_for("news", "a", "b:c")
    assert (a, b) == ("news:a%3Ab:c", "news:a:b%3Ac")
    assert doc_id_for("news", "a%3Ab", "c") == "news:a%253Ab:c" != a
    assert doc_id_for("social", "x", "p1") == "social:x:p1"  # plain parts are unchanged
    assert _decode({**NEWS, "source": "a:b", "id": "c"}).doc_id != _decode(
        {**NEWS, "source": "a", "id": "b:c"}).doc_id


# ---- size ------------------------------------------------------------------------------


def test_oversize_input_is_dead_lettered_with_size_digest_and_prefix() -> None:
    body = "x" * 1_050_000
    raw = _bytes({**NEWS, "body": body})
    with pytest.raises(InputError) as info:
        _decode(raw)
    assert info.value.reason == "oversize"
    letter = DeadLetter.from_error(info.value, "news.raw", 0, 9, b"k" * 5000, raw)
    headers = dict(letter.headers())
    assert letter.truncated and letter.value == raw[:OVERSIZE_PREFIX_BYTES]
    assert headers["tp-original-bytes"] == str(len(raw)).encode()
    assert headers["tp-original-sha256"] == hashlib.sha256(raw).hexdigest().encode()
    assert headers["tp-truncated"] == str(OVERSIZE_PREFIX_BYTES).encode()
    assert letter.key is not None and len(letter.key) == 1024
    size = len(letter.value) + len(letter.key) + sum(len(k) + len(v) for k, v in letter.headers())
    assert size < 100_000


def test_a_dead_letter_that_fits_keeps_the_whole_value() -> None:
    raw = b"[" * 800_000
    letter = DeadLetter.from_error(InputError("x"), "news.raw", 0, 1, None, raw)
    assert letter.value == raw and not letter.truncated


def test_the_message_limit_is_a_setting() -> None:
    limits = Limits(max_message_bytes=4096)
    assert _reason({**NEWS, "body": "y" * 5000}, limits=limits) == "oversize"
    with pytest.raises(InputError) as info:
        encode_bounded(_decode(NEWS), 100)
    assert info.value.reason == "oversize"


# ---- internal topics -------------------------------------------------------------------


def test_internal_records_round_trip() -> None:
    doc = _decode({**NEWS, "tickers": ["AAPL"]})
    assert decode_record(doc.to_json_bytes(), Document, Limits(), NOW) == doc
    m = mention(1, at=NOW)
    assert decode_record(m.to_json_bytes(), ScoredMention, Limits(), NOW) == m


@pytest.mark.parametrize(("change", "reason"), [
    ({"ticker": "\x00"}, "invalid_ticker"),
    ({"ticker": "A B"}, "invalid_ticker"),
    ({"ticker": "X" * 40}, "invalid_ticker"),
    ({"new_field": 1}, "wrong_type"),
    ({"schema_version": 3}, "unknown_schema_version"),
    ({"followers": 10**40}, "value_out_of_range"),
    ({"published_at": "0001-01-01T00:00:00Z"}, "timestamp_out_of_range"),
    ({"doc_id": "news:a\x00:b"}, "wrong_type"),
])
def test_bad_scored_records_are_dead_lettered(change: dict, reason: str) -> None:
    data = {**json.loads(mention(1, at=NOW).to_json_bytes()), **change}
    with pytest.raises(InputError) as info:
        decode_record(_bytes(data), ScoredMention, Limits(), NOW)
    assert info.value.reason == reason


@pytest.mark.parametrize(("change", "reason"), [
    ({"ticker_hints": ["AAPL", "\x00"]}, "invalid_ticker"),
    ({"ticker_hints": ["A"] * 33}, "too_many_tickers"),
    ({"text": "\u200b"}, "empty_text"),
    ({"text": "x" * 20_003}, "text_too_long"),
    ({"kind": "blog"}, "wrong_type"),
])
def test_bad_documents_are_dead_lettered(change: dict, reason: str) -> None:
    data = {**json.loads(_decode(NEWS).to_json_bytes()), **change}
    with pytest.raises(InputError) as info:
        decode_record(_bytes(data), Document, Limits(), NOW)
    assert info.value.reason == reason
