"""Novelty: is a document fresh evidence, or a repeat of a recent one?

Pure fingerprints here; the shared index (across partitions and workers) lives in Redis
(:class:`streams.store.novelty_index.RedisNoveltyIndex`), with :class:`MemoryNoveltyIndex` as
the in-process twin used by fast tests.

- **exact duplicates**: the same text after :func:`normalise_for_hash` (case, URLs, mentions,
  a leading ``RT @user:``, punctuation and whitespace removed) -> one 128-bit hash.
- **near duplicates** (reprints with small edits, quote-reposts): MinHash over word bigrams
  (64 permutations, multiply-shift hashing), LSH with 16 bands of 4 rows to find candidates,
  then the estimated Jaccard similarity against each candidate's stored signature; a document
  at or above ``threshold`` (0.6 by default) of a recent one is ``near``.

A decision is recorded per doc_id, so replaying a document returns the same verdict.
:func:`decide` is the one verdict rule, used by both indexes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from streams.contracts import Novelty

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
DEFAULT_THRESHOLD = 0.6

_URL = re.compile(r"https?://\S+|www\.\S+")
_RT = re.compile(r"^\s*rt\s+@\w+:?\s*")
_MENTION = re.compile(r"@\w+")
_NON_WORD = re.compile(r"[^\w$%.]+|(?<!\d)\.|\.(?!\d)")

_rng = np.random.default_rng(0x7EC4)  # fixed: signatures must agree across processes
_A = (_rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1))
_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)


def normalise_for_hash(text: str) -> str:
    text = _RT.sub("", text.lower())
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    return " ".join(_NON_WORD.sub(" ", text).split())


def exact_hash(text: str) -> str:
    return hashlib.blake2b(normalise_for_hash(text).encode(), digest_size=16).hexdigest()


def shingles(text: str) -> set[str]:
    words = normalise_for_hash(text).split()
    if len(words) < 3:
        return set(words) or {""}
    return {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}


def minhash(text: str) -> np.ndarray:
    """64 uint32 minimums: the document's MinHash signature."""
    base = np.array(
        [
            int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")
            for s in shingles(text)
        ],
        dtype=np.uint64,
    )
    with np.errstate(over="ignore"):
        mixed = (base[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(32)
    signature: np.ndarray = mixed.min(axis=0).astype(np.uint32)
    return signature


def band_ids(signature: np.ndarray) -> list[str]:
    """One LSH bucket id per band: documents sharing any bucket are candidates."""
    rows = signature.reshape(BANDS, ROWS)
    return [
        f"{i}:{hashlib.blake2b(row.tobytes(), digest_size=8).hexdigest()}"
        for i, row in enumerate(rows)
    ]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.count_nonzero(a == b)) / NUM_PERM


@dataclass(frozen=True)
class Fingerprint:
    doc_id: str
    exact: str
    signature: np.ndarray = field(compare=False)
    bands: tuple[str, ...] = field(compare=False)

    @classmethod
    def of(cls, doc_id: str, text: str) -> Fingerprint:
        sig = minhash(text)
        return cls(doc_id, exact_hash(text), sig, tuple(band_ids(sig)))


def decide(
    fp: Fingerprint, exact_original: str | None, candidates: Mapping[str, np.ndarray],
    threshold: float,
) -> Novelty:
    """The verdict of one document, given the first document with its exact text (if any)
    and the signatures of its LSH candidates: the most similar candidate wins, ties to the
    smallest doc id, and it is a near duplicate at or above ``threshold``."""
    if exact_original is not None and exact_original != fp.doc_id:
        return Novelty(kind="exact", duplicate_of=exact_original, similarity=1.0)
    best, best_id = 0.0, None
    for cand, sig in candidates.items():
        if cand == fp.doc_id or sig.shape != fp.signature.shape:
            continue
        sim = similarity(fp.signature, sig)
        if sim > best or (sim == best and best_id is not None and cand < best_id):
            best, best_id = sim, cand
    if best_id is not None and best >= threshold:
        return Novelty(kind="near", duplicate_of=best_id, similarity=round(best, 4))
    return Novelty()


class MemoryNoveltyIndex:
    """In-process novelty index with the same verdicts as the Redis one (no expiry)."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._exact: dict[str, str] = {}
        self._sigs: dict[str, np.ndarray] = {}
        self._buckets: dict[str, list[str]] = {}
        self._decisions: dict[str, Novelty] = {}

    async def check_many(self, fps: list[Fingerprint]) -> list[Novelty]:
        return [await self.check(fp) for fp in fps]

    async def check(self, fp: Fingerprint) -> Novelty:
        if fp.doc_id in self._decisions:
            return self._decisions[fp.doc_id]
        verdict = self._decide(fp)
        self._exact.setdefault(fp.exact, fp.doc_id)
        self._sigs[fp.doc_id] = fp.signature
        for band in fp.bands:
            self._buckets.setdefault(band, []).append(fp.doc_id)
        self._decisions[fp.doc_id] = verdict
        return verdict

    def _decide(self, fp: Fingerprint) -> Novelty:
        candidates = {c: self._sigs[c] for band in fp.bands for c in self._buckets.get(band, [])}
        return decide(fp, self._exact.get(fp.exact), candidates, self.threshold)
