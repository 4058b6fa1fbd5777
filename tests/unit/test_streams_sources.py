"""The input sources table: every source is one entry, read by topics, ingest, codec and risk;
the third source (SEC filings / press releases on ``filings.raw``) goes through it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import jsonschema
import pytest

from streams.codec import Limits, decode_document, decode_input, to_document
from streams.contracts import ALL_CONTRACTS, DocumentKind, Filing
from streams.errors import ConfigurationError, InputError
from streams.export_schemas import SCHEMA_DIR
from streams.risk import source_weight
from streams.settings import RiskSettings
from streams.sources import SOURCES, source_for, source_of
from streams.topics import Topics
from support.records import mention

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
FILING: dict[str, Any] = {
    "schema_version": 1, "id": "0000320193-26-000123", "source": "sec-edgar",
    "form_type": "8-K", "filed_at": "2026-11-28T11:30:00Z", "issuers": ["$aapl", "AAPL"],
    "title": "  Apple Inc.  reports   results of operations ",
    "body": "Item 2.02 Results of Operations and Financial Condition.",
    "url": "https://www.sec.gov/Archives/edgar/data/320193/000032019326000123.htm",
}


def _b(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def test_one_entry_per_document_kind_each_with_its_contract() -> None:
    assert [s.kind for s in SOURCES] == list(get_args(DocumentKind))
    contracts = set(ALL_CONTRACTS.values())
    assert all(s.contract in contracts for s in SOURCES)
    assert len({s.topic for s in SOURCES}) == len(SOURCES)


def test_topics_come_from_the_table_with_a_dead_letter_topic_each() -> None:
    topics = Topics("p.")
    assert topics.inputs() == {"p.news.raw": "news", "p.social.raw": "social",
                               "p.filings.raw": "filing"}
    assert topics.raw("filing") == "p.filings.raw"
    every = topics.all()
    for raw in topics.inputs():
        assert raw in every and Topics.dlq(raw) in every
    assert len(every) == len(set(every))


def test_a_kind_without_a_source_is_refused_not_decoded_as_another() -> None:
    post = {"schema_version": 1, "id": "p", "platform": "x",
            "created_at": "2026-11-28T10:00:00Z", "text": "$TSLA up",
            "author": {"id": "u", "followers": 1}}
    with pytest.raises(ConfigurationError, match="no input source of kind 'rss'"):
        decode_input(_b(post), "rss")
    with pytest.raises(ConfigurationError):
        Topics().raw("rss")


def test_a_filing_becomes_a_document_of_its_issuers() -> None:
    doc = decode_document(_b(FILING), "filing", Limits(), NOW)
    assert doc.kind == "filing"
    assert doc.doc_id == "filing:sec-edgar:0000320193-26-000123"
    assert doc.source == "sec-edgar"
    assert doc.ticker_hints == ["AAPL"]
    assert doc.text == ("Apple Inc. reports results of operations. Item 2.02 Results of "
                        "Operations and Financial Condition.")
    assert doc.excerpt == "Apple Inc. reports results of operations"
    assert doc.published_at == datetime(2026, 11, 28, 11, 30, tzinfo=UTC)
    assert doc.url == FILING["url"]
    record = decode_input(_b(FILING), "filing")
    assert isinstance(record, Filing) and source_for(record) is source_of("filing")
    assert to_document(record, NOW) == doc


@pytest.mark.parametrize(("change", "reason", "detail"), [
    ({"title": " \u200b "}, "empty_text", "title is blank"),
    ({"issuers": ["AAPL", "BRK/B"]}, "invalid_ticker", "BRK/B"),
    ({"issuers": []}, "wrong_type", "issuers"),
    ({"issuers": None}, "wrong_type", "issuers"),
    ({"form_type": "8-K\n"}, "wrong_type", "form_type"),
    ({"filed_at": "2026-12-28T00:00:00Z"}, "timestamp_out_of_range", "filed_at"),
    ({"body": "x" * 20_001}, "text_too_long", "limit 20000"),
    ({"schema_version": 2}, "unknown_schema_version", "schema_version"),
    ({"cik": "320193"}, "wrong_type", "cik"),
])
def test_a_bad_filing_names_its_dead_letter_reason(
    change: dict[str, Any], reason: str, detail: str
) -> None:
    with pytest.raises(InputError) as caught:
        decode_document(_b({**FILING, **change}), "filing", Limits(), NOW)
    assert caught.value.reason == reason
    assert detail in caught.value.detail


def test_a_filing_without_issuers_is_missing_a_field() -> None:
    record = {k: v for k, v in FILING.items() if k != "issuers"}
    with pytest.raises(InputError) as caught:
        decode_document(_b(record), "filing", Limits(), NOW)
    assert caught.value.reason == "missing_field"


def test_source_weight_of_each_kind_comes_from_its_entry() -> None:
    cfg = RiskSettings(news_weight=1.0, social_weight=0.5, filing_weight=2.5)
    filing = mention(1, kind="filing", doc_id="filing:sec-edgar:1")
    news = mention(2)
    assert source_weight(filing, cfg) == 2.5
    assert source_weight(news, cfg) == 1.0
    quiet = mention(3, kind="social", doc_id="social:x:3", followers=0)
    assert source_weight(quiet, cfg) == pytest.approx(0.5 * 0.05)


def test_filing_schema_accepts_a_filing_and_refuses_what_the_codec_refuses() -> None:
    schema = json.loads((SCHEMA_DIR / "filing.v1.schema.json").read_text())
    jsonschema.validate(FILING, schema)
    for bad in ({**FILING, "schema_version": 2}, {**FILING, "issuers": []},
                {**FILING, "extra": 1}, {k: v for k, v in FILING.items() if k != "title"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema, format_checker=jsonschema.FormatChecker())


def test_filing_event_time_window_uses_the_ingest_clock() -> None:
    old = (NOW - timedelta(days=31)).isoformat()
    with pytest.raises(InputError, match="filed_at"):
        decode_document(_b({**FILING, "filed_at": old}), "filing", Limits(), NOW)
