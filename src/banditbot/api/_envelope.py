"""The outermost middleware: a request id, the body size limit, one JSON access-log line and
the latency histogram per request."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

from ._metrics import Metrics
from ._problems import problem

__all__ = ["MAX_BODY_BYTES", "Envelope"]

log = logging.getLogger("banditbot.http")

MAX_BODY_BYTES = 64 * 1024


class Envelope:
    """Pure ASGI middleware: a request id (``X-Request-ID``, echoed), the body size limit,
    one JSON access-log line and the latency histogram per request."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or \
            secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = [500]
        limit = MAX_BODY_BYTES * 16 if scope["path"] == "/telegram" else MAX_BODY_BYTES
        raw_length = headers.get(b"content-length")

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        if raw_length is not None and (not raw_length.isdigit() or int(raw_length) > limit):
            response = problem(413, "payload too large",
                               f"the body is limited to {limit} bytes", request_id)
            await response(scope, receive, send_with_id)
        else:
            await self.app(scope, receive, send_with_id)
        elapsed = time.perf_counter() - start
        route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.child(self.metrics.requests, scope["method"], route,
                           str(status[0])).observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info("request", extra={"request_id": request_id, "method": scope["method"],
                                       "path": route, "status": status[0],
                                       "ms": round(elapsed * 1000, 2)})
