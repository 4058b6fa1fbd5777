"""Feed drift end to end: broker, stream worker, Redis, alerts worker, PostgreSQL, a webhook
receiver. The model (tiny, seeded) gets a reference profile computed by ``profile()`` on
English headlines; the same headlines on news.raw read a drift near 0 and nothing fires; then
German headlines replace them in the window, the drift rises above the rule's threshold, and
the ``drift`` rule fires exactly once."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from alerts.signing import generate_secret
from models.api import load_engine
from models.linking import TickerLinker
from models.profile import profile, store_profile
from models.settings import EngineSettings, ModelSettings
from models.testing import tiny_model_dir
from streams.contracts import RiskUpdate
from streams.drift import Stats, compare, references_by_kind
from streams.settings import RedisSettings
from streams.store import DriftStore, RedisKeys, connect
from support.alerts import Receiver, start_worker, stop_worker, wait_until, worker_env
from support.kafka import read_topic
from support.pipeline import PipelineRun
from tickerpulse.embedded import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 60  # texts per phase = the drift window = the texts a reading needs
COMPANIES = ("Siemens", "Apple", "Bayer", "Microsoft", "Allianz", "Nvidia", "BASF", "Tesla",
             "Adidas", "Amazon", "Lufthansa", "Intel", "Puma", "Boeing", "Merck", "Oracle")
ENGLISH = ("{c} shares rise after strong quarterly results", "{c} cuts its outlook for the year",
           "{c} announces a new share buyback programme", "Analysts upgrade {c} to buy")
GERMAN = ("Die Aktie von {c} fiel nach schwachen Quartalszahlen deutlich",
          "Der Umsatz von {c} stieg im dritten Quartal um zwölf Prozent",
          "Anleger reagierten verunsichert auf die Gewinnwarnung von {c}",
          "Der Vorstand von {c} kündigte einen umfassenden Stellenabbau an",
          "Die Dividende von {c} wird für das Geschäftsjahr deutlich erhöht")
RULES = """
version: 1
rules:
  - name: feed-drift
    severity: warning
    scope: {all: true}
    condition: {metric: drift, enter: 0.25, exit: 0.1}
"""


def headlines(templates: tuple[str, ...]) -> list[str]:
    texts = [t.format(c=c) for c in COMPANIES for t in templates][:N]
    assert len(texts) == N
    return texts


def article(i: int, text: str) -> bytes:
    return json.dumps({"schema_version": 1, "id": f"drift-{i}", "source": "wire",
                       "published_at": datetime.now(UTC).isoformat(), "headline": text,
                       "url": f"https://example.com/{i}"}).encode()


@pytest.fixture(scope="module")
def profiled_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, float]:
    """The tiny model with its reference profile (English headlines) in its card; the drift
    the same headlines and the German ones read offline, through the same engine."""
    root = tmp_path_factory.mktemp("drift-model")
    directory = tiny_model_dir(root, seed=0)
    (directory / "model_card.json").write_text(json.dumps(
        {"version": "tiny-0", "base": "tiny", "created": "2026-01-01", "training_seconds": 0,
         "data": {}, "hyperparameters": {}, "libraries": {}}))
    engine = load_engine(ModelSettings(path=str(directory), cache_dir=root / "cache"),
                         EngineSettings(backend="torch", max_wait_ms=0.0), TickerLinker.default())
    with engine:
        reference = profile(engine, {"fpb": headlines(ENGLISH)})
        shifted = profile(engine, {"de": headlines(GERMAN)})
    store_profile(directory, reference)
    ref = references_by_kind(reference)["news"]
    same = compare("news", ref, ref).psi
    drift = compare("news", Stats.from_dict(shifted["sources"]["de"]), ref).psi
    # what the test stands on: this model sees the German headlines as a shifted feed
    assert same == 0.0 and drift > 0.5, (same, drift)
    return directory, same, drift


async def drift_records(run: PipelineRun, at_least: int, timeout_s: float) -> list[RiskUpdate]:
    deadline = time.monotonic() + timeout_s
    while True:
        records = await read_topic(run.bootstrap, run.topics.risk, idle_s=1.0)
        updates = [RiskUpdate.model_validate_json(r.value) for r in records]
        drift = [u for u in updates if u.ticker == "DRIFT:NEWS"]
        if len(drift) >= at_least or time.monotonic() > deadline:
            return drift
        await asyncio.sleep(1.0)


def psi_seen(run: PipelineRun) -> list[tuple[float, float]]:
    return [(u.components["texts"], round(u.components["psi"], 3))
            for u in asyncio.run(drift_records(run, 0, 0))]


async def stored_drift(redis_url: str, prefix: str) -> list[RiskUpdate]:
    redis = connect(RedisSettings(url=redis_url))
    try:
        return await DriftStore(redis, RedisKeys(prefix)).load()
    finally:
        await redis.close()


def firing(receiver: Receiver) -> list[dict]:
    return [r.body for r in receiver.delivered() if r.body.get("ticker") == "DRIFT:NEWS"]


def test_drift_rises_on_german_headlines_and_the_drift_rule_fires_once(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, redis_prefix: str, postgres_url: str,
    profiled_model: tuple[Path, float, float],
) -> None:
    model_dir, _, offline_drift = profiled_model
    run = PipelineRun(kafka_bootstrap, redis_url, redis_prefix,
                      (str(model_dir), str(tmp_path / "cache")), tmp_path,
                      TICKERPULSE_ENGINE__BACKEND="torch",
                      TICKERPULSE_STREAM__DRIFT__WINDOW=str(N),
                      TICKERPULSE_STREAM__DRIFT__MIN_TEXTS=str(N),
                      TICKERPULSE_STREAM__DRIFT__INTERVAL_S="0.001")  # every batch
    receiver = Receiver(generate_secret(), free_port()).start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    alerts = start_worker(worker_env(bootstrap=kafka_bootstrap, db_url=postgres_url,
                                     rules=rules, receiver=receiver,
                                     prefix=run.kafka.topic_prefix, group=f"{run.name}-alerts",
                                     partitions=run.kafka.partitions),
                          tmp_path / "alerts.log")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        run.worker.start()
        run.worker.wait_ready(timeout_s=180)
        for i, text in enumerate(headlines(ENGLISH)):  # the reference texts themselves
            producer.send(run.topics.news_raw, article(i, text), key=f"drift-{i}".encode())
        producer.flush()
        calm_records = asyncio.run(drift_records(run, 1, 120))
        assert calm_records, run.worker.tail()
        calm = calm_records[0]
        assert calm.components["texts"] == N and calm.components["psi"] < 0.1

        for i, text in enumerate(headlines(GERMAN), start=N):
            producer.send(run.topics.news_raw, article(i, text), key=f"drift-{i}".encode())
        producer.flush()
        alerts_log = tmp_path / "alerts.log"
        wait_until(lambda: len(firing(receiver)) >= 1, 180,
                   lambda: f"a drift alert; readings {psi_seen(run)}; alerts log: "
                           f"{alerts_log.read_text()[-2000:]}")
        records = asyncio.run(drift_records(run, 2, 30))
        last = records[-1]
        assert last.components["psi"] == pytest.approx(offline_drift, rel=0.25)
        time.sleep(5)  # anything more would have arrived by now
        alerts_seen = firing(receiver)
        assert [(a["rule"]["name"], a["status"]) for a in alerts_seen] == [("feed-drift", "firing")]
        assert alerts_seen[0]["rule"]["metric"] == "drift"
        assert alerts_seen[0]["rule"]["value"] >= 0.25
        # the dashboard's copy in Redis is the latest reading
        (stored,) = asyncio.run(stored_drift(redis_url, redis_prefix))
        assert stored.ticker == "DRIFT:NEWS" and stored.components == last.components
    finally:
        producer.close()
        stop_worker(alerts)
        receiver.stop()
        asyncio.run(run.close())
