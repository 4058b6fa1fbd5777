"""Standard Webhooks signatures (https://www.standardwebhooks.com/), sender and receiver side.

Headers: ``webhook-id`` (the alert's event id, the idempotency key), ``webhook-timestamp``
(integer Unix seconds) and ``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>``
entries over ``f"{id}.{timestamp}.{body}"``, one per secret of the endpoint (several
secrets during a key rotation; a receiver holding any one of them verifies). The HMAC key is
the base64-decoded secret after its ``whsec_`` prefix. Verification compares in constant
time and rejects timestamps outside a tolerance (5 minutes by default) to stop replays.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

from alerts.errors import WebhookSecretError
from alerts.errors import WebhookVerificationError as WebhookVerificationError  # receivers' catch

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret
DEFAULT_TOLERANCE_S = 300


def generate_secret(n_bytes: int = 32) -> str:
    """A fresh `whsec_` secret (24-64 random bytes, as the spec recommends)."""
    if not 24 <= n_bytes <= 64:
        raise WebhookSecretError("secrets should hold between 24 and 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(n_bytes)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; raises :class:`WebhookSecretError` when malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise WebhookSecretError("webhook secret must start with 'whsec_'")
    encoded = secret[len(SECRET_PREFIX) :]
    encoded += "=" * (-len(encoded) % 4)  # tolerate unpadded base64, as the reference libs do
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookSecretError(f"webhook secret is not valid base64: {exc}") from None
    if not key:
        raise WebhookSecretError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``id.timestamp.body``."""
    if "." in msg_id or " " in msg_id:
        raise ValueError("webhook ids must not contain '.' or spaces")
    to_sign = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(decode_secret(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    secrets_: Sequence[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers; several secrets (key rotation) sign side by side."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    signature = " ".join(sign(s, msg_id, ts, body) for s in secrets_)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def verify(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Check a received webhook; returns its id or raises :class:`WebhookVerificationError`.

    This is the receiver helper: call it with the raw request body, before parsing JSON.
    ``secret`` may be several secrets (a receiver in the middle of a rotation): the message
    is valid when any signature matches any of them.
    """
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise WebhookSecretError("no webhook secret given")
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if ts < current - tolerance_s:
        raise WebhookVerificationError("message timestamp too old")
    if ts > current + tolerance_s:
        raise WebhookVerificationError("message timestamp too new")
    expected = [sign(key, msg_id, ts, body).split(",", 1)[1].encode("ascii") for key in keys]
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        given = value.encode("ascii", "replace")
        if any([hmac.compare_digest(given, e) for e in expected]):  # no early exit per key
            return msg_id
    raise WebhookVerificationError("no matching signature")
