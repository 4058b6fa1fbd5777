"""Labelled rows added to a model by continual fine-tuning (`model train --from DIR --add F`).

A file is read by its header: one that names `text`, `entity` and `label` holds entity-level
sentiment rows (the review queue's entity export, SEntFiN's format); one that names `text`
and `label` (and no `entity`) holds document sentiment rows (the review queue's document
export, any `text,label` CSV). Other columns (`review_id`, `predicted`, `confidence`, ...) are
ignored. Document rows become sentiment examples of source ``review``; entity rows are
grouped by text into target examples (an entity not found in its text is left out and
counted).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from models.data import (
    SentimentExample,
    TargetExample,
    group_targets,
    load_csv,
    load_target_csv,
)
from models.errors import DataFormatError

SOURCE = "review"


@dataclass
class AddedData:
    sentiment: list[SentimentExample] = field(default_factory=list)
    targets: list[TargetExample] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)  # what the card records per file

    @property
    def rows(self) -> int:
        return len(self.sentiment) + len(self.targets)

    def without_texts(self, held_out: set[str]) -> tuple[AddedData, int]:
        """These rows less those whose text is in `held_out` (the validation split: a
        reviewed label of a validation text would leak into the guard); and how many."""
        sentiment = [e for e in self.sentiment if e.text not in held_out]
        targets = [e for e in self.targets if e.text not in held_out]
        dropped = self.rows - len(sentiment) - len(targets)
        return AddedData(sentiment, targets, self.files), dropped


def header_kind(path: Path) -> str:
    """``targets`` or ``sentiment``, from the CSV header (DataFormatError otherwise)."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            header = {h.strip().lower() for h in next(csv.reader(handle), [])}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFormatError(path, 0, f"cannot read: {exc}") from exc
    if {"text", "entity", "label"} <= header:
        return "targets"
    if {"text", "label"} <= header:
        return "sentiment"
    raise DataFormatError(path, 1, "header must name text,label or text,entity,label")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_added(paths: list[Path]) -> AddedData:
    """Every added file's rows, by kind, with the record the card keeps of each file."""
    out = AddedData()
    for path in map(Path, paths):
        kind = header_kind(path)
        record: dict = {"path": str(path.resolve()), "sha256": sha256(path), "kind": kind}
        if kind == "sentiment":
            rows = load_csv(path, SOURCE)
            out.sentiment.extend(rows)
            record.update(rows=len(rows), labels=dict(Counter(r.label for r in rows)))
        else:
            target_rows = load_target_csv(path)
            grouped, missing = group_targets(target_rows, SOURCE)
            out.targets.extend(grouped)
            record.update(
                rows=len(target_rows),
                texts=len(grouped),
                entity_not_in_text=missing,
                labels=dict(Counter(r.label for r in target_rows)),
            )
        if not record["rows"]:
            raise DataFormatError(path, 1, "no labelled rows")
        out.files.append(record)
    return out
