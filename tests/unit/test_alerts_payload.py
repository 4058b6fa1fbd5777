"""The sample alert (`webhook send-test`, docs/alerts.md) is what real alerts look like."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema

from alerts.payload import SCHEMA_PATH, sample_payload
from streams.risk import HORIZONS, apply_mention, assess
from streams.settings import RiskSettings
from support.records import mention

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def test_sample_risk_has_the_components_and_horizons_of_a_real_assessment() -> None:
    at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    real = assess(apply_mention(None, mention(1, at=at), at, RiskSettings()), at, RiskSettings())
    risk = sample_payload().risk
    assert set(risk.components) == set(real.components)
    assert set(risk.sentiment) == set(risk.volume) == set(risk.negative_mentions) == set(HORIZONS)
    assert 0 < risk.score <= 100 and risk.components["negativity"] > 0


def test_sample_is_schema_valid_and_fires_its_own_rule() -> None:
    body = json.loads(sample_payload().to_bytes())
    jsonschema.validate(body, json.loads(SCHEMA_PATH.read_text()))
    assert body["rule"]["value"] == body["risk"]["score"] >= body["rule"]["enter"]
    assert body["top_documents"] and body["top_documents"][0]["sentiment"] == "negative"


def test_docs_show_the_sample_that_send_test_sends() -> None:
    text = DOCS.read_text(encoding="utf-8")
    shown = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    assert shown == json.loads(sample_payload().to_bytes()), (
        "docs/alerts.md shows another sample: paste `sample_payload()` there")
