"""Log setup: JSON lines with the ids in play, and no secret in any line (unit level; the grep
over a whole run of real processes is tests/integration/test_api_logs.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from alerts.signing import generate_secret
from alerts.store.tokens import new_token
from tickerpulse.logs import MASK, Redactor, build_handler, secret_values, setup_logging
from tickerpulse.settings import Settings


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    logger = logging.getLogger()
    saved = (list(logger.handlers), logger.level)
    yield logger
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logging.captureWarnings(False)


def _settings(secret: str) -> Settings:
    return Settings(
        redis={"url": "redis://:r3dis-pass@10.0.0.5:6379/0"},
        alerts={"database_url": "postgresql+psycopg://tp:pg%40pass@db:5432/tp",
                "endpoints": [{"name": "ops", "url": "https://hooks.example/x",
                               "secret": secret}]},
    )


def test_secret_values_collects_secretstr_and_url_passwords() -> None:
    secret = generate_secret()
    found = secret_values(_settings(secret))
    assert secret in found and "r3dis-pass" in found
    assert "pg@pass" in found and "pg%40pass" in found  # decoded and as written


@pytest.mark.parametrize("line", [
    "Authorization: Bearer {token}",
    "headers={{'authorization': 'Bearer {token}'}}",
    "GET /api/v1/risk?token={token}&x=1",
    "created token {token}",
    "connecting to redis://:hunter2hunter2@redis:6379/0",
    "postgresql://tp:s3cr3t-pw@db/tp failed",
    "signing with whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
])
def test_redactor_masks_credential_shapes(line: str) -> None:
    token = new_token()
    text = Redactor()(line.format(token=token))
    assert MASK in text
    for leaked in (token, "hunter2hunter2", "s3cr3t-pw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"):
        assert leaked not in text


def test_json_lines_carry_ids_and_no_secret(root: logging.Logger) -> None:
    secret = generate_secret()
    stream = io.StringIO()
    root.handlers[:] = [build_handler("json", secret_values(_settings(secret)), stream)]
    root.setLevel(logging.DEBUG)
    log = logging.getLogger("tickerpulse.test")
    log.info("committed %s", "doc", extra={"doc_id": "news:wire:1", "ticker": "ACME",
                                            "event_id": "evt_1"})
    log.warning("endpoint secret is %s", secret)
    try:
        raise RuntimeError(f"redis://:r3dis-pass@10.0.0.5 refused; secret {secret}")
    except RuntimeError:
        log.exception("failed", extra={"note": "pw r3dis-pass in an extra"})
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    first = lines[0]
    assert {k: first[k] for k in ("level", "logger", "message", "doc_id", "ticker",
                                  "event_id")} == {
        "level": "INFO", "logger": "tickerpulse.test", "message": "committed doc",
        "doc_id": "news:wire:1", "ticker": "ACME", "event_id": "evt_1"}
    assert first["ts"].endswith("+00:00")
    assert lines[1]["message"] == f"endpoint secret is {MASK}"
    assert "RuntimeError" in lines[2]["exc"] and lines[2]["note"] == f"pw {MASK} in an extra"
    text = stream.getvalue()
    assert secret not in text and "r3dis-pass" not in text


def test_setup_from_environment(root: logging.Logger, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKERPULSE_LOG__LEVEL", "warning")
    monkeypatch.setenv("TICKERPULSE_LOG__FORMAT", "json")
    setup_logging(Settings(), verbose=0)
    assert root.level == logging.WARNING
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown", extra={"ticker": "ACME"})
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["ticker"] == "ACME"
    setup_logging(Settings(), verbose=2)  # -vv lowers the level, never raises it
    assert root.level == logging.DEBUG
    assert logging.getLogger("httpx").level == logging.WARNING  # one line per request: quiet


def test_text_format_is_one_line_per_record(root: logging.Logger) -> None:
    stream = io.StringIO()
    root.handlers[:] = [build_handler("text", [], stream)]
    root.setLevel(logging.INFO)
    token = new_token()
    logging.getLogger("tickerpulse.api.access").info("GET /api/v1/risk 200 (%s)", token)
    assert stream.getvalue().count("\n") == 1 and token not in stream.getvalue()
