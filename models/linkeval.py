"""A labelled ticker-linking set built from the data, and its precision/recall.

TFNS tweets carry their tickers as cashtags, which gives labels for free: the gold tickers
of a tweet are its cashtags. Two views:
- `full`: the tweet as written (cashtags, names and symbols all count);
- `masked`: every cashtag removed, so only names, short forms and bare symbols can find the
  ticker (harder; a gold ticker the text never names bounds recall from above).
A predicted link counts as correct when it is one of the tweet's gold tickers, so a real
company named in the text but not cashtagged counts against precision (a lower bound).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from models.data import SentimentExample
from models.engine import InferenceEngine

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


def link_scores(engine: InferenceEngine, cases: Sequence[LinkCase]) -> dict:
    preds = engine.predict_sync([c.text for c in cases])
    tp = n_pred = n_gold = 0
    for case, pred in zip(cases, preds, strict=True):
        found = {t.ticker for t in pred.tickers}
        tp += len(found & case.gold)
        n_pred += len(found)
        n_gold += len(case.gold)
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
    }
