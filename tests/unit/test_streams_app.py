"""The faust app's wiring, in-process (no broker): agents, topics, settings, fetch wait."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.app import create_app, faust_settings
from streams.metrics import Metrics
from streams.novelty import MemoryNoveltyIndex
from streams.processing import Aggregate, Ingest, Score
from streams.settings import KafkaSettings, StreamSettings
from support.engine import StandInEngine

KAFKA = KafkaSettings(bootstrap_servers="k1:9092, k2:9092", topic_prefix="t.", partitions=6,
                      rebalance_timeout_s=5, session_timeout_s=10, heartbeat_interval_s=1,
                      fetch_max_wait_ms=40)
STREAM = StreamSettings(app_id="tp-test", web_port=0)


def test_faust_settings_follow_our_settings() -> None:
    conf = faust_settings(KAFKA, STREAM)
    assert conf["broker"] == ["kafka://k1:9092", "kafka://k2:9092"]
    assert (conf["broker_rebalance_timeout"], conf["broker_session_timeout"],
            conf["broker_heartbeat_interval"]) == (5, 10, 1)
    assert conf["topic_partitions"] == 6 and conf["web_enabled"] is False
    assert conf["consumer_auto_offset_reset"] == "earliest"


def test_agents_run_at_concurrency_one_on_their_topics() -> None:
    metrics = Metrics()
    app = create_app(KAFKA, STREAM, metrics,
                     Ingest(MemoryNoveltyIndex(), 100, metrics), Score(StandInEngine(), metrics),
                     Aggregate(object(), metrics))  # type: ignore[arg-type]
    agents = {a.name: a for a in app.agents.values()}
    assert set(agents) == {"ingest", "score", "aggregate"}
    assert all(a.concurrency == 1 for a in agents.values())
    assert set(agents["ingest"].channel.topics) == {"t.news.raw", "t.social.raw", "t.filings.raw"}
    assert agents["score"].channel.topics == ("t.docs",)
    assert agents["aggregate"].channel.topics == ("t.scored",)


def test_a_worker_can_run_one_role() -> None:
    metrics = Metrics()
    app = create_app(KAFKA, STREAM, metrics, score=Score(StandInEngine(), metrics))
    assert [a.name for a in app.agents.values()] == ["score"]


def test_consumer_fetch_wait_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(KAFKA, STREAM, Metrics())
    assert type(app.transport).Consumer.__name__ == "TunedConsumer"
    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer",
                        lambda self, transport: SimpleNamespace(_fetch_max_wait_ms=1500))
    thread = object.__new__(type(app).consumer_thread_class)  # type: ignore[attr-defined]
    assert thread._create_worker_consumer(app.transport)._fetch_max_wait_ms == 40


def test_unknown_agent_names_are_a_clear_configuration_error() -> None:
    from streams.errors import ConfigurationError
    from tickerpulse.settings import Settings
    from tickerpulse.wiring import selected_agents

    assert selected_agents(Settings(stream={"agents": " score , ingest"})) == {"score", "ingest"}  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown \\['nope'\\]"):
        selected_agents(Settings(stream={"agents": "score,nope"}))  # type: ignore[arg-type]
