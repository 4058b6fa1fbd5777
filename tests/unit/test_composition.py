"""Each process is assembled in tickerpulse/; the layers below are handed their collaborators."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from alerts.errors import RulesError
from tickerpulse.alerts_worker import start_alerts_worker
from tickerpulse.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Constructors of the clients and stores a process owns: built by its composition root only.
ASSEMBLY = {"AIOKafkaConsumer", "AIOKafkaProducer", "AsyncClient", "AlertStore", "Dispatcher",
            "AlertPipeline", "RedisNoveltyIndex", "RiskStore"}


def _constructed(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ASSEMBLY:
                names.add(name)
    return names


def test_alerts_package_assembles_nothing() -> None:
    found = {str(p.relative_to(ROOT)): _constructed(p)
             for p in sorted((ROOT / "alerts").rglob("*.py"))}
    assert {path: names for path, names in found.items() if names} == {}


def test_checker_sees_a_construction(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import httpx\nclient = httpx.AsyncClient()\nstore = AlertStore('x')\n")
    assert _constructed(bad) == {"AsyncClient", "AlertStore"}


def test_agent_means_a_faust_agent_only() -> None:
    """Modules named agent(s) exist only where faust agents are declared (streams/)."""
    named = sorted(str(p.relative_to(ROOT)) for layer in ("models", "alerts", "tickerpulse")
                   for p in (ROOT / layer).rglob("agent*.py"))
    assert named == []


async def test_bad_rules_fail_before_anything_is_opened(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: x\n    when: {metric: nope}\n")
    database = tmp_path / "alerts.db"
    settings = Settings(kafka={"bootstrap_servers": "127.0.0.1:1"},
                        alerts={"database_url": f"sqlite:///{database}",
                                "rules_path": str(rules), "migrate_on_start": True})
    with pytest.raises(RulesError):
        await start_alerts_worker(settings)
    assert not database.exists()  # neither SQL nor the broker was touched
