"""Labelled data: CSV (`text,label`) and CoNLL BIO loaders, seeded stratified splits.

The shared data folder (setting `model.data_dir`, default ../shared/data) holds the Financial
PhraseBank agreement levels, which are NESTED (all-agree within 75% within 66% within 50%),
TFNS tweets and FiNER-ORD. We train on one FPB level only (50agree, the usual FinBERT
setting, a superset of the others), split it ourselves, and remove from training every text
that also appears in validation, so no validation row leaks in through a duplicate.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import DataFormatError
from models.records import ENTITY_TYPES, SENTIMENT_LABELS


@dataclass(frozen=True)
class SentimentExample:
    text: str
    label: str
    source: str


@dataclass(frozen=True)
class EntityExample:
    """A CoNLL sentence: words joined by single spaces, with their BIO tags."""

    words: tuple[str, ...]
    tags: tuple[str, ...]
    source: str

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def word_spans(self) -> list[tuple[int, int]]:
        spans, pos = [], 0
        for word in self.words:
            spans.append((pos, pos + len(word)))
            pos += len(word) + 1
        return spans


def _read_rows(path: Path, required: Sequence[str]):  # noqa: ANN202
    """(line number, {column: value}) for each row of a CSV whose header names `required`
    (in any order; other columns are ignored)."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DataFormatError(path, 0, f"cannot read: {exc}") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in (next(reader, None) or [])]
            missing = [name for name in required if name not in header]
            if missing:
                raise DataFormatError(
                    path, 1, f"header must name {', '.join(required)}; missing {missing}"
                )
            index = {name: header.index(name) for name in required}
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise DataFormatError(
                        path, reader.line_num, f"expected {len(header)} columns, got {len(row)}"
                    )
                yield reader.line_num, {name: row[i] for name, i in index.items()}
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataFormatError(path, reader.line_num, str(exc)) from exc


def _label(path: Path, line: int, raw: str) -> str:
    label = raw.strip().lower()
    if label not in SENTIMENT_LABELS:
        raise DataFormatError(path, line, f"label {raw!r} not one of {', '.join(SENTIMENT_LABELS)}")
    return label


def load_csv(path: Path, source: str | None = None) -> list[SentimentExample]:
    """Rows of a CSV whose header names `text` and `label` (other columns are ignored); a
    bad row raises DataFormatError(file, line)."""
    path = Path(path)
    source = source or path.stem
    out: list[SentimentExample] = []
    for line, row in _read_rows(path, ("text", "label")):
        text = row["text"].strip()
        label = _label(path, line, row["label"])
        if not text:
            raise DataFormatError(path, line, "empty text")
        out.append(SentimentExample(text, label, source))
    return out


@dataclass(frozen=True)
class TargetRow:
    """One `text,entity,label` row: what the text says about that entity."""

    text: str
    entity: str
    label: str


def load_target_csv(path: Path) -> list[TargetRow]:
    """Rows of a CSV whose header names `text`, `entity` and `label` (SEntFiN's format)."""
    path = Path(path)
    out: list[TargetRow] = []
    for line, row in _read_rows(path, ("text", "entity", "label")):
        text, entity = row["text"].strip(), row["entity"].strip()
        if not text or not entity:
            raise DataFormatError(path, line, "empty text or entity")
        out.append(TargetRow(text, entity, _label(path, line, row["label"])))
    return out


def find_entity(text: str, entity: str) -> tuple[int, int] | None:
    """The first case-insensitive occurrence of `entity` in `text` on word boundaries (any
    occurrence when none is on boundaries), as character offsets; None when absent."""
    lowered, needle = text.lower(), entity.lower()
    start = lowered.find(needle)
    first = start
    while start >= 0:
        end = start + len(needle)
        before = lowered[start - 1] if start > 0 else " "
        after = lowered[end] if end < len(lowered) else " "
        if not before.isalnum() and not after.isalnum():
            return start, end
        start = lowered.find(needle, start + 1)
    return None if first < 0 else (first, first + len(needle))


@dataclass(frozen=True)
class TargetExample:
    """A text with the sentiment about each of its located entities: (start, end, label)."""

    text: str
    targets: tuple[tuple[int, int, str], ...]
    source: str

    @property
    def mixed(self) -> bool:
        return len({label for _, _, label in self.targets}) > 1


def group_targets(rows: Sequence[TargetRow], source: str) -> tuple[list[TargetExample], int]:
    """One example per text with every entity found in it; and how many rows were not found."""
    by_text: dict[str, dict[tuple[int, int], str]] = {}
    missing = 0
    for row in rows:
        span = find_entity(row.text, row.entity)
        if span is None:
            missing += 1
            continue
        by_text.setdefault(row.text, {})[span] = row.label
    examples = [
        TargetExample(text, tuple((s, e, label) for (s, e), label in sorted(spans.items())), source)
        for text, spans in by_text.items()
    ]
    return examples, missing


def _check_tag(tag: str, keep: Sequence[str]) -> str:
    if tag == "O":
        return tag
    prefix, _, kind = tag.partition("-")
    if prefix not in ("B", "I") or not kind:
        raise ValueError(f"tag {tag!r} is not O, B-TYPE or I-TYPE")
    return tag if kind in keep else "O"


def load_conll(
    path: Path, source: str | None = None, keep_types: Sequence[str] = ENTITY_TYPES
) -> list[EntityExample]:
    """`token<TAB or space>tag` lines, blank line between sentences; other types -> O."""
    path = Path(path)
    source = source or path.stem
    sentences: list[EntityExample] = []
    words: list[str] = []
    tags: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, 0, f"cannot read: {exc}") from exc
    for number, line in enumerate(lines + [""], start=1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(EntityExample(tuple(words), tuple(tags), source))
                words, tags = [], []
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 2 or not parts[0].strip():
            raise DataFormatError(path, number, f"expected 'token<TAB>tag', got {line!r}")
        try:
            tags.append(_check_tag(parts[-1].strip(), keep_types))
        except ValueError as exc:
            raise DataFormatError(path, number, str(exc)) from exc
        words.append(parts[0].strip())
    return sentences


def stratified_split(
    examples: Sequence[SentimentExample], fraction: float, seed: int
) -> tuple[list[SentimentExample], list[SentimentExample]]:
    """(train, validation): `fraction` of each label to validation, seeded; no shared text."""
    by_label: dict[str, list[SentimentExample]] = defaultdict(list)
    for ex in examples:
        by_label[ex.label].append(ex)
    rng = random.Random(seed)
    train: list[SentimentExample] = []
    val: list[SentimentExample] = []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        cut = round(len(group) * fraction)
        val.extend(group[:cut])
        train.extend(group[cut:])
    rng.shuffle(val)
    held = {ex.text for ex in val}
    train = [ex for ex in train if ex.text not in held]  # duplicates never straddle the split
    rng.shuffle(train)
    return train, val


@dataclass
class Corpus:
    sentiment_train: list[SentimentExample]
    sentiment_val: dict[str, list[SentimentExample]]
    entity_train: list[EntityExample]
    entity_val: list[EntityExample]
    target_train: list[TargetExample] = field(default_factory=list)
    target_val: list[TargetExample] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        out = {"entity_train": len(self.entity_train), "entity_val": len(self.entity_val)}
        out["sentiment_train"] = len(self.sentiment_train)
        for source, rows in self.sentiment_val.items():
            out[f"val_{source}"] = len(rows)
        out["target_train_texts"] = len(self.target_train)
        out["target_val_texts"] = len(self.target_val)
        return out


SENTIMENT_FILES = {"fpb": "fpb_50agree_train.csv", "tfns": "tfns_train.csv"}
ENTITY_FILES = ("ner/finer_ord_train.conll", "ner/finer_ord_validation.conll")
TARGET_FILE = "entity_sentiment/sentfin_train.csv"


def split_texts(
    examples: Sequence[TargetExample], fraction: float, seed: int
) -> tuple[list[TargetExample], list[TargetExample]]:
    """(train, validation) by text, seeded: a headline's entities never straddle the split."""
    order = sorted(examples, key=lambda e: e.text)
    random.Random(seed).shuffle(order)
    cut = round(len(order) * fraction)
    return order[cut:], order[:cut]


def load_corpus(data_dir: Path, seed: int, val_fraction: float = 0.15) -> Corpus:
    """The default training mix from the shared data folder, split per source."""
    data_dir = Path(data_dir)
    train: list[SentimentExample] = []
    val: dict[str, list[SentimentExample]] = {}
    for source, name in SENTIMENT_FILES.items():
        rows = load_csv(data_dir / name, source)
        tr, va = stratified_split(rows, val_fraction, seed)
        train.extend(tr)
        val[source] = va
    random.Random(seed).shuffle(train)
    ent_train = load_conll(data_dir / ENTITY_FILES[0], "finer_ord")
    ent_val = load_conll(data_dir / ENTITY_FILES[1], "finer_ord")
    targets: tuple[list[TargetExample], list[TargetExample]] = ([], [])
    if (data_dir / TARGET_FILE).exists():
        grouped, _missing = group_targets(load_target_csv(data_dir / TARGET_FILE), "sentfin")
        targets = split_texts(grouped, val_fraction, seed)
    return Corpus(train, val, ent_train, ent_val, *targets)
