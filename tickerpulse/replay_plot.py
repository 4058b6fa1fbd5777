"""The replay report's picture: per ticker, the published risk score per hour of event time,
live against shadow (matplotlib, no display)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any


def plot_report(report: dict[str, Any], path: Path, max_tickers: int = 12) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(report["tickers"], key=lambda r: -abs(r["final_score_delta"]))[:max_tickers]
    cols = 3 if len(rows) > 4 else max(1, len(rows))
    nrows = max(1, math.ceil(len(rows) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3 * nrows), squeeze=False,
                             sharey=True)
    for ax, row in zip(axes.flat, rows, strict=False):
        for side, style in (("live", "-o"), ("shadow", "--s")):
            points = [(datetime.fromisoformat(p["hour"]), p[side]) for p in row["timeline"]
                      if p[side] is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, markersize=3, label=side)
        ax.set_title(f"{row['ticker']}  Δ final {row['final_score_delta']:+.2f}", fontsize=9)
        ax.tick_params(axis="x", labelsize=7, rotation=30)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    versions = (", ".join(report.get("live_model_versions", [])) + " vs "
                + ", ".join(report.get("shadow_model_versions", [])))
    fig.suptitle(f"risk score per hour of event time: live vs shadow ({versions})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
