"""Rules files: strict validation with errors naming file, line and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alerts.errors import RulesError
from alerts.rules import load_rules, parse_duration, parse_rules

EXAMPLE = Path(__file__).resolve().parents[2] / "alerts" / "examples" / "rules.yaml"

GOOD = """version: 1
watchlists:
  core: [aapl]
rules:
  - name: r1
    severity: warning
    scope: {watchlist: core}
    condition: {metric: score, enter: 70, exit: 60}
    for: 90s
    cooldown: 5m
    repeat_interval: 1h
"""


def test_example_rules_file_is_valid() -> None:
    rules = load_rules(EXAMPLE)
    assert len(rules.rules) >= 5
    assert {r.severity for r in rules.rules} == {"info", "warning", "critical"}
    assert len(rules.version) == 16


def test_good_file_parses_durations_and_scopes() -> None:
    rules = parse_rules(GOOD, "good.yaml")
    (rule,) = rules.rules
    assert rule.for_ == timedelta(seconds=90) and rule.cooldown == timedelta(minutes=5)
    assert rule.repeat_interval == timedelta(hours=1)
    assert rules.applies(rule, "AAPL") and not rules.applies(rule, "MSFT")


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        ("severity: warning", "severity: loud", 6, "rules.0.severity"),
        ("enter: 70, exit: 60", "enter: 70, exit: 80", 8, "rules.0.condition"),
        ("enter: 70, exit: 60", "enter: 170, exit: 60", 8, "rules.0.condition"),
        ("{watchlist: core}", "{watchlist: nope}", 7, "rules.0.scope.watchlist"),
        ("{watchlist: core}", "{watchlist: core, all: true}", 7, "rules.0.scope"),
        ("cooldown: 5m", "cooldwn: 5m", 10, "rules.0.cooldwn"),
        ("for: 90s", "for: soon", 9, "rules.0.for"),
        ("metric: score", "metric: price", 8, "rules.0.condition.metric"),
        ("metric: score", "metric: sentiment", 8, "rules.0.condition"),
        ("name: r1", "name: R 1", 5, "rules.0.name"),
        ("version: 1", "version: 2", 1, "version"),
    ],
)
def test_errors_name_file_line_and_field(old: str, new: str, line: int, field: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(GOOD.replace(old, new), "bad.yaml")
    err = info.value
    assert (err.path, err.line, err.field) == ("bad.yaml", line, field), str(err)
    assert str(err).startswith(f"bad.yaml:{line}: {field}: ")


def test_duplicate_rule_names_and_keys_are_rejected() -> None:
    doubled = GOOD + GOOD.split("rules:\n", 1)[1]
    with pytest.raises(RulesError, match="duplicate rule names"):
        parse_rules(doubled, "dup.yaml")
    with pytest.raises(RulesError, match="duplicate key") as info:
        parse_rules(GOOD.replace("    for: 90s\n", "    for: 90s\n    for: 2m\n"), "dup.yaml")
    assert info.value.line == 10


def test_invalid_yaml_and_missing_file() -> None:
    with pytest.raises(RulesError, match=r"^broken.yaml:2: invalid YAML"):
        parse_rules("version: 1\nrules: [a, b}\n", "broken.yaml")
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules("/nonexistent/rules.yaml")
    with pytest.raises(RulesError, match="empty"):
        parse_rules("", "empty.yaml")


@pytest.mark.parametrize(("text", "seconds"), [(90, 90), ("30s", 30), ("5m", 300), ("1.5h", 5400),
                                                ("1d", 86400), ("250ms", 0.25)])
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_parse_duration_rejects_garbage() -> None:
    for bad in ("soon", "-5m", True, None):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_empty_path_loads_the_packaged_example() -> None:
    assert load_rules("").source == str(EXAMPLE)


def test_settings_reject_malformed_endpoint_secrets_and_duplicate_names() -> None:
    from pydantic import ValidationError

    from alerts.settings import AlertSettings
    from alerts.signing import generate_secret

    good = {"name": "ops", "url": "http://x", "secret": generate_secret()}
    settings = AlertSettings(endpoints=[good])
    assert "whsec_" not in repr(settings)  # SecretStr: masked
    with pytest.raises(ValidationError, match="whsec_"):
        AlertSettings(endpoints=[{**good, "secret": "plain-password"}])
    with pytest.raises(ValidationError, match="unique"):
        AlertSettings(endpoints=[good, good])


def test_alerts_run_refuses_invalid_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tickerpulse.cli.main import cli

    bad = tmp_path / "rules.yaml"
    bad.write_text(GOOD.replace("exit: 60", "exit: 90"))
    monkeypatch.setenv("TICKERPULSE_ALERTS__RULES_PATH", str(bad))
    monkeypatch.setenv("TICKERPULSE_ALERTS__DATABASE_URL", f"sqlite:///{tmp_path}/a.db")
    result = CliRunner().invoke(cli, ["alerts", "run"])
    assert result.exit_code == 1
    assert f"invalid rules: {bad}:8: rules.0.condition:" in result.output


def test_family_defaults_to_the_rule_name() -> None:
    rules = parse_rules(GOOD, "good.yaml").rules
    assert rules[0].family == rules[0].name
    fam = parse_rules(GOOD.replace("name: r1", "name: r1\n    family: risk-high"), "f.yaml")
    assert fam.rules[0].family == "risk-high"
