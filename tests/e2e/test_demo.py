"""`tickerpulse demo` end to end (short run, tiny model): the README's first command works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from models.testing import tiny_model_dir

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def test_demo_scores_feed_fires_signed_alerts_and_plots(tmp_path: Path, redis_url: str) -> None:
    model = tiny_model_dir(tmp_path)
    env = {**os.environ, "TICKERPULSE_MODEL__PATH": str(model), "TICKERPULSE_REDIS__URL": redis_url}
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "tickerpulse.cli.main", "demo", "--duration", "20", "--rate", "10",
         "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tables = re.findall(r"^  (AAPL|MSFT|NVDA|AMZN|TSLA|GOOGL)\s+(\d+\.\d)", proc.stdout, re.M)
    assert {t for t, _ in tables} >= {"NVDA", "TSLA"}, proc.stdout[-2000:]
    delivered = re.search(
        r"alerts delivered to the demo webhook: (\d+) \(signature failures: (\d+)", proc.stdout
    )
    assert delivered, proc.stdout[-2000:]
    assert int(delivered.group(1)) > 0 and int(delivered.group(2)) == 0
    assert (out / "risk.png").stat().st_size > 10_000
