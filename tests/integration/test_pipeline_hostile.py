"""Hostile input on a live worker (real broker, Redis, worker process): nothing stops it.

A corpus of every kind of hostile message the edges reject (deep nesting, lone surrogates,
an input over the producer's 1,000,000-byte limit, NUL/emoji/long tickers, 100,000 hints,
year 0001, followers 10**40, wrong types, non-UTF-8, null values, NaN, ...) goes in among good
documents, and invalid records are injected straight into ``docs`` and ``scored``
mid-stream. At the end: the same worker process (never restarted, no agent crashed), every
good document counted exactly once, every hostile message in its ``<topic>.dlq`` once, with
its reason and source coordinates; documents handled as documented (colliding ids kept
apart, an unknown hint linked with low confidence).

The Tansu broker accepts messages up to at least 2 MB, so the oversize input travels through
the broker here (the test's producer raises its own request limit to send it).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streams.codec import OVERSIZE_PREFIX_BYTES, doc_id_for
from streams.contracts import Document, ScoredMention
from streams.errors import DLQ_REASONS
from streams.feed import Feed
from streams.producer import publish
from streams.topics import Topics
from support.kafka import read_topic
from support.pipeline import PipelineRun, explicit_pairs
from support.records import mention

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


def _news(i: str, **kw: object) -> dict:
    now = datetime.now(UTC).isoformat()
    return {"schema_version": 1, "id": f"h-{i}", "source": "wire-h", "published_at": now,
            "headline": "Apple shares slide after earnings miss", "url": "https://h.example/x",
            "tickers": ["AAPL"], **kw}


def _post(i: str, **kw: object) -> dict:
    now = datetime.now(UTC).isoformat()
    return {"schema_version": 1, "id": f"h-{i}", "platform": "x", "created_at": now,
            "text": "$AAPL looking weak", "author": {"id": "u", "followers": 10}, **kw}


def _b(obj: object) -> bytes:
    return json.dumps(obj).encode()


def hostile_inputs() -> list[tuple[str, str, bytes | None]]:
    """(kind, reason, value): the key of each is ``h-<n>``."""
    deep = b"[" * 1000 + b"]" * 1000
    year_one = "0001-01-01T00:00:00Z"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    cases: list[tuple[str, str, bytes | None]] = [
        ("news", "nesting_too_deep", _b(_news("d"))[:-1] + b', "body": ' + deep + b"}"),
        ("social", "nesting_too_deep", deep),
        ("news", "invalid_unicode", _b(_news("s", tickers=["\udfff"]))),
        ("social", "invalid_unicode", _b(_post("s", text="ok \ud800 ok"))),
        ("news", "oversize", _b(_news("big", body="x" * 1_050_000))),
        ("news", "invalid_ticker", _b(_news("nul", tickers=["\x00"]))),
        ("social", "invalid_ticker", _b(_post("emoji", tickers=["\U0001f680"]))),
        ("news", "invalid_ticker", _b(_news("long", tickers=["X" * 40]))),
        ("news", "invalid_ticker", _b(_news("space", tickers=["A B"]))),
        ("news", "too_many_tickers", _b(_news("many", tickers=["A"] * 100_000))),
        ("news", "timestamp_out_of_range", _b(_news("y1", published_at=year_one))),
        ("social", "timestamp_out_of_range", _b(_post("fut", created_at=future))),
        ("social", "value_out_of_range", _b(_post("f40", author={"id": "u", "followers": 10**40}))),
        ("social", "value_out_of_range", _b(_post("likes", engagement={"likes": 10**11}))),
        ("news", "wrong_type", _b(_news("wt", tickers="AAPL"))),
        ("social", "wrong_type", _b(_post("extra", new_field=1))),
        ("news", "wrong_type", _b(_news("ctl\x00id"))),
        ("social", "invalid_utf8", b'{"schema_version": 1, "text": "\xff\xfe"}'),
        ("news", "invalid_json", None),
        ("social", "invalid_json", b'{"schema_version": 1, "id": '),
        ("news", "invalid_json", _b(_news("nan"))[:-1] + b', "x": NaN}'),
        ("news", "invalid_json", b'{"schema_version": ' + b"9" * 5000 + b"}"),
        ("news", "empty_text", _b(_news("zw", headline="\u200b\u200c\u200d\u2060\ufeff"))),
        ("social", "empty_text", _b(_post("nul", text="\x00\x00"))),
        ("news", "unknown_schema_version", _b(_news("v2", schema_version=2))),
        ("news", "missing_field", _b({k: v for k, v in _news("mf").items() if k != "url"})),
        ("news", "text_too_long", _b(_news("tl", body="y" * 25_000))),
    ]
    assert {r for _, r, _ in cases} == set(DLQ_REASONS) - {"processing_error"}
    return cases


def internal_records() -> dict[str, list[tuple[str, bytes | None]]]:
    """Invalid records for ``docs`` and ``scored``: (reason, value)."""
    now = datetime.now(UTC)
    doc = Document(doc_id="news:inj:1", kind="news", source="inj", published_at=now,
                   text="Apple up", excerpt="Apple up", ticker_hints=["AAPL"], ingested_at=now)
    d = json.loads(doc.to_json_bytes())
    m = json.loads(mention(1, at=now, doc_id="news:inj:2").to_json_bytes())
    return {
        "docs": [("missing_field", b'{"schema_version": 1, "doc_id": "x"}'),
                 ("wrong_type", _b({**d, "added_in_v2": True})),  # a newer producer
                 ("invalid_ticker", _b({**d, "ticker_hints": ["\x00"]})),
                 ("invalid_utf8", b"\xff\xfe\xfd"),
                 ("nesting_too_deep", b"[" * 5000 + b"]" * 5000)],
        "scored": [("invalid_ticker", _b({**m, "ticker": "A B"})),
                   ("timestamp_out_of_range", _b({**m, "published_at": "0001-01-01T00:00:00Z"})),
                   ("invalid_json", b"not json"),
                   ("invalid_json", None),
                   ("invalid_json", _b(m)[:-1] + b', "x": Infinity}')],
    }


async def _produce(bootstrap: str, messages: list[tuple[str, bytes, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=3_000_000)
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _counted_pairs(run: PipelineRun, doc_ids: set[str], timeout_s: float = 240) -> set:
    """Until every good document is on ``docs`` and every valid scored pair is in Redis
    (reading past the invalid records injected into both topics)."""
    deadline = time.monotonic() + timeout_s
    counted, pairs = 0, set()
    while time.monotonic() < deadline:
        await asyncio.sleep(2)
        seen = set()
        for r in await read_topic(run.bootstrap, run.topics.docs, idle_s=1.0):
            try:
                seen.add(Document.model_validate_json(r.value).doc_id)
            except Exception:  # noqa: BLE001, S112 - the injected invalid records
                continue
        if not doc_ids <= seen:
            continue
        pairs = set()
        for r in await read_topic(run.bootstrap, run.topics.scored, idle_s=1.0):
            try:
                m = ScoredMention.model_validate_json(r.value)
            except Exception:  # noqa: BLE001, S112
                continue
            if not r.key or not r.key.startswith(b"i-"):  # not one injected (year 0001)
                pairs.add((m.ticker, m.doc_id))
        counted = await run.store.mentions_counted()
        if counted == len(pairs):
            return pairs
    missing = {}
    for ticker in {t for t, _ in pairs}:
        ids = set(await run.store.counted_doc_ids(ticker))
        missing[ticker] = sorted(d for t, d in pairs if t == ticker and d not in ids)[:5]
    raise AssertionError(f"not all counted in {timeout_s}s: {counted} counted, {len(pairs)} "
                         f"pairs; not counted: {missing}; {run.worker.tail()}")


async def test_hostile_messages_are_dead_lettered_and_the_worker_keeps_going(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    run = PipelineRun(kafka_bootstrap, redis_url, redis_prefix, tiny_model, tmp_path)
    topic = {"news": run.topics.news_raw, "social": run.topics.social_raw}
    try:
        good = list(Feed(seed=21, rumour=None, run_id=run.name).messages(240))
        special = [  # handled as documented, not dead-lettered
            ("news", b"s-col1", _b(_news("c", source="a:b", id="c"))),
            ("news", b"s-col2", _b(_news("c", source="a", id="b:c"))),
            ("social", b"s-unknown", _b(_post("u", text="what a quarter", tickers=["QQQQZ"]))),
        ]
        hostile = [(kind, reason, f"h-{i}".encode(), value)
                   for i, (kind, reason, value) in enumerate(hostile_inputs())]
        run.worker.start().wait_ready()
        pid = run.worker.proc.pid if run.worker.proc else None

        await publish(good[:120], run.kafka)
        await _produce(kafka_bootstrap, [(topic[k], key, v) for k, key, v in special]
                       + [(topic[k], key, v) for k, _, key, v in hostile])
        assert await run.counted_at_least(60, timeout_s=120, poll_s=0.5) >= 60, run.worker.tail()
        injected = internal_records()  # mid-stream, among the worker's own records
        await _produce(kafka_bootstrap, [
            (getattr(run.topics, name), f"i-{name}-{i}".encode(), value)
            for name, records in injected.items() for i, (_, value) in enumerate(records)])
        await publish(good[120:], run.kafka)

        doc_ids = {m.truth.doc_id for m in good} | {
            doc_id_for("news", "a:b", "c"), doc_id_for("news", "a", "b:c"), "social:x:h-u"}
        pairs = await _counted_pairs(run, doc_ids)
        await run.assert_exactly_once(pairs)
        assert explicit_pairs(good) <= pairs
        assert {("AAPL", "news:a%3Ab:c"), ("AAPL", "news:a:b%3Ac")} <= pairs

        scored = await read_topic(kafka_bootstrap, run.topics.scored, idle_s=1.0)
        unknown = [json.loads(r.value) for r in scored if r.key == b"QQQQZ"]
        assert unknown and all(m["link_confidence"] <= 0.3 for m in unknown)

        expected = {key: (topic[k], reason) for k, reason, key, _ in hostile}
        expected |= {f"i-{name}-{i}".encode(): (getattr(run.topics, name), reason)
                     for name, records in injected.items()
                     for i, (reason, _) in enumerate(records)}
        dead = []
        for source in (run.topics.news_raw, run.topics.social_raw, run.topics.docs,
                       run.topics.scored):
            dead += await read_topic(kafka_bootstrap, Topics.dlq(source), idle_s=1.5)
        assert Counter(r.key for r in dead) == Counter(set(expected)), "each hostile once"
        sent = {key: value for _, _, key, value in hostile}
        for r in dead:
            h = {k: v.decode() for k, v in r.headers}
            source_topic, reason = expected[r.key]
            assert (h["tp-source-topic"], h["tp-dlq-reason"]) == (source_topic, reason), r.key
            if reason == "oversize":
                original = sent[r.key] or b""
                assert len(r.value) == OVERSIZE_PREFIX_BYTES == int(h["tp-truncated"])
                assert r.value == original[:OVERSIZE_PREFIX_BYTES]
                assert int(h["tp-original-bytes"]) == len(original) > 1_000_000
                assert h["tp-original-sha256"] == hashlib.sha256(original).hexdigest()
            elif r.key in sent:
                assert r.value == (sent[r.key] or b"")

        assert run.worker.proc is not None and run.worker.proc.poll() is None, "worker died"
        assert run.worker.proc.pid == pid
        log = run.worker.log_path.read_text(errors="replace")
        assert log.count("Worker ready") == 1
        assert "Crashed reason" not in log and "keeps failing" not in log
    finally:
        await run.close()
