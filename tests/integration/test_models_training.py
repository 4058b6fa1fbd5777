"""Slow: real training steps on a slice of the shared data; golden predictions when built."""

from __future__ import annotations

import numpy as np
import pytest

from models.data import Corpus, load_corpus
from models.settings import EngineSettings, ModelSettings
from models.store import META_FILE, default_model_dir, load_model
from models.train import TrainConfig, train

pytestmark = pytest.mark.slow
SETTINGS = ModelSettings()


@pytest.fixture(scope="module")
def corpus():
    if not (SETTINGS.data_dir / "tfns_train.csv").exists():
        pytest.skip(f"no shared data at {SETTINGS.data_dir}")
    return load_corpus(SETTINGS.data_dir, seed=7)


def test_few_real_training_steps_lower_the_loss_and_evaluate(corpus, tmp_path):
    small = Corpus(
        corpus.sentiment_train[:192],
        {"fpb": corpus.sentiment_val["fpb"][:48]},
        corpus.entity_train[:64],
        corpus.entity_val[:24],
        corpus.target_train[:64],
        corpus.target_val[:24],
    )
    cfg = TrainConfig(
        base=SETTINGS.base_checkpoint,
        output=tmp_path / "m",
        lr=1e-4,
        head_lr=1e-3,
        epochs=1,
        batch_size=16,
        threads=1,
        log_dir=tmp_path / "tb",
        gazetteer=False,
    )
    result = train(cfg, small, show_progress=False)
    losses = result.losses
    assert len(losses) == 20  # (192 + 64 + 64) / 16: one pass
    assert np.mean(losses[-4:]) < np.mean(losses[:4])  # it learns
    metrics = result.card["validation_metrics"]
    assert metrics["fpb"]["n"] == 48 and 0 <= metrics["fpb"]["accuracy"] <= 1
    assert metrics["entities"]["n"] == 24
    assert metrics["targets"]["n"] >= 24 and "document_baseline" in metrics["targets"]
    assert any((tmp_path / "tb").iterdir())  # TensorBoard event file
    loaded = load_model(str(result.directory))
    assert loaded.version == result.card["version"] and loaded.kind == "tickerpulse"


def test_fixed_steps_give_the_same_model_twice(corpus, tmp_path):
    """The build is reproducible: a step count, not a time budget, ends it."""
    small = Corpus(
        corpus.sentiment_train[:64], {"fpb": corpus.sentiment_val["fpb"][:16]},
        corpus.entity_train[:32], corpus.entity_val[:8],
        corpus.target_train[:32], corpus.target_val[:8],
    )
    versions = []
    for run in ("a", "b"):
        cfg = TrainConfig(
            base=SETTINGS.base_checkpoint, output=tmp_path / run, steps=6, batch_size=8,
            eval_every=3, patience=None, threads=1, gazetteer=False,
        )
        result = train(cfg, small, show_progress=False)
        assert len(result.losses) == 6 and result.card["steps"] == 6
        versions.append(result.card["version"].rsplit("-", 1)[1])  # the weights' digest
    assert versions[0] == versions[1]


GOLDEN = [
    (
        "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period.",
        "positive",
    ),
    ("The company swung to a net loss and cut its full-year outlook.", "negative"),
    ("The annual general meeting will be held in Helsinki on 5 April.", "neutral"),
    ("$AAPL hits an all-time high as iPhone sales beat expectations", "positive"),
    ("Shares of Boeing plunge after the FAA grounds the fleet", "negative"),
]


@pytest.fixture(scope="module")
def default_engine():
    path = default_model_dir(SETTINGS.cache_dir)
    if not (path / META_FILE).exists():
        pytest.skip("default model not built (run `tickerpulse model build-default`)")
    from models.loader import load_engine

    with load_engine(SETTINGS, EngineSettings()) as engine:
        yield engine


def test_golden_sentiment_of_the_default_model(default_engine):
    preds = default_engine.predict_sync([text for text, _ in GOLDEN])
    assert [p.sentiment for p in preds] == [label for _, label in GOLDEN]
    assert all(p.model_version.startswith("tp-default-") for p in preds)


def test_golden_entities_and_links_of_the_default_model(default_engine):
    [pred] = default_engine.predict_sync(
        ["Microsoft Corp. agreed to buy Activision, said Satya Nadella in Seattle."]
    )
    found = {(e.label, e.text) for e in pred.entities}
    assert ("ORG", "Microsoft Corp.") in found or ("ORG", "Microsoft") in found
    assert ("PER", "Satya Nadella") in found
    assert "MSFT" in {t.ticker for t in pred.tickers}
    [pie] = default_engine.predict_sync(["I baked an apple pie for the office party."])
    assert "AAPL" not in {t.ticker for t in pie.tickers}
