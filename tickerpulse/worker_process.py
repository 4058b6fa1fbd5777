"""``tickerpulse worker`` as a child process: started with environment overrides, waited on
until ready, stopped with SIGTERM or killed with SIGKILL (the pipeline bench and the tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class WorkerProcess:
    """``tickerpulse worker`` in a subprocess with ``env`` overrides; log in ``log_path``."""

    env: dict[str, str]
    log_path: Path
    agents: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: object = field(default=None, init=False, repr=False)

    def start(self) -> WorkerProcess:
        cmd = [sys.executable, "-m", "tickerpulse.cli.main", "worker", "--loglevel", "info"]
        if self.agents:
            cmd += ["--agents", self.agents]
        self._close_log()
        log = self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop/kill9
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env={**os.environ, **self.env})
        return self

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None

    def wait_ready(self, timeout_s: float = 90.0, after: int = 0) -> None:
        """Wait for the ``after``+1-th 'Worker ready' in the log (faust's line)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}): {self.tail()}")
            if self.log_path.exists() and self.log_path.read_text(
                    errors="replace").count("Worker ready") > after:
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready in {timeout_s}s: {self.tail()}")

    def tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def kill9(self) -> None:
        if self.proc is None:
            raise RuntimeError("the worker was never started")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._close_log()

    def stop(self, timeout_s: float = 20.0) -> int | None:
        try:
            if self.proc is None or self.proc.poll() is not None:
                return self.proc.returncode if self.proc else None
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        finally:
            self._close_log()
