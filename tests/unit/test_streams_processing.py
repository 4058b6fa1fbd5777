"""The three stages in-process: stand-in engine, memory novelty index, a memory risk store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiokafka.errors import KafkaTimeoutError
from redis import exceptions as rexc

from models.records import TickerLink
from streams.codec import Limits
from streams.contracts import Document, ScoredMention
from streams.errors import RECORD_REASONS, ConfigurationError, StoreUnavailable, is_transient
from streams.feed import Feed, malformed
from streams.metrics import Metrics
from streams.novelty import MemoryNoveltyIndex
from streams.processing import Aggregate, Ingest, Output, RawMessage, Score, isolated
from streams.risk import apply_mention
from streams.settings import RiskSettings
from streams.store.risk_store import CommitResult
from support.engine import StandInEngine

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


class MemoryRiskStore:
    """Same contract as RiskStore.commit_batch: idempotent by (ticker, doc id)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.states: dict[str, object] = {}

    async def commit_batch(self, mentions: Sequence[ScoredMention]) -> CommitResult:
        counted = []
        for m in mentions:
            fresh = (m.ticker, m.doc_id) not in self.seen
            counted.append(fresh)
            if fresh:
                self.seen.add((m.ticker, m.doc_id))
                self.states[m.ticker] = apply_mention(
                    self.states.get(m.ticker), m, NOW, RiskSettings())  # type: ignore[arg-type]
        return CommitResult(counted, [])


def raw(i: int, kind: str, value: bytes) -> RawMessage:
    topic = "news.raw" if kind == "news" else "social.raw"
    return RawMessage(topic, i % 4, i, None, value, kind)  # type: ignore[arg-type]


async def test_stages_turn_a_feed_into_counted_mentions_and_dead_letters() -> None:
    metrics = Metrics()
    ingest = Ingest(MemoryNoveltyIndex(), 20_000, metrics, clock=NOW.timestamp)
    feed = list(Feed(seed=3).messages(400, clock=lambda: NOW))
    bad = [(kind, malformed(i, reason, kind)) for i, reason in enumerate(RECORD_REASONS)
           for kind in ("news", "social") if (kind, reason) != ("news", "value_out_of_range")]
    batch = [raw(i, m.topic_kind, m.value) for i, m in enumerate(feed)]
    batch += [raw(1000 + i, kind, value) for i, (kind, value) in enumerate(bad)]
    docs, dead = await ingest.process(batch)

    assert len(docs) == 400
    assert sorted(d.reason for d in dead) == sorted(
        [r for r in RECORD_REASONS * 2 if r != "value_out_of_range"] + ["value_out_of_range"])
    assert metrics.total("dead_letters_total") == len(bad)
    reposts = {m.truth.doc_id for m in feed if m.truth.repost_of}
    by_id = {d.doc_id: d for d in docs}
    assert reposts and all(by_id[r].novelty.kind in {"exact", "near"} for r in reposts)
    exact_reposts = [m for m in feed if m.truth.repost_of and "RT @" in json.loads(m.value)["text"]]
    assert all(by_id[m.truth.doc_id].novelty.kind == "exact" for m in exact_reposts)

    engine = StandInEngine()
    mentions = await Score(engine, metrics, clock=NOW.timestamp).process(docs)
    truth = {m.truth.doc_id: m.truth for m in feed}
    expected = {(t.doc_id, t.ticker) for t in truth.values()}
    assert {(m.doc_id, m.ticker) for m in mentions} >= expected
    assert all(m.sentiment == "negative" for m in mentions if truth[m.doc_id].event == "shock")

    store = MemoryRiskStore()
    aggregate = Aggregate(store, metrics)
    await aggregate.process(mentions)
    await aggregate.process(mentions[:50])  # a replay: nothing counted twice
    assert len(store.seen) == len({(m.ticker, m.doc_id) for m in mentions})
    assert metrics.get("risk_commits_total", result="replay") == 50
    assert metrics.get("dead_letters_total", topic="news.raw", reason="empty_text") == 1


# ---- isolation: one message never fails its batch ----------------------------------------


class PickyEngine(StandInEngine):
    """Raises on any batch holding a text with ``poison`` in it, like a model bug would."""

    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    async def predict(self, texts, hints=None):  # type: ignore[no-untyped-def]
        if any("poison" in t for t in texts):
            raise self.exc
        return await super().predict(texts, hints)


def _docs_batch(n: int, poison_at: set[int], topic: str = "docs") -> list[RawMessage]:
    from streams.codec import decode_document

    out = []
    for i in range(n):
        text = f"$AAPL {'poison' if i in poison_at else 'strong'} quarter number {i}"
        rec = {"schema_version": 1, "id": f"p{i}", "platform": "x", "created_at": NOW.isoformat(),
               "text": text, "author": {"id": "u", "followers": 1}}
        doc = decode_document(json.dumps(rec).encode(), "social", Limits(), NOW)
        out.append(RawMessage(topic, 0, i, doc.doc_id.encode(), doc.to_json_bytes()))
    return out


async def test_a_message_that_makes_the_stage_raise_is_dead_lettered_alone() -> None:
    metrics = Metrics()
    score = Score(PickyEngine(ZeroDivisionError("model bug")), metrics, clock=NOW.timestamp)
    batch = _docs_batch(40, poison_at={7, 31})
    out = await isolated(score.handle, batch, score.limits, metrics)
    assert sorted(d.offset for d in out.dead) == [7, 31]
    assert {d.reason for d in out.dead} == {"processing_error"}
    assert all("ZeroDivisionError" in d.detail and d.topic == "docs" for d in out.dead)
    assert out.dead[0].value == batch[out.dead[0].offset].value
    scored = {json.loads(v)["doc_id"] for _, v in out.records}
    assert scored == {f"social:x:p{i}" for i in range(40)} - {"social:x:p7", "social:x:p31"}
    assert metrics.get("dead_letters_total", topic="docs", reason="processing_error") == 2


async def test_a_service_failure_is_not_dead_lettered_but_raised() -> None:
    metrics = Metrics()
    score = Score(PickyEngine(StoreUnavailable("redis down")), metrics, clock=NOW.timestamp)
    with pytest.raises(StoreUnavailable):
        await isolated(score.handle, _docs_batch(8, poison_at={3}), score.limits, metrics)
    assert metrics.total("dead_letters_total") == 0


async def test_a_failure_that_passes_on_retry_dead_letters_nothing() -> None:
    calls = {"n": 0}

    async def flaky(batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("once")
        return Output([(None, b"x")] * len(batch), [])

    out = await isolated(flaky, _docs_batch(4, set()), Limits(), Metrics())
    assert len(out.records) == 4 and not out.dead


async def test_bad_records_on_internal_topics_go_to_their_dlq_and_the_rest_is_processed() -> None:
    metrics = Metrics()
    score = Score(StandInEngine(), metrics, clock=NOW.timestamp)
    batch = _docs_batch(10, set())
    good_doc = json.loads(batch[0].value or b"")
    bad_values = [b'{"not": "a document"}', json.dumps({**good_doc, "extra": 1}).encode(),
                  None, b"\xff", json.dumps({**good_doc, "ticker_hints": ["\x00"]}).encode()]
    batch += [RawMessage("docs", 1, 100 + i, None, v) for i, v in enumerate(bad_values)]
    out = await isolated(score.handle, batch, score.limits, metrics)
    assert len({json.loads(v)["doc_id"] for _, v in out.records}) == 10
    assert [(d.topic, d.offset, d.reason) for d in out.dead] == [
        ("docs", 100, "unknown_schema_version"), ("docs", 101, "wrong_type"),
        ("docs", 102, "invalid_json"), ("docs", 103, "invalid_utf8"),
        ("docs", 104, "invalid_ticker")]

    aggregate = Aggregate(MemoryRiskStore(), metrics, clock=NOW.timestamp)
    scored = [RawMessage("scored", 0, i, k, v) for i, (k, v) in enumerate(out.records)]
    scored.append(RawMessage("scored", 0, 99, b"AAPL", json.dumps(
        {**json.loads(out.records[0][1]), "ticker": "A B"}).encode()))
    result = await isolated(aggregate.handle, scored, aggregate.limits, metrics)
    assert [(d.topic, d.offset, d.reason) for d in result.dead] == [
        ("scored", 99, "invalid_ticker")]
    assert metrics.get("risk_commits_total", result="counted") == 10


# ---- links: syntax, unknown hints, how many --------------------------------------------


def _doc(text: str, hints: list[str]) -> Document:
    return Document(doc_id="news:w:1", kind="news", source="w", published_at=NOW, text=text,
                    excerpt=text, ticker_hints=hints, ingested_at=NOW)


class LinksEngine(StandInEngine):
    def __init__(self, links: list[tuple[str, float, float]]) -> None:
        super().__init__()
        self.links = links

    async def predict(self, texts, hints=None):  # type: ignore[no-untyped-def]
        [pred] = await super().predict(texts, hints)
        links = tuple(TickerLink(ticker=t, confidence=c, relevance=r, relevance_kind="mention",
                                 method="hint", text="") for t, c, r in self.links)
        return [replace(pred, tickers=links)]


async def test_links_that_are_not_tickers_are_dropped() -> None:
    metrics = Metrics()
    engine = LinksEngine([("AAPL", 0.9, 1), ("\x00", 1, 1), ("A B", 1, 1), ("X" * 40, 1, 1)])
    mentions = await Score(engine, metrics).process([_doc("Apple", [])])
    assert [m.ticker for m in mentions] == ["AAPL"]
    assert metrics.get("links_dropped_total", reason="invalid_ticker") == 3


async def test_unknown_hints_get_low_confidence_or_are_rejected() -> None:
    universe = frozenset({"AAPL"})
    links = [("AAPL", 1.0, 1.0), ("QQQQZ", 1.0, 0.5), ("ZZZQ", 0.85, 0.4)]
    doc = _doc("Apple and $ZZZQ", ["AAPL", "QQQQZ"])
    low = Score(LinksEngine(links), Metrics(), limits=Limits(universe=universe))
    got = {m.ticker: m.link_confidence for m in await low.process([doc])}
    assert got == {"AAPL": 1.0, "QQQQZ": 0.3, "ZZZQ": 0.85}  # a cashtag is not a hint
    reject = Score(LinksEngine(links), Metrics(),
                   limits=Limits(universe=universe, unknown_ticker_hints="reject"))
    assert {m.ticker for m in await reject.process([doc])} == {"AAPL", "ZZZQ"}


async def test_linked_tickers_per_document_are_bounded_most_relevant_first() -> None:
    metrics = Metrics()
    links = [(f"T{i}", 0.9, i / 100) for i in range(50)]
    score = Score(LinksEngine(links), metrics, limits=Limits(max_linked_tickers=5))
    mentions = await score.process([_doc("many", [])])
    assert [m.ticker for m in mentions] == ["T49", "T48", "T47", "T46", "T45"]
    assert metrics.get("links_dropped_total", reason="too_many") == 45


@pytest.mark.parametrize(("exc", "transient"), [
    (StoreUnavailable("down"), True),
    (ConfigurationError("Redis refused the credentials"), True),
    (rexc.ConnectionError("refused"), True),
    (rexc.ResponseError("OOM command not allowed"), True),
    (rexc.ReadOnlyError("READONLY"), True),
    (KafkaTimeoutError(), True),
    (TimeoutError(), True),
    (ConnectionResetError(), True),
    (ValueError("bad"), False),
    (KeyError("x"), False),
    (RecursionError(), False),
    (UnicodeEncodeError("utf-8", "\udfff", 0, 1, "surrogates not allowed"), False),
    (ZeroDivisionError(), False),
])
def test_service_failures_are_told_apart_from_message_failures(exc: Exception,
                                                               transient: bool) -> None:
    assert is_transient(exc) is transient
