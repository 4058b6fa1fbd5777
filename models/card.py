"""The model card, as JSON (machine) and Markdown (people)."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

CARD_JSON = "model_card.json"
CARD_MD = "MODEL_CARD.md"
LIBRARIES = ("torch", "transformers", "tokenizers", "onnxruntime", "numpy", "tickerpulse")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _table(rows: dict[str, dict]) -> list[str]:
    lines = ["| source | n | accuracy | macro-F1 |", "|---|---|---|---|"]
    for source, m in rows.items():
        if isinstance(m, dict) and "accuracy" in m:
            lines.append(f"| {source} | {m['n']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} |")
    return lines


def render_markdown(card: dict) -> str:
    metrics = card.get("validation_metrics", {})
    lines = [
        f"# tickerpulse model `{card['version']}`",
        "",
        "One BERT encoder, two heads: sentence sentiment (negative / neutral / positive) and BIO",
        "entity tags (ORG, PER, LOC), plus a learned case-shape embedding (the base is uncased).",
        "",
        f"- Base checkpoint: `{card['base']}`",
        f"- Built: {card['created']} in {card['training_seconds']:.0f} s of training",
        f"- Data: {json.dumps(card['data'])}",
        f"- Hyperparameters: {json.dumps(card['hyperparameters'])}",
        f"- Libraries: {json.dumps(card['libraries'])}",
        "",
        "## Validation (own split of ../shared/data, never trained on)",
        "",
        *_table(metrics),
    ]
    ent = metrics.get("entities")
    if ent:
        lines += [
            "",
            f"Entities (FiNER-ORD validation, exact span): F1 {ent['f1']:.4f}, "
            f"P {ent['precision']:.4f}, R {ent['recall']:.4f}; per type "
            + ", ".join(f"{k} {v:.4f}" for k, v in ent["per_type_f1"].items()),
        ]
    lines += ["", "## Licences", "", card.get("licence_note", ""), ""]
    return "\n".join(lines)


def write_card(directory: Path, card: dict) -> None:
    directory = Path(directory)
    (directory / CARD_JSON).write_text(json.dumps(card, indent=2, sort_keys=True))
    (directory / CARD_MD).write_text(render_markdown(card))


def read_card(directory: Path) -> dict | None:
    path = Path(directory) / CARD_JSON
    return json.loads(path.read_text()) if path.exists() else None
