"""The `tickerpulse` command as a user meets it: version, help texts, schema export, progress."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from alerts.payload import SCHEMA_PATH
from tickerpulse.cli.main import COMMANDS, cli
from tickerpulse.cli.progress import ProgressEngine
from tickerpulse.version import package_version

JARGON = ("recipe", "shared data", "the seed's")


def _commands(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _commands(sub, f"{path} {name}")
    return found


ALL = _commands(cli, "tickerpulse")


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"tickerpulse {package_version()}"
    assert package_version()[0].isdigit()


def test_every_command_defined_in_the_cli_package_is_reachable() -> None:
    reachable = {id(c) for _, c in ALL}
    defined = []
    for path in sorted((Path(__file__).parents[2] / "tickerpulse" / "cli").glob("*.py")):
        module = importlib.import_module(f"tickerpulse.cli.{path.stem}")
        defined += [(f"{path.stem}.{name}", value) for name, value in vars(module).items()
                    if isinstance(value, click.Command) and value.callback is not None
                    and value.callback.__module__ == module.__name__]
    assert len(defined) >= len(COMMANDS)
    assert [name for name, command in defined if id(command) not in reachable] == []


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_every_command_and_option_has_help_without_jargon(
    path: str, command: click.Command
) -> None:
    assert command.help, f"{path} has no help"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{path} {param.opts[0]} has no help"
            assert not any(j in param.help for j in JARGON), (path, param.help)
    assert not any(j in command.help for j in JARGON), (path, command.help)


def test_alerts_schema_writes_where_told_or_prints(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "out" / "alert.schema.json"
    written = runner.invoke(cli, ["alerts", "schema", str(target)])
    assert written.exit_code == 0, written.output
    assert written.output.strip() == str(target)
    assert target.read_text() == SCHEMA_PATH.read_text()
    printed = runner.invoke(cli, ["alerts", "schema"])
    assert json.loads(printed.output) == json.loads(SCHEMA_PATH.read_text())


class _Engine:
    model_version = "m1"

    def __init__(self) -> None:
        self.calls: list[tuple[int, object]] = []

    def predict_sync(self, texts, hints=None, targets=None):  # type: ignore[no-untyped-def]
        self.calls.append((len(texts), hints and hints[0]))
        return [t.upper() for t in texts]


def test_progress_engine_predicts_in_chunks_keeping_order_and_hints() -> None:
    engine = _Engine()
    texts = [f"t{i}" for i in range(600)]
    hints = [[f"H{i}"] for i in range(600)]
    with ProgressEngine(engine, "eval", len(texts)) as tracked:
        out = tracked.predict_sync(texts, hints)
        assert tracked.model_version == "m1"  # the engine's own attributes show through
    assert out == [t.upper() for t in texts]
    assert engine.calls == [(256, ["H0"]), (256, ["H256"]), (88, ["H512"])]


def test_backend_option_takes_the_engine_backends_only() -> None:
    from models.loader import BACKENDS

    result = CliRunner().invoke(cli, ["model", "eval", "--data", "x.csv", "--backend", "gpu9"])
    assert result.exit_code == 2
    assert f"not one of {', '.join(BACKENDS)}" in result.output
    shown = CliRunner().invoke(cli, ["model", "eval", "--help"]).output
    assert "[" + "|".join(BACKENDS) + "]" in shown
