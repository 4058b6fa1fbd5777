"""SASL against the embedded broker's ``--authentication``, as far as it can go here.

Tansu 0.6 with ``--authentication`` offers SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (no
PLAIN) and refuses every request before authentication, including the one that creates SCRAM
users; its storage is memory-only in this build, so no user can exist and no login can
succeed. What is checked: plaintext clients are refused; clients configured through
streams/kafka_config.py open a SCRAM exchange with the configured mechanism and user name
(the broker logs both, then answers ``unknown-user``); PLAIN is refused by this broker.
A successful SASL login is configured but not tested here (see docs/kafka-security.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streams.kafka_config import aiokafka_kwargs, kafka_python_kwargs
from streams.settings import KafkaSettings
from tickerpulse.embedded import free_port, tansu_binary, wait_for_port

pytestmark = pytest.mark.integration
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class AuthBroker:
    def __init__(self, log: Path) -> None:
        self.port, self.log = free_port(), log
        url = f"tcp://127.0.0.1:{self.port}"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--authentication"],
                stdout=out, stderr=out, env={**os.environ, "RUST_LOG": "warn,tansu_auth=debug"})
        wait_for_port("127.0.0.1", self.port)

    def settings(self, mechanism: str, user: str) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=f"127.0.0.1:{self.port}",
                             security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                             sasl_username=user, sasl_password="not-a-user-yet")  # type: ignore[arg-type]

    def text(self) -> str:
        return ANSI.sub("", self.log.read_text(errors="replace"))

    def wait_logged(self, pattern: str, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthBroker]:
    broker = AuthBroker(tmp_path_factory.mktemp("sasl") / "broker.log")
    try:
        yield broker
    finally:
        broker.stop()


async def start_fails(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.start(), 15)
    except Exception:  # noqa: BLE001 - any failure to connect is the expected outcome
        return
    finally:
        await producer.stop()
    raise AssertionError("connected without a valid SASL login")


async def test_plaintext_clients_are_refused(auth_broker: AuthBroker) -> None:
    await start_fails(AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{auth_broker.port}",
                                       request_timeout_ms=3000))
    assert auth_broker.wait_logged(r"NotAuthenticated")


@pytest.mark.parametrize(("mechanism", "logged"), [("SCRAM-SHA-256", "Scram256"),
                                                    ("SCRAM-SHA-512", "Scram512")])
async def test_aiokafka_clients_open_a_scram_exchange_as_configured(
    auth_broker: AuthBroker, mechanism: str, logged: str
) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    kafka = auth_broker.settings(mechanism, user)
    await start_fails(AIOKafkaProducer(**aiokafka_kwargs(kafka), request_timeout_ms=3000))
    assert auth_broker.wait_logged(rf'auth_id="{user}" mechanism={logged}'), \
        auth_broker.text()[-2000:]


def test_kafka_python_admin_client_opens_a_scram_exchange_as_configured(
    auth_broker: AuthBroker,
) -> None:
    from kafka.admin import KafkaAdminClient  # type: ignore[import-untyped]

    user = f"u{uuid.uuid4().hex[:8]}"
    kafka = auth_broker.settings("SCRAM-SHA-512", user)
    with pytest.raises(Exception):  # noqa: B017, PT011 - unknown user: no login possible
        KafkaAdminClient(**kafka_python_kwargs(kafka), request_timeout_ms=3000,
                         bootstrap_timeout_ms=5000).close()
    assert auth_broker.wait_logged(rf'auth_id="{user}" mechanism=Scram512')


async def test_plain_is_not_offered_by_this_broker(auth_broker: AuthBroker) -> None:
    kafka = auth_broker.settings("PLAIN", f"u{uuid.uuid4().hex[:8]}")
    await start_fails(AIOKafkaProducer(**aiokafka_kwargs(kafka), request_timeout_ms=3000))
    assert auth_broker.wait_logged(r"NoSharedMechanism")
