"""`tickerpulse bench replay`: a replay's docs/s beside the engine's own rate on the same texts.

One run: a simulated feed (a day of event times) is produced to fresh raw topics; the engine
alone scores its texts (the ceiling: same model, same engine settings); then `replay` re-scores
the topics end to end (read, ingest and novelty, score, Redis risk commits, produce to the
shadow topics) and its docs/s is set beside the engine's. The shadow keys are deleted after.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from tickerpulse.cli.bench_pipeline import _delete_keys, engine_rate, feed_texts
from tickerpulse.settings import load_settings


def day_feed(count: int, run: str) -> list:  # type: ignore[type-arg]
    from streams.feed import Feed

    start = datetime.now(UTC) - timedelta(hours=23)
    ticks = iter(range(count))
    step = timedelta(hours=23) / count
    return list(Feed(seed=4, run_id=run, shock_at=0.5).messages(
        count, clock=lambda: start + next(ticks) * step))


@click.command("replay")
@click.option("--count", default=3000, show_default=True, help="Messages replayed.")
@click.option("--model", "model_path", default=None,
              help="Model directory [default: model.path, else the built default model].")
@click.option("--batch", default=512, show_default=True, help="Replay batch (raw records).")
@click.option("--json", "as_json", is_flag=True, help="Last line: one JSON object.")
def replay(count: int, model_path: str | None, batch: int, as_json: bool) -> None:
    """Replay docs/s through broker, stages and Redis beside the engine alone."""
    from models.store import serving_path
    from streams.producer import publish
    from streams.replay import ReplayRequest
    from streams.shadow import Shadow
    from streams.topics import Topics, ensure_topics
    from tickerpulse.cli.replay import replay_with
    from tickerpulse.embedded import EmbeddedBroker

    settings = load_settings()
    model_dir = str(Path(serving_path(model_path or settings.model.path,
                                      settings.model.cache_dir)).resolve())
    settings = settings.model_copy(
        update={"model": settings.model.model_copy(update={"path": model_dir})})
    run = f"benchr{uuid.uuid4().hex[:8]}"
    messages = day_feed(count, run)
    texts, hints = feed_texts(messages)
    eng = engine_rate(settings, texts, hints)
    click.echo(f"engine alone: {eng:,.1f} texts/s on {len(texts)} texts", err=True)

    broker = EmbeddedBroker().start() if settings.kafka.embedded else None
    bootstrap = broker.bootstrap_servers if broker else settings.kafka.bootstrap_servers
    kafka = settings.kafka.model_copy(
        update={"bootstrap_servers": bootstrap, "topic_prefix": f"{run}."})
    live_keys = f"{settings.redis.key_prefix}{run}:"
    settings = settings.model_copy(update={
        "kafka": kafka, "redis": settings.redis.model_copy(update={"key_prefix": live_keys})})
    shadow = Shadow("bench", kafka.topic_prefix, live_keys)
    try:
        ensure_topics(kafka, Topics(kafka.topic_prefix).all())
        asyncio.run(publish(messages, kafka))
        summary = asyncio.run(replay_with(settings, ReplayRequest(shadow, model_dir,
                                                                  batch=batch)))
    finally:
        _delete_keys(settings.redis, shadow.key_prefix)
        if broker:
            broker.stop()
    counts = summary.to_json()
    rate = counts["docs_per_s"]
    result = {"engine_texts_per_s": round(eng, 1), "replay_docs_per_s": rate,
              "replay_over_engine": round(rate / eng, 3), "documents": counts["documents"],
              "mentions": counts["mentions"], "risk_updates": counts["risk_updates"],
              "seconds": counts["seconds"], "batch": batch, "model": model_dir}
    rows = [("engine alone (same model, same texts)", f"{eng:,.1f} texts/s", "ceiling"),
            ("replay: read, ingest, score, Redis, produce", f"{rate:,.1f} docs/s",
             f"{rate / eng:.0%} of engine"),
            ("documents / mentions / risk updates",
             f"{counts['documents']} / {counts['mentions']} / {counts['risk_updates']}", "")]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        click.echo(f"{name:<{width}}  {value:>18}  {note}")
    if as_json:
        click.echo(json.dumps(result))
