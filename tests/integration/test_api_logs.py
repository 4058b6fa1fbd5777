"""No secret in any log line of a real run: the API and the alerts worker as processes, at
DEBUG in JSON, with every kind of secret in play, then their logs grepped for each value.

In play: two API tokens (one sent as a header, one in a query string, one wrong token), two
webhook signing secrets, a Redis password (a Redis of this test's own with ``requirepass``) and
a PostgreSQL password in the database URL (the shared server uses trust auth, so the password
is carried but not checked). One receiver accepts; the other answers 500 with a body quoting
secrets back (receivers' error bodies can hold anything), and the alerts worker logs that body:
the redaction filter, not luck, keeps those lines clean.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer

from alerts.signing import generate_secret
from support.alerts import Receiver, one_rule, risk_update, wait_until, worker_env
from tickerpulse.embedded import free_port, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = one_rule("critical")


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[tuple[int, str]]:
    port, password = free_port(), f"R3dis-{uuid.uuid4().hex}"
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--requirepass", password, "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port)
    yield port, password
    proc.kill()
    proc.wait()


class EchoingFailure:
    """A receiver that answers every delivery 500 with a body that quotes ``leak``."""

    def __init__(self, leak: str) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.hits += 1
                body = leak.encode()
                self.send_response(500)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _tp(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "tickerpulse.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tickerpulse.cli.main", *args], env=env,
                                stdout=out, stderr=out)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_no_secret_in_the_logs_of_a_run(  # noqa: PLR0915 - one run, many secrets
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str,
    redis_with_password: tuple[int, str],
) -> None:
    redis_port, redis_password = redis_with_password
    pg_password = f"Pg-{uuid.uuid4().hex}"
    db_url = postgres_url.replace("postgres@", f"postgres:{pg_password}@", 1)
    ok = Receiver(generate_secret(), free_port()).start()
    flaky_secret = generate_secret()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    tag = uuid.uuid4().hex[:8]
    api_port = free_port()
    env = worker_env(bootstrap=kafka_bootstrap, db_url=db_url, rules=rules, receiver=ok,
                     prefix=f"l{tag}.", group=f"alerts-{tag}",
                     TICKERPULSE_REDIS__URL=f"redis://:{redis_password}@127.0.0.1:{redis_port}/0",
                     TICKERPULSE_REDIS__KEY_PREFIX=f"tplog:{tag}:",
                     TICKERPULSE_LOG__LEVEL="DEBUG", TICKERPULSE_LOG__FORMAT="json",
                     TICKERPULSE_API__PORT=str(api_port))
    admin = _tp(["api", "token", "create", "--name", "ops", "--role", "admin"], env)
    reader = _tp(["api", "token", "create", "--name", "wall", "--role", "read"], env)
    failing = EchoingFailure(f"bad signature, we hold {flaky_secret}; your Authorization: "
                             f"Bearer {admin}; db pw {pg_password}; cache redis://:"
                             f"{redis_password}@cache:6379 (pw {redis_password})")
    env["TICKERPULSE_ALERTS__ENDPOINTS"] = json.dumps([
        {"name": "ops", "url": ok.url, "secret": ok.secret, "timeout_s": 5},
        {"name": "flaky", "url": failing.url, "secret": flaky_secret, "timeout_s": 5},
    ])
    logs = {"api": tmp_path / "api.log", "alerts": tmp_path / "alerts.log"}
    procs = [_start(["api", "serve"], env, logs["api"]),
             _start(["alerts", "run"], env, logs["alerts"])]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        wait_for_port("127.0.0.1", api_port, timeout_s=60)
        base = f"http://127.0.0.1:{api_port}"
        with httpx.Client(base_url=base, timeout=10) as api:
            wait_until(lambda: api.get("/readyz").status_code == 200, 30, "API ready")

            def rules_loaded() -> bool:
                r = api.get("/api/v1/alert-rules", headers={"Authorization": f"Bearer {admin}"})
                return r.status_code == 200

            wait_until(rules_loaded, 60, "the alerts worker to record its rules")
            for ticker in ("LOGA", "LOGB"):
                producer.send(f"l{tag}.risk", risk_update(ticker, 90).to_json_bytes(),
                              key=ticker.encode())
            producer.flush()
            wait_until(lambda: len(ok.delivered()) >= 2 and failing.hits >= 2, 60,
                       "deliveries to both endpoints")
            assert api.get("/api/v1/risk", headers={"Authorization": f"Bearer {reader}"}
                           ).status_code == 200
            assert api.get("/api/v1/alerts", params={"token": admin}).status_code == 401
            assert api.get("/api/v1/alerts", headers={
                "Authorization": "Bearer tp_" + "wrongwrong" * 5}).status_code == 401
            assert api.post("/api/v1/silences", json={"rule": "high", "duration": "1h"},
                            headers={"Authorization": f"Bearer {admin}"}).status_code == 201
            event = api.get("/api/v1/alerts", headers={"Authorization": f"Bearer {admin}"}
                            ).json()["alerts"][0]["event_id"]
            assert api.get(f"/api/v1/alerts/{event}",
                           headers={"Authorization": f"Bearer {admin}"}).status_code == 200
            time.sleep(1.5)  # a few delivery retries to the failing endpoint get logged
    finally:
        producer.close()
        for proc in procs:
            _stop(proc)
        ok.stop()
        failing.stop()

    text = {name: path.read_text(errors="replace") for name, path in logs.items()}
    secrets = {"admin token": admin, "read token": reader, "redis password": redis_password,
               "postgres password": pg_password}
    for name, secret in (("ok", ok.secret), ("flaky", flaky_secret)):
        secrets[f"webhook secret {name}"] = secret
        secrets[f"webhook key {name}"] = secret.removeprefix("whsec_")
    for process, content in text.items():
        for what, value in secrets.items():
            assert value not in content, f"{what} in the {process} log"
    # the run did log, in JSON, with the access log's fields and no header values
    records = [json.loads(line) for line in text["api"].splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "tickerpulse.api.access"]
    assert {(r["path"], r["status"]) for r in access} >= {("/api/v1/risk", 200),
                                                          ("/api/v1/alerts", 401),
                                                          ("/api/v1/silences", 201)}
    assert all({"ts", "level", "method", "duration_ms"} <= set(r) for r in access)
    assert not any("authorization" in json.dumps(r).lower() for r in access)
    assert any(r.get("event_id") == event for r in access)  # path ids as fields
    # the failing receiver's body reached the alerts log, masked
    echoed = [line for line in text["alerts"].splitlines() if "bad signature" in line]
    assert echoed and all("***" in line for line in echoed)
    # delivery lines of the alerts worker carry the ids in play as JSON fields
    alerts = [json.loads(line) for line in text["alerts"].splitlines() if line.startswith("{")]
    deliveries = [r for r in alerts if r.get("logger") == "alerts.dispatch" and "outcome" in r]
    assert any(r.get("event_id") == event and r.get("ticker") for r in deliveries), deliveries[:3]
