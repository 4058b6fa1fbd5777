"""`tickerpulse replay`: re-score a range of the raw topics with another model into a shadow
namespace (`run`, also the group's own form), compare it with live (`report`), and switch the
live workers to it (`promote`). See docs/replay.md."""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from tickerpulse.settings import Settings

KINDS = ("news", "social", "filing")


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: not an ISO 8601 time") from exc


def _shadow(settings: Settings, name: str) -> Any:
    from streams.errors import ConfigurationError
    from streams.shadow import Shadow

    try:
        return Shadow(name, settings.kafka.topic_prefix, settings.redis.key_prefix)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from exc


_RUN_OPTIONS = [
    click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False),
                 help="The model directory to re-score with."),
    click.option("--name", help="Shadow name: 1-32 of a-z, 0-9, '-'."),
    click.option("--kinds", default=",".join(KINDS), show_default=True,
                 help="Comma-separated input kinds to replay."),
    click.option("--from", "from_", default=None, help="Event time from (ISO 8601, inclusive)."),
    click.option("--to", default=None, help="Event time to (ISO 8601, exclusive)."),
    click.option("--offsets", multiple=True,
                 help="TOPIC:PARTITION:START-END (END exclusive or empty); repeatable."),
    click.option("--batch", default=512, show_default=True, type=click.IntRange(1, 100_000),
                 help="Raw records per batch (the engine splits it under its token budget)."),
]


def _run_options(f: Any) -> Any:
    for option in reversed(_RUN_OPTIONS):
        f = option(f)
    return f


@click.group("replay", invoke_without_command=True)
@_run_options
@click.pass_context
def replay(ctx: click.Context, **kw: Any) -> None:
    """Replay / backfill into a shadow namespace (`replay run`), `report`, `promote`."""
    if ctx.invoked_subcommand is None:
        if not kw["model_dir"] or not kw["name"]:
            raise click.UsageError("give --model DIR and --name NAME (or a subcommand)")
        _run(**kw)


@replay.command("run")
@_run_options
def run_command(**kw: Any) -> None:
    """Re-score the range with --model into shadow namespace --name."""
    if not kw["model_dir"] or not kw["name"]:
        raise click.UsageError("give --model DIR and --name NAME")
    _run(**kw)


def _run(model_dir: str, name: str, kinds: str, from_: str | None, to: str | None,
         offsets: tuple[str, ...], batch: int) -> None:
    from streams.errors import ConfigurationError
    from streams.replay import ReplayRequest
    from streams.replay_source import TimeRange, parse_offset_range
    from tickerpulse.settings import load_settings

    settings = load_settings()
    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    if not chosen or set(chosen) - set(KINDS):
        raise click.BadParameter(f"choose among {', '.join(KINDS)}", param_hint="--kinds")
    try:
        request = ReplayRequest(
            _shadow(settings, name), str(Path(model_dir).resolve()), chosen,  # type: ignore[arg-type]
            tuple(parse_offset_range(o) for o in offsets), TimeRange(_when(from_), _when(to)),
            batch)
        summary = asyncio.run(replay_with(settings, request))
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    counts = summary.to_json()
    click.echo(f"replay {name}: {counts['documents']} documents ({counts['raw_read']} raw read, "
               f"{counts['raw_in_range']} in range), {counts['mentions']} mentions, "
               f"{counts['risk_updates']} risk updates, {counts['dead_letters']} dead letters "
               f"in {counts['seconds']:.1f} s: {counts['docs_per_s']:.1f} docs/s")
    click.echo(f"shadow topics {request.shadow.topic_prefix}*, keys {request.shadow.key_prefix}*")


async def replay_with(settings: Settings, request: Any) -> Any:
    """Run one replay on these settings: the engine of `request.model_dir` (as the worker
    loads one), Redis, a progress bar; the summary."""
    from tqdm.auto import tqdm

    from models.api import load_engine
    from models.linking import TickerLinker
    from streams.replay import run_replay
    from streams.store import check_server, connect
    from streams.store.model_pointer import ModelPointerStore

    check_server(settings.redis)
    redis = connect(settings.redis)
    linker = TickerLinker.default(settings.stream.ticker_universe_file or None)
    model = settings.model.model_copy(update={"path": request.model_dir})
    engine = await asyncio.to_thread(load_engine, model, settings.engine, linker)
    engine.start()
    bar = tqdm(desc=f"replay {request.shadow.name}", unit="doc", disable=None, leave=False)
    try:
        pointer = await ModelPointerStore(redis, request.shadow.live_keys).read()
        from dataclasses import replace

        request = replace(request, live_model_version=pointer.version if pointer else "")

        def planned(n: int) -> None:
            bar.total = n
            bar.refresh()

        def progress(raw: int, docs: int) -> None:
            bar.n = docs
            bar.refresh()

        return await run_replay(request, engine, redis, settings.kafka, settings.stream,
                                settings.novelty, settings.risk, planned, progress)
    finally:
        bar.close()
        engine.close()
        await redis.close()


@replay.command("report")
@click.option("--name", required=True, help="The shadow name of the replay.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Where report.json and report.png go [default: replay-NAME].")
def report_command(name: str, out_dir: str | None) -> None:
    """Compare the shadow with live per ticker: table, report.json, report.png."""
    from tickerpulse.settings import load_settings

    settings = load_settings()
    shadow = _shadow(settings, name)
    out = Path(out_dir or f"replay-{name}")
    out.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(_report(settings, shadow))
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    from tickerpulse.replay_plot import plot_report

    plot_report(report, out / "report.png")
    click.echo(_table(report))
    click.echo(f"\n{len(report['flipped'])} (document, ticker) sentiment flips; alerts: "
               + (", ".join(f"{a['rule']} {a['ticker']} {a['fired']}" for a in report["alerts"])
                  or "none on either side"))
    click.echo(f"wrote {out / 'report.json'} and {out / 'report.png'}")


async def _report(settings: Settings, shadow: Any) -> dict[str, Any]:
    from alerts.rules import load_rules
    from alerts.whatif import compare_fired, fired
    from streams.contracts import RiskUpdate, ScoredMention
    from streams.replay_report import compare, restrict_updates
    from streams.replay_source import read_topic_records
    from streams.store import connect
    from streams.store.replay_manifest import ReplayManifestStore

    redis = connect(settings.redis)
    try:
        manifest = await ReplayManifestStore(redis, shadow.keys).read()
    finally:
        await redis.close()
    if manifest is None:
        raise click.ClickException(f"no replay named {shadow.name!r} (no manifest at "
                                   f"{shadow.keys.replay_manifest})")
    kafka, live, mine = settings.kafka, shadow.live_topics, shadow.topics

    async def records(topic: str, model: Any) -> list[Any]:
        return [model.model_validate_json(r.value)
                for r in await read_topic_records(kafka, topic) if r.value]

    shadow_scored = await records(mine.scored, ScoredMention)
    live_scored = await records(live.scored, ScoredMention)
    docs = {m.doc_id for m in shadow_scored}
    live_risk = restrict_updates(await records(live.risk, RiskUpdate), docs)
    shadow_risk = restrict_updates(await records(mine.risk, RiskUpdate), docs)
    out = compare(live_scored, shadow_scored, live_risk, shadow_risk, settings.risk)
    rules = load_rules(settings.alerts.rules_path)
    out["alerts"] = compare_fired(fired(rules, live_risk), fired(rules, shadow_risk))
    out["manifest"] = manifest
    return out


def _num(v: float | None, fmt: str = "+.3f") -> str:
    return "-" if v is None else format(v, fmt)


def _table(report: dict[str, Any]) -> str:
    head = (f"{'ticker':<8} {'n live':>6} {'n shad':>6} {'sent live':>9} {'sent shad':>9} "
            f"{'Δ sent':>7} {'risk live':>9} {'risk shad':>9} {'Δ risk':>8}")
    lines = [head, "-" * len(head)]
    for r in report["tickers"]:
        lines.append(
            f"{r['ticker']:<8} {r['mentions_live']:>6} {r['mentions_shadow']:>6} "
            f"{_num(r['mean_sentiment_live']):>9} {_num(r['mean_sentiment_shadow']):>9} "
            f"{_num(r['mean_sentiment_delta']):>7} {r['final_score_live']:>9.2f} "
            f"{r['final_score_shadow']:>9.2f} {r['final_score_delta']:>+8.2f}")
    return "\n".join(lines)


@replay.command("promote")
@click.option("--name", default=None, help="Promote the model of this replay.")
@click.option("--model", "model_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Or promote this model directory.")
@click.option("--who", default=None, help="Who promotes [default: user@host].")
def promote_command(name: str | None, model_dir: str | None, who: str | None) -> None:
    """Switch the live workers to a model (they follow the pointer within
    stream.model_check_s); scores already made keep their model version."""
    from tickerpulse.settings import load_settings

    if (name is None) == (model_dir is None):
        raise click.UsageError("give exactly one of --name and --model")
    settings = load_settings()
    pointer = asyncio.run(_promote(settings, name, model_dir, who))
    click.echo(f"promoted {pointer.version} ({pointer.path}); live workers switch within "
               f"{settings.stream.model_check_s:g} s")


async def _promote(settings: Settings, name: str | None, model_dir: str | None,
                   who: str | None) -> Any:
    from models.store import load_model
    from streams.store import RedisKeys, connect
    from streams.store.model_pointer import ModelPointer, ModelPointerStore
    from streams.store.replay_manifest import ReplayManifestStore

    redis = connect(settings.redis)
    try:
        if name is not None:
            shadow = _shadow(settings, name)
            manifest = await ReplayManifestStore(redis, shadow.keys).read()
            if manifest is None:
                raise click.ClickException(f"no replay named {name!r}")
            model_dir = str(manifest["model_dir"])
        path = str(Path(str(model_dir)).resolve())
        try:  # it must load here before any worker is pointed at it
            loaded = await asyncio.to_thread(load_model, path, settings.engine.max_length)
        except Exception as exc:  # noqa: BLE001 - reported, nothing promoted
            raise click.ClickException(f"{path} does not load: {exc}") from exc
        pointer = ModelPointer(path, loaded.version, datetime.now(UTC).isoformat(),
                               who or f"{getpass.getuser()}@{socket.gethostname()}", name or "")
        await ModelPointerStore(redis, RedisKeys(settings.redis.key_prefix)).promote(pointer)
        return pointer
    finally:
        await redis.close()
