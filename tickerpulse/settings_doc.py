"""Renders the settings tree as the README's configuration table (kept in sync by a test)."""

from __future__ import annotations

from pydantic import BaseModel

from tickerpulse.settings import Settings

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def _default_text(field) -> str:  # type: ignore[no-untyped-def]
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return ""
    text = "" if value is None else str(value)
    return f"`{text}`" if text else "(empty)"


def _rows(model: type[BaseModel], path: list[str]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_rows(annotation, [*path, name]))
            continue
        env = "TICKERPULSE_" + "__".join(p.upper() for p in [*path, name])
        rows.append((env, _default_text(field), (field.description or "").replace("|", "\\|")))
    return rows


def settings_table() -> str:
    lines = ["| environment variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{env}` | {default} | {desc} |" for env, default, desc in _rows(Settings, [])]
    return "\n".join(lines)
