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


# The test harness lives in tests/support/ (imported as `support`); product code never imports
# it, nor pytest, nor a `testing` module; tests import the harness, never each other.
HARNESS_TOP_LEVELS = {"tests", "support", "conftest", "pytest", "_pytest", "hypothesis"}
TESTS = ROOT / "tests"


def _imported_modules(path: Path) -> list[tuple[str, int]]:
    """(dotted module, relative level) of every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def _harness_imports(path: Path) -> list[str]:
    return [name for name, level in _imported_modules(path) if level == 0 and (
        name.split(".")[0] in HARNESS_TOP_LEVELS or "testing" in name.split("."))]


def _test_to_test_imports(path: Path) -> list[str]:
    return [("." * level) + name for name, level in _imported_modules(path)
            if level > 0 or any(p.startswith("test_") or p == "conftest"
                                for p in name.split("."))]


@pytest.mark.parametrize("layer", LAYERS)
def test_product_code_imports_no_test_harness(layer: str) -> None:
    found = [f"{path.relative_to(ROOT)} imports {name}"
             for path in sorted((ROOT / layer).rglob("*.py")) for name in _harness_imports(path)]
    assert found == []


def test_no_test_module_imports_another_test_module() -> None:
    found = [f"{path.relative_to(ROOT)} imports {name}"
             for path in sorted(TESTS.rglob("*.py")) for name in _test_to_test_imports(path)]
    assert found == []


def test_harness_checkers_catch_what_they_forbid(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import pytest\nfrom support.pipeline import PipelineRun\n"
                   "from streams.testing import mention\nfrom streams.store import connect\n")
    assert _harness_imports(bad) == ["pytest", "support.pipeline", "streams.testing"]
    bad.write_text("from test_alerts_receiver import Receiver\nfrom .helpers import x\n"
                   "import conftest\nfrom support.alerts import Receiver\n")
    assert _test_to_test_imports(bad) == ["test_alerts_receiver", ".helpers", "conftest"]


def test_the_models_package_names_what_models_api_exports():
    import models
    import models.api

    assert sorted(models.__all__) == sorted(models.api.__all__)
    assert all(getattr(models, name) is getattr(models.api, name) for name in models.__all__)
