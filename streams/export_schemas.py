"""Regenerate the committed JSON Schemas: ``python -m streams.export_schemas``."""

from __future__ import annotations

from pathlib import Path

from streams.contracts import export_schemas

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

if __name__ == "__main__":
    for path in export_schemas(SCHEMA_DIR):
        print(path)
