"""Continual fine-tuning with tiny random models on a small synthetic data folder."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch
from click.testing import CliRunner

from models.added_data import header_kind, load_added
from models.card import read_card, write_card
from models.data import load_corpus
from models.errors import DataFormatError, ModelFormatError
from models.evaluate import validate
from models.finetune import FineTuneConfig, finetune, rehearsal
from models.settings import ModelSettings
from models.store import load_model, weights_digest
from models.testing import tiny_model_dir
from tickerpulse.cli.main import cli

WORDS = {"positive": "rises gains beats", "negative": "falls loses misses",
         "neutral": "holds meets reports"}
COMPANIES = ("Apple", "Nokia", "Tesla", "Intel", "Oracle", "Siemens")


def _sentences(n, seed):
    rng = random.Random(seed)
    for i in range(n):
        label = ("positive", "negative", "neutral")[i % 3]
        yield f"{rng.choice(COMPANIES)} {rng.choice(WORDS[label].split())} item {seed}-{i}", label


def _csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _conll(path, n, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    blocks = [f"{rng.choice(COMPANIES)}\tB-ORG\nshares\tO\nrose\tO\n" for _ in range(n)]
    path.write_text("\n".join(blocks))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _csv(root / "fpb_50agree_train.csv", ["text", "label"], _sentences(60, 1))
    _csv(root / "tfns_train.csv", ["text", "label"], _sentences(60, 2))
    _conll(root / "ner/finer_ord_train.conll", 20, 3)
    _conll(root / "ner/finer_ord_validation.conll", 6, 4)
    rows = [(t, t.split()[0], label) for t, label in _sentences(40, 5)]
    _csv(root / "entity_sentiment/sentfin_train.csv", ["text", "entity", "label"], rows)
    return root


@pytest.fixture()
def settings(data_dir, tmp_path):
    return ModelSettings(data_dir=data_dir, cache_dir=tmp_path / "cache")


@pytest.fixture()
def added(tmp_path):
    """A review export of each kind (the review queue's headers)."""
    docs = [("r1", "Nokia beats estimates again", "positive", "neutral", "0.51", "x", "news"),
            ("r2", "Intel misses on margins", "negative", "neutral", "0.48", "y", "social"),
            ("r3", "Oracle holds its annual meeting", "neutral", "neutral", "0.6", "", "news")]
    ents = [("r4", "Apple gains while Tesla falls", "Apple", "positive", "neutral", "0.4"),
            ("r5", "Apple gains while Tesla falls", "Tesla", "negative", "neutral", "0.4")]
    return [
        _csv(tmp_path / "review_docs.csv",
             ["review_id", "text", "label", "predicted", "confidence", "reasons", "source"], docs),
        _csv(tmp_path / "review_entities.csv",
             ["review_id", "text", "entity", "label", "predicted", "confidence"], ents),
    ]


def _cfg(parent, output, added, **kw):
    base = {"steps": 3, "batch_size": 4, "max_drop": 1.0, "serving_files": False, "lr": 1e-3,
            "head_lr": 1e-3}
    return FineTuneConfig(parent=parent, output=output, added=added, **{**base, **kw})


def test_added_files_are_read_by_header(added, tmp_path):
    assert [header_kind(p) for p in added] == ["sentiment", "targets"]
    data = load_added(added)
    assert [e.source for e in data.sentiment] == ["review"] * 3
    assert len(data.targets) == 1 and len(data.targets[0].targets) == 2  # grouped by text
    assert data.files[0]["labels"] == {"positive": 1, "negative": 1, "neutral": 1}
    assert data.files[1]["rows"] == 2 and len(data.files[1]["sha256"]) == 64
    bad = _csv(tmp_path / "bad.csv", ["sentence", "sentiment"], [("a", "positive")])
    with pytest.raises(DataFormatError, match="header"):
        load_added([bad])


def test_rehearsal_mixes_the_ratio_from_training_rows_only(data_dir, added):
    corpus = load_corpus(data_dir, 42)
    data = load_added(added)
    relabel = corpus.sentiment_train[0]
    data.sentiment.append(type(relabel)(relabel.text, "negative", "review"))
    mix = rehearsal(corpus, data, 4.0, 42)
    replayed = len(mix.sentiment_train) + len(mix.entity_train) + len(mix.target_train) - data.rows
    assert abs(replayed - 4 * data.rows) <= 3  # rounding per kind
    held = {e.text for rows in corpus.sentiment_val.values() for e in rows}
    assert not held & {e.text for e in mix.sentiment_train}
    labels = [e.label for e in mix.sentiment_train if e.text == relabel.text]
    assert labels == ["negative"]  # the original row of a relabelled text is not replayed
    assert rehearsal(corpus, data, 4.0, 42).sentiment_train == mix.sentiment_train  # seeded


def test_from_a_model_writes_a_child_naming_its_parent_and_the_added_data(
        tmp_path, added, settings):
    parent = tiny_model_dir(tmp_path)
    before = weights_digest(load_model(str(parent)).network)
    result = finetune(_cfg(parent, tmp_path / "child", added, serving_files=True), settings,
                      show_progress=False)
    assert result.written and result.directory == tmp_path / "child"
    card = read_card(result.directory)
    assert card["parent"] == {"version": "tiny-0", "path": str(parent.resolve()),
                              "weights_digest": before}
    files = {f["kind"]: f for f in card["added_data"]["files"]}
    assert files["sentiment"]["rows"] == 3 and files["targets"]["rows"] == 2
    assert card["method"] == {"kind": "full"} and card["guard"]["passed"]
    assert card["guard"]["parent_metrics_from"] == "re-evaluated"  # the tiny card has none
    assert sum(card["rehearsal"]["rows"].values()) > 0
    assert card["version"].startswith("tp-ft-") and "## Lineage" in (
        result.directory / "README.md").read_text()
    child = load_model(str(result.directory))
    assert child.version == card["version"] and weights_digest(child.network) != before
    assert (result.directory / "onnx" / "model.int8.onnx").exists()
    assert card["reference_profile"]["model_version"] == card["version"]
    assert not list(tmp_path.glob(".child.partial-*"))


def _perfect_parent(tmp_path, settings):
    """A parent whose card claims perfect held-out figures: any real model drops below."""
    parent = tiny_model_dir(tmp_path)
    corpus = load_corpus(settings.data_dir, 42)
    metrics = validate(load_model(str(parent)), corpus.sentiment_val, corpus.entity_val, 64,
                       corpus.target_val)
    for m in metrics.values():
        if isinstance(m, dict):
            m.update({k: 1.0 for k in ("accuracy", "macro_f1", "f1", "mixed_accuracy") if k in m})
            m.get("per_type_f1", {}).update(ORG=1.0)
    write_card(parent, {"version": "tiny-0", "base": "tiny", "validation_metrics": metrics,
                        "hyperparameters": {"seed": 42, "max_length": 64},
                        "created": "2026-01-01T00:00:00+00:00", "training_seconds": 1.0,
                        "data": {}, "libraries": {}})
    return parent


def test_the_guard_refuses_a_drop_and_writes_nothing_unless_forced(tmp_path, added, settings):
    parent = _perfect_parent(tmp_path, settings)
    result = finetune(_cfg(parent, tmp_path / "child", added, max_drop=0.02), settings,
                      show_progress=False)
    assert not result.written and not result.guard.passed and result.guard.failures
    assert not (tmp_path / "child").exists() and not list(tmp_path.glob(".child*"))
    assert result.card["guard"]["parent_metrics_from"] == "card"
    forced = finetune(_cfg(parent, tmp_path / "child", added, max_drop=0.02, force=True),
                      settings, show_progress=False)
    card = read_card(forced.directory)
    assert forced.written and card["guard"]["overridden"] and not card["guard"]["passed"]


def _logits(network, text="Apple gains while Tesla falls"):
    ids = torch.tensor([[101, 6207, 12154, 2096, 26060, 4212, 102]])
    with torch.inference_mode():
        return network.eval()(ids).logits


def test_a_lora_child_is_small_loads_merged_and_matches_peft(tmp_path, added, settings):
    from peft import PeftModel

    parent = tiny_model_dir(tmp_path)
    result = finetune(_cfg(parent, tmp_path / "lora", added, lora=True, lora_r=4), settings,
                      show_progress=False)
    out = result.directory
    assert not (out / "model.safetensors").exists() and (out / "adapter_model.safetensors").exists()
    assert json.loads((out / "tickerpulse_model.json").read_text())["adapter_of"]["version"] == (
        "tiny-0")
    assert read_card(out)["method"]["kind"] == "lora" and read_card(out)["method"]["r"] == 4
    weights = (out / "adapter_model.safetensors").stat().st_size
    assert weights < 0.1 * (parent / "model.safetensors").stat().st_size
    assert result.sizes["artefact"] < 0.5 * result.sizes["parent"]
    served = load_model(str(out))
    assert served.version == read_card(out)["version"] and served.kind == "tickerpulse"
    by_hand = PeftModel.from_pretrained(load_model(str(parent)).network, str(out))
    by_hand = by_hand.merge_and_unload()
    assert torch.allclose(_logits(served.network), _logits(by_hand), atol=1e-5)
    assert not torch.allclose(_logits(served.network), _logits(load_model(str(parent)).network))

    shutil.rmtree(parent)  # the parent changes under the adapter: refused, clearly
    tiny_model_dir(tmp_path, seed=1)
    with pytest.raises(ModelFormatError, match="only fits the model it was trained on"):
        load_model(str(out))
    shutil.rmtree(parent)
    with pytest.raises(ModelFormatError, match="not there"):
        load_model(str(out))


@pytest.fixture()
def run(monkeypatch, tmp_path, data_dir):
    monkeypatch.setenv("TICKERPULSE_MODEL__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TICKERPULSE_MODEL__DATA_DIR", str(data_dir))
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["model", "train", *map(str, args)],
                                       catch_exceptions=False)


def test_cli_train_from_writes_a_child_and_the_guard_exits_non_zero(run, tmp_path, added,
                                                                     settings):
    parent = tiny_model_dir(tmp_path)
    common = ("--steps", 2, "--batch-size", 4, "--add", added[0], "--add", added[1])
    ok = run("--from", parent, "--output", tmp_path / "ok", "--max-drop", 1.0, *common)
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.output.strip().splitlines()[-1])
    assert summary["written"] and summary["parent"]["version"] == "tiny-0"
    assert "fpb.accuracy" in ok.output and "guard (max drop 1.000): passed" in ok.output
    assert read_card(tmp_path / "ok")["parent"]["version"] == "tiny-0"

    strict = _perfect_parent(tmp_path / "p", settings)
    bad = run("--from", strict, "--output", tmp_path / "bad", *common)
    assert bad.exit_code == 3 and not (tmp_path / "bad").exists()
    assert "FAILED" in bad.output and "<--" in bad.output and "nothing written" in bad.output
    assert run("--output", tmp_path / "x", "--add", added[0]).exit_code != 0  # --add needs --from
