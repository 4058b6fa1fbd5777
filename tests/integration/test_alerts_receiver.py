"""A real local webhook receiver for the alerts tests, verifying with the independent
`standardwebhooks` library (not with tickerpulse's signer)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


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


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def test_receiver_rejects_what_the_spec_rejects() -> None:
    import httpx

    from tickerpulse.embedded import free_port

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
