"""`tickerpulse worker`: run the stream agents (ingest, score, aggregate) in one faust worker."""

from __future__ import annotations

import click


@click.command("worker")
@click.option("--agents", default=None, help="Comma-separated subset: ingest,score,aggregate.")
@click.option("--loglevel", default="info", show_default=True)
def worker(agents: str | None, loglevel: str) -> None:
    """Consume news.raw/social.raw, score with the model, keep per-ticker risk in Redis."""
    import faust

    from tickerpulse.settings import load_settings
    from tickerpulse.wiring import build_worker

    settings = load_settings()
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
        faust.Worker(built.app, loglevel=loglevel).execute_from_commandline()
    finally:
        built.close()
