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
    entities = []
    for kind, first, last in bio_spans(tags):
        start, end = offsets[real[first]][0], offsets[real[last - 1]][1]
        scores = [float(tag_scores[real[j]]) for j in range(first, last)]
        entities.append(Entity(text[start:end], kind, start, end, round(min(scores), 4)))
    return tuple(entities)
