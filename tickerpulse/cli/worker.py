"""`tickerpulse worker`: run the stream agents (ingest, score, aggregate) in one faust worker."""

from __future__ import annotations

import click


@click.command("worker")
@click.option("--agents", default=None, help="Comma-separated subset: ingest,score,aggregate.")
@click.option("--loglevel", default=None, help="Overrides log.level for this run.")
def worker(agents: str | None, loglevel: str | None) -> None:
    """Consume news.raw/social.raw, score with the model, keep per-ticker risk in Redis."""
    import faust

    from tickerpulse.logs import setup_logging
    from tickerpulse.settings import load_settings
    from tickerpulse.wiring import build_worker

    settings = load_settings()
    if loglevel:
        settings = settings.model_copy(
            update={"log": settings.log.model_copy(update={"level": loglevel.upper()})})
    setup_logging(settings)
    if agents:
        settings = settings.model_copy(
            update={"stream": settings.stream.model_copy(update={"agents": agents})}
        )
    from kafka.errors import KafkaError

    from models.api import ModelError
    from streams.errors import StreamError

    try:
        built = build_worker(settings)
    except KafkaError as exc:
        raise click.ClickException(
            f"Kafka at {settings.kafka.bootstrap_servers} is not usable: {exc}") from exc
    except (ModelError, StreamError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        # logging is set up above (format, redaction): faust must not replace it
        faust.Worker(built.app, loglevel=settings.log.level,
                     override_logging=False).execute_from_commandline()
    finally:
        built.close()
