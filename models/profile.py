"""A model's reference profile: what its predictions look like on its own validation texts.

Per validation source (``fpb``: news-style sentences, ``tfns``: tweets), four statistics
computed through the serving engine, the same ones the stream worker's drift monitor keeps
for the live feed (``streams.drift``):

* ``label_shares``: predicted negative / neutral / positive shares,
* ``confidence_hist``: shares of the prediction confidence in :data:`CONFIDENCE_BINS` equal
  bins on [1/3, 1],
* ``no_ticker_share``: share of texts with no linked ticker,
* ``unknown_token_share``: ``[UNK]`` ids among all tokens (the model's tokenizer).

Stored in the model card under ``reference_profile`` (:func:`store_profile`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from models.card import read_card, write_card
from models.records import SENTIMENT_LABELS, Prediction

CONFIDENCE_BINS = 10
CONFIDENCE_LOW = 1 / 3  # the lowest top probability of a three-way softmax
PROFILE_KEY = "reference_profile"


def confidence_bin(confidence: float) -> int:
    span = (1.0 - CONFIDENCE_LOW) / CONFIDENCE_BINS
    return min(CONFIDENCE_BINS - 1, max(0, int((confidence - CONFIDENCE_LOW) / span)))


def unknown_counts(tokenizer: Any, texts: Sequence[str]) -> list[tuple[int, int]]:
    """(unknown tokens, tokens) per text, special tokens left out."""
    unk = tokenizer.unk_token_id
    out = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        out.append((sum(1 for i in ids if i == unk), len(ids)))
    return out


def summarise(preds: Iterable[Prediction], counts: Iterable[tuple[int, int]]) -> dict:
    """The four statistics of one set of texts (see the module docstring)."""
    labels = dict.fromkeys(SENTIMENT_LABELS, 0)
    bins = [0] * CONFIDENCE_BINS
    n = unlinked = unknown = tokens = 0
    for pred, (unk, total) in zip(preds, counts, strict=True):
        n += 1
        labels[pred.sentiment] = labels.get(pred.sentiment, 0) + 1
        bins[confidence_bin(pred.confidence)] += 1
        unlinked += not pred.tickers
        unknown, tokens = unknown + unk, tokens + total
    return {
        "n": n,
        "label_shares": {k: labels[k] / n if n else 0.0 for k in SENTIMENT_LABELS},
        "confidence_hist": [b / n if n else 0.0 for b in bins],
        "no_ticker_share": unlinked / n if n else 0.0,
        "unknown_token_share": unknown / tokens if tokens else 0.0,
    }


def profile(engine: Any, texts_by_source: Mapping[str, Sequence[str]]) -> dict:
    """The reference profile of the engine's model on ``texts_by_source`` (source -> texts);
    ``engine`` is a :class:`models.engine.InferenceEngine` (``predict_sync``)."""
    tokenizer = engine._loaded.tokenizer  # noqa: SLF001 - the model's own tokenizer
    sources = {}
    for source, texts in texts_by_source.items():
        texts = list(texts)
        if not texts:
            continue
        sources[source] = summarise(engine.predict_sync(texts), unknown_counts(tokenizer, texts))
    return {"model_version": engine.model_version, "confidence_bins": CONFIDENCE_BINS,
            "sources": sources}


def validation_texts(data_dir: Path, seed: int) -> dict[str, list[str]]:
    """The model's validation texts per source (the split training never saw)."""
    from models.data import load_corpus

    corpus = load_corpus(data_dir, seed)
    return {source: [e.text for e in rows] for source, rows in corpus.sentiment_val.items()}


def store_profile(model_dir: Path, reference: dict) -> dict:
    """Write ``reference`` into the model card of ``model_dir``; returns the card."""
    card = read_card(model_dir)
    if card is None:
        raise FileNotFoundError(f"{model_dir} has no model card (model_card.json)")
    card[PROFILE_KEY] = reference
    write_card(model_dir, card)
    return card


def read_profile(model_dir: Path | str) -> dict | None:
    """The reference profile stored in the card of ``model_dir``, or None."""
    card = read_card(Path(model_dir))
    return None if card is None else card.get(PROFILE_KEY)
