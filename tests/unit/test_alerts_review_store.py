"""The review queue in SQL (alerts.store.review) on SQLite and PostgreSQL, and the
`tickerpulse model review` export -> label -> import round trip against it."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from pydantic import ValidationError

from alerts.store.review import Label, ReviewStore
from alerts.store.tables import ReviewLabel
from streams.contracts import MAX_DOC_ID_LENGTH, MAX_MODEL_VERSION_LENGTH, ReviewCandidate
from tickerpulse.cli.main import cli

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def candidate(i: int, priority: float = 0.8, text: str | None = None, source: str = "wire",
              targets: list[dict] | None = None) -> ReviewCandidate:
    return ReviewCandidate.model_validate({
        "doc_id": f"news:{source}:{i}", "kind": "news", "source": source,
        "text": text or f"Apple item {i} moves", "text_hash": f"h{i}" if text is None
        else f"t{abs(hash(text))}", "model_version": "m1", "label": "positive",
        "probabilities": {"negative": 0.3, "neutral": 0.3, "positive": 0.4},
        "confidence": 0.4, "reasons": ["low_confidence"], "priority": priority,
        "targets": targets if targets is not None else [
            {"text": "Apple", "ticker": "AAPL", "label": "negative", "confidence": 0.6,
             "source": "entity"}],
        "scored_at": T0})


@pytest.fixture
def store(db_url: str) -> ReviewStore:
    s = ReviewStore(db_url, max_items=5, migrate=True)
    yield s
    s.close()


def test_adding_again_changes_nothing_and_an_exact_copy_is_not_stored(
        store: ReviewStore) -> None:
    first = store.add([candidate(1), candidate(2)], T0)
    assert (first.added, first.duplicates) == (2, 0)
    copy = candidate(3).model_copy(update={"text_hash": "h1"})  # same text, other document
    again = store.add([candidate(1), candidate(2), copy], T0 + timedelta(minutes=1))
    assert (again.added, again.duplicates, again.evicted) == (0, 3, 0)
    rows = store.for_export(10)
    assert [r.doc_id for r in rows] == ["news:wire:1", "news:wire:2"]
    assert all(r.exported_at is None for r in rows)


def test_overflow_evicts_the_lowest_priority_unlabelled_keeping_labelled_ones(
        store: ReviewStore) -> None:
    store.add([candidate(i, priority=0.1 * i) for i in range(1, 6)], T0)  # 0.1 .. 0.5
    lowest = store.for_export(10)[-1]
    assert lowest.doc_id == "news:wire:1"
    store.record_labels([Label(lowest.id, "", "neutral")], "ana", T0)  # labelled: kept
    result = store.add([candidate(6, 0.9), candidate(7, 0.05), candidate(8, 0.6)], T0)
    # 4 unlabelled + 3 new = 7 > 5: the two lowest unlabelled go (0.05 and 0.2)
    assert (result.added, result.evicted) == (3, 2)
    waiting = {r.doc_id: r.priority for r in store.for_export(10)}
    assert sorted(waiting) == ["news:wire:3", "news:wire:4", "news:wire:5", "news:wire:6",
                               "news:wire:8"]
    assert store.stats()["items"] == 6  # 5 unlabelled + the labelled one


def test_exported_items_are_evicted_after_those_still_waiting(store: ReviewStore) -> None:
    store.add([candidate(i, priority=0.1 * i) for i in range(1, 6)], T0)
    out = store.for_export(1, ) + store.for_export(5)[-1:]  # the highest and the lowest
    store.mark_exported([r.id for r in out], T0)
    store.add([candidate(6, 0.9)], T0)
    stats = store.stats()
    assert stats["exported_unlabelled"] == 2 and stats["waiting"] == 3
    assert [r.doc_id for r in store.for_export(10)] == ["news:wire:6", "news:wire:4",
                                                         "news:wire:3"]


def test_export_order_filters_and_marking(store: ReviewStore) -> None:
    store.add([candidate(1, 0.6), candidate(2, 0.9, source="x"), candidate(3, 0.7)], T0)
    assert [r.doc_id for r in store.for_export(2)] == ["news:x:2", "news:wire:3"]
    assert [r.doc_id for r in store.for_export(5, source="wire")] == ["news:wire:3",
                                                                     "news:wire:1"]
    assert store.for_export(5, kind="social") == []
    assert store.mark_exported([r.id for r in store.for_export(2)], T0) == 2
    assert [r.doc_id for r in store.for_export(5)] == ["news:wire:1"]


def test_labels_record_who_and_when_and_the_latest_wins(store: ReviewStore,
                                                        db_url: str) -> None:
    store.add([candidate(1)], T0)
    (item,) = store.for_export(1)
    first = store.record_labels([Label(item.id, "", "negative"),
                                 Label(item.id, "Apple", "negative"), Label(999, "", "neutral")],
                                "ana", T0)
    assert (first.recorded, first.changed, first.unchanged, first.missing) == (2, 0, 0, [999])
    later = T0 + timedelta(hours=1)
    second = store.record_labels([Label(item.id, "", "negative"),
                                  Label(item.id, "Apple", "neutral")], "bo", later)
    assert (second.recorded, second.changed, second.unchanged) == (0, 1, 1)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ReviewLabel.entity, ReviewLabel.label,
                                      ReviewLabel.labelled_by)
                            .order_by(ReviewLabel.entity)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("", "negative", "ana"), ("Apple", "neutral", "bo")]
    stored = {s.entity: s for s in store.labels()}
    assert stored[""].labelled_at == T0 and stored["Apple"].labelled_at == later
    assert store.for_export(5) == []  # labelled: not offered again


# ---- the CLI round trip -------------------------------------------------------------------


def run(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["model", "review", *args],
                                env={"TICKERPULSE_ALERTS__DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    return result.output


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_export_label_import_round_trip(store: ReviewStore, db_url: str,
                                        tmp_path: Path) -> None:
    store.add([candidate(1, 0.9, text='Apple "falls", Nvidia rises\nsharply'),
               candidate(2, 0.7, targets=[]), candidate(3, 0.5)], T0)
    out = tmp_path / "batch.csv"
    said = run(db_url, "export", "--n", "2", "--out", str(out))
    assert "2 items to" in said and "1 entity rows" in said
    docs, ents = read(out), read(tmp_path / "batch.entities.csv")
    assert list(docs[0]) == ["review_id", "text", "label", "predicted", "confidence",
                             "reasons", "source"]
    assert list(ents[0]) == ["review_id", "text", "entity", "label", "predicted", "confidence"]
    assert docs[0]["text"] == 'Apple "falls", Nvidia rises\nsharply'  # quoted, kept whole
    assert [(d["label"], d["predicted"], d["reasons"]) for d in docs] == [
        ("", "positive", "low_confidence")] * 2
    assert [(e["entity"], e["predicted"]) for e in ents] == [("Apple", "negative")]
    # the second export offers only what was not exported
    assert "1 items" in run(db_url, "export", "--out", str(tmp_path / "next.csv"))
    refused = CliRunner().invoke(cli, ["model", "review", "export", "--out", str(out)],
                                 env={"TICKERPULSE_ALERTS__DATABASE_URL": db_url})
    assert refused.exit_code != 0 and "exists" in refused.output

    docs[0]["label"] = "Negative"  # a labeller's capital letter is fine
    write(out, docs)  # the second row left empty: skipped
    ents[0]["label"] = "negative"
    write(tmp_path / "batch.entities.csv", ents)
    said = run(db_url, "import", str(out), "--by", "ana")
    assert "1 recorded" in said and "1 rows without a label skipped" in said
    assert "1 recorded" in run(db_url, "import", str(tmp_path / "batch.entities.csv"),
                               "--by", "ana")
    stored = store.labels()
    assert [(s.item.doc_id, s.entity, s.label, s.labelled_by) for s in stored] == [
        ("news:wire:1", "", "negative", "ana"), ("news:wire:1", "Apple", "negative", "ana")]

    train = tmp_path / "train.csv"
    run(db_url, "labels", "--out", str(train))
    assert [(r["text"], r["label"]) for r in read(train)] == [(docs[0]["text"], "negative")]
    assert [(r["entity"], r["label"], r["labelled_by"])
            for r in read(tmp_path / "train.entities.csv")] == [("Apple", "negative", "ana")]


@pytest.mark.parametrize(("cell", "column", "message"), [
    ("maybe", "label", "label 'maybe' is not one of negative, neutral, positive"),
    ("x7", "review_id", "review_id 'x7' is not a number"),
])
def test_a_bad_row_names_file_and_line_and_nothing_is_imported(
        store: ReviewStore, db_url: str, tmp_path: Path, cell: str, column: str,
        message: str) -> None:
    store.add([candidate(1), candidate(2)], T0)
    out = tmp_path / "b.csv"
    run(db_url, "export", "--out", str(out))
    rows = read(out)
    rows[0]["label"] = "positive"
    rows[1]["label"] = "neutral"
    rows[1][column] = cell
    write(out, rows)
    result = CliRunner().invoke(cli, ["model", "review", "import", str(out)],
                                env={"TICKERPULSE_ALERTS__DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert f"{out}:3: {message} (nothing imported)" in result.output
    assert store.labels() == []


def test_an_entity_that_is_not_in_the_text_is_refused(store: ReviewStore, db_url: str,
                                                      tmp_path: Path) -> None:
    store.add([candidate(1)], T0)
    out = tmp_path / "c.csv"
    run(db_url, "export", "--out", str(out))
    side = tmp_path / "c.entities.csv"
    rows = read(side)
    rows[0].update(entity="Microsoft", label="positive")
    write(side, rows)
    result = CliRunner().invoke(cli, ["model", "review", "import", str(side)],
                                env={"TICKERPULSE_ALERTS__DATABASE_URL": db_url})
    assert result.exit_code == 1 and "c.entities.csv:2: entity 'Microsoft' is not in the text" \
        in result.output
    assert store.labels() == []


def test_what_the_contract_lets_through_fits_the_columns(store: ReviewStore) -> None:
    """The longest document id ingest makes and the longest model version the contract takes
    are stored (on PostgreSQL too, whose columns enforce their lengths); anything longer is
    refused by the contract, so the review consumer dead-letters it instead of retrying."""
    longest_id = "filing:" + "%3A" * 128 + ":" + "%3A" * 256
    assert len(longest_id) == MAX_DOC_ID_LENGTH
    big = candidate(1).model_copy(update={"doc_id": longest_id, "source": "s" * 128,
                                          "model_version": "m" * MAX_MODEL_VERSION_LENGTH})
    assert store.add([big], T0).added == 1
    raw = candidate(2).model_dump(mode="json")
    for field, value in (("doc_id", "x" * (MAX_DOC_ID_LENGTH + 1)), ("source", "s" * 129),
                         ("model_version", "m" * (MAX_MODEL_VERSION_LENGTH + 1)),
                         ("reasons", ["low_confidence"] * 5)):
        with pytest.raises(ValidationError):
            ReviewCandidate.model_validate({**raw, field: value})
