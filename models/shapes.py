"""Tokenisation shared by training and inference, with a case-shape id per token.

The base checkpoint is uncased, so the capitalisation of each word (the strongest cue for
names) is lost by its tokenizer. We recover it from the original text through the offset
mapping: every token gets the shape of the pre-tokenized word it belongs to, and the model
adds a learned embedding of that shape to its input embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_SHAPE, LOWER, TITLE, UPPER, MIXED, NOLETTER = range(6)
N_SHAPES = 6
# A word inside a known company name (models.gazetteer) gets its shape + N_SHAPES: the
# network's shape embedding has 2 x N_SHAPES rows.
N_INPUT_SHAPES = 2 * N_SHAPES


def word_shape(word: str) -> int:
    """Case class of one word: lower, Title, UPPER, mIxed or no letters."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return NOLETTER
    uppers = sum(1 for c in letters if c.isupper())
    if uppers == 0:
        return LOWER
    if uppers == len(letters):
        return UPPER if len(letters) > 1 else TITLE
    if uppers == 1 and letters[0].isupper() and word.lstrip()[0:1].isupper():
        return TITLE
    return MIXED


@dataclass
class Encoded:
    """One text, tokenised (no padding): ids, case shapes and character offsets."""

    ids: list[int]
    shapes: list[int]
    offsets: list[tuple[int, int]]
    words: list[int | None] | None = None  # pre-tokenized word of each token (None: special)

    def __len__(self) -> int:
        return len(self.ids)


def _word_spans(
    offsets: list[tuple[int, int]], word_ids: list[int | None]
) -> dict[int, list[int]]:
    spans: dict[int, list[int]] = {}
    for (start, end), wid in zip(offsets, word_ids, strict=True):
        if wid is None:
            continue
        span = spans.setdefault(wid, [start, end])
        span[0] = min(span[0], start)
        span[1] = max(span[1], end)
    return spans


def _shapes_for(text: str, spans: dict[int, list[int]], word_ids: list[int | None]) -> list[int]:
    cache = {wid: word_shape(text[s:e]) for wid, (s, e) in spans.items()}
    return [PAD_SHAPE if wid is None else cache[wid] for wid in word_ids]


def _mark_names(shapes: list[int], word_ids: list[int | None], named: set[int]) -> list[int]:
    return [
        shape + N_SHAPES if wid is not None and wid in named else shape
        for shape, wid in zip(shapes, word_ids, strict=True)
    ]


def encode(tokenizer, texts: list[str], max_length: int, gazetteer=None) -> list[Encoded]:  # noqa: ANN001
    """Tokenise a list of texts (fast tokenizer required for offsets); with a gazetteer,
    the tokens of known company names get the name bit in their shape."""
    if not texts:
        return []
    batch = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    out: list[Encoded] = []
    for i, text in enumerate(texts):
        offsets = [tuple(o) for o in batch["offset_mapping"][i]]
        words = batch.word_ids(i)
        spans = _word_spans(offsets, words)
        shapes = _shapes_for(text, spans, words)
        if gazetteer is not None:
            ids = sorted(spans)
            found = gazetteer.match([text[spans[w][0] : spans[w][1]].lower() for w in ids])
            if found:
                named = {ids[i + k] for i, n in found for k in range(n)}
                shapes = _mark_names(shapes, words, named)
        out.append(Encoded(list(batch["input_ids"][i]), shapes, offsets, words))
    return out


def pad_batch(items: list[Encoded], pad_id: int) -> dict[str, np.ndarray]:
    """Pad to the longest item: input_ids, attention_mask, case_ids as int64 arrays."""
    width = max(len(it) for it in items)
    ids = np.full((len(items), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(items), width), dtype=np.int64)
    shapes = np.zeros((len(items), width), dtype=np.int64)
    for row, it in enumerate(items):
        n = len(it)
        ids[row, :n] = it.ids
        mask[row, :n] = 1
        shapes[row, :n] = it.shapes
    return {"input_ids": ids, "attention_mask": mask, "case_ids": shapes}
