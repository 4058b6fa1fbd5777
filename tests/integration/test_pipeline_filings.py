"""A third input source through the table, end to end on the real broker and Redis: an SEC
filing on ``filings.raw`` becomes a document, a scored mention of its issuer and a risk
update; a bad one goes to ``filings.raw.dlq`` with its reason."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streams.codec import HEADER_REASON
from streams.contracts import Document, RiskUpdate, ScoredMention
from streams.settings import KafkaSettings, RedisSettings, RiskSettings
from streams.store import RedisKeys, RiskStore, connect
from streams.topics import Topics, ensure_topics
from support.kafka import read_topic
from support.pipeline import pipeline_env
from tickerpulse.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


def filing(run: str, title: str) -> bytes:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps({
        "schema_version": 1, "id": f"{run}-0001", "source": "sec-edgar", "form_type": "8-K",
        "filed_at": now, "issuers": ["MSFT"], "title": title,
        "body": "Item 8.01 Other Events. The company announced a recall of its devices.",
        "url": f"https://www.sec.gov/Archives/edgar/data/789019/{run}.htm",
    }).encode()


async def test_a_filing_flows_to_a_risk_update_of_its_issuer(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    run = f"fil{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"{run}.")
    topics = Topics(kafka.topic_prefix)
    ensure_topics(kafka, topics.all())
    env = pipeline_env(kafka_bootstrap, redis_url, redis_prefix, run, tiny_model[0],
                       tiny_model[1], str(tmp_path / "faust"))
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    store = RiskStore(connect(RedisSettings(url=redis_url)), RedisKeys(redis_prefix),
                      RiskSettings())
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        worker.wait_ready()
        await producer.start()
        raw = topics.raw("filing")
        await producer.send_and_wait(raw, filing(run, "Microsoft files 8-K on device recall"),
                                     key=b"MSFT")
        await producer.send_and_wait(raw, filing(run, " \u200b "), key=b"bad")

        docs = [Document.model_validate_json(r.value)
                for r in await read_topic(kafka_bootstrap, topics.docs, expect=1, timeout_s=60)]
        assert [(d.kind, d.doc_id, d.ticker_hints) for d in docs] == [
            ("filing", f"filing:sec-edgar:{run}-0001", ["MSFT"])]
        scored = [ScoredMention.model_validate_json(r.value) for r in
                  await read_topic(kafka_bootstrap, topics.scored, expect=1, timeout_s=60)]
        assert [(m.ticker, m.kind, m.doc_id) for m in scored] == [
            ("MSFT", "filing", docs[0].doc_id)]
        risk = [RiskUpdate.model_validate_json(r.value) for r in
                await read_topic(kafka_bootstrap, topics.risk, expect=1, timeout_s=60)]
        assert [(u.ticker, u.trigger_doc_ids, u.mentions_total) for u in risk] == [
            ("MSFT", [docs[0].doc_id], 1)]
        assert [(d.kind, d.source) for d in risk[0].top_documents] == [("filing", "sec-edgar")]
        latest = await store.latest("MSFT")
        assert latest is not None and latest.mentions_total == 1

        letters = await read_topic(kafka_bootstrap, Topics.dlq(raw), expect=1, timeout_s=30)
        assert [(r.key, dict(r.headers)[HEADER_REASON]) for r in letters] == [
            (b"bad", b"empty_text")]
    finally:
        await producer.stop()
        worker.stop()
        await store.redis.close()
