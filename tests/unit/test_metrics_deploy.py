"""deploy/prometheus and deploy/grafana: well-formed, and every tickerpulse_ metric they query
is one the code exports (a renamed metric would otherwise leave a silent alert and a blank
panel)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alerts.metrics import ALERT_METRICS
from streams.metrics import STREAM_METRICS, exported_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
SCRAPE = DEPLOY / "prometheus" / "prometheus.yml"
RULES_TEST = DEPLOY / "prometheus" / "alerts_test.yml"  # promtool unit tests of the rules
DASHBOARD = DEPLOY / "grafana" / "tickerpulse.json"
NAME = re.compile(r"\btickerpulse_[a-z0-9_]+\b")
DURATION = re.compile(r"^\d+[smhd]$")
EXPORTED = exported_names(STREAM_METRICS) | exported_names(ALERT_METRICS)


def rules() -> list[dict]:  # type: ignore[type-arg]
    doc = yaml.safe_load(RULES.read_text())
    return [r for group in doc["groups"] for r in group["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    return exprs


def test_rules_file_structure() -> None:
    doc = yaml.safe_load(RULES.read_text())
    assert set(doc) == {"groups"}
    names = []
    for group in doc["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["alert"].startswith("Tickerpulse") and rule["expr"].strip()
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"]
            if "for" in rule:
                assert DURATION.match(rule["for"]), rule["for"]
            names.append(rule["alert"])
    assert len(names) == len(set(names))
    covered = " ".join(r["expr"] for r in rules())
    for needed in ("up{", "tickerpulse_consumer_lag_messages", "tickerpulse_dead_letters_total",
                   "tickerpulse_alert_outbox_pending_deliveries",
                   "tickerpulse_alert_outbox_oldest_pending_age_seconds"):
        assert needed in covered, f"no rule on {needed}"


def test_every_metric_the_rules_and_dashboard_query_is_exported() -> None:
    queried = {n for expr in [r["expr"] for r in rules()] + dashboard_exprs()
               for n in NAME.findall(expr)}
    assert queried, "nothing found: the pattern is wrong"
    assert queried - EXPORTED == set()
    # and the dashboard shows each family the issue names
    shown = " ".join(dashboard_exprs())
    for family in ("consumer_lag_messages", "input_total", "dead_letters_total",
                   "inference_batch_duration_seconds_bucket", "ingest_to_risk_seconds_bucket",
                   "alert_deliveries_total", "alert_outbox_pending_deliveries"):
        assert f"tickerpulse_{family}" in shown, family


def test_dashboard_is_importable_grafana_json() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["title"] and dash["uid"] and dash["schemaVersion"] >= 30
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
            assert all(t["expr"].strip() and t["refId"] for t in panel["targets"])
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "job"} <= variables


def test_expressions_parse_as_promql() -> None:
    parser = pytest.importorskip("promql_parser", reason="promql-parser not installed")
    for expr in [r["expr"] for r in rules()] + dashboard_exprs():
        if expr.startswith("label_values("):
            continue  # a Grafana templating function, not PromQL
        grafana = expr.replace("$__rate_interval", "5m").replace('"$job"', '".*"')
        parser.parse(grafana)


def test_promtool_accepts_the_rules_and_they_fire_on_synthetic_series() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH (Debian package `prometheus`)")
    for args in (["check", "rules", str(RULES)], ["check", "config", str(SCRAPE)],
                 ["test", "rules", str(RULES_TEST)]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, check=False)  # noqa: S603
        assert done.returncode == 0, done.stdout + done.stderr
