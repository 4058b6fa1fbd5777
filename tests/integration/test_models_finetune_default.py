"""Slow: continual fine-tuning of the real default model, through the CLI.

Correct labels on training texts pass the guard and write a model whose card names its
parent; labels flipped positive <-> negative on a few hundred training texts (oversampled)
are refused: exit code 3, no output directory. Both compare with the parent's card on the
full validation split.
"""

from __future__ import annotations

import csv
import json
import random

import pytest
from click.testing import CliRunner

from models.card import read_card
from models.data import load_corpus
from models.settings import ModelSettings
from models.store import load_model
from support.models import default_model_or_skip
from tickerpulse.cli.main import cli

pytestmark = [pytest.mark.slow, pytest.mark.integration]
SETTINGS = ModelSettings()
FLIP = {"positive": "negative", "negative": "positive"}


@pytest.fixture(scope="module")
def parent():
    path = default_model_or_skip(SETTINGS)
    card = read_card(path) or {}
    seed = card.get("hyperparameters", {}).get("seed", SETTINGS.seed)
    return path, card, load_corpus(SETTINGS.data_dir, seed)


def _review_export(path, rows):
    """The review queue's document export format."""
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["review_id", "text", "label", "predicted", "confidence", "reasons",
                      "source"])
        for i, (text, label) in enumerate(rows):
            out.writerow([f"r{i}", text, label, "neutral", "0.5", "low_confidence", "news"])
    return path


def _train(*args):
    result = CliRunner().invoke(cli, ["model", "train", *map(str, args)], catch_exceptions=False)
    return result, json.loads(result.output.strip().splitlines()[-1])


def test_correct_labels_pass_the_guard_and_the_card_names_the_parent(parent, tmp_path):
    path, card, corpus = parent
    rows = random.Random(1).sample(corpus.sentiment_train, 200)
    good = _review_export(tmp_path / "good.csv", [(e.text, e.label) for e in rows])
    # a margin wider than the default 0.02: targets.mixed_accuracy rests on about 190 rows
    # (one standard error about 0.03), and CPUs without bf16 train slightly differently
    result, summary = _train("--from", path, "--add", good, "--output", tmp_path / "child",
                             "--steps", 60, "--max-drop", 0.04)
    print(result.output)  # the guard's table, the figures (pytest -s shows them)
    assert result.exit_code == 0, result.output
    child = read_card(tmp_path / "child")
    assert child["parent"]["version"] == card["version"] and summary["written"]
    assert child["added_data"]["files"][0]["rows"] == 200 and child["guard"]["passed"]
    assert (tmp_path / "child" / "onnx" / "model.int8.onnx").exists()
    assert child["reference_profile"]["model_version"] == child["version"]
    assert load_model(str(tmp_path / "child")).version == child["version"]


def test_flipped_labels_are_refused_and_nothing_is_written(parent, tmp_path):
    path, _card, corpus = parent
    polar = [e for e in corpus.sentiment_train if e.label in FLIP]
    rows = random.Random(2).sample(polar, 400)
    harmful = _review_export(tmp_path / "harm.csv", [(e.text, FLIP[e.label]) for e in rows])
    result, summary = _train("--from", path, "--add", harmful, "--output", tmp_path / "child",
                             "--steps", 60, "--add-repeat", 3, "--replay-ratio", 1)
    print(result.output)
    assert result.exit_code == 3, result.output
    assert not summary["written"] and summary["guard"]["failures"]
    assert not (tmp_path / "child").exists() and not list(tmp_path.glob(".child*"))
    assert "<--" in result.output and "nothing written" in result.output
