"""Local ``redis-server`` processes for tests and benchmarks (``redis-server`` on the PATH).

- :class:`LocalRedis`: one node on a free port in a directory of its own, any extra
  ``redis-server`` arguments (AOF, a password, a maxmemory policy); ``kill9()`` and
  ``start()`` again on the same port and directory, as a crash and a restart.
- :class:`LocalRedisCluster`: a Redis Cluster of N masters (no replicas), created with
  ``redis-cli --cluster create`` and ready once every node says ``cluster_state:ok``.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too (and so at most 55535)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(20_000, 55_535)
        try:
            for p in (port, port + 10_000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"redis-server on port {port} not accepting connections")


class LocalRedis:
    """One ``redis-server`` on ``port`` (free by default) keeping its files in ``data_dir``."""

    def __init__(self, data_dir: Path | None = None, port: int | None = None,
                 args: tuple[str, ...] = ("--save", "", "--appendonly", "no")) -> None:
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="tp-redis-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 20.0) -> LocalRedis:
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - the child holds it
        try:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", str(self.data_dir), *self.args],
                stdout=log, stderr=log)
        finally:
            log.close()
        _wait_port(self.port, self.proc, timeout_s)
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def close(self) -> None:
        self.kill9()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalRedisCluster:
    """``masters`` cluster-enabled nodes on free ports, joined into one cluster."""

    def __init__(self, masters: int = 3) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tp-redis-cluster-"))
        self.nodes = [
            LocalRedis(self.root / f"n{i}", port=free_cluster_port(), args=(
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no"))
            for i in range(masters)
        ]

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming the first node (the client discovers the rest)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout_s: float = 60.0) -> LocalRedisCluster:
        try:
            return self._start(timeout_s)
        except BaseException:
            self.close()
            raise

    def _start(self, timeout_s: float) -> LocalRedisCluster:
        for node in self.nodes:
            node.start()
        subprocess.run(
            ["redis-cli", "--cluster", "create",
             *(f"127.0.0.1:{n.port}" for n in self.nodes), "--cluster-yes"],
            check=True, capture_output=True, timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = []
            for n in self.nodes:
                client = redis.Redis(port=n.port)
                try:
                    states.append(client.cluster("info").get("cluster_state"))
                finally:
                    client.close()
            if all(s == "ok" for s in states):
                return self
            time.sleep(0.2)
        raise TimeoutError("redis cluster not ok")

    def close(self) -> None:
        for node in self.nodes:
            node.kill9()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalRedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
