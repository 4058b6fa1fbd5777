"""`tickerpulse model`: train, build the default, evaluate, predict."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from tickerpulse.cli.options import BACKEND, BACKEND_HELP
from tickerpulse.cli.progress import ProgressEngine
from tickerpulse.cli.review import review
from tickerpulse.settings import load_settings


def _emit_json(obj: dict) -> None:
    click.echo(json.dumps(obj, sort_keys=True))


def _engine(model: str | None, backend: str | None, with_linking: bool = True):  # noqa: ANN202
    from models.loader import load_engine

    settings = load_settings()
    model_settings = settings.model.model_copy(update={"path": model or settings.model.path})
    engine_settings = settings.engine.model_copy(
        update={"backend": backend or settings.engine.backend, "max_wait_ms": 0.0}
    )
    engine = load_engine(model_settings, engine_settings)
    if not with_linking:
        engine._linker = None  # noqa: SLF001 - evaluation does not need ticker links
    return engine


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


@click.group()
def model() -> None:
    """Train, build, evaluate and try the sentiment + entity model."""


@model.command()
@click.option("--output", type=click.Path(path_type=Path), required=True,
              help="Directory the trained model is written to.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Folder of labelled training data, CSV and CoNLL [default: model.data_dir].")
@click.option("--base", default=None, help="Base checkpoint (path, package or hub name).")
@click.option("--epochs", default=3, show_default=True, help="Passes over the training data.")
@click.option("--lr", default=2e-5, show_default=True, help="Learning rate (AdamW).")
@click.option("--head-lr", default=None, type=float,
              help="Learning rate of the output heads [default: --lr].")
@click.option("--batch-size", default=16, show_default=True, help="Examples per training step.")
@click.option("--max-length", default=64, show_default=True,
              help="Tokens per text; longer texts are truncated.")
@click.option("--warmup", default=0.06, show_default=True,
              help="Share of the steps over which the learning rate ramps up.")
@click.option("--patience", default=2, show_default=True,
              help="Stop after this many validations without improvement.")
@click.option("--entity-repeat", default=1, show_default=True,
              help="Show each entity-labelled (NER) example this many times per pass.")
@click.option("--eval-every", default=None, type=int,
              help="Validate every N steps [default: once per pass].")
@click.option(
    "--steps", default=None, type=int, help="Optimizer steps (default: --epochs passes)."
)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda.")
@click.option("--bf16/--no-bf16", default=False, help="bfloat16 autocast (GPU, AVX512-BF16).")
@click.option(
    "--name-feature/--no-name-feature",
    "gazetteer",
    default=False,
    help="Give the model a 'known company name' bit per word (off: it lowered ORG F1).",
)
@click.option("--seed", default=None, type=int,
              help="Random seed for data splits and training [default: model.seed].")
@click.option("--log-dir", type=click.Path(path_type=Path), default=None,
              help="TensorBoard log folder [default: OUTPUT/tensorboard].")
@click.option("--from", "parent", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None, help="Continual fine-tuning: start from this tickerpulse model "
              "directory (encoder and heads) instead of fresh heads; needs --add.")
@click.option("--add", "added", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              multiple=True, help="With --from: a labelled CSV to add (repeatable): `text,label` "
              "or `text,entity,label` by header, e.g. a review export.")
@click.option("--replay-ratio", default=4.0, show_default=True,
              help="With --from: original training rows mixed in per added row (rehearsal).")
@click.option("--add-repeat", default=1, show_default=True,
              help="With --from: show each added row this many times (oversampling).")
@click.option("--lora/--no-lora", default=False, show_default=True,
              help="With --from: train LoRA adapters (peft) on attention query/value and the "
              "heads in full; writes a small adapter directory that names its parent.")
@click.option("--lora-r", default=8, show_default=True, help="LoRA rank.")
@click.option("--lora-alpha", default=None, type=int, help="LoRA alpha [default: 2 x rank].")
@click.option("--lora-dropout", default=0.05, show_default=True, help="LoRA dropout.")
@click.option("--max-drop", default=0.02, show_default=True,
              help="With --from: refuse the new model when any held-out metric of the parent's "
              "card drops by more than this (absolute).")
@click.option("--force", is_flag=True,
              help="With --from: write the model even when the guard fails (the card says so).")
@click.pass_context
def train(
    ctx: click.Context,
    output: Path,
    data_dir: Path | None,
    base: str | None,
    seed: int | None,
    log_dir: Path | None,
    parent: Path | None,
    added: tuple[Path, ...],
    **recipe: object,
) -> None:
    """Fine-tune a sentiment + entity model on labelled data (3 passes, AdamW, learning rate
    2e-5, batch 16 unless told otherwise).

    With --from DIR --add FILE: continual fine-tuning of an existing model on added rows mixed
    with replayed original data (2 passes over the mix, lr 2e-5, LoRA 3e-4, heads 1e-4, the
    parent's tokenizer and max length, unless told otherwise); the guard writes nothing
    (exit 3) when a held-out metric drops by more than --max-drop."""
    finetune_keys = ("replay_ratio", "add_repeat", "lora", "lora_r", "lora_alpha",
                     "lora_dropout", "max_drop", "force")
    finetune_options = {k: recipe.pop(k) for k in finetune_keys}
    if parent is not None:
        from tickerpulse.cli.finetune import run_finetune

        shared = ("epochs", "lr", "head_lr", "batch_size", "warmup", "steps", "device", "bf16")
        given = {k: recipe[k] for k in shared
                 if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}
        run_finetune(parent, output, added, data_dir, seed, {**finetune_options, **given})
        return
    if added:
        raise click.UsageError("--add needs --from DIR (the model to fine-tune)")
    from models.data import load_corpus
    from models.errors import ModelError
    from models.train import TrainConfig
    from models.train import train as run_training

    settings = load_settings().model
    try:
        corpus = load_corpus(data_dir or settings.data_dir, seed or settings.seed)
        cfg = TrainConfig(
            base=base or settings.base_checkpoint,
            output=output,
            seed=seed or settings.seed,
            log_dir=log_dir or output / "tensorboard",
            **recipe,  # type: ignore[arg-type]
        )
        result = run_training(cfg, corpus)
    except ModelError as exc:
        _fail(exc)
    click.echo(f"saved {result.directory} (version {result.card['version']})")
    _emit_json(
        {
            "version": result.card["version"],
            "path": str(result.directory),
            "validation": result.card["validation_metrics"],
            "training_seconds": result.card["training_seconds"],
        }
    )


@model.command("build-default")
@click.option("--if-missing", is_flag=True, help="Do nothing when a current default model exists.")
@click.option(
    "--recipe",
    type=click.Choice(["default", "full"]),
    default="default",
    show_default=True,
    help="default: a fixed 3,600 steps, under 20 minutes on 2 CPU cores; full: 8 passes over "
    "the data, for a GPU or a big machine.",
)
def build_default_cmd(if_missing: bool, recipe: str) -> None:
    """Train the default model from the data folder (`model.data_dir`) and cache it."""
    from models.default import build_default
    from models.store import default_model_dir, is_current_model

    settings = load_settings().model
    target = default_model_dir(settings.cache_dir)
    if if_missing and is_current_model(target):
        click.echo(f"default model present: {target}")
        return
    started = time.monotonic()
    path, card = build_default(settings, recipe=recipe, echo=click.echo)
    click.echo(f"built {path} (version {card['version']}) in {time.monotonic() - started:.0f} s")
    _emit_json(
        {
            "version": card["version"],
            "path": str(path),
            "build_seconds": card["build_seconds"],
            "validation": card["validation_metrics"],
        }
    )


@model.command("profile")
@click.option("--model", "model_path", default=None,
              help="Model directory (default: model.path); its card gets the profile.")
@click.option("--limit", default=None, type=int,
              help="At most this many validation texts per source (default: all).")
def profile_cmd(model_path: str | None, limit: int | None) -> None:
    """Store the model's reference profile (labels, confidence, unlinked and unknown-token
    shares on its validation texts) in its card: the baseline of feed drift."""
    from models.profile import profile, store_profile, validation_texts

    settings = load_settings().model
    texts = {s: t[:limit] for s, t in validation_texts(settings.data_dir, settings.seed).items()}
    total = sum(len(t) for t in texts.values())
    with _engine(model_path, None) as engine, ProgressEngine(engine, "profiling", total) as bar:
        reference = profile(bar, texts)
        directory = Path(engine._loaded.path)  # noqa: SLF001 - the directory the engine loaded
    store_profile(directory, reference)
    for source, stats in reference["sources"].items():
        shares = ", ".join(f"{k} {v:.2f}" for k, v in stats["label_shares"].items())
        click.echo(f"{source}: {stats['n']} texts; {shares}; no ticker "
                   f"{stats['no_ticker_share']:.2f}; unknown tokens "
                   f"{stats['unknown_token_share']:.4f}")
    click.echo(f"reference profile stored in {directory}")


@model.command("eval")
@click.option("--data", "data", type=click.Path(path_type=Path), required=True,
              help="CSV whose header names `text` and `label` (negative, neutral, positive).")
@click.option("--model", "model_path", default=None,
              help="Model directory [default: model.path, else the built default model].")
@click.option("--plots", type=click.Path(path_type=Path), default=None,
              help="Also write confusion.png and roc.png into this folder.")
@click.option("--backend", type=BACKEND, default=None, help=BACKEND_HELP)
@click.option("--json", "as_json", is_flag=True, help="Last line: one JSON object.")
def eval_cmd(
    data: Path, model_path: str | None, plots: Path | None, backend: str | None, as_json: bool
) -> None:
    """Sentiment accuracy, macro-F1, per-class P/R/F1 and confusion on a `text,label` CSV."""
    from models.data import load_csv
    from models.errors import ModelError
    from models.evaluate import sentiment_eval

    try:
        rows = load_csv(data)
        with (_engine(model_path, backend, with_linking=False) as engine,
              ProgressEngine(engine, "eval", len(rows)) as tracked):
            report, probs = sentiment_eval(tracked, rows)  # type: ignore[arg-type]
            report["model_version"] = engine.model_version
            report["backend"] = engine.backend
    except ModelError as exc:
        _fail(exc)
    report["data"] = str(data)
    if plots is not None:
        from models.plots import confusion_png, roc_png

        plots.mkdir(parents=True, exist_ok=True)
        confusion_png(report["confusion"], plots / "confusion.png", data.name)
        report["roc_auc"] = roc_png([r.label for r in rows], probs, plots / "roc.png", data.name)
        report["plots"] = [str(plots / "confusion.png"), str(plots / "roc.png")]
    _print_sentiment(report)
    if as_json:
        _emit_json(report)


def _print_sentiment(report: dict) -> None:
    click.echo(
        f"n={report['n']} accuracy={report['accuracy']:.4f} "
        f"macro_f1={report['macro_f1']:.4f}  ({report['model_version']})"
    )
    click.echo(f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for label, m in report["per_class"].items():
        click.echo(
            f"{label:<10}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}"
            f"{m['support']:>9}"
        )
    click.echo("confusion (rows gold, columns predicted: " + ", ".join(report["labels"]) + ")")
    for row in report["confusion"]:
        click.echo("  " + " ".join(f"{v:>6}" for v in row))


@model.command("eval-entities")
@click.option("--data", "data", type=click.Path(path_type=Path), required=True,
              help="CoNLL file: one `word tag` per line (BIO tags), a blank line between "
                   "sentences.")
@click.option("--model", "model_path", default=None,
              help="Model directory [default: model.path, else the built default model].")
@click.option("--backend", type=BACKEND, default=None, help=BACKEND_HELP)
@click.option("--json", "as_json", is_flag=True, help="Last line: one JSON object.")
def eval_entities_cmd(
    data: Path, model_path: str | None, backend: str | None, as_json: bool
) -> None:
    """Exact-span entity precision/recall/F1, overall and per type, on a CoNLL BIO file."""
    from models.data import load_conll
    from models.errors import ModelError
    from models.evaluate import entity_eval

    try:
        rows = load_conll(data)
        with (_engine(model_path, backend, with_linking=False) as engine,
              ProgressEngine(engine, "eval-entities", len(rows)) as tracked):
            report = entity_eval(tracked, rows)  # type: ignore[arg-type]
            report["model_version"] = engine.model_version
    except ModelError as exc:
        _fail(exc)
    report["data"] = str(data)
    click.echo(
        f"sentences={report['n']} precision={report['precision']:.4f} "
        f"recall={report['recall']:.4f} f1={report['f1']:.4f}"
    )
    for kind, m in report["per_type"].items():
        click.echo(
            f"  {kind:<4} P {m['precision']:.4f} R {m['recall']:.4f} F1 {m['f1']:.4f} "
            f"(gold {m['gold']}, predicted {m['predicted']})"
        )
    if as_json:
        _emit_json(report)


@model.command("eval-targets")
@click.option(
    "--data", "data", type=click.Path(path_type=Path), required=True,
    help="CSV whose header names text, entity and label (one row per text x entity).",
)
@click.option("--model", "model_path", default=None,
              help="Model directory [default: model.path, else the built default model].")
@click.option("--backend", type=BACKEND, default=None, help=BACKEND_HELP)
@click.option("--json", "as_json", is_flag=True, help="Last line: one JSON object.")
def eval_targets_cmd(
    data: Path, model_path: str | None, backend: str | None, as_json: bool
) -> None:
    """Entity-level sentiment: accuracy, macro-F1, per class, confusion, `found` and
    `mixed_accuracy`, beside the document-level baseline on the same rows.

    Each row's entity is located in its text by a case-insensitive string match, else by the
    model's own entity span sharing a word with it; a row whose entity is not located gets
    the document's sentiment and counts against `found`."""
    from models.data import load_target_csv
    from models.errors import ModelError
    from models.evaluate import target_rows_eval

    try:
        rows = load_target_csv(data)
        with _engine(model_path, backend, with_linking=False) as engine:
            report = target_rows_eval(engine, rows, progress=not as_json)
            report["model_version"] = engine.model_version
            report["backend"] = engine.backend
    except ModelError as exc:
        _fail(exc)
    report["data"] = str(data)
    base = report["document_baseline"]
    click.echo(f"{'':<22}{'entity head':>12}{'document':>10}")
    for key in ("accuracy", "macro_f1", "mixed_accuracy"):
        click.echo(f"{key:<22}{report[key]:>12.4f}{base[key]:>10.4f}")
    click.echo(
        f"n={report['n']} (mixed texts' rows {report['mixed_n']}), entity located "
        f"{report['found']:.1%} ({report['found_by_string']:.1%} by string)  "
        f"({report['model_version']})"
    )
    _print_sentiment(report)
    if as_json:
        _emit_json(report)


@model.command()
@click.argument("text")
@click.option("--model", "model_path", default=None,
              help="Model directory [default: model.path, else the built default model].")
@click.option("--hint", "hints", multiple=True,
              help="A ticker the text is known to be about, as a producer would send it "
                   "(repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def predict(text: str, model_path: str | None, hints: tuple[str, ...], as_json: bool) -> None:
    """Sentiment with probabilities, entities and linked tickers of one text."""
    from dataclasses import asdict

    from models.errors import ModelError

    try:
        with _engine(model_path, None) as engine:
            pred = engine.predict_sync([text], [list(hints)])[0]
    except ModelError as exc:
        _fail(exc)
    if as_json:
        _emit_json(asdict(pred))
        return
    click.echo(f"document: {_sentiment(pred.sentiment, pred.probabilities)}")
    for ent in pred.entities:  # each with what the text says about it
        own = f" {ent.sentiment.label}" if ent.sentiment else ""
        click.echo(
            f"entity: {ent.label} {ent.text!r}{own} [{ent.start}:{ent.end}] {ent.score:.2f}"
        )
    for link in pred.tickers:  # its own sentiment beside the document's
        own = link.sentiment
        said = (f"{_sentiment(own.label, own.probabilities)} from {own.source}" if own
                else "the document's")
        click.echo(
            f"ticker: {link.ticker} {said}; via {link.method} {link.text!r} confidence "
            f"{link.confidence:.2f}, relevance {link.relevance:.2f} ({link.relevance_kind})"
        )
    click.echo(f"model: {pred.model_version}", file=sys.stderr)


def _sentiment(label: str, probabilities: dict[str, float]) -> str:
    return f"{label} ({', '.join(f'{k} {v:.3f}' for k, v in probabilities.items())})"


@model.command("eval-linking")
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="CSV `text,tickers` (the gold tickers, space-separated, possibly none; e.g. "
    "tests/data/linking_set.csv), or `text,label` texts with cashtags as their labels "
    "[default: the validation part of the labelled tweets in model.data_dir].",
)
@click.option("--model", "model_path", default=None,
              help="Model directory [default: model.path, else the built default model].")
@click.option("--universe", default=None,
              help="Extra tickers and names: the SEC company_tickers.json or a ticker list "
              "[default: stream.ticker_universe_file].")
@click.option("--no-model", is_flag=True,
              help="`text,tickers` sets: score the linker alone (no entities) only.")
@click.option("--errors", "show_errors", default=0, show_default=True,
              help="`text,tickers` sets: print up to N rows linked wrongly (-missed +wrong).")
@click.option("--json", "as_json", is_flag=True, help="Last line: one JSON object.")
def eval_linking_cmd(data: Path | None, model_path: str | None, universe: str | None,
                     no_model: bool, show_errors: int, as_json: bool) -> None:
    """Ticker-linking precision/recall: on a hand-labelled `text,tickers` set (the linker
    alone, then with the model's entities), or on tweets labelled by their own cashtags."""
    from models.data import load_corpus, load_csv
    from models.linkeval import is_link_set, link_scores, linking_set
    from tickerpulse.cli.eval_linking import eval_link_set, load_linking_engine

    root = load_settings()
    universe = root.stream.ticker_universe_file if universe is None else universe
    if data is not None and is_link_set(data):
        report = eval_link_set(data, universe, model_path, no_model, show_errors)
        if as_json:
            _emit_json(report)
        return
    settings = root.model
    if data is not None:
        rows = load_csv(data)
    else:
        rows = load_corpus(settings.data_dir, settings.seed).sentiment_val["tfns"]
    report = {}
    with load_linking_engine(model_path, universe) as engine:
        for view in ("full", "masked"):
            cases = linking_set(rows, masked=view == "masked")
            with ProgressEngine(engine, f"eval-linking {view}", len(cases)) as tracked:
                report[view] = link_scores(tracked, cases)  # type: ignore[arg-type]
            m = report[view]
            click.echo(
                f"{view:<7} n={m['n']} precision={m['precision']:.4f} "
                f"recall={m['recall']:.4f} f1={m['f1']:.4f}"
            )
        report["model_version"] = engine.model_version
    if as_json:
        _emit_json(report)


model.add_command(review)
