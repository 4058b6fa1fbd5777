"""From per-token BIO tags back to character spans of the original text."""

from __future__ import annotations

from collections.abc import Sequence

from models.records import ENTITY_TAGS, Entity


def bio_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first, last+1) spans from BIO tags; a stray I- opens a span (lenient)."""
    spans: list[tuple[str, int, int]] = []
    kind, start = None, 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, label = tag.partition("-")
        continues = prefix == "I" and label == kind
        if kind is not None and not continues:
            spans.append((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and not continues):
            kind, start = label, i
    return spans


def word_level_tags(tags: list[str], words: Sequence[int | None]) -> list[str]:
    """Every piece of a word follows the word's first piece (as in training): no entity
    can start or end inside a word."""
    out: list[str] = []
    previous, first = None, "O"
    for tag, word in zip(tags, words, strict=True):
        if word is not None and word == previous:
            out.append("O" if first == "O" else "I-" + first[2:])
        else:
            first = tag
            out.append(tag)
        previous = word
    return out


def decode_entities(
    text: str,
    tag_ids: Sequence[int],
    tag_scores: Sequence[float],
    offsets: Sequence[tuple[int, int]],
    words: Sequence[int | None] | None = None,
) -> tuple[Entity, ...]:
    """Entities of one text from its token tags (special tokens have empty offsets)."""
    real = [i for i, (s, e) in enumerate(offsets) if e > s]
    tags = [ENTITY_TAGS[int(tag_ids[i])] for i in real]
    if words is not None:
        tags = word_level_tags(tags, [words[i] for i in real])
    spans: list[tuple[str, int, int, float]] = []
    for kind, first, last in bio_spans(tags):
        start, end = offsets[real[first]][0], offsets[real[last - 1]][1]
        score = min(float(tag_scores[real[j]]) for j in range(first, last))
        spans.append((kind, start, end, score))
    return tuple(
        Entity(text[start:end], kind, start, end, round(score, 4))
        for kind, start, end, score in merge_adjacent(text, spans)
    )


def merge_adjacent(
    text: str, spans: Sequence[tuple[str, int, int, float]]
) -> list[tuple[str, int, int, float]]:
    """Join same-type spans that only whitespace separates ("BHP" "Billiton" -> one ORG).

    Two entities of one type side by side are rare in the training data (FiNER-ORD train:
    11 ORG->B-ORG vs 1,781 O->B-ORG), so a B tag right after a same-type span is far more
    often a split name. Measured on FiNER-ORD validation (two models): ORG F1 +0.009/+0.012,
    entity F1 +0.005/+0.008.
    """
    out: list[tuple[str, int, int, float]] = []
    for kind, start, end, score in sorted(spans, key=lambda s: s[1]):
        if out and out[-1][0] == kind and not text[out[-1][2] : start].strip():
            prev = out[-1]
            out[-1] = (kind, prev[1], end, min(prev[3], score))
        else:
            out.append((kind, start, end, score))
    return out
