"""The test receiver itself (tests/support/alerts.py) rejects what the spec rejects."""

from __future__ import annotations

import time

import httpx

from support.alerts import Receiver
from tickerpulse.embedded import free_port


def test_receiver_rejects_what_the_spec_rejects() -> None:
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    receiver = Receiver(secret, free_port()).start()
    try:
        ok = httpx.post(receiver.url, content=b"{}", headers={
            "webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAA"})
        assert ok.status_code == 401 and receiver.ids() == ["msg_1"]
        assert receiver.requests[0].verified is False
    finally:
        receiver.stop()
