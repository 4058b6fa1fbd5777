"""TLS to the broker, for real: a CA and server certificate made in the test, the embedded
broker behind a TLS-terminating proxy (socat) and advertising the proxy's address.

The admin client creates the topics, the stream worker (a subprocess configured only through
``TICKERPULSE_KAFKA__*``) processes documents end to end, the alerts worker consumes its risk
updates and publishes alerts, all through TLS; a second proxy demands client certificates
(mutual TLS). Plaintext clients, clients without the CA and clients without a certificate on
the mutual-TLS port all fail to get metadata.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from streams.feed import Feed
from streams.kafka_config import kafka_python_kwargs
from streams.producer import publish
from streams.settings import KafkaSettings
from streams.topics import Topics, ensure_topics
from support.kafka import read_topic
from support.pipeline import pipeline_env
from tickerpulse.embedded import free_port, tansu_binary, wait_for_port
from tickerpulse.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat"),
              pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")]

SERVER_EXT = ("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
              "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
CLIENT_EXT = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"


def make_pki(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    (d / "server.ext").write_text(SERVER_EXT)
    (d / "client.ext").write_text(CLIENT_EXT)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=tickerpulse test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    (d / "server.pem").write_text((d / "server.crt").read_text() + (d / "server.key").read_text())


@dataclass
class TlsBroker:
    pki: Path
    tls_port: int  # TLS, server certificate only
    mtls_port: int  # TLS, client certificate required
    plain_port: int  # the broker itself (private)

    def settings(self, port: int | None = None, **kw: object) -> KafkaSettings:
        return KafkaSettings.model_validate({
            "bootstrap_servers": f"127.0.0.1:{port or self.tls_port}",
            "security_protocol": "SSL", "ssl_cafile": str(self.pki / "ca.pem"),
            "rebalance_timeout_s": 3, "session_timeout_s": 6, **kw})

    def env(self) -> dict[str, str]:
        return {"TICKERPULSE_KAFKA__SECURITY_PROTOCOL": "SSL",
                "TICKERPULSE_KAFKA__SSL_CAFILE": str(self.pki / "ca.pem")}


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # socat forks one child per connection
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    d = tmp_path_factory.mktemp("tls")
    make_pki(d)
    plain, tls, mtls = free_port(), free_port(), free_port()
    # The broker listens on a private port and tells clients to come back through the proxy.
    broker = _spawn([str(tansu_binary()), "broker", "--listener-url", f"tcp://127.0.0.1:{plain}",
                     "--advertised-listener-url", f"tcp://127.0.0.1:{tls}"], d / "broker.log")
    listen = f"bind=127.0.0.1,reuseaddr,fork,cert={d / 'server.pem'}"
    target = f"TCP:127.0.0.1:{plain}"
    proxies = [
        _spawn(["socat", f"OPENSSL-LISTEN:{tls},{listen},verify=0", target], d / "socat.log"),
        _spawn(["socat", f"OPENSSL-LISTEN:{mtls},{listen},verify=1,cafile={d / 'ca.pem'}",
                target], d / "socat-mtls.log"),
    ]
    try:
        for port in (plain, tls, mtls):
            wait_for_port("127.0.0.1", port)
        yield TlsBroker(d, tls, mtls, plain)
    finally:
        for proc in [*proxies, broker]:
            _stop(proc)


async def metadata_refused(**kw: object) -> str:
    """Start a consumer that must not get metadata within 10 s; returns the error's name."""
    consumer = AIOKafkaConsumer(request_timeout_ms=3000, **kw)  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(consumer.start(), 10)
    except (KafkaConnectionError, TimeoutError) as exc:
        return type(exc).__name__
    finally:
        await consumer.stop()
    raise AssertionError(f"got metadata without valid TLS: {kw}")


def test_admin_client_creates_topics_through_tls(tls_broker: TlsBroker) -> None:
    from kafka.admin import KafkaAdminClient  # type: ignore[import-untyped]

    kafka = tls_broker.settings(topic_prefix=f"adm{uuid.uuid4().hex[:6]}.", partitions=3)
    names = Topics(kafka.topic_prefix).all()
    assert sorted(ensure_topics(kafka, names)) == sorted(names)
    assert ensure_topics(kafka, names) == []  # listed through TLS: nothing left to create
    admin = KafkaAdminClient(**kafka_python_kwargs(kafka))
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
    finally:
        admin.close()
    assert described == {n: 3 for n in names}


async def test_plaintext_and_unverified_clients_are_refused(tls_broker: TlsBroker) -> None:
    bootstrap = f"127.0.0.1:{tls_broker.tls_port}"
    await metadata_refused(bootstrap_servers=bootstrap)  # plaintext to the TLS port
    # TLS, but trusting only the system store: the test CA's certificate does not verify
    system = KafkaSettings(bootstrap_servers=bootstrap, security_protocol="SSL")
    from streams.kafka_config import aiokafka_kwargs

    await metadata_refused(**aiokafka_kwargs(system))
    # mutual TLS port: the CA alone is not enough, a client certificate is required
    await metadata_refused(**aiokafka_kwargs(tls_broker.settings(tls_broker.mtls_port)))


async def test_mutual_tls_with_a_client_certificate(tls_broker: TlsBroker) -> None:
    from streams.kafka_config import aiokafka_kwargs

    pki = tls_broker.pki
    # the broker advertises the server-auth proxy; bootstrap through the mTLS one proves the
    # client certificate is presented (that proxy refuses handshakes without one)
    kafka = tls_broker.settings(tls_broker.mtls_port, ssl_certfile=str(pki / "client.crt"),
                                ssl_keyfile=str(pki / "client.key"))
    topic = f"mtls{uuid.uuid4().hex[:6]}"
    ensure_topics(kafka, [topic])
    producer = AIOKafkaProducer(**aiokafka_kwargs(kafka))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over mutual TLS", key=b"k")
    finally:
        await producer.stop()
    records = await read_topic(kafka.bootstrap_servers, topic, expect=1, kafka=kafka)
    assert [r.value for r in records] == [b"over mutual TLS"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


ALWAYS = """version: 1
rules:
  - name: any-risk
    severity: info
    scope: {all: true}
    condition: {metric: score, enter: 0, exit: 0}
"""


async def test_stream_worker_and_alerts_worker_run_end_to_end_over_tls(
    tls_broker: TlsBroker, tiny_model: tuple[str, str], tmp_path: Path, redis_url: str,
    redis_prefix: str,
) -> None:
    from alerts.store.repository import AlertStore
    from tickerpulse.alerts_worker import serve
    from tickerpulse.settings import Settings

    run = f"tls{uuid.uuid4().hex[:6]}"
    kafka = tls_broker.settings(topic_prefix=f"{run}.")
    topics = Topics(kafka.topic_prefix)
    ensure_topics(kafka, topics.all())
    env = {**pipeline_env(kafka.bootstrap_servers, redis_url, redis_prefix, run, tiny_model[0],
                          tiny_model[1], str(tmp_path / "faust"), batch=16),
           **tls_broker.env(), "TICKERPULSE_KAFKA__REBALANCE_TIMEOUT_S": "3",
           "TICKERPULSE_KAFKA__SESSION_TIMEOUT_S": "6"}
    messages = list(Feed(seed=3, run_id=run).messages(40))
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    (tmp_path / "rules.yaml").write_text(ALWAYS)
    settings = Settings(kafka=kafka, alerts={
        "database_url": f"sqlite:///{tmp_path}/alerts.db",
        "rules_path": str(tmp_path / "rules.yaml"),
        "consumer_group": f"alerts-{run}", "http_port": 0,
        "scheduler": {"enabled": False}})
    stop = asyncio.Event()
    alerts_worker = asyncio.create_task(serve(settings, stop))
    try:
        await asyncio.to_thread(worker.wait_ready, 120)
        await publish(messages, kafka)
        docs = await read_topic(kafka.bootstrap_servers, topics.docs, expect=len(messages),
                                timeout_s=120, kafka=kafka)
        assert {json.loads(r.value)["doc_id"] for r in docs} == {m.truth.doc_id for m in messages}
        risk = await read_topic(kafka.bootstrap_servers, topics.risk, expect=1, timeout_s=120,
                                kafka=kafka)
        assert risk, "the worker's risk updates went out through TLS"
        store = AlertStore(settings.alerts.database_url)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not store.list_alerts(limit=100):
                await asyncio.sleep(0.5)
            decided = {a.ticker for a in store.list_alerts(limit=100)}
        finally:
            store.close()
        assert decided, "the alerts worker consumed the risk topic through TLS"
        published = await read_topic(kafka.bootstrap_servers, topics.alerts, expect=1,
                                     timeout_s=60, kafka=kafka)
        assert {json.loads(r.value)["ticker"] for r in published} <= decided
        assert published, "the alerts worker's producer published through TLS"
    finally:
        stop.set()
        await asyncio.wait_for(alerts_worker, 30)
        assert worker.stop() == 0, worker.tail()
