"""Novelty fingerprints and verdicts (the in-process index; Redis in the integration tests)."""

from __future__ import annotations

from streams.novelty import Fingerprint, MemoryNoveltyIndex, exact_hash, minhash, similarity

BASE = "Apple shares fall 5% after earnings miss as iPhone sales slow in China"


def test_exact_hash_ignores_case_urls_retweet_prefix_and_punctuation() -> None:
    assert exact_hash(BASE) == exact_hash("RT @trader: apple shares FALL 5%, after earnings miss "
                                          "as iPhone sales slow in China! https://t.co/abc")
    assert exact_hash(BASE) != exact_hash(BASE.replace("5%", "6%"))


def test_minhash_similarity_separates_reprints_from_other_news() -> None:
    reprint = BASE + " - Reuters"
    other = "Microsoft beats estimates on strong Azure growth and raises its guidance"
    assert similarity(minhash(BASE), minhash(reprint)) >= 0.7
    assert similarity(minhash(BASE), minhash(other)) <= 0.2


async def test_index_marks_exact_near_and_fresh_and_is_stable_on_replay() -> None:
    index = MemoryNoveltyIndex(threshold=0.6)
    first = await index.check(Fingerprint.of("a", BASE))
    exact = await index.check(Fingerprint.of("b", "RT @x: " + BASE))
    near = await index.check(Fingerprint.of("c", BASE + " - Reuters"))
    fresh = await index.check(Fingerprint.of("d", "Nvidia unveils a new data centre chip"))
    assert first.kind == "fresh"
    assert (exact.kind, exact.duplicate_of) == ("exact", "a")
    assert near.kind == "near" and near.duplicate_of in {"a", "b"} and near.similarity >= 0.6
    assert fresh.kind == "fresh"
    assert await index.check(Fingerprint.of("a", BASE)) == first  # replay: same verdict


def test_decide_prefers_the_most_similar_candidate_and_the_smallest_id_on_ties() -> None:
    from streams.novelty import decide

    fp = Fingerprint.of("d", BASE)
    sig = fp.signature
    three_quarters = sig.copy()
    three_quarters[:16] += 1
    half = sig.copy()
    half[:32] += 1
    cands = {"z": three_quarters, "b": three_quarters, "c": half, "d": sig,
             "short": sig[:8]}  # itself and a malformed signature are never candidates
    verdict = decide(fp, None, cands, 0.6)
    assert (verdict.kind, verdict.duplicate_of, verdict.similarity) == ("near", "b", 0.75)
    assert decide(fp, None, {"c": half}, 0.6).kind == "fresh"
    assert decide(fp, None, {}, 0.6).kind == "fresh"
    assert decide(fp, "a", cands, 0.6).duplicate_of == "a"  # the exact text wins
    assert decide(fp, "d", {"c": half}, 0.6).kind == "fresh"  # the first with its text
