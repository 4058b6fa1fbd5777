"""The demo: every part of tickerpulse on embedded defaults, with a simulated feed.

Starts the embedded broker (unless kafka.embedded=false), then as child processes the stream
worker, the alerts worker and the dashboard, plus an in-process webhook receiver that verifies
every signed alert; feeds them `tickerpulse simulate` (an earnings shock and a viral rumour);
prints the risk board as a table while it runs, and at the end writes a PNG of risk over time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import httpx

from alerts.signing import WebhookVerificationError, generate_secret, verify
from streams.topics import Topics, ensure_topics
from tickerpulse.children import die_with_parent, stop_on_sigterm
from tickerpulse.embedded import EmbeddedBroker, free_port, wait_for_port
from tickerpulse.settings import Settings


@dataclass
class DemoReceiver:
    """A webhook endpoint, as its owner would write it: verify, then accept (2xx)."""

    secret: str
    received: list[dict] = field(default_factory=list)  # type: ignore[type-arg]
    rejected: int = 0

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    verify(receiver.secret, dict(self.headers.items()), body)
                except WebhookVerificationError:
                    receiver.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                alert = json.loads(body)
                receiver.received.append(alert)
                rule = alert.get("rule", {})
                click.echo(
                    f"  webhook ← {alert.get('status', '?'):8} {alert.get('severity', '?'):8} "
                    f"{alert.get('ticker', '?'):6} "
                    f"{rule.get('name', '?') if isinstance(rule, dict) else rule}"
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}/alerts"

    def stop(self) -> None:
        self._server.shutdown()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tickerpulse.cli.main", *args]
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_parent)


def _board_table(board: dict) -> str:  # type: ignore[type-arg]
    head = f"  {'ticker':8}{'risk':>7}{'sent 15m':>10}{'sent 1h':>9}{'buzz z':>8}{'mentions':>10}"
    lines = [head]
    for u in board["tickers"]:
        lines.append(
            f"  {u['ticker']:8}{u['score']:7.1f}{u['sentiment'].get('15m', 0):10.2f}"
            f"{u['sentiment'].get('1h', 0):9.2f}{u['buzz_z']:8.2f}{u['mentions_total']:10d}"
        )
    return "\n".join(lines)


def _plot(series: dict[str, list[tuple[float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for ticker, points in sorted(series.items()):
        ax.plot([t for t, _ in points], [s for _, s in points], marker=".", label=ticker)
    ax.set_xlabel("seconds since the feed started")
    ax.set_ylabel("risk score (0-100)")
    ax.set_ylim(0, 100)
    ax.set_title("tickerpulse demo: per-ticker risk")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(settings: Settings, duration_s: float, rate: float, keep: bool, out: Path) -> None:
    """Run the whole stack until the feed is done; SIGTERM stops it as cleanly as Ctrl-C."""
    out.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    broker = None
    receiver = DemoReceiver(generate_secret())
    with stop_on_sigterm():
        try:
            kafka = settings.kafka
            if kafka.embedded:
                broker = EmbeddedBroker(log_path=out / "broker.log").start()
                kafka = kafka.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
            ensure_topics(kafka, Topics(kafka.topic_prefix).all())
            hook_url = receiver.start()
            port = settings.api.port if _port_free(settings.api.port) else free_port()
            env = _demo_env(kafka.bootstrap_servers, hook_url, receiver.secret, port, out)
            for name, args in (("worker", ["worker"]), ("alerts", ["alerts", "run"]),
                               ("api", ["api", "serve"])):
                procs[name] = _spawn(args, env, out / f"{name}.log")
            _drive(procs, env, port, duration_s, rate, keep, out, receiver)
        finally:
            _stop_all(procs)
            receiver.stop()
            if broker is not None:
                broker.stop()


def _demo_env(bootstrap: str, hook_url: str, secret: str, port: int, out: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TICKERPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "TICKERPULSE_KAFKA__EMBEDDED": "false",
        "TICKERPULSE_REDIS__KEY_PREFIX": f"tpdemo:{int(time.time())}:",
        "TICKERPULSE_ALERTS__DATABASE_URL": f"sqlite:///{(out / 'alerts.db').resolve()}",
        "TICKERPULSE_ALERTS__ENDPOINTS": json.dumps(
            [{"name": "demo", "url": hook_url, "secret": secret}]
        ),
        "TICKERPULSE_ALERTS__SCHEDULER__SNAPSHOT_INTERVAL_MIN": "0.25",
        "TICKERPULSE_API__PORT": str(port),
        "TICKERPULSE_STREAM__WEB_PORT": str(free_port()),
        "TICKERPULSE_API__PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


def _stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child, then wait; SIGKILL whoever is still there after 15 s."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait_ready(worker: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    """Until the worker's /readyz says ready (a busy machine may take minutes to load it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise click.ClickException(f"worker exited ({worker.returncode})")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise click.ClickException(f"the worker was not ready within {timeout_s:.0f} s")


def _drive(  # noqa: PLR0913 - the demo's knobs
    procs: dict[str, subprocess.Popen[bytes]], env: dict[str, str], port: int,
    duration_s: float, rate: float, keep: bool, out: Path, receiver: DemoReceiver,
) -> None:
    wait_for_port("127.0.0.1", port, timeout_s=180)  # a busy machine imports slowly
    base = f"http://127.0.0.1:{port}"
    click.echo(f"dashboard: {base}/   (logs in {out}/)")
    click.echo("waiting for the worker to be ready and join its consumer group…")
    _wait_ready(procs["worker"], int(env["TICKERPULSE_STREAM__WEB_PORT"]), timeout_s=300)
    time.sleep(8)
    count = int(rate * duration_s)
    feed = _spawn(["simulate", "--rate", str(rate), "--count", str(count),
                   "--truth", str(out / "truth.jsonl")], env, out / "simulate.log")
    services = dict(procs)
    procs["feed"] = feed  # the caller's finally stops the feed with the services
    series: dict[str, list[tuple[float, float]]] = {}
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=20) as client:
        while True:
            time.sleep(10)
            for name, proc in services.items():
                if proc.poll() is not None:
                    raise click.ClickException(f"{name} exited ({proc.returncode}); see {out}")
            elapsed = time.monotonic() - started
            try:
                board = client.get("/api/v1/risk").json()
            except httpx.HTTPError as exc:  # a busy machine: show the board next time
                click.echo(f"\n[{elapsed:5.0f}s] the dashboard did not answer ({exc!r})")
                if elapsed > duration_s + 120:
                    raise click.ClickException(
                        f"the dashboard stopped answering; see {out}") from exc
                continue
            for u in board["tickers"]:
                series.setdefault(u["ticker"], []).append((elapsed, u["score"]))
            click.echo(f"\n[{elapsed:5.0f}s] feed {'running' if feed.poll() is None else 'done'}, "
                       f"{len(receiver.received)} alerts received")
            click.echo(_board_table(board))
            if feed.poll() is not None and elapsed > duration_s + 10:
                break
    _plot(series, out / "risk.png")
    click.echo(f"\nrisk over time: {out / 'risk.png'}")
    click.echo(f"alerts delivered to the demo webhook: {len(receiver.received)} "
               f"(signature failures: {receiver.rejected})")
    if keep:
        click.echo(f"still serving {base}/ - Ctrl-C to stop")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
