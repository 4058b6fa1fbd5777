"""Secrets: ``X_FILE`` settings, several signing secrets per endpoint (checked with the
independent ``standardwebhooks`` library), `webhook verify` with several secrets, and
`config show` printing none of them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from pydantic_settings.exceptions import SettingsError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from alerts.errors import WebhookVerificationError as OurVerificationError
from alerts.notifiers import WebhookNotifier
from alerts.settings import WebhookEndpointSettings
from alerts.signing import generate_secret, signed_headers, verify
from tickerpulse.cli.config import redact_url
from tickerpulse.cli.main import cli
from tickerpulse.settings import Settings

BODY = b'{"event_id":"evt_1","ticker":"AAPL"}'


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("TICKERPULSE_")]:
        monkeypatch.delenv(name)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---- X_FILE ------------------------------------------------------------------------------

def test_any_setting_reads_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = generate_secret()
    monkeypatch.setenv("TICKERPULSE_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TICKERPULSE_KAFKA__SASL_USERNAME", "svc")
    monkeypatch.setenv("TICKERPULSE_KAFKA__SASL_PASSWORD_FILE",
                       write(tmp_path, "pw", "s3cr3t-kafka\n"))  # Docker secrets end in \n
    monkeypatch.setenv("tickerpulse_redis__url_file",  # names are case-insensitive
                       write(tmp_path, "url", "redis://:r3dis-pw@cache:6379/2\r\n"))
    monkeypatch.setenv("TICKERPULSE_ALERTS__ENDPOINTS_FILE", write(tmp_path, "eps", json.dumps(
        [{"name": "ops", "url": "https://hooks.example/x", "secret": secret}])))
    monkeypatch.setenv("TICKERPULSE_ALERTS__RETRY__DEADLINE_S_FILE", write(tmp_path, "d", "60"))
    s = Settings()
    assert s.kafka.sasl_password.get_secret_value() == "s3cr3t-kafka"
    assert s.kafka.sasl_username == "svc"
    assert s.redis.url == "redis://:r3dis-pw@cache:6379/2"
    assert s.alerts.endpoints[0].signing_secrets() == [secret]
    assert s.alerts.retry.deadline_s == 60.0


def test_file_and_value_together_or_an_unreadable_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKERPULSE_REDIS__URL", "redis://a")
    monkeypatch.setenv("TICKERPULSE_REDIS__URL_FILE", write(tmp_path, "u", "redis://b"))
    with pytest.raises(SettingsError, match="both TICKERPULSE_REDIS__URL and "
                                            "TICKERPULSE_REDIS__URL_FILE"):
        Settings()
    monkeypatch.delenv("TICKERPULSE_REDIS__URL")
    monkeypatch.setenv("TICKERPULSE_REDIS__URL_FILE", str(tmp_path / "absent"))
    with pytest.raises(SettingsError, match="TICKERPULSE_REDIS__URL_FILE: cannot read"):
        Settings()
    monkeypatch.delenv("TICKERPULSE_REDIS__URL_FILE")
    monkeypatch.setenv("TICKERPULSE_ALERTS__ENDPOINTS_FILE", write(tmp_path, "e", "[{oops"))
    with pytest.raises(SettingsError, match="not JSON"):
        Settings()


def test_a_bad_secret_is_never_echoed_in_the_error(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("TICKERPULSE_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TICKERPULSE_KAFKA__SASL_PASSWORD", "leaky-pw-1")  # no user name
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "leaky-pw-1" not in str(info.value)
    with pytest.raises(ValidationError) as info:
        Settings(alerts={"endpoints": [{"name": "a", "url": "u", "secret": "leaky-pw-2"}]})
    assert "leaky-pw-2" not in str(info.value)
    bad = write(tmp_path, "bad", "whsec_not base64 leaky-pw-3\n")
    with pytest.raises(ValidationError) as info:
        WebhookEndpointSettings(name="a", url="u", secret_files=[bad])
    assert "leaky-pw-3" not in str(info.value) and "secret file" in str(info.value)


# ---- several signing secrets ------------------------------------------------------------

def test_endpoint_secrets_from_value_list_and_files(tmp_path: Path) -> None:
    old, new, third = generate_secret(), generate_secret(), generate_secret()
    single = WebhookEndpointSettings(name="a", url="u", secret=old)  # the old form works
    assert single.signing_secrets() == [old]
    path = write(tmp_path, "whsec", f"{third}\n\n{old}\n")
    many = WebhookEndpointSettings(name="a", url="u", secret=old, secrets=[new],
                                   secret_files=[path])
    assert many.signing_secrets() == [old, new, third]  # duplicates dropped, order kept
    with pytest.raises(ValidationError, match="needs a secret"):
        WebhookEndpointSettings(name="a", url="u")
    with pytest.raises(ValidationError, match="empty"):
        WebhookEndpointSettings(name="a", url="u", secret_files=[write(tmp_path, "e", "\n")])
    with pytest.raises(ValidationError, match="whsec_"):
        WebhookEndpointSettings(name="a", url="u", secrets=[old, "plain"])


async def test_a_receiver_holding_either_secret_verifies_with_standardwebhooks() -> None:
    old, new = generate_secret(), generate_secret()
    endpoint = WebhookEndpointSettings(name="ops", url="http://receiver.test/hook", secret=old,
                                       secrets=[new])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        result = await WebhookNotifier(endpoint, client).send("evt_1", "AAPL", BODY)
    assert result.outcome == "ok"
    (request,) = seen
    headers = dict(request.headers)
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (old, new):  # the independent reference implementation
        assert Webhook(secret).verify(request.content, headers) == json.loads(BODY)
        assert verify(secret, headers, request.content) == "evt_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(request.content, headers)


def test_verify_accepts_several_secrets_on_the_receiver_side() -> None:
    old, new, other = generate_secret(), generate_secret(), generate_secret()
    headers = signed_headers([new], "evt_9", BODY)
    assert verify([old, new], headers, BODY) == "evt_9"
    with pytest.raises(OurVerificationError, match="no matching signature"):
        verify([old, other], headers, BODY)


def test_webhook_verify_cli_takes_several_secrets_and_files(tmp_path: Path) -> None:
    old, new = generate_secret(), generate_secret()
    body = tmp_path / "body.json"
    body.write_bytes(BODY)
    h = signed_headers([new], "evt_2", BODY, timestamp=int(time.time()))
    hdr = [x for k, v in h.items() for x in ("-H", f"{k}: {v}")]
    runner = CliRunner()
    both = runner.invoke(cli, ["webhook", "verify", "--secret", old, "--secret", new,
                               "--body", str(body), *hdr])
    assert both.exit_code == 0, both.output
    assert json.loads(both.output) == {"valid": True, "webhook_id": "evt_2"}
    from_file = runner.invoke(cli, ["webhook", "verify", "--secret-file",
                                    write(tmp_path, "s", f"{old}\n{new}\n"),
                                    "--body", str(body), *hdr])
    assert from_file.exit_code == 0, from_file.output
    from_env = runner.invoke(cli, ["webhook", "verify", "--body", str(body), *hdr],
                             env={"TICKERPULSE_WEBHOOK_SECRET": f"{old} {new}"})
    assert from_env.exit_code == 0, from_env.output
    only_old = runner.invoke(cli, ["webhook", "verify", "--secret", old, "--body", str(body),
                                   *hdr])
    assert only_old.exit_code == 1 and "no matching signature" in only_old.output
    none = runner.invoke(cli, ["webhook", "verify", "--body", str(body), *hdr])
    assert none.exit_code == 2 and "--secret" in none.output


# ---- config show ------------------------------------------------------------------------

def test_config_show_prints_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whsec = [generate_secret() for _ in range(3)]
    secrets = {
        "kafka": "kafka-pw-7f3a", "key": "tls-key-pw-91c2", "redis": "redis-pw-55d0",
        "pg": "pg-pw-c0ffee", "query": "query-token-b4d", "slack": "xoxb-query-9e1",
        **{f"whsec{i}": s for i, s in enumerate(whsec)},
    }
    env = {
        "TICKERPULSE_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "TICKERPULSE_KAFKA__SASL_USERNAME": "svc-user",
        "TICKERPULSE_KAFKA__SASL_PASSWORD_FILE": write(tmp_path, "k", secrets["kafka"]),
        "TICKERPULSE_KAFKA__SSL_KEY_PASSWORD": secrets["key"],
        "TICKERPULSE_REDIS__URL": f"rediss://default:{secrets['redis']}@cache:6380/0",
        "TICKERPULSE_ALERTS__DATABASE_URL":
            f"postgresql+psycopg://tp:{secrets['pg']}@db/tp?sslmode=require"
            f"&password={secrets['query']}",
        "TICKERPULSE_ALERTS__ENDPOINTS": json.dumps([
            {"name": "ops", "url": f"https://hooks.example/in?token={secrets['slack']}&x=1",
             "secret": whsec[0], "secrets": [whsec[1]],
             "secret_files": [write(tmp_path, "w", whsec[2])]}]),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 0, result.output
    for name, value in secrets.items():
        assert value not in result.output, f"{name} leaked"
        assert value.split("_", 1)[-1] not in result.output, f"{name} (base64) leaked"
    shown = json.loads(result.output)
    assert shown["kafka"]["sasl_password"] == "***"
    assert shown["kafka"]["sasl_username"] == "svc-user"
    assert shown["redis"]["url"] == "rediss://default:***@cache:6380/0"
    assert shown["alerts"]["database_url"].startswith("postgresql+psycopg://tp:***@db/tp?")
    endpoint = shown["alerts"]["endpoints"][0]
    assert endpoint["secret"] == "***" and endpoint["secrets"] == ["***"]
    assert endpoint["secret_files"] == [str(tmp_path / "w")]  # paths are not secrets
    assert endpoint["url"] == "https://hooks.example/in?token=***&x=1"
    assert shown["kafka"]["ssl_cafile"] == "" and shown["api"]["port"] == 8080


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
    ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
    ("sqlite:///var/tickerpulse.db", "sqlite:///var/tickerpulse.db"),
    ("https://h/x?api_key=k&sig=s&page=2", "https://h/x?api_key=***&sig=***&page=2"),
    ("not a url", "not a url"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
