"""The reference profile through the real engine (tiny random model), stored in the card, and
the `tickerpulse model profile` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from models.api import load_engine
from models.card import CARD_JSON, read_card
from models.linking import TickerLinker
from models.profile import (
    CONFIDENCE_BINS,
    PROFILE_KEY,
    profile,
    read_profile,
    store_profile,
    unknown_counts,
)
from models.settings import EngineSettings, ModelSettings
from models.testing import tiny_model_dir
from streams.drift import references_by_kind

NEWS = ["Apple shares fall after weak quarter", "Microsoft beats estimates",
        "Operating profit rose to EUR 13.1 mn", "The company has 120 employees in Finland"]
TWEETS = ["$TSLA to the moon 🚀🚀", "Fed holds rates steady 👀", "$NVDA breakout 📈"]


def _card(directory: Path) -> None:
    card = {"version": "tiny-0", "base": "tiny", "created": "2026-01-01", "training_seconds": 0,
            "data": {}, "hyperparameters": {}, "libraries": {}}
    (directory / CARD_JSON).write_text(json.dumps(card))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tiny_model_dir(tmp_path_factory.mktemp("tiny"))
    _card(directory)
    return directory


def test_profile_through_the_engine_and_into_the_card(tiny_dir: Path, tmp_path: Path) -> None:
    engine = load_engine(ModelSettings(path=str(tiny_dir), cache_dir=tmp_path),
                         EngineSettings(backend="torch", max_wait_ms=0.0), TickerLinker.default())
    with engine:
        reference = profile(engine, {"fpb": NEWS, "tfns": TWEETS, "empty": []})
        preds = engine.predict_sync(NEWS)
    assert set(reference["sources"]) == {"fpb", "tfns"}
    fpb = reference["sources"]["fpb"]
    assert fpb["n"] == len(NEWS)
    assert sum(fpb["label_shares"].values()) == pytest.approx(1.0)
    assert len(fpb["confidence_hist"]) == CONFIDENCE_BINS
    assert sum(fpb["confidence_hist"]) == pytest.approx(1.0)
    expected = sum(p.sentiment == "negative" for p in preds) / len(NEWS)
    assert fpb["label_shares"]["negative"] == pytest.approx(expected)
    assert fpb["no_ticker_share"] == sum(not p.tickers for p in preds) / len(NEWS)
    # emoji are not in the uncased BERT vocabulary: tweets carry unknown tokens, news none
    assert fpb["unknown_token_share"] == 0.0 < reference["sources"]["tfns"]["unknown_token_share"]

    card = store_profile(tiny_dir, reference)
    assert card[PROFILE_KEY] == reference == read_profile(tiny_dir)
    assert read_card(tiny_dir)["version"] == "tiny-0"  # the rest of the card kept
    assert set(references_by_kind(read_profile(tiny_dir))) == {"news", "social", "filing"}


def test_unknown_counts_leave_special_tokens_out(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_dir))
    (unk, total), (unk2, total2) = unknown_counts(tokenizer, ["profit rose", "🚀 🚀 up"])
    assert (unk, total) == (0, 2)
    assert unk2 == 2 and total2 == 3


def test_store_profile_needs_a_card(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model card"):
        store_profile(tmp_path, {"sources": {}})


def test_profile_command_writes_the_card(tiny_dir: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tickerpulse.cli.main import cli

    data = tmp_path / "data"
    monkeypatch.setattr("models.profile.validation_texts",
                        lambda data_dir, seed: {"fpb": NEWS, "tfns": TWEETS})
    monkeypatch.setenv("TICKERPULSE_MODEL__DATA_DIR", str(data))
    monkeypatch.setenv("TICKERPULSE_MODEL__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TICKERPULSE_ENGINE__BACKEND", "torch")
    result = CliRunner().invoke(cli, ["model", "profile", "--model", str(tiny_dir)])
    assert result.exit_code == 0, result.output
    assert "reference profile stored" in result.output
    assert read_profile(tiny_dir)["sources"]["tfns"]["n"] == len(TWEETS)
