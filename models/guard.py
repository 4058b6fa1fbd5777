"""The regression guard of continual fine-tuning: a new model must not lose held-out quality.

Pure: two `models.evaluate.validate` results (the parent's, the new model's, on the same
validation split) and a margin in, a decision and its table out. Guarded metrics: per
sentiment source accuracy and macro-F1, entity F1 and ORG F1, target accuracy and
mixed-entity accuracy. A metric the parent has and the new model lacks fails (the new model
was measured on less); one only the new model has is shown, not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

DEFAULT_MAX_DROP = 0.02  # absolute, on a 0..1 scale


def guarded_metrics(metrics: Mapping) -> dict[str, float]:
    """The guarded figures of one validate() result, by dotted name (`fpb.macro_f1`)."""
    out: dict[str, float] = {}
    for source, m in metrics.items():
        if isinstance(m, Mapping) and source not in ("entities", "targets") and "accuracy" in m:
            out[f"{source}.accuracy"] = float(m["accuracy"])
            out[f"{source}.macro_f1"] = float(m["macro_f1"])
    ent = metrics.get("entities")
    if isinstance(ent, Mapping):
        out["entities.f1"] = float(ent["f1"])
        if "ORG" in ent.get("per_type_f1", {}):
            out["entities.ORG_f1"] = float(ent["per_type_f1"]["ORG"])
    tgt = metrics.get("targets")
    if isinstance(tgt, Mapping):
        out["targets.accuracy"] = float(tgt["accuracy"])
        out["targets.mixed_accuracy"] = float(tgt["mixed_accuracy"])
    return out


@dataclass(frozen=True)
class GuardRow:
    metric: str
    parent: float | None
    new: float | None
    drop: float | None  # parent - new; positive is worse
    failed: bool


@dataclass(frozen=True)
class GuardReport:
    max_drop: float
    rows: tuple[GuardRow, ...]

    @property
    def passed(self) -> bool:
        return not any(row.failed for row in self.rows)

    @property
    def failures(self) -> list[str]:
        return [row.metric for row in self.rows if row.failed]

    def to_dict(self) -> dict:
        return {
            "max_drop": self.max_drop,
            "passed": self.passed,
            "failures": self.failures,
            "metrics": [asdict(row) for row in self.rows],
        }


def check(parent: Mapping, new: Mapping, max_drop: float = DEFAULT_MAX_DROP) -> GuardReport:
    """Compare two validate() results: fail when any guarded metric drops by more than
    `max_drop` (absolute), or is missing from the new model's result."""
    if max_drop < 0:
        raise ValueError(f"max_drop must be >= 0, got {max_drop}")
    before, after = guarded_metrics(parent), guarded_metrics(new)
    rows = []
    for name in list(before) + [n for n in after if n not in before]:
        old, now = before.get(name), after.get(name)
        if old is None or now is None:
            rows.append(GuardRow(name, old, now, None, old is not None))
            continue
        drop = round(old - now, 6)
        rows.append(GuardRow(name, old, now, drop, drop > max_drop + 1e-9))
    return GuardReport(max_drop, tuple(rows))


def render(report: GuardReport) -> str:
    """The table people read: every metric, parent vs new, the failures marked."""

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    lines = [f"{'metric':<26}{'parent':>9}{'new':>9}{'change':>9}", "-" * 54]
    for row in report.rows:
        change = "-" if row.drop is None else f"{-row.drop:+.4f}"
        mark = "  <-- drop > %.3f" % report.max_drop if row.failed else ""
        lines.append(f"{row.metric:<26}{fmt(row.parent):>9}{fmt(row.new):>9}{change:>9}{mark}")
    verdict = "passed" if report.passed else f"FAILED ({', '.join(report.failures)})"
    lines.append(f"guard (max drop {report.max_drop:.3f}): {verdict}")
    return "\n".join(lines)
