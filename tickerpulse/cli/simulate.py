"""`tickerpulse simulate`: synthetic news and posts for a watchlist, with scripted events."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path

import click

from tickerpulse.cli.progress import progress


@click.command("simulate")
@click.option("--rate", default=20.0, show_default=True, help="Messages per second (0 = max).")
@click.option("--count", default=2000, show_default=True, help="Messages to send.")
@click.option("--watchlist", default="AAPL,MSFT,NVDA,AMZN,TSLA,GOOGL", show_default=True,
              help="Comma-separated tickers the feed talks about.")
@click.option("--shock", default="NVDA", show_default=True, help="Ticker of the earnings shock.")
@click.option("--rumour", default="TSLA", show_default=True, help="Ticker of the viral rumour.")
@click.option("--shock-at", default=0.4, show_default=True, help="Fraction of the run.")
@click.option("--seed", default=7, show_default=True,
              help="Random seed: the same seed sends the same feed.")
@click.option("--run-id", default="sim", show_default=True, help="Prefix of message ids.")
@click.option("--truth", type=click.Path(path_type=Path), default=None,
              help="Write the ground truth (JSON lines) here.")
def simulate(rate: float, count: int, watchlist: str, shock: str, rumour: str,
             shock_at: float, seed: int, run_id: str, truth: Path | None) -> None:
    """Produce a realistic feed onto news.raw and social.raw."""
    from streams.feed import Feed
    from streams.producer import publish
    from tickerpulse.settings import load_settings

    settings = load_settings()
    feed = Feed(watchlist=tuple(t.strip().upper() for t in watchlist.split(",") if t.strip()),
                shock=shock or None, rumour=rumour or None, shock_at=shock_at, seed=seed,
                run_id=run_id)
    truths: list[str] = []

    def recorded():  # type: ignore[no-untyped-def]  # generated as sent: fresh timestamps
        for message in progress(feed.messages(count), "simulate", count, "msg"):
            truths.append(json.dumps(asdict(message.truth)) + "\n")
            yield message

    sent = asyncio.run(publish(recorded(), settings.kafka, rate or None))
    if truth:
        truth.write_text("".join(truths), encoding="utf-8")
    click.echo(f"sent {sent} messages to {settings.kafka.bootstrap_servers}")
