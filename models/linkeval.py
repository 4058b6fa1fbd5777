"""Ticker-linking precision/recall on labelled sets.

Two kinds of set:
- a hand-labelled ``text,tickers`` CSV (tickers: the space-separated gold set, possibly
  empty), such as ``tests/data/linking_set.csv``: headlines and tweets that name companies
  by name, symbol and cashtag, and hard negatives ("apple pie", "BG Group", "Pearson
  Jones"). :func:`load_link_set` reads it; scored with the linker alone (no entities) and,
  when a model is there, through the engine (the model's ORG spans as evidence).
- tweets labelled by their own cashtags (below).

TFNS tweets carry their tickers as cashtags, which gives labels for free: the gold tickers
of a tweet are its cashtags. Two views:
- `full`: the tweet as written (cashtags, names and symbols all count);
- `masked`: every cashtag removed, so only names, short forms and bare symbols can find the
  ticker (harder; a gold ticker the text never names bounds recall from above).
A predicted link counts as correct when it is one of the tweet's gold tickers, so a real
company named in the text but not cashtagged counts against precision (a lower bound).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from models.errors import DataFormatError
from models.tickers import normalise_ticker

if TYPE_CHECKING:  # the engine pulls in torch; the linker alone does not need it
    from models.data import SentimentExample
    from models.engine import InferenceEngine
    from models.linking import TickerLinker

_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:\.[A-Za-z]{1,2})?)\b")


@dataclass(frozen=True)
class LinkCase:
    text: str
    gold: frozenset[str]


def linking_set(rows: Sequence[SentimentExample], masked: bool) -> list[LinkCase]:
    cases = []
    for row in rows:
        gold = frozenset(m.upper() for m in _CASHTAG.findall(row.text))
        if not gold:
            continue
        text = row.text
        if masked:
            text = re.sub(r"\s{2,}", " ", _CASHTAG.sub("", text)).strip(" -:")
        if text:
            cases.append(LinkCase(text, gold))
    return cases


def load_link_set(path: Path) -> list[LinkCase]:
    """A ``text,tickers`` CSV; a bad row raises DataFormatError naming file and line."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"text", "tickers"} <= set(reader.fieldnames):
            raise DataFormatError(path, 1, "header must name the columns text,tickers")
        cases = []
        for row in reader:
            line = reader.line_num
            text, raw = (row.get("text") or "").strip(), (row.get("tickers") or "").split()
            gold = [normalise_ticker(t) for t in raw]
            if not text:
                raise DataFormatError(path, line, "empty text")
            if None in gold:
                bad = next(t for t, g in zip(raw, gold, strict=True) if g is None)
                raise DataFormatError(path, line, f"{bad!r} is not a ticker")
            cases.append(LinkCase(text, frozenset(t for t in gold if t)))
    return cases


def is_link_set(path: Path) -> bool:
    """The CSV's header names a ``tickers`` column (else it is a ``text,label`` file)."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    return "tickers" in header


def scores(cases: Sequence[LinkCase], found: Iterable[set[str]]) -> dict:
    """Micro precision/recall/F1 of predicted ticker sets against the gold sets."""
    tp = n_pred = n_gold = exact = 0
    for case, pred in zip(cases, found, strict=True):
        tp += len(pred & case.gold)
        n_pred += len(pred)
        n_gold += len(case.gold)
        exact += pred == case.gold
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": len(cases),
        "gold": n_gold,
        "predicted": n_pred,
        "correct": tp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "exact": round(exact / len(cases), 4) if cases else 0.0,
    }


def mistakes(cases: Sequence[LinkCase], found: Sequence[set[str]]) -> list[dict]:
    """The rows whose predicted set differs from the gold set."""
    return [
        {"text": c.text, "gold": sorted(c.gold), "predicted": sorted(p),
         "missed": sorted(c.gold - p), "wrong": sorted(p - c.gold)}
        for c, p in zip(cases, found, strict=True)
        if p != c.gold
    ]


def linker_predictions(linker: TickerLinker, cases: Sequence[LinkCase]) -> list[set[str]]:
    """The linker alone: no entities, no hints."""
    return [{link.ticker for link in linker.link(c.text, ())} for c in cases]


def engine_predictions(engine: InferenceEngine, cases: Sequence[LinkCase]) -> list[set[str]]:
    """Through the engine: the model's entities feed the engine's linker."""
    preds = engine.predict_sync([c.text for c in cases])
    return [{t.ticker for t in pred.tickers} for pred in preds]


def link_scores(engine: InferenceEngine, cases: Sequence[LinkCase]) -> dict:
    return scores(cases, engine_predictions(engine, cases))
