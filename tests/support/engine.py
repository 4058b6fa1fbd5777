"""A deterministic, instant stand-in for the inference engine (unit tests of the stages)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from models.records import Prediction, TargetSentiment, TickerLink

NEGATIVE = re.compile(r"fall|plunge|miss|cut|loss|crash|fraud|investigation|weak|down|sink|dump"
                      r"|slump|tumble|drop|probe")
POSITIVE = re.compile(r"rise|beat|record|upgrade|strong|raise|long|breakout|crushing|lift|jump"
                      r"|soar|gain|rall")
CLAUSES = re.compile(r"\s+while\s+|\s+whereas\s+|;\s*|,\s+but\s+|\s+as\s+rival\s+", re.I)
NAMES = {"apple": "AAPL", "microsoft": "MSFT", "nvidia": "NVDA", "amazon": "AMZN",
         "tesla": "TSLA", "alphabet": "GOOGL", "meta": "META", "jpmorgan": "JPM",
         "intel": "INTC", "boeing": "BA", "pfizer": "PFE", "goldman sachs": "GS",
         "exxon": "XOM", "chevron": "CVX", "coca-cola": "KO", "pepsico": "PEP"}
LABELS = ("negative", "neutral", "positive")


def _label(text: str) -> str:
    low = text.lower()
    return "negative" if NEGATIVE.search(low) else "positive" if POSITIVE.search(low) else "neutral"


def _target(label: str, source: str) -> TargetSentiment:
    return TargetSentiment(label, {k: (0.8 if k == label else 0.1) for k in LABELS}, 0.8, source)


class StandInEngine:
    """Deterministic, instant stand-in for ``models.api.InferenceEngine`` (unit tests only):
    keyword sentiment for the document and, for each ticker named in the text, for the clause
    that names it ("A rises while B sinks"); cashtag, name and hint links."""

    model_version = "stand-in-1"

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def predict(
        self, texts: Sequence[str], hints: Sequence[Sequence[str]] | None = None
    ) -> list[Prediction]:
        self.calls.append(len(texts))
        return [self._one(t, list(h)) for t, h in
                zip(texts, hints or [[]] * len(texts), strict=True)]

    def _one(self, text: str, hints: list[str]) -> Prediction:
        document = _target(_label(text), "document")
        found: dict[str, tuple[str, str, tuple[int, int] | None]] = {}  # ticker -> method, span
        for m in re.finditer(r"\$([A-Za-z]{1,5})\b", text):
            found.setdefault(m.group(1).upper(), ("cashtag", m.group(0), m.span()))
        low = text.lower()
        for name, ticker in NAMES.items():
            at = low.find(name)
            if at >= 0:
                found.setdefault(ticker, ("name", text[at:at + len(name)], (at, at + len(name))))
        for h in hints:
            found.setdefault(h, ("hint", "", None))
        clauses = [(m.start(), m.end()) for m in CLAUSES.finditer(text)]
        links = []
        named_first = sorted(found.items(), key=lambda kv: kv[1][2] or (len(text), 0))
        for i, (ticker, (method, surface, span)) in enumerate(named_first):
            sentiment = document
            if span is not None and clauses:
                bounds = [0] + [e for _, e in clauses] + [len(text)]
                starts = [0] + [st for st, _ in clauses] + [len(text)]
                k = max(j for j in range(len(bounds) - 1) if bounds[j] <= span[0])
                sentiment = _target(_label(text[bounds[k]:starts[k + 1]]), "entity")
            elif span is not None:
                sentiment = replace(document, source="entity")
            links.append(TickerLink(
                ticker=ticker, confidence=0.9, relevance=1.0 if i == 0 else 0.5,
                relevance_kind="subject" if i == 0 else "mention", method=method, text=surface,
                spans=(span,) if span else (), sentiment=sentiment))
        return Prediction(document.label, document.probabilities, document.confidence,
                          tickers=tuple(links), model_version=self.model_version)
