"""KafkaSettings -> client arguments for faust, aiokafka and kafka-python, every protocol and
mechanism; the real clients accept what the mapping gives them (constructed, not started)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from streams.app import faust_settings
from streams.errors import ConfigurationError
from streams.kafka_config import (
    aiokafka_kwargs,
    faust_broker,
    faust_credentials,
    kafka_python_kwargs,
    ssl_context,
)
from streams.settings import KafkaSettings, StreamSettings

PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CA and a client certificate/key made with the openssl CLI."""
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
        "-subj", "/CN=client")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "client.pem", "-days", "2")
    return {n: str(d / f) for n, f in
            (("ca", "ca.pem"), ("cert", "client.pem"), ("key", "client.key"))}


def settings(protocol: str, mechanism: str = "SCRAM-SHA-512", **kw: object) -> KafkaSettings:
    base: dict[str, object] = {"bootstrap_servers": "k1:9093, k2:9093",
                               "security_protocol": protocol}
    if protocol.startswith("SASL_"):
        base |= {"sasl_mechanism": mechanism, "sasl_username": "svc",
                 "sasl_password": "pw-123"}
    return KafkaSettings.model_validate(base | kw)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_every_protocol_and_mechanism_maps_to_all_three_clients(
    protocol: str, mechanism: str
) -> None:
    kafka = settings(protocol, mechanism)
    tls, sasl = protocol in ("SSL", "SASL_SSL"), protocol.startswith("SASL_")
    aio, kp = aiokafka_kwargs(kafka), kafka_python_kwargs(kafka)
    for kw in (aio, kp):
        assert kw["bootstrap_servers"] == "k1:9093, k2:9093"
        assert kw["security_protocol"] == protocol
        assert isinstance(kw.get("ssl_context"), ssl.SSLContext) == tls
        if sasl:
            assert (kw["sasl_mechanism"], kw["sasl_plain_username"],
                    kw["sasl_plain_password"]) == (mechanism, "svc", "pw-123")
        else:
            assert "sasl_mechanism" not in kw and "sasl_plain_password" not in kw
    assert ("ssl_check_hostname" in kp) == tls and "ssl_check_hostname" not in aio

    # faust: what its aiokafka driver derives from broker_credentials equals our mapping
    conf = faust_settings(kafka, StreamSettings())
    assert conf["broker"] == ["kafka://k1:9093", "kafka://k2:9093"] == faust_broker(kafka)
    derived = credentials_to_aiokafka_auth(conf["broker_credentials"], None)
    assert {k: v for k, v in derived.items() if v is not None} == {
        k: v for k, v in aio.items() if k != "bootstrap_servers"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_real_clients_accept_the_arguments(protocol: str) -> None:
    kafka = settings(protocol)
    consumer = AIOKafkaConsumer(**aiokafka_kwargs(kafka), group_id="g")
    producer = AIOKafkaProducer(**aiokafka_kwargs(kafka))
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(kafka))
    assert consumer._client._security_protocol == protocol  # noqa: SLF001
    assert producer.client._security_protocol == protocol  # noqa: SLF001
    assert admin._client._security_protocol == protocol  # noqa: SLF001
    await consumer.stop()
    await producer.stop()
    await admin.close()
    app = faust.App("tp-map-test", **faust_settings(kafka, StreamSettings(web_port=0)))
    if protocol == "PLAINTEXT":
        assert app.conf.broker_credentials is None
    else:
        assert credentials_to_aiokafka_auth(app.conf.broker_credentials, None)[
            "security_protocol"] == protocol


def test_faust_credentials_types() -> None:
    assert faust_credentials(settings("PLAINTEXT")) is None
    assert isinstance(faust_credentials(settings("SSL")), faust.SSLCredentials)
    sasl = faust_credentials(settings("SASL_PLAINTEXT", "SCRAM-SHA-256"))
    assert isinstance(sasl, faust.SASLCredentials) and sasl.ssl_context is None
    assert "pw-123" not in repr(sasl)
    sasl_ssl = faust_credentials(settings("SASL_SSL", "PLAIN"))
    assert sasl_ssl.protocol.value == "SASL_SSL" and sasl_ssl.ssl_context is not None


def test_ssl_context_is_built_once_and_loads_ca_and_client_cert(pki: dict[str, str]) -> None:
    kafka = settings("SSL", ssl_cafile=pki["ca"], ssl_certfile=pki["cert"],
                     ssl_keyfile=pki["key"])
    ctx = ssl_context(kafka)
    assert ctx is not None and ctx is ssl_context(kafka.model_copy())
    assert aiokafka_kwargs(kafka)["ssl_context"] is ctx is kafka_python_kwargs(kafka)["ssl_context"]
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert any(c["subject"] == ((("commonName", "test CA"),),) for c in ctx.get_ca_certs())
    relaxed = ssl_context(kafka.model_copy(update={"ssl_check_hostname": False}))
    assert relaxed is not ctx and relaxed is not None
    assert not relaxed.check_hostname and relaxed.verify_mode == ssl.CERT_REQUIRED


def test_unreadable_tls_files_fail_with_a_clear_error(tmp_path: Path, pki: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="cafile="):
        ssl_context(settings("SSL", ssl_cafile=str(tmp_path / "missing.pem")))
    with pytest.raises(ConfigurationError, match="certfile="):
        ssl_context(settings("SSL", ssl_cafile=pki["ca"], ssl_certfile=pki["ca"]))  # no key


@pytest.mark.parametrize(("kw", "message"), [
    ({"security_protocol": "SASL_SSL"}, "needs sasl_username and sasl_password"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u"}, "needs sasl_username"),
    ({"sasl_username": "u", "sasl_password": "p"}, "use SASL_PLAINTEXT or SASL_SSL"),
    ({"ssl_cafile": "/ca.pem"}, "use SSL or SASL_SSL"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": "p",
      "ssl_cafile": "/ca.pem"}, "use SSL or SASL_SSL"),
    ({"security_protocol": "SSL", "ssl_keyfile": "/k.pem"}, "needs ssl_certfile"),
    ({"security_protocol": "TLS"}, "security_protocol"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
])
def test_inconsistent_security_settings_are_refused(kw: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        KafkaSettings.model_validate(kw)
    assert "'p'" not in str(info.value)  # the rejected input (a password) is not echoed
