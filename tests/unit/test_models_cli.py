import json
import re

import pytest
from click.testing import CliRunner

from models.store import default_model_dir
from models.testing import tiny_model_dir
from tickerpulse.cli.main import cli


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("cli"))


@pytest.fixture()
def run(monkeypatch, tmp_path):
    monkeypatch.setenv("TICKERPULSE_MODEL__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TICKERPULSE_ENGINE__BACKEND", "torch")
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def last_json(output):
    return json.loads(output.strip().splitlines()[-1])


def test_model_group_lists_commands(run):
    result = run("model", "--help")
    for name in ("train", "build-default", "eval", "eval-entities", "eval-targets", "predict"):
        assert name in result.output


def test_eval_json_contract_and_plots(run, tiny_dir, tmp_path):
    data = tmp_path / "s.csv"
    data.write_text(
        "text,label\nProfit rose,positive\nLoss widened,negative\nMeeting held,neutral\n"
        "Sales up,positive\n"
    )
    result = run(
        "model",
        "eval",
        "--data",
        str(data),
        "--model",
        str(tiny_dir),
        "--plots",
        str(tmp_path / "plots"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = last_json(result.output)
    assert report["n"] == 4
    assert 0 <= report["accuracy"] <= 1 and 0 <= report["macro_f1"] <= 1
    assert set(report["per_class"]) == {"negative", "neutral", "positive"}
    assert sum(map(sum, report["confusion"])) == 4
    assert report["per_class"]["positive"]["support"] == 2
    assert (tmp_path / "plots" / "confusion.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "roc.png").stat().st_size > 1000


def test_eval_bad_csv_names_file_and_line(run, tiny_dir, tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("text,label\nok,positive\nbad,great\n")
    result = CliRunner().invoke(
        cli, ["model", "eval", "--data", str(data), "--model", str(tiny_dir)]
    )
    assert result.exit_code != 0
    assert f"{data}:3:" in result.output


def test_eval_entities_json_contract(run, tiny_dir, tmp_path):
    data = tmp_path / "e.conll"
    data.write_text("Apple\tB-ORG\nhired\tO\nTim\tB-PER\nCook\tI-PER\n\nParis\tB-LOC\n")
    result = run("model", "eval-entities", "--data", str(data), "--model", str(tiny_dir), "--json")
    assert result.exit_code == 0, result.output
    report = last_json(result.output)
    assert report["n"] == 2
    for key in ("f1", "precision", "recall"):
        assert 0 <= report[key] <= 1
    assert report["per_type"]["ORG"]["gold"] == 1 and report["per_type"]["PER"]["gold"] == 1
    assert "f1" in report["per_type"]["LOC"]


def test_predict_json(run, tiny_dir):
    result = run(
        "model", "predict", "$AAPL jumps", "--model", str(tiny_dir), "--hint", "MSFT", "--json"
    )
    pred = last_json(result.output)
    assert pred["sentiment"] in ("negative", "neutral", "positive")
    assert [t["ticker"] for t in pred["tickers"]] == ["AAPL", "MSFT"]
    assert pred["model_version"] == "tiny-0"


def test_predict_without_any_model_says_build_default(run):
    result = CliRunner().invoke(cli, ["model", "predict", "hello"])
    assert result.exit_code != 0
    assert "tickerpulse model build-default" in result.output


def test_build_default_if_missing_keeps_existing(run, tmp_path):
    cache = tmp_path / "cache"
    tiny_model_dir(cache, name=default_model_dir(cache).name)
    result = run("model", "build-default", "--if-missing")
    assert result.exit_code == 0 and "default model present" in result.output


def test_train_options_parse(run):
    result = run("model", "train", "--help")
    for option in ("--lr", "--batch-size", "--epochs", "--steps", "--device", "--log-dir"):
        assert option in result.output
    assert "--time-budget" not in result.output  # a step count ends training, not the clock
    assert "2e-05" in result.output  # the seed's recipe is the default


def test_bench_inference_is_attached(run):
    result = run("bench", "inference", "--help")
    assert "--n" in result.output and "--json" in result.output


def test_predict_prints_each_tickers_own_sentiment_beside_the_documents(run, tiny_dir):
    result = run("model", "predict", "$XOM jumps while $CVX sinks", "--model", str(tiny_dir),
                 "--hint", "KO")
    # (a progress bar on stderr may precede a line: CliRunner mixes the two streams)
    documents = re.findall(r"document: (?:negative|neutral|positive) \(negative 0\.\d{3}, ",
                           result.output)
    assert len(documents) == 1, result.output
    tickers = re.findall(r"^ticker: .*$", result.output, re.M)
    assert [line.split()[1] for line in tickers] == ["XOM", "CVX", "KO"]
    pattern = (r"ticker: [A-Z]+ (negative|neutral|positive) \(negative 0\.\d{3}, neutral "
               r"0\.\d{3}, positive 0\.\d{3}\) from (entity|document); via ")
    assert all(re.match(pattern, line) for line in tickers), tickers
    assert tickers[2].split(" from ")[1].startswith("document;")  # a hint is not in the text
