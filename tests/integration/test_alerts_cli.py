"""The `tickerpulse webhook` and `tickerpulse alerts` commands against real parts: a local
receiver that verifies with the independent library, a SQLite history, the API router."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from alerts.signing import generate_secret, signed_headers
from alerts.store.repository import AlertStore
from support.alerts import Receiver
from tickerpulse.api.alerts import alerts_router
from tickerpulse.cli.main import cli
from tickerpulse.embedded import free_port

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "alerts" / "examples" / "rules.yaml"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(generate_secret(), free_port()).start()
    yield r
    r.stop()


def tp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tickerpulse.cli.main", *args],
                          capture_output=True, text=True, timeout=60)


def test_send_test_exits_zero_only_on_2xx(receiver: Receiver) -> None:
    ok = tp("webhook", "send-test", "--url", receiver.url, "--secret", receiver.secret)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (got,) = receiver.requests
    assert got.verified and got.body["ticker"] == "ACME" and got.webhook_id in ok.stdout
    receiver.behaviour = lambda _i, _b, _n: (500, 0.0)
    assert tp("webhook", "send-test", "--url", receiver.url,
              "--secret", receiver.secret).returncode == 1
    wrong = tp("webhook", "send-test", "--url", receiver.url, "--secret", generate_secret())
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stdout  # the receiver rejected it
    down = tp("webhook", "send-test", "--url", f"http://127.0.0.1:{free_port()}/x",
              "--secret", receiver.secret, "--timeout", "2")
    assert down.returncode == 1 and "connection" in down.stdout
    bad = tp("webhook", "send-test", "--url", receiver.url, "--secret", "nope")
    assert bad.returncode == 2 and "whsec_" in bad.stderr


def test_verify_command(tmp_path: Path) -> None:
    secret = generate_secret()
    body = tmp_path / "body.json"
    body.write_bytes(b'{"event_id":"evt_1"}')
    h = signed_headers([secret], "evt_1", body.read_bytes())
    runner = CliRunner()
    args = ["webhook", "verify", "--secret", secret, "--body", str(body)]
    ok = runner.invoke(cli, [*args, *[x for k, v in h.items() for x in ("-H", f"{k}: {v}")]])
    assert ok.exit_code == 0 and json.loads(ok.output) == {"valid": True, "webhook_id": "evt_1"}
    body.write_bytes(b'{"event_id":"evt_2"}')
    bad = runner.invoke(cli, [*args, "--id", "evt_1", "--timestamp", h["webhook-timestamp"],
                              "--signature", h["webhook-signature"]])
    assert bad.exit_code == 1 and "no matching signature" in bad.output


def test_rules_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["alerts", "rules", "check", str(EXAMPLE)])
    assert ok.exit_code == 0 and "rules OK" in ok.output
    broken = tmp_path / "rules.yaml"
    broken.write_text(EXAMPLE.read_text().replace("severity: critical", "severity: dire"))
    bad = runner.invoke(cli, ["alerts", "rules", "check", str(broken)])
    assert bad.exit_code == 1
    lines = broken.read_text().splitlines()
    line = next(i for i, t in enumerate(lines, 1) if "severity: dire" in t)
    assert f"{broken}:{line}: rules.1.severity:" in bad.output


def test_silences_by_cli_and_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/alerts.db"
    monkeypatch.setenv("TICKERPULSE_ALERTS__DATABASE_URL", url)
    runner = CliRunner()
    added = runner.invoke(cli, ["alerts", "silence", "add", "--ticker", "aapl", "--for", "2h",
                                "--comment", "earnings call"])
    assert added.exit_code == 0, added.output
    assert runner.invoke(cli, ["alerts", "silence", "add"]).exit_code == 1  # no target
    listed = runner.invoke(cli, ["alerts", "silence", "list"]).output
    assert "ticker=AAPL" in listed and "earnings call" in listed

    app = FastAPI()
    app.include_router(alerts_router(AlertStore(url)))
    transport = httpx.ASGITransport(app=app)

    async def api_calls() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            made = await api.post("/api/v1/silences", json={"rule": "buzz-spike",
                                                             "duration": "30m"})
            assert made.status_code == 201 and made.json()["active"] is True
            bad = await api.post("/api/v1/silences", json={"duration": "30m"})
            assert bad.status_code == 422
            rows = (await api.get("/api/v1/silences")).json()
            assert [(r["ticker"], r["rule"]) for r in rows] == [("AAPL", None),
                                                               (None, "buzz-spike")]
            gone = await api.delete(f"/api/v1/silences/{rows[0]['id']}")
            assert gone.status_code == 200 and gone.json()["active"] is False
            assert (await api.delete("/api/v1/silences/999")).status_code == 404
            left = (await api.get("/api/v1/silences")).json()
            assert [r["rule"] for r in left] == ["buzz-spike"]
            everything = (await api.get("/api/v1/silences",
                                        params={"include_expired": True})).json()
            assert len(everything) == 2

    import asyncio

    asyncio.run(api_calls())
    expired = runner.invoke(cli, ["alerts", "silence", "expire", "2"])
    assert expired.exit_code == 0
    assert runner.invoke(cli, ["alerts", "silence", "list"]).output == ""
    assert runner.invoke(cli, ["alerts", "silence", "expire", "42"]).exit_code == 1


def test_readme_example_receiver_accepts_send_test(tmp_path: Path) -> None:
    import os

    from tickerpulse.embedded import wait_for_port

    secret, port = generate_secret(), free_port()
    example = EXAMPLE.parent / "receiver.py"
    with (tmp_path / "receiver.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(example), str(port)], stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ,
                                                               "WEBHOOK_SECRET": secret})
    try:
        wait_for_port("127.0.0.1", port)
        url = f"http://127.0.0.1:{port}/"
        assert tp("webhook", "send-test", "--url", url, "--secret", secret).returncode == 0
        assert tp("webhook", "send-test", "--url", url,
                  "--secret", generate_secret()).returncode == 1
    finally:
        proc.terminate()
        proc.wait(10)
    assert "warning firing ACME send-test" in (tmp_path / "receiver.log").read_text()
