"""The review queue end to end: broker, stream worker (tiny model), Redis novelty, the alerts
worker consuming the review topic into PostgreSQL, then the labelling round trip.

The feed holds fresh headlines, exact copies (new ids, the same text) and one garbage record
on the review topic itself: every fresh headline lands in SQL once, no copy is sampled, the
garbage goes to review.dlq with its reason, and export -> label -> import records the labels.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from kafka import KafkaProducer

from alerts.signing import generate_secret
from alerts.store.review import ReviewStore
from alerts.store.tables import ReviewItem
from models.testing import tiny_model_dir
from streams.contracts import ReviewCandidate
from streams.topics import Topics
from support.alerts import Receiver, one_rule, start_worker, stop_worker, wait_until, worker_env
from support.kafka import read_topic
from support.pipeline import PipelineRun
from tickerpulse.cli.main import cli
from tickerpulse.embedded import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FRESH = ["Apple shares rise after strong quarterly results",
         "Tesla cuts its outlook for the year as deliveries slow",
         "Nvidia announces a new share buyback programme",
         "Analysts upgrade Microsoft to buy on cloud growth",
         "Boeing faces a new probe over delivery delays",
         "Intel names a new chief financial officer"]


def article(i: int, text: str) -> bytes:
    return json.dumps({"schema_version": 1, "id": f"rv-{i}", "source": "wire",
                       "published_at": datetime.now(UTC).isoformat(), "headline": text,
                       "url": f"https://example.com/{i}"}).encode()


def stored(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(sa.select(ReviewItem.doc_id).order_by(ReviewItem.doc_id)))
    except sa.exc.ProgrammingError:  # before the worker's migrations
        return []
    finally:
        engine.dispose()


def test_fresh_texts_land_in_sql_once_copies_are_not_sampled_and_labels_come_back(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, redis_prefix: str, postgres_url: str,
) -> None:
    model = tiny_model_dir(tmp_path, seed=0)  # random weights: every text is uncertain
    run = PipelineRun(kafka_bootstrap, redis_url, redis_prefix, (str(model), str(tmp_path / "c")),
                      tmp_path, TICKERPULSE_ENGINE__BACKEND="torch",
                      TICKERPULSE_STREAM__REVIEW__PER_SOURCE_PER_MINUTE="1000")
    rules = tmp_path / "rules.yaml"
    rules.write_text(one_rule())
    receiver = Receiver(generate_secret(), free_port()).start()
    alerts = start_worker(worker_env(bootstrap=kafka_bootstrap, db_url=postgres_url,
                                     rules=rules, receiver=receiver,
                                     prefix=run.kafka.topic_prefix, group=f"{run.name}-alerts",
                                     partitions=run.kafka.partitions,
                                     TICKERPULSE_ALERTS__REVIEW__CONSUMER_GROUP=f"{run.name}-rv"),
                          tmp_path / "alerts.log")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    alerts_log = tmp_path / "alerts.log"
    try:
        run.worker.start()
        run.worker.wait_ready(timeout_s=180)
        feed = list(enumerate(FRESH))
        feed += [(100 + i, text) for i, text in enumerate(FRESH[:4])]  # exact copies, new ids
        for i, text in feed:
            producer.send(run.topics.news_raw, article(i, text), key=f"rv-{i}".encode())
        producer.send(run.topics.review, b"{not json", key=b"garbage")
        producer.flush()
        want = [f"news:wire:rv-{i}" for i in range(len(FRESH))]
        wait_until(lambda: len(stored(postgres_url)) >= len(want), 180,
                   lambda: f"{len(want)} review items, have {stored(postgres_url)}; worker: "
                           f"{run.worker.tail()}; alerts log: {alerts_log.read_text()[-2000:]}")
        time.sleep(3)  # anything more would have arrived by now
        assert stored(postgres_url) == sorted(want)
        on_topic = asyncio.run(read_topic(kafka_bootstrap, run.topics.review, idle_s=1.0))
        candidates = [ReviewCandidate.model_validate_json(r.value) for r in on_topic
                      if r.key != b"garbage"]
        assert sorted(c.doc_id for c in candidates) == sorted(want)  # copies never sampled
        assert all("low_confidence" in c.reasons for c in candidates)
        dlq = asyncio.run(read_topic(kafka_bootstrap, Topics.dlq(run.topics.review), idle_s=1.0))
        assert [dict(r.headers)["tp-dlq-reason"] for r in dlq] == [b"invalid_json"]

        env = {"TICKERPULSE_ALERTS__DATABASE_URL": postgres_url}
        out = tmp_path / "label.csv"
        said = CliRunner().invoke(cli, ["model", "review", "export", "--n", "4", "--out",
                                        str(out)], env=env)
        assert said.exit_code == 0, said.output
        with out.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 4 and {r["text"] for r in rows} <= set(FRESH)
        for row, label in zip(rows, ["negative", "neutral", "positive", ""], strict=True):
            row["label"] = label
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        said = CliRunner().invoke(cli, ["model", "review", "import", str(out), "--by", "ana"],
                                  env=env)
        assert said.exit_code == 0, said.output
        assert "3 recorded" in said.output and "1 rows without a label skipped" in said.output
        store = ReviewStore(postgres_url)
        try:
            labels = store.labels()
            assert sorted((s.item.text, s.label, s.labelled_by) for s in labels) == sorted(
                (r["text"], r["label"], "ana") for r in rows[:3])
            assert store.stats()["waiting"] == len(FRESH) - 4
        finally:
            store.close()
    finally:
        producer.close()
        stop_worker(alerts)
        receiver.stop()
        asyncio.run(run.close())
