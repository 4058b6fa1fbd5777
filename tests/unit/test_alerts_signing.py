"""Standard Webhooks signatures, checked against the independent `standardwebhooks` library."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as LibError

from alerts.errors import WebhookSecretError, WebhookVerificationError
from alerts.signing import decode_secret, generate_secret, sign, signed_headers, verify

# The spec's published test vector (standard-webhooks/spec, reference libraries' tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_spec_test_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


def test_independent_library_accepts_our_headers() -> None:
    secret = generate_secret()
    body = '{"ticker":"AAPL","excerpt":"caf\u00e9 \u2014 d\u00e9j\u00e0"}'.encode()
    headers = signed_headers([secret], "evt_abc123", body)
    assert Webhook(secret).verify(body, headers) == {"ticker": "AAPL", "excerpt": "café — déjà"}
    assert int(headers["webhook-timestamp"]) == pytest.approx(time.time(), abs=2)


def test_key_rotation_signs_with_every_secret() -> None:
    old, new = generate_secret(), generate_secret()
    headers = signed_headers([old, new], "evt_1", b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(b"{}", headers)
    Webhook(new).verify(b"{}", headers)
    assert verify(new, headers, b"{}") == "evt_1"


def test_our_verifier_matches_the_library_on_tampering() -> None:
    secret = generate_secret()
    headers = signed_headers([secret], "evt_1", b'{"a":1}')
    for body, hdrs in [
        (b'{"a":2}', headers),
        (b'{"a":1}', {**headers, "webhook-id": "evt_2"}),
        (b'{"a":1}', {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}),
        (b'{"a":1}', {**headers, "webhook-timestamp": str(int(time.time()) + 3600)}),
        (b'{"a":1}', {k: v for k, v in headers.items() if k != "webhook-signature"}),
        (b'{"a":1}', {**headers, "webhook-signature": "v2," + headers["webhook-signature"][3:]}),
    ]:
        with pytest.raises(LibError):
            Webhook(secret).verify(body, hdrs)
        with pytest.raises(WebhookVerificationError):
            verify(secret, hdrs, body)
    with pytest.raises(WebhookVerificationError):
        verify(generate_secret(), headers, b'{"a":1}')


def test_verify_accepts_library_signed_messages() -> None:
    from datetime import UTC, datetime

    secret = generate_secret()
    now = datetime.now(UTC)
    sig = Webhook(secret).sign("msg_1", now, '{"x":1}')
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(int(now.timestamp())),
               "Webhook-Signature": "v1,bm9wZQ== " + sig}
    assert verify(secret, headers, b'{"x":1}') == "msg_1"


def test_unpadded_secret_is_accepted_like_the_reference_library() -> None:
    padded = "whsec_" + base64.b64encode(b"k" * 25).decode()
    assert padded.endswith("=")
    unpadded = padded.rstrip("=")
    headers = signed_headers([unpadded], "evt_1", b"{}")
    Webhook(padded).verify(b"{}", headers)
    assert sign(unpadded, "evt_1", 1, b"x") == sign(padded, "evt_1", 1, b"x")


def test_secret_format() -> None:
    assert len(decode_secret(generate_secret(32))) == 32
    with pytest.raises(WebhookSecretError):
        decode_secret(base64.b64encode(b"k" * 32).decode())
    with pytest.raises(WebhookSecretError):
        decode_secret("whsec_not*base64")
    with pytest.raises(WebhookSecretError):
        generate_secret(8)
