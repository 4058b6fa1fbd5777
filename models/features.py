"""Training features: token ids, case shapes and per-token / per-sentence labels."""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.data import EntityExample, SentimentExample, TargetExample
from models.gazetteer import Gazetteer
from models.records import ENTITY_TAGS, SENTIMENT_LABELS
from models.shapes import Encoded, encode, pad_batch

IGNORE = -100
_TAG_ID = {tag: i for i, tag in enumerate(ENTITY_TAGS)}
_SENT_ID = {label: i for i, label in enumerate(SENTIMENT_LABELS)}


@dataclass
class Feature:
    encoded: Encoded
    sentiment: int  # IGNORE for entity sentences and entity-sentiment texts
    tags: list[int]  # all IGNORE for sentiment texts
    targets: list[tuple[list[int], int]] = field(default_factory=list)  # (tokens, label)


def span_tokens(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """Indices of the tokens that overlap the character span (special tokens never)."""
    return [i for i, (s, e) in enumerate(offsets) if e > s and s < end and start < e]


def token_tags(example: EntityExample, offsets: Sequence[tuple[int, int]]) -> list[int]:
    """Tag of each token: its word's tag on the first piece, I-X (or O) on the others."""
    spans = example.word_spans()
    starts = [s for s, _ in spans]
    out: list[int] = []
    previous_word = -1
    for start, end in offsets:
        if end <= start:
            out.append(IGNORE)
            continue
        word = bisect.bisect_right(starts, start) - 1
        tag = example.tags[word]
        if word == previous_word and tag != "O":
            tag = "I-" + tag[2:]
        out.append(_TAG_ID[tag])
        previous_word = word
    return out


def build_features(
    tokenizer,
    sentiment: Sequence[SentimentExample],
    entities: Sequence[EntityExample],
    max_length: int,
    targets: Sequence[TargetExample] = (),
    gazetteer: Gazetteer | None = None,
) -> list[Feature]:
    feats: list[Feature] = []
    for ex, enc in zip(
        sentiment,
        encode(tokenizer, [e.text for e in sentiment], max_length, gazetteer),
        strict=True,
    ):
        feats.append(Feature(enc, _SENT_ID[ex.label], [IGNORE] * len(enc)))
    for entity, enc in zip(
        entities, encode(tokenizer, [e.text for e in entities], max_length, gazetteer), strict=True
    ):
        feats.append(Feature(enc, IGNORE, token_tags(entity, enc.offsets)))
    for example, enc in zip(
        targets, encode(tokenizer, [e.text for e in targets], max_length, gazetteer), strict=True
    ):
        spans = [
            (span_tokens(enc.offsets, s, e), _SENT_ID[label]) for s, e, label in example.targets
        ]
        spans = [(tokens, label) for tokens, label in spans if tokens]  # cut by truncation
        if spans:
            feats.append(Feature(enc, IGNORE, [IGNORE] * len(enc), spans))
    return feats


def length_grouped_batches(
    feats: Sequence[Feature], batch_size: int, rng: random.Random, group: int = 50
) -> list[list[int]]:
    """Shuffled batches of similar length (less padding), in a shuffled order."""
    order = list(range(len(feats)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for i in range(0, len(order), batch_size * group):
        chunk = sorted(order[i : i + batch_size * group], key=lambda j: len(feats[j].encoded))
        batches.extend(chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(feats: Sequence[Feature], pad_id: int) -> dict[str, np.ndarray]:
    arrays = pad_batch([f.encoded for f in feats], pad_id)
    width = arrays["input_ids"].shape[1]
    tags = np.full((len(feats), width), IGNORE, dtype=np.int64)
    for row, f in enumerate(feats):
        tags[row, : len(f.tags)] = f.tags
    arrays["tags"] = tags
    arrays["sentiment"] = np.array([f.sentiment for f in feats], dtype=np.int64)
    rows = [row for row, f in enumerate(feats) for _ in f.targets]
    masks = np.zeros((len(rows), width), dtype=np.int64)
    labels = np.zeros(len(rows), dtype=np.int64)
    k = 0
    for f in feats:
        for tokens, label in f.targets:
            masks[k, tokens] = 1
            labels[k] = label
            k += 1
    arrays["target_rows"] = np.array(rows, dtype=np.int64)
    arrays["target_masks"] = masks
    arrays["target_labels"] = labels
    return arrays
