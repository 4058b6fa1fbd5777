from collections import Counter

import pytest

from models.data import SentimentExample, load_conll, load_csv, stratified_split
from models.errors import DataFormatError


def test_load_csv_reads_rows(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text('text,label\n"Profit rose , it said",positive\nflat,Neutral\n')
    rows = load_csv(f)
    assert [(r.text, r.label) for r in rows] == [
        ("Profit rose , it said", "positive"),
        ("flat", "neutral"),
    ]
    assert rows[0].source == "a"


@pytest.mark.parametrize(
    "body, line, fragment",
    [
        ("text,label\nok,positive\nbad,great\n", 3, "label 'great'"),
        ("text,label\nok,positive,extra\n", 2, "2 columns"),
        ("words,sentiment\nok,positive\n", 1, "header"),
        ("text,label\n,positive\n", 2, "empty text"),
    ],
)
def test_load_csv_errors_name_file_and_line(tmp_path, body, line, fragment):
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(DataFormatError) as err:
        load_csv(f)
    assert err.value.line == line
    assert str(err.value).startswith(f"{f}:{line}:")
    assert fragment in str(err.value)


def test_load_conll_sentences_and_types(tmp_path):
    f = tmp_path / "a.conll"
    f.write_text("Apple\tB-ORG\nrose\tO\n\nTim\tB-PER\nCook\tI-PER\nX\tB-MISC\n")
    sents = load_conll(f)
    assert [s.words for s in sents] == [("Apple", "rose"), ("Tim", "Cook", "X")]
    assert sents[1].tags == ("B-PER", "I-PER", "O")  # MISC is not served: O
    assert sents[1].text == "Tim Cook X"
    assert sents[1].word_spans() == [(0, 3), (4, 8), (9, 10)]


@pytest.mark.parametrize("line", ["Apple\tB_ORG", "Apple", "Apple\tX-ORG"])
def test_load_conll_bad_line(tmp_path, line):
    f = tmp_path / "bad.conll"
    f.write_text(f"ok\tO\n\n{line}\n")
    with pytest.raises(DataFormatError) as err:
        load_conll(f)
    assert err.value.line == 3


def test_stratified_split_is_seeded_stratified_and_disjoint():
    rows = [SentimentExample(f"t{i}", lab, "s") for i, lab in enumerate(["a"] * 80 + ["b"] * 20)]
    rows.append(SentimentExample("t0", "a", "s"))  # a duplicate text
    train, val = stratified_split(rows, 0.2, seed=1)
    assert Counter(r.label for r in val) == {"a": 16, "b": 4}
    assert not {r.text for r in train} & {r.text for r in val}
    again_train, again_val = stratified_split(rows, 0.2, seed=1)
    assert [r.text for r in val] == [r.text for r in again_val]
    other = stratified_split(rows, 0.2, seed=2)[1]
    assert [r.text for r in other] != [r.text for r in val]
