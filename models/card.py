"""The model card, as JSON (machine) and Markdown (people)."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

CARD_JSON = "model_card.json"
CARD_MD = "README.md"  # the Hugging Face model-card convention: metadata header + text
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


def _metadata(card: dict) -> list[str]:
    """The model-card metadata header (YAML) that model hubs and tools read."""
    metrics = card.get("validation_metrics", {})
    results = []
    for source, m in metrics.items():
        if isinstance(m, dict) and "accuracy" in m:
            results.append((f"{source} accuracy", "accuracy", m["accuracy"]))
    ent = metrics.get("entities")
    if ent:
        results.append(("FiNER-ORD ORG F1", "f1", ent["per_type_f1"]["ORG"]))
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "language: en",
        "license: cc-by-nc-sa-4.0",
        f"base_model: {card.get('base', '')}",
        "tags: [finance, sentiment, ner, entity-sentiment, tickerpulse]",
        "datasets: [financial_phrasebank, zeroshot/twitter-financial-news-sentiment, "
        "SEntFiN, FiNER-ORD]",
        "model-index:",
        f"- name: {card['version']}",
        "  results:",
    ]
    for name, kind, value in results:
        source = name.split(" ")[0]
        lines += [
            "  - task: {type: text-classification}",
            f"    dataset: {{name: {source} (own validation split), type: {source}}}",
            f"    metrics: [{{type: {kind}, value: {value}, name: {name}}}]",
        ]
    return lines + ["---", ""]


def _lineage(card: dict) -> list[str]:
    """A continual fine-tune's parent, added data, rehearsal, method and guard."""
    parent = card.get("parent")
    if not parent:
        return []
    method = card.get("method", {})
    lines = [
        "",
        "## Lineage (continual fine-tuning)",
        "",
        f"- Parent: `{parent['version']}` at `{parent['path']}` "
        f"(weights {parent['weights_digest']})",
        f"- Method: {method.get('kind', 'full')}"
        + (f" (r {method['r']}, alpha {method['alpha']}, dropout {method['dropout']}, on "
           f"{', '.join(method['target_modules'])}; heads trained in full)"
           if method.get("kind") == "lora" else ""),
    ]
    added = card.get("added_data", {})
    for f in added.get("files", []):
        lines.append(f"- Added: `{f['path']}` (sha256 {f['sha256'][:12]}, {f['kind']}, "
                     f"{f['rows']} rows, labels {json.dumps(f['labels'], sort_keys=True)})")
    rehearsal = card.get("rehearsal", {})
    if rehearsal:
        lines.append(f"- Rehearsal: {json.dumps(rehearsal.get('rows', {}))} original training "
                     f"rows ({rehearsal.get('ratio')} per added row, seed {rehearsal.get('seed')})")
    guard = card.get("guard")
    if guard:
        verdict = "passed" if guard["passed"] else (
            "FAILED, overridden (--force)" if guard.get("overridden") else "failed")
        lines += ["", f"Guard (max drop {guard['max_drop']} on each held-out metric): {verdict}",
                  "", "| metric | parent | new | change |", "|---|---|---|---|"]
        for row in guard["metrics"]:
            change = "" if row["drop"] is None else f"{-row['drop']:+.4f}"
            fmt = [("-" if v is None else f"{v:.4f}") for v in (row["parent"], row["new"])]
            mark = " **drop**" if row["failed"] else ""
            lines.append(f"| {row['metric']} | {fmt[0]} | {fmt[1]} | {change}{mark} |")
    return lines


def render_markdown(card: dict) -> str:
    metrics = card.get("validation_metrics", {})
    lines = [
        *_metadata(card),
        f"# tickerpulse model `{card['version']}`",
        "",
        "One BERT encoder, three heads: document sentiment (negative / neutral / positive), BIO",
        "entity tags (ORG, PER, LOC), and the sentiment about each entity span (target head),",
        "plus a learned input embedding of each word's case shape and of whether it belongs to a",
        "known company name (`gazetteer.txt`).",
        "",
        "Load it with tickerpulse (`tickerpulse model predict --model DIR`) or with plain",
        "transformers: `AutoModel.from_pretrained(DIR, trust_remote_code=True)`.",
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
    tgt = metrics.get("targets")
    if tgt:
        base = tgt["document_baseline"]
        lines += [
            "",
            f"Entity-level sentiment (SEntFiN validation, {tgt['n']} entities): accuracy "
            f"{tgt['accuracy']:.4f}, macro-F1 {tgt['macro_f1']:.4f}, on headlines whose "
            f"entities differ {tgt['mixed_accuracy']:.4f}; the document's sentiment given to "
            f"every entity: {base['accuracy']:.4f} / {base['macro_f1']:.4f} / "
            f"{base['mixed_accuracy']:.4f}.",
        ]
    lines += _lineage(card)
    lines += ["", "## Licences", "", card.get("licence_note", ""), ""]
    return "\n".join(lines)


def write_card(directory: Path, card: dict) -> None:
    directory = Path(directory)
    (directory / CARD_JSON).write_text(json.dumps(card, indent=2, sort_keys=True))
    (directory / CARD_MD).write_text(render_markdown(card))


def read_card(directory: Path) -> dict | None:
    path = Path(directory) / CARD_JSON
    return json.loads(path.read_text()) if path.exists() else None
