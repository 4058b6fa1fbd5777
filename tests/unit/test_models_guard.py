"""The fine-tuning guard: a pure decision on two validate() results (models.guard)."""

from __future__ import annotations

import pytest

from models.guard import check, guarded_metrics, render


def metrics(fpb=0.80, fpb_f1=0.75, tfns=0.85, ent=0.70, org=0.65, tgt=0.78, mixed=0.55):
    return {
        "fpb": {"n": 580, "accuracy": fpb, "macro_f1": fpb_f1},
        "tfns": {"n": 1430, "accuracy": tfns, "macro_f1": 0.80},
        "entities": {"n": 402, "f1": ent, "per_type_f1": {"ORG": org, "PER": 0.9, "LOC": 0.8}},
        "targets": {"n": 1765, "accuracy": tgt, "macro_f1": 0.7, "mixed_accuracy": mixed},
        "selection_score": 0.7,
    }


def test_guarded_metrics_are_the_ten_held_out_figures():
    assert sorted(guarded_metrics(metrics())) == [
        "entities.ORG_f1", "entities.f1", "fpb.accuracy", "fpb.macro_f1", "targets.accuracy",
        "targets.mixed_accuracy", "tfns.accuracy", "tfns.macro_f1",
    ]


@pytest.mark.parametrize(
    ("new", "max_drop", "failures"),
    [
        (metrics(), 0.02, []),  # unchanged
        (metrics(fpb=0.90, ent=0.75), 0.02, []),  # better
        (metrics(fpb=0.785), 0.02, []),  # a drop within the margin
        (metrics(fpb=0.78), 0.02, []),  # exactly the margin: allowed
        (metrics(fpb=0.779), 0.02, ["fpb.accuracy"]),  # just past it
        (metrics(org=0.60), 0.02, ["entities.ORG_f1"]),
        (metrics(mixed=0.50, tgt=0.70), 0.02, ["targets.accuracy", "targets.mixed_accuracy"]),
        (metrics(mixed=0.50, tgt=0.70), 0.10, []),  # a wider margin
        (metrics(fpb_f1=0.70), 0.0, ["fpb.macro_f1"]),  # zero: any drop fails
        (metrics(fpb=0.90, tfns=0.60), 0.02, ["tfns.accuracy"]),  # a gain does not buy a loss
    ],
)
def test_guard_decision_table(new, max_drop, failures):
    report = check(metrics(), new, max_drop)
    assert report.failures == failures
    assert report.passed is (not failures)


def test_a_metric_missing_from_the_new_result_fails_and_a_new_one_is_shown_only():
    new = metrics()
    del new["targets"]
    new["fiqa"] = {"n": 10, "accuracy": 0.1, "macro_f1": 0.1}
    report = check(metrics(), new)
    assert report.failures == ["targets.accuracy", "targets.mixed_accuracy"]
    shown = {row.metric: row for row in report.rows}
    assert shown["fiqa.accuracy"].parent is None and not shown["fiqa.accuracy"].failed


def test_the_table_shows_every_metric_both_values_and_marks_drops():
    report = check(metrics(), metrics(ent=0.60), 0.02)
    text = render(report)
    for name in guarded_metrics(metrics()):
        assert name in text
    line = next(ln for ln in text.splitlines() if ln.startswith("entities.f1"))
    assert "0.7000" in line and "0.6000" in line and "-0.1000" in line and "<--" in line
    assert "<--" not in next(ln for ln in text.splitlines() if ln.startswith("fpb.accuracy"))
    assert "FAILED (entities.f1)" in text.splitlines()[-1]
    assert report.to_dict()["passed"] is False


def test_a_negative_margin_is_refused():
    with pytest.raises(ValueError, match="max_drop"):
        check(metrics(), metrics(), -0.1)
