"""A minimal webhook receiver for tickerpulse alerts: Python standard library only.

Verifies Standard Webhooks signatures (HMAC-SHA256 over ``id.timestamp.body`` with the
base64-decoded ``whsec_`` secret, constant-time compare, 5-minute timestamp tolerance) and
drops repeats by ``webhook-id`` (the alert's event id: a retry after a timeout may arrive
twice). Run::

    WEBHOOK_SECRET=whsec_... python alerts/examples/receiver.py 9000
    tickerpulse webhook send-test --url http://127.0.0.1:9000/ --secret whsec_...
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["WEBHOOK_SECRET"]
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
TOLERANCE_S = 300
seen: set[str] = set()  # use a database table with a unique key in production


def valid(headers: dict[str, str], body: bytes) -> bool:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return False
    mac = hmac.new(KEY, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    return any(
        version == "v1" and hmac.compare_digest(signature, expected)
        for version, _, signature in (s.partition(",")
                                      for s in headers.get("webhook-signature", "").split())
    )


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not valid(headers, body):
            self.send_response(401)
        elif headers["webhook-id"] in seen:
            self.send_response(200)  # already handled: acknowledge, do nothing
        else:
            seen.add(headers["webhook-id"])
            alert = json.loads(body)
            print(f"{alert.get('severity', '-')} {alert.get('status', '-')} "
                  f"{alert.get('ticker', '-')} {alert.get('rule', {}).get('name', '-')} "
                  f"{alert.get('dashboard_url', '')}", flush=True)
            self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    ThreadingHTTPServer.request_queue_size = 128  # the default backlog (5) drops bursts
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
