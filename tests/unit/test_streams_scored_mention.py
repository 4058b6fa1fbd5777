"""ScoredMention v2: each ticker's own sentiment beside the document's; v1 records still read."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import jsonschema
import pytest

from models.records import Prediction
from streams.codec import Limits, decode_record
from streams.contracts import ScoredMention, accepted_versions, current_version
from streams.errors import InputError
from streams.export_schemas import SCHEMA_DIR
from streams.metrics import Metrics
from streams.processing import Aggregate, RawMessage, Score
from streams.store.risk_store import CommitResult
from support.engine import StandInEngine
from support.records import mention

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def _doc(text: str, hints: list[str] | None = None):  # type: ignore[no-untyped-def]
    from streams.contracts import Document

    return Document(doc_id="news:w:1", kind="news", source="w", published_at=NOW, text=text,
                    excerpt=text, ticker_hints=hints or [], ingested_at=NOW)


async def test_each_ticker_gets_its_own_sentiment_beside_the_documents() -> None:
    score = Score(StandInEngine(), Metrics(), clock=NOW.timestamp)
    text = "Intel shares jump on AI deal while Nvidia sinks on export curbs"
    got = {m.ticker: m for m in await score.process([_doc(text, ["MSFT"])])}
    assert got["INTC"].sentiment == "positive" and got["NVDA"].sentiment == "negative"
    assert got["INTC"].sentiment_source == got["NVDA"].sentiment_source == "entity"
    assert got["INTC"].probabilities["positive"] > got["INTC"].probabilities["negative"]
    # the document's sentiment is the same on every mention of it
    assert {m.document_sentiment for m in got.values()} == {"negative"}
    # a hint not named in the text gets the document's sentiment, and says so
    assert got["MSFT"].sentiment == "negative" and got["MSFT"].sentiment_source == "document"
    assert all(m.schema_version == 2 for m in got.values())


class NoTargetHeadEngine(StandInEngine):
    """A model without a target head: links carry no sentiment of their own."""

    async def predict(self, texts, hints=None):  # type: ignore[no-untyped-def]
        preds: list[Prediction] = await super().predict(texts, hints)
        return [replace(p, tickers=tuple(replace(t, sentiment=None) for t in p.tickers))
                for p in preds]


async def test_a_link_without_sentiment_takes_the_documents() -> None:
    score = Score(NoTargetHeadEngine(), Metrics(), clock=NOW.timestamp)
    [m] = await score.process([_doc("Apple shares rise after strong iPhone sales")])
    assert (m.ticker, m.sentiment, m.sentiment_source) == ("AAPL", "positive", "document")
    assert m.probabilities == m.document_probabilities and m.confidence == m.document_confidence


def _v1(m: ScoredMention) -> dict:  # type: ignore[type-arg]
    data = json.loads(m.to_json_bytes())
    for key in ("sentiment_source", "document_sentiment", "document_probabilities",
                "document_confidence"):
        data.pop(key)
    return {**data, "schema_version": 1}


def test_a_version_1_record_is_read_as_version_2_with_the_documents_sentiment() -> None:
    v1 = _v1(mention(1, "negative", at=NOW))
    jsonschema.validate(v1, json.loads((SCHEMA_DIR / "scored_mention.v1.schema.json").read_text()))
    m = decode_record(json.dumps(v1).encode(), ScoredMention, Limits(), NOW)
    assert (m.schema_version, m.sentiment, m.sentiment_source) == (2, "negative", "document")
    assert m.document_probabilities == m.probabilities == v1["probabilities"]
    assert accepted_versions(ScoredMention) == (1, 2) and current_version(ScoredMention) == 2


@pytest.mark.parametrize(("change", "reason"), [
    ({"schema_version": 3}, "unknown_schema_version"),
    ({"document_sentiment": "positive"}, "wrong_type"),  # a v1 record with v2 fields
])
def test_records_of_no_accepted_version_are_dead_lettered(change: dict, reason: str) -> None:  # type: ignore[type-arg]
    data = {**_v1(mention(1, at=NOW)), **change}
    with pytest.raises(InputError) as info:
        decode_record(json.dumps(data).encode(), ScoredMention, Limits(), NOW)
    assert info.value.reason == reason


async def test_scored_records_match_the_v2_schema_and_a_v2_record_lacking_fields_is_refused(
) -> None:
    schema = json.loads((SCHEMA_DIR / "scored_mention.v2.schema.json").read_text())
    out = await Score(StandInEngine(), Metrics(), clock=NOW.timestamp).handle(
        [RawMessage("docs", 0, 0, None, _doc("Apple rises; $TSLA falls").to_json_bytes())])
    assert len(out.records) == 2
    for _, value in out.records:
        jsonschema.validate(json.loads(value), schema)
    partial = {k: v for k, v in json.loads(out.records[0][1]).items()
               if k != "document_sentiment"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(partial, schema)
    with pytest.raises(InputError) as info:
        decode_record(json.dumps(partial).encode(), ScoredMention, Limits(), NOW)
    assert info.value.reason == "missing_field"


class Recorder:
    def __init__(self) -> None:
        self.got: list[ScoredMention] = []

    async def commit_batch(self, mentions):  # type: ignore[no-untyped-def]
        self.got.extend(mentions)
        return CommitResult([True] * len(mentions), [])


async def test_the_aggregate_stage_takes_v1_and_v2_records_in_one_batch() -> None:
    store = Recorder()
    aggregate = Aggregate(store, Metrics(), limits=Limits(), clock=NOW.timestamp)
    v2 = mention(2, "positive", at=NOW, document_sentiment="negative")
    batch = [RawMessage("scored", 0, 0, b"AAPL", json.dumps(_v1(mention(1, at=NOW))).encode()),
             RawMessage("scored", 0, 1, b"AAPL", v2.to_json_bytes())]
    out = await aggregate.handle(batch)
    assert not out.dead
    assert [(m.sentiment, m.document_sentiment, m.sentiment_source) for m in store.got] == [
        ("negative", "negative", "document"), ("positive", "negative", "entity")]
