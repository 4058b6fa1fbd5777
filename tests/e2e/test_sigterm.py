"""SIGTERM (kill, docker stop, systemd) stops a parent and every child it started, like Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.testing import tiny_model_dir

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def _descendants(pid: int) -> set[int]:
    """Every live process whose parent chain leads to ``pid`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_demo_sigterm_stops_broker_workers_and_api(tmp_path: Path, redis_url: str) -> None:
    model = tiny_model_dir(tmp_path)
    env = {**os.environ, "TICKERPULSE_MODEL__PATH": str(model), "TICKERPULSE_REDIS__URL": redis_url}
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tickerpulse.cli.main", "demo", "--duration", "600",
         "--rate", "2", "--out", str(out)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        # broker + worker + alerts worker + API + feed: wait until all of them run
        _wait_for(lambda: len(_descendants(proc.pid)) >= 5, 120, "the demo's children")
        children = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        _wait_for(lambda: not any(_alive(p) for p in children), 30, "children to stop")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0  # a stop on request that cleans up is a success
    assert not [p for p in children if _alive(p)]


def test_services_sigterm_stops_the_embedded_broker(redis_url: str) -> None:
    env = {**os.environ, "TICKERPULSE_REDIS__URL": redis_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tickerpulse.cli.main", "services"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip()  # the bootstrap address: topics are created
        children = _descendants(proc.pid)
        assert children, "the embedded broker runs as a child"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        _wait_for(lambda: not any(_alive(p) for p in children), 15, "the broker to stop")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == 0  # a stop on request that cleans up is a success
