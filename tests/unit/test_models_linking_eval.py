"""Linking evaluation: the `text,tickers` set loader, the scores, `model eval-linking`."""

import json

import pytest
from click.testing import CliRunner

from models.errors import DataFormatError
from models.linkeval import LinkCase, is_link_set, load_link_set, mistakes, scores
from models.testing import tiny_model_dir
from tickerpulse.cli.main import cli

ROWS = (
    "text,tickers\n"
    "Apple shares fall 5% after weak iPhone sales,AAPL\n"
    '"Walmart and Target slash prices, again",WMT TGT\n'
    "BG Group appoints new CEO,\n"
    "I baked an apple pie,\n"
    "Oracle wins a cloud deal,ORCL\n"
)


@pytest.fixture()
def link_set(tmp_path):
    path = tmp_path / "set.csv"
    path.write_text(ROWS)
    return path


@pytest.fixture()
def run(monkeypatch, tmp_path):
    monkeypatch.setenv("TICKERPULSE_MODEL__CACHE_DIR", str(tmp_path / "cache"))  # no model
    monkeypatch.setenv("TICKERPULSE_ENGINE__BACKEND", "torch")
    monkeypatch.delenv("TICKERPULSE_STREAM__TICKER_UNIVERSE_FILE", raising=False)

    def invoke(*args):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_load_link_set(link_set):
    cases = load_link_set(link_set)
    assert [sorted(c.gold) for c in cases] == [["AAPL"], ["TGT", "WMT"], [], [], ["ORCL"]]
    assert is_link_set(link_set)


@pytest.mark.parametrize(("body", "line", "message"), [
    ("text,tickers\nok,AAPL\nbad,A B$\n", 3, "'B$' is not a ticker"),
    ("text,tickers\nok,AAPL\n,MSFT\n", 3, "empty text"),
    ("text,label\nok,positive\n", 1, "header must name the columns text,tickers"),
])
def test_a_bad_row_names_file_and_line(tmp_path, body, line, message):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(DataFormatError) as err:
        load_link_set(path)
    assert str(err.value) == f"{path}:{line}: {message}"


def test_scores_are_micro_precision_and_recall():
    cases = [LinkCase("a", frozenset({"AAPL"})), LinkCase("b", frozenset({"TGT", "WMT"})),
             LinkCase("c", frozenset())]
    found = [{"AAPL"}, {"WMT"}, {"BG"}]
    s = scores(cases, found)
    assert (s["correct"], s["predicted"], s["gold"]) == (2, 3, 3)
    assert s["precision"] == s["recall"] == 0.6667 and s["exact"] == 0.3333
    assert [m["text"] for m in mistakes(cases, found)] == ["b", "c"]
    assert mistakes(cases, found)[1]["wrong"] == ["BG"]


def test_eval_linking_without_a_model_scores_the_linker(run, link_set):
    result = run("model", "eval-linking", "--data", str(link_set), "--errors", "5", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["model"] is None and report["universe"] == "embedded"
    linker = report["linker"]
    # Oracle without evidence is missed; everything linked is right (BG Group, apple pie)
    assert (linker["correct"], linker["predicted"], linker["gold"]) == (3, 3, 4)
    assert "-ORCL" in result.output and "Oracle wins a cloud deal" in result.output


def test_eval_linking_with_a_model_scores_both(run, link_set, tmp_path):
    model = tiny_model_dir(tmp_path / "tiny")  # random weights: entities are noise
    result = run("model", "eval-linking", "--data", str(link_set), "--model", str(model),
                 "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["model"]["n"] == 5 and report["model_version"]
    assert report["linker"]["precision"] == 1.0


def test_eval_linking_reads_an_sec_file_as_universe(run, link_set, tmp_path):
    sec = tmp_path / "company_tickers.json"
    sec.write_text(json.dumps({"0": {"cik_str": 1, "ticker": "ORCQ", "title": "ORQ CORP"}}))
    result = run("model", "eval-linking", "--data", str(link_set), "--universe", str(sec),
                 "--no-model", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["universe"] == str(sec)


def test_eval_linking_bad_set_is_a_clear_error(run, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,tickers\nok,A B$\n")
    result = run("model", "eval-linking", "--data", str(path), "--no-model")
    assert result.exit_code != 0 and f"{path}:2:" in result.output
