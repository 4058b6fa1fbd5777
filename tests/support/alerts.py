"""Harness of the alerts tests: a real local webhook receiver (verifying with the independent
`standardwebhooks` library, not with tickerpulse's signer), alerts worker processes, and a
throwaway PostgreSQL cluster that a test may stop and start (never the shared server)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from streams.contracts import RiskUpdate, utc_now


@dataclass
class Received:
    webhook_id: str
    body: dict
    verified: bool
    at: float
    status: int


# decide(webhook_id, body, n_seen_for_this_id) -> (status, delay_s)
Behaviour = Callable[[str, dict, int], tuple[int, float]]


@dataclass
class Receiver:
    secret: str
    port: int
    behaviour: Behaviour = lambda _id, _body, _n: (204, 0.0)  # noqa: E731
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/tickerpulse"

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    body = Webhook(outer.secret).verify(raw, dict(self.headers.items()))
                    verified = True
                except WebhookVerificationError:
                    body, verified = json.loads(raw or b"{}"), False
                wid = self.headers.get("webhook-id", "")
                with outer._lock:
                    n = sum(1 for r in outer.requests if r.webhook_id == wid)
                status, delay = outer.behaviour(wid, body, n) if verified else (401, 0.0)
                with outer._lock:
                    outer.requests.append(Received(wid, body, verified, time.time(), status))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender timed out and went away

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            request_queue_size = 256  # the default backlog of 5 drops concurrent deliveries

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self, status: int | None = None) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.requests if status is None or r.status == status]

    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.verified and 200 <= r.status < 300]


def wait_until(
    predicate: Callable[[], bool], timeout_s: float, what: str | Callable[[], str]
) -> None:
    """Poll ``predicate``; ``what`` (or what it returns, read at the timeout) names it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    said = what if isinstance(what, str) else what()
    raise AssertionError(f"timed out after {timeout_s}s waiting for {said}")


def risk_update(ticker: str, score: float, doc: str = "d1") -> RiskUpdate:
    return RiskUpdate(ticker=ticker, as_of=utc_now(), score=score, components={"s": 1.0},
                      sentiment={"1h": -0.5}, volume={"1h": 5.0}, buzz_z=1.0,
                      negative_mentions={"1h": 3.0}, mentions_total=5, model_version="m",
                      trigger_doc_id=doc)


# ---- alerts worker processes ----------------------------------------------------------------


def worker_env(
    *, bootstrap: str, db_url: str, rules: Path, receiver: Receiver, prefix: str, group: str,
    partitions: int = 4, **extra: str,
) -> dict[str, str]:
    """The environment of an `tickerpulse alerts run` process for a test."""
    return {**os.environ,
            "TICKERPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "TICKERPULSE_KAFKA__TOPIC_PREFIX": prefix,
            "TICKERPULSE_KAFKA__PARTITIONS": str(partitions),
            "TICKERPULSE_KAFKA__REBALANCE_TIMEOUT_S": "3",
            "TICKERPULSE_KAFKA__SESSION_TIMEOUT_S": "6",
            "TICKERPULSE_ALERTS__DATABASE_URL": db_url,
            "TICKERPULSE_ALERTS__RULES_PATH": str(rules),
            "TICKERPULSE_ALERTS__CONSUMER_GROUP": group,
            "TICKERPULSE_ALERTS__ENDPOINTS": json.dumps([{"name": "ops", "url": receiver.url,
                                                          "secret": receiver.secret,
                                                          "timeout_s": 30}]),
            "TICKERPULSE_ALERTS__RETRY__INITIAL_BACKOFF_S": "0.3",
            "TICKERPULSE_ALERTS__RETRY__MAX_BACKOFF_S": "1",
            "TICKERPULSE_ALERTS__SCHEDULER__DELIVERY_INTERVAL_S": "0.5",
            "TICKERPULSE_ALERTS__SCHEDULER__LEASE_S": "3",
            "TICKERPULSE_ALERTS__TIMER_INTERVAL_S": "0.5",
            "TICKERPULSE_ALERTS__HTTP_PORT": "0",  # several workers on one machine
            **extra}


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tickerpulse.cli.main", "-v", "alerts", "run"],
            env=env, stdout=out, stderr=out)


def stop_worker(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if worker.poll() is not None:
        return
    worker.send_signal(sig)
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(10)


def unique(tag: str) -> str:
    return f"{tag}{uuid.uuid4().hex[:8]}"


# ---- a PostgreSQL cluster of the test's own -----------------------------------------------


PG_BIN = Path(os.environ.get("TICKERPULSE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, on a free port, trust auth: a test may
    stop, restart or kill it. Run as root, the server runs as the ``postgres`` user (initdb
    refuses root)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="tp-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres")

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or bool(shutil.which("runuser")))

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def _ctl(self, action: str, *extra: str) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=60")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-o", options, *extra, action)

    def init(self) -> ThrowawayPostgres:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-N")
        return self

    def start(self) -> None:
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-m", mode)

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def one_rule(severity: str = "warning") -> str:
    """Rules YAML with one rule, ``high``: fires at score 70, resolves under 60, every ticker."""
    return f"""version: 1
rules:
  - name: high
    severity: {severity}
    scope: {{all: true}}
    condition: {{metric: score, enter: 70, exit: 60}}
"""
