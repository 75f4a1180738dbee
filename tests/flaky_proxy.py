"""An HTTP proxy on 127.0.0.1 in front of the DynamoDB emulator that throttles: it answers the
first ``failures`` requests with DynamoDB's throttling error, then forwards — what DynamoDB
does under a burst (``failures=10**6``: sustained throttling)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

#: DynamoDB's two throttling answers: a provisioned table's capacity, and the request rate
#: (an on-demand table's, or the account's)
PROVISIONED = ("ProvisionedThroughputExceededException",
               "Rate of requests exceeds the allowed throughput.")
RATE = ("ThrottlingException", "Rate exceeded")


class FlakyProxy:
    """``with FlakyProxy(upstream, failures=3) as proxy:`` — point a client at ``proxy.url``.

    Parameters
    ----------
    upstream
        The emulator's URL.
    failures
        How many requests, from the first, are throttled.
    error
        The throttling error's code and message (:data:`PROVISIONED` or :data:`RATE`).
    on_request
        Called with each request's ``X-Amz-Target`` as it arrives (e.g. to move a fake
        clock by the time a request takes).
    """

    def __init__(self, upstream: str, failures: int, *,
                 error: tuple[str, str] = PROVISIONED,
                 on_request: Callable[[str], None] | None = None) -> None:
        self.failures = failures
        self.seen = 0
        self.targets: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                proxy.seen += 1
                target = self.headers.get("x-amz-target", "")
                proxy.targets.append(target)
                if on_request is not None:
                    on_request(target)
                if proxy.seen <= proxy.failures:
                    payload = json.dumps({
                        "__type": f"com.amazonaws.dynamodb.v20120810#{error[0]}",
                        "message": error[1]}).encode()
                    self.send_response(400)
                    self.send_header("content-type", "application/x-amz-json-1.0")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length")}
                reply = httpx.post(upstream, content=body, headers=headers, timeout=30)
                self.send_response(reply.status_code)
                for k, v in reply.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                         "content-encoding"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
