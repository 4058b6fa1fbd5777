"""`tickerpulse model review`: the review queue (texts worth a human label) out to CSV files
for labelling, the labels back into SQL, and the labelled rows out for `model train --add`.

Files (UTF-8, comma-separated, a header row; see docs/review.md):

* ``export --out FILE.csv``: ``review_id,text,label,predicted,confidence,reasons,source``,
  one row per item, ``label`` empty; and, when some item names tickers or entities, the
  sibling ``FILE.entities.csv``: ``review_id,text,entity,label,predicted,confidence``.
* ``import FILE.csv``: either kind, told apart by the ``entity`` column; other columns are
  read only for checks.
* ``labels --out FILE.csv``: ``text,label,review_id,source,labelled_by,labelled_at`` and,
  when there are entity labels, ``FILE.entities.csv``:
  ``text,entity,label,review_id,labelled_by,labelled_at``; every recorded label (the latest
  of each item and entity).
"""

from __future__ import annotations

import csv
import getpass
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from alerts.store.review import DOCUMENT, Label, ReviewRow, ReviewStore
from alerts.store.tables import MAX_ENTITY_LENGTH
from models.records import SENTIMENT_LABELS
from streams.contracts import utc_now
from tickerpulse.settings import load_settings

DOCUMENT_HEADER = ("review_id", "text", "label", "predicted", "confidence", "reasons", "source")
ENTITY_HEADER = ("review_id", "text", "entity", "label", "predicted", "confidence")
LABELS_HEADER = ("text", "label", "review_id", "source", "labelled_by", "labelled_at")
LABELS_ENTITY_HEADER = ("text", "entity", "label", "review_id", "labelled_by", "labelled_at")


class ReviewFileError(click.ClickException):
    """A bad file or row: names the file and line; nothing was imported."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message} (nothing imported)")


def entities_path(path: Path) -> Path:
    """``labels.csv`` -> ``labels.entities.csv``."""
    return path.with_name(f"{path.stem}.entities{path.suffix or '.csv'}")


def _store() -> ReviewStore:
    alerts = load_settings().alerts
    return ReviewStore(alerts.database_url, alerts.review.max_items,
                       migrate=alerts.migrate_on_start)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return "unknown"


def entity_rows(item: ReviewRow) -> Iterator[tuple[str, str, float]]:
    """(entity, predicted, confidence) of each ticker or entity named in the text, once."""
    seen: set[str] = set()
    for target in item.targets:
        text = str(target.get("text") or "")
        if text and text.lower() not in seen and text.lower() in item.text.lower():
            seen.add(text.lower())
            yield text, str(target["label"]), float(target["confidence"])


def _write(path: Path, header: tuple[str, ...], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@click.group()
def review() -> None:
    """The review queue: texts worth a human label, out to CSV and their labels back."""


@review.command("export")
@click.option("--n", "n", default=200, show_default=True, type=click.IntRange(min=1),
              help="Most items written: the highest priority ones not exported yet.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="CSV file to write (entity rows go to FILE.entities.csv beside it).")
@click.option("--source", default=None, help="Only items from this source (e.g. a wire).")
@click.option("--kind", type=click.Choice(["news", "social", "filing"]), default=None,
              help="Only items of this document kind.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def export(n: int, out: Path, source: str | None, kind: str | None, force: bool) -> None:
    """Write the items to label and mark them exported (they are not exported again)."""
    side = entities_path(out)
    if not force and (out.exists() or side.exists()):
        raise click.ClickException(f"{out if out.exists() else side} exists: a labeller's "
                                   "work may be in it (--force overwrites)")
    store = _store()
    try:
        items = store.for_export(n, source, kind)
        docs = [[i.id, i.text, "", i.predicted, f"{i.confidence:.4f}", ";".join(i.reasons),
                 i.source] for i in items]
        ents = [[i.id, i.text, entity, "", label, f"{confidence:.4f}"]
                for i in items for entity, label, confidence in entity_rows(i)]
        _write(out, DOCUMENT_HEADER, docs)
        if ents:
            _write(side, ENTITY_HEADER, ents)
        store.mark_exported([i.id for i in items], utc_now())  # after the files are written
    finally:
        store.close()
    click.echo(f"{len(docs)} items to {out}" + (f", {len(ents)} entity rows to {side}"
                                               if ents else ", no entity rows"))


@dataclass(frozen=True)
class ParsedFile:
    labels: list[Label]
    skipped: int  # rows with an empty label
    kind: str  # "document" | "entity"


def read_labels(path: Path) -> ParsedFile:
    """Every labelled row of an exported file, checked; the first bad row raises
    :class:`ReviewFileError` with its line."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ReviewFileError(path, 0, f"cannot read: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            return _parse(path, reader)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ReviewFileError(path, reader.line_num, str(exc)) from None


def _rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(first line of the row, cells): a quoted text may span lines."""
    while True:
        start = reader.line_num + 1
        row = next(reader, None)
        if row is None:
            return
        yield start, row


def _parse(path: Path, reader: Any) -> ParsedFile:
    header = [h.strip().lower() for h in next(reader, None) or []]
    kind = "entity" if "entity" in header else "document"
    required = ("review_id", "text", "entity", "label") if kind == "entity" else (
        "review_id", "label")
    missing = [c for c in required if c not in header]
    if missing:
        raise ReviewFileError(path, 1, f"header must name {', '.join(required)}; "
                              f"missing {', '.join(missing)}")
    at = {c: header.index(c) for c in required}
    labels: dict[tuple[int, str], tuple[str, int]] = {}
    skipped = 0
    for line, row in _rows(reader):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ReviewFileError(path, line, f"expected {len(header)} columns, got {len(row)}")
        label = row[at["label"]].strip().lower()
        if not label:
            skipped += 1
            continue
        if label not in SENTIMENT_LABELS:
            raise ReviewFileError(path, line, f"label {row[at['label']]!r} is not one of "
                                  f"{', '.join(SENTIMENT_LABELS)}")
        raw_id = row[at["review_id"]].strip()
        if not raw_id.isdigit():
            raise ReviewFileError(path, line, f"review_id {raw_id!r} is not a number")
        entity = DOCUMENT
        if kind == "entity":
            entity = row[at["entity"]].strip()
            if not entity or entity.lower() not in row[at["text"]].lower():
                raise ReviewFileError(path, line, f"entity {entity!r} is not in the text")
            if len(entity) > MAX_ENTITY_LENGTH:
                raise ReviewFileError(path, line, f"entity has {len(entity)} characters, "
                                      f"at most {MAX_ENTITY_LENGTH}")
        key = (int(raw_id), entity)
        if key in labels and labels[key][0] != label:
            raise ReviewFileError(path, line, f"review_id {raw_id}{' ' + entity if entity else ''}"
                                  f" labelled {label}, line {labels[key][1]} says "
                                  f"{labels[key][0]}")
        labels[key] = (label, line)
    return ParsedFile([Label(i, e, lab) for (i, e), (lab, _) in labels.items()], skipped, kind)


@review.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--by", default=None, help="Who labelled the file [default: your user name].")
def import_(path: Path, by: str | None) -> None:
    """Record the labels of an exported file (either kind, told apart by its header)."""
    parsed = read_labels(path)
    who = (by or _user()).strip()[:128] or "unknown"
    store = _store()
    try:
        result = store.record_labels(parsed.labels, who, utc_now())
    finally:
        store.close()
    click.echo(f"{path}: {parsed.kind} labels by {who}: {result.recorded} recorded, "
               f"{result.changed} changed, {result.unchanged} unchanged, "
               f"{parsed.skipped} rows without a label skipped")
    if result.missing:
        click.echo(f"warning: review ids not in the queue (evicted, or another database): "
                   f"{', '.join(map(str, sorted(result.missing)))}", err=True)


@review.command("labels")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="CSV of document labels (entity labels to FILE.entities.csv beside it).")
def labels_(out: Path) -> None:
    """Write every recorded label as training files for `model train --add`."""
    store = _store()
    try:
        stored = store.labels()
    finally:
        store.close()
    docs = [[s.item.text, s.label, s.item.id, s.item.source, s.labelled_by,
             s.labelled_at.isoformat()] for s in stored if s.entity == DOCUMENT]
    ents = [[s.item.text, s.entity, s.label, s.item.id, s.labelled_by,
             s.labelled_at.isoformat()] for s in stored if s.entity != DOCUMENT]
    _write(out, LABELS_HEADER, docs)
    if ents:
        _write(entities_path(out), LABELS_ENTITY_HEADER, ents)
    click.echo(f"{len(docs)} document labels to {out}" + (
        f", {len(ents)} entity labels to {entities_path(out)}" if ents else ", no entity labels"))


@review.command("stats")
def stats() -> None:
    """Print the queue's counts as JSON: items waiting, exported, labelled, per source."""
    store = _store()
    try:
        click.echo(json.dumps(store.stats(), sort_keys=True))
    finally:
        store.close()
