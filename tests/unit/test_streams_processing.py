"""The three stages in-process: stand-in engine, memory novelty index, a memory risk store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from streams.contracts import ScoredMention
from streams.errors import RECORD_REASONS, StoreUnavailable
from streams.feed import Feed, malformed
from streams.metrics import Metrics
from streams.novelty import MemoryNoveltyIndex
from streams.processing import Aggregate, Ingest, RawMessage, Score
from streams.risk import apply_mention
from streams.settings import RiskSettings
from streams.store.risk_store import CommitResult
from streams.testing import StandInEngine

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
