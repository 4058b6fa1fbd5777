import json

import numpy as np
import pytest
import torch
import yaml
from transformers import BertConfig, BertForSequenceClassification

from models.card import read_card
from models.errors import ModelFormatError, ModelNotFoundError
from models.shapes import encode, pad_batch
from models.store import META_FILE, default_model_dir, load_model, save_model, serving_path
from models.testing import tiny_model_dir, tiny_network


def _forward(loaded, texts):
    arrays = pad_batch(encode(loaded.tokenizer, texts, 32), loaded.tokenizer.pad_token_id)
    with torch.no_grad():
        out = loaded.network(**{k: torch.from_numpy(v) for k, v in arrays.items()})
    tags = out.entity_logits
    return out.logits.numpy(), None if tags is None else tags.numpy()


def test_tiny_model_shapes_and_round_trip(tmp_path):
    path = tiny_model_dir(tmp_path)
    loaded = load_model(str(path))
    assert loaded.kind == "tickerpulse" and loaded.version == "tiny-0"
    sent, tags = _forward(loaded, ["Apple rose", "a longer text about Nokia"])
    assert sent.shape == (2, 3) and tags.shape[0] == 2 and tags.shape[2] == 7
    again = load_model(str(path))
    np.testing.assert_allclose(_forward(again, ["Apple rose"])[0], sent[:1], atol=1e-5)


def test_save_writes_card_and_meta(tmp_path):
    network, tokenizer = tiny_network()
    card = {
        "version": "v1",
        "base": "tiny",
        "created": "now",
        "training_seconds": 1.0,
        "data": {},
        "hyperparameters": {},
        "libraries": {},
        "validation_metrics": {},
    }
    path = save_model(network, tokenizer, tmp_path / "m", version="v1", max_length=64, card=card)
    assert json.loads((path / META_FILE).read_text())["version"] == "v1"
    assert read_card(path)["version"] == "v1"
    text = (path / "README.md").read_text()
    assert "v1" in text
    header = yaml.safe_load(text.split("---\n")[1])  # the model-card metadata
    assert header["library_name"] == "transformers" and header["model-index"][0]["name"] == "v1"


def test_plain_bert_checkpoint_gets_fresh_heads(tmp_path):
    network, tokenizer = tiny_network()
    network.encoder.save_pretrained(tmp_path / "bert")
    tokenizer.save_pretrained(tmp_path / "bert")
    loaded = load_model(str(tmp_path / "bert"))
    assert loaded.kind == "fresh-heads" and loaded.has_entities
    assert loaded.version.startswith("bert-fresh-heads-")
    assert _forward(loaded, ["x"])[0].shape == (1, 3)


def test_sequence_classification_checkpoint_is_sentiment_only(tmp_path):
    _, tokenizer = tiny_network()
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
        id2label={0: "positive", 1: "negative", 2: "neutral"},
        label2id={"positive": 0, "negative": 1, "neutral": 2},
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(tmp_path / "clf")
    tokenizer.save_pretrained(tmp_path / "clf")
    loaded = load_model(str(tmp_path / "clf"))
    assert loaded.kind == "sentiment-only" and not loaded.has_entities
    arrays = pad_batch(encode(loaded.tokenizer, ["x y"], 16), 0)
    with torch.no_grad():
        raw = model(
            input_ids=torch.from_numpy(arrays["input_ids"]),
            attention_mask=torch.from_numpy(arrays["attention_mask"]),
        ).logits.numpy()
    sent, tags = _forward(loaded, ["x y"])
    assert tags is None
    np.testing.assert_allclose(sent[0], raw[0][[1, 2, 0]], atol=1e-5)  # reordered to neg/neu/pos


def test_not_a_model_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFormatError, match="not a model directory"):
        load_model(str(tmp_path / "empty"))


def test_serving_path_prefers_setting_then_default_then_explains(tmp_path):
    assert serving_path("/some/model", tmp_path) == "/some/model"
    with pytest.raises(ModelNotFoundError, match="tickerpulse model build-default"):
        serving_path(None, tmp_path)
    tiny_model_dir(tmp_path, name=default_model_dir(tmp_path).name)
    assert serving_path(None, tmp_path) == str(default_model_dir(tmp_path))


def test_an_older_format_is_not_current_and_says_rebuild(tmp_path):
    from models.store import FORMAT, is_current_model

    path = tiny_model_dir(tmp_path)
    assert is_current_model(path)
    meta = json.loads((path / META_FILE).read_text())
    (path / META_FILE).write_text(json.dumps({**meta, "format": FORMAT - 1}))
    assert not is_current_model(path) and not is_current_model(tmp_path / "absent")
    with pytest.raises(ModelFormatError, match="rebuild"):
        load_model(str(path))
