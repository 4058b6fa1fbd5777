"""`tickerpulse services`: the broker (embedded Tansu unless told otherwise), Redis, topics."""

from __future__ import annotations

import time

import click


def check_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        raise click.ClickException(f"Redis at {_address(url)} is not reachable: {exc}") from exc
    finally:
        client.close()


def _address(url: str) -> str:
    """host:port of a URL, without credentials (never echo a password)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


@click.command("services")
@click.option("--once", is_flag=True, help="Set up and exit (external broker only).")
def services(once: bool) -> None:
    """Start the embedded broker (unless kafka.embedded=false), check Redis, create topics.

    Prints the bootstrap address, then runs until Ctrl-C.
    """
    from streams.topics import Topics, ensure_topics
    from tickerpulse.children import stop_on_sigterm
    from tickerpulse.embedded import EmbeddedBroker
    from tickerpulse.settings import load_settings

    settings = load_settings()
    check_redis(settings.redis.url)
    broker = None
    kafka = settings.kafka
    if kafka.embedded and once:
        raise click.ClickException("--once needs an external broker (kafka.embedded=false)")
    with stop_on_sigterm():
        try:
            if kafka.embedded:
                broker = EmbeddedBroker().start()
                kafka = kafka.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
            created = ensure_topics(kafka, Topics(kafka.topic_prefix).all())
            click.echo(f"topics created: {', '.join(created) or '(all existed)'}", err=True)
            click.echo(f"redis: {_address(settings.redis.url)} ok", err=True)
            click.echo(f"export TICKERPULSE_KAFKA__BOOTSTRAP_SERVERS={kafka.bootstrap_servers}",
                       err=True)
            click.echo(kafka.bootstrap_servers)
            if once:
                return
            try:
                while True:
                    time.sleep(1.0)
            except KeyboardInterrupt:
                pass
        finally:
            if broker is not None:
                broker.stop()
