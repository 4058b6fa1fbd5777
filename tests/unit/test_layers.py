"""The four layers import only leftwards: models <- streams <- alerts <- tickerpulse."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["models", "streams", "alerts", "tickerpulse"]


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _violations(layer: str) -> list[str]:
    above = set(LAYERS[LAYERS.index(layer) + 1 :])
    found = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in sorted(_imported_top_levels(path) & above):
            found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_from_layers_below(layer: str) -> None:
    assert _violations(layer) == []


def test_checker_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from alerts.rules import Rule\nimport tickerpulse.cli\n")
    assert _imported_top_levels(bad) >= {"alerts", "tickerpulse"}
