"""The committed JSON Schemas are current, and they accept/refuse what the codec does."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from streams.contracts import export_schemas
from streams.export_schemas import SCHEMA_DIR
from streams.feed import Feed, malformed


def test_committed_schemas_are_current(tmp_path: Path) -> None:
    fresh = export_schemas(tmp_path)
    assert fresh, "no schemas exported"
    for path in fresh:
        committed = SCHEMA_DIR / path.name
        assert committed.exists(), f"{path.name} not committed: python -m streams.export_schemas"
        assert committed.read_text() == path.read_text(), (
            f"{path.name} is stale: run python -m streams.export_schemas")


def _schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.v1.schema.json").read_text())


def test_feed_records_validate_against_the_input_schemas() -> None:
    schemas = {"news": _schema("news_article"), "social": _schema("social_post")}
    for m in Feed(seed=1).messages(100):
        jsonschema.validate(json.loads(m.value), schemas[m.topic_kind])


@pytest.mark.parametrize("reason", ["unknown_schema_version", "missing_field", "wrong_type"])
@pytest.mark.parametrize("kind", ["news", "social"])
def test_schema_refuses_what_the_codec_dead_letters(reason: str, kind: str) -> None:
    record = json.loads(malformed(0, reason, kind))  # type: ignore[arg-type]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, _schema("news_article" if kind == "news" else "social_post"),
                            format_checker=jsonschema.FormatChecker())
