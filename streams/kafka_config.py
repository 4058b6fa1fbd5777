"""The one place that turns :class:`KafkaSettings` into client keyword arguments.

Every Kafka client tickerpulse builds takes its connection and security arguments from here:

=====================  ==============================================================
faust (stream worker)  ``broker`` + ``broker_credentials`` (:func:`faust_credentials`);
                       faust hands them to its aiokafka consumer, producer and the
                       client that declares topics
aiokafka               :func:`aiokafka_kwargs` (alerts worker, feed producer, bench,
                       test readers)
kafka-python           :func:`kafka_python_kwargs` (the admin client creating topics)
=====================  ==============================================================

``security_protocol`` PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; SASL mechanisms PLAIN,
SCRAM-SHA-256 and SCRAM-SHA-512. TLS uses one :class:`ssl.SSLContext` per distinct
configuration, built once per process (certificate files are read when it is built, so a
rotated certificate takes effect on restart).
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

from streams.errors import ConfigurationError
from streams.settings import KafkaSettings


def uses_tls(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


@functools.lru_cache(maxsize=8)
def _context(
    cafile: str, certfile: str, keyfile: str, key_password: str, check_hostname: bool
) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile or None)
        context.check_hostname = check_hostname  # verification of the chain stays on
        if certfile:
            context.load_cert_chain(certfile, keyfile or None, password=key_password or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"Kafka TLS files unusable (cafile={cafile!r}, certfile={certfile!r}, "
            f"keyfile={keyfile!r}): {exc}"
        ) from None
    return context


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL / SASL_SSL (None otherwise); the same object on every call."""
    if not uses_tls(kafka):
        return None
    return _context(kafka.ssl_cafile, kafka.ssl_certfile, kafka.ssl_keyfile,
                    kafka.ssl_key_password.get_secret_value(), kafka.ssl_check_hostname)


def _security(kafka: KafkaSettings) -> dict[str, Any]:
    kw: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if uses_tls(kafka):
        kw["ssl_context"] = ssl_context(kafka)
    if uses_sasl(kafka):
        kw["sasl_mechanism"] = kafka.sasl_mechanism
        kw["sasl_plain_username"] = kafka.sasl_username
        kw["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return kw


def aiokafka_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """``bootstrap_servers`` and security arguments of an aiokafka consumer/producer/admin."""
    return {"bootstrap_servers": kafka.bootstrap_servers, **_security(kafka)}


def kafka_python_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """The same for kafka-python clients (``KafkaAdminClient``, ``KafkaProducer``...)."""
    kw = {"bootstrap_servers": kafka.bootstrap_servers, **_security(kafka)}
    if uses_tls(kafka):
        kw["ssl_check_hostname"] = kafka.ssl_check_hostname
    return kw


def faust_broker(kafka: KafkaSettings) -> list[str]:
    """faust's ``broker`` setting: one ``kafka://host:port`` URL per bootstrap server."""
    return [f"kafka://{s.strip()}" for s in kafka.bootstrap_servers.split(",") if s.strip()]


def faust_credentials(kafka: KafkaSettings) -> Any:
    """faust's ``broker_credentials`` (None for PLAINTEXT).

    faust-streaming maps these to aiokafka arguments in
    ``faust.transport.drivers.aiokafka.credentials_to_aiokafka_auth``: SSLCredentials gives
    ``security_protocol=SSL`` + ``ssl_context``; SASLCredentials gives SASL_PLAINTEXT, or
    SASL_SSL when it carries an ``ssl_context``, with the mechanism, user name and password.
    """
    import faust

    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(ssl_context(kafka))
    if uses_sasl(kafka):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
            ssl_context=ssl_context(kafka),
        )
    return None
