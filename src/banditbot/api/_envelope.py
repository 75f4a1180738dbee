"""The outermost middleware: a request id, the gate (credentials before any body is read), the
body size limit enforced while the body streams in, one JSON access-log line and the latency
histogram per request."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import anyio.to_thread
from starlette.responses import Response

from ._metrics import Metrics
from ._problems import problem

__all__ = ["MAX_BODY_BYTES", "MAX_WEBHOOK_BYTES", "Envelope", "Gate", "body_limit"]

log = logging.getLogger("banditbot.http")

#: Request bodies of the API are refused beyond this size (413), counted as they stream in.
MAX_BODY_BYTES = 64 * 1024
#: …and of the Telegram webhook (Telegram's updates are far smaller).
MAX_WEBHOOK_BYTES = 1024 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: the methods a metric names (any other is counted as OTHER)
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
#: on every answer: no page of this server inside another site's frame (the results page
#: holds an API key and has one-click admin buttons: a review's clickjacking), and no
#: content type guessed
_FRAMING = ((b"x-frame-options", b"DENY"),
            (b"content-security-policy", b"frame-ancestors 'none'"),
            (b"x-content-type-options", b"nosniff"))

#: ``(path, headers, request id) -> a refusal, or None to let the request in``
Gate = Callable[[str, Mapping[str, str], str], Response | None]


def body_limit(path: str) -> int:
    """The largest body accepted on ``path``."""
    return MAX_WEBHOOK_BYTES if path.rstrip("/").endswith("/telegram") else MAX_BODY_BYTES


class Envelope:
    """Pure ASGI middleware, outermost.

    Per request: a request id (``X-Request-ID``, echoed); for a request that may carry a body,
    the ``gate`` (API key or webhook secret) *before* a byte of the body is read; the body
    read here, in the chunks it arrives in, and refused with 413 as soon as it passes
    :func:`body_limit` — with or without a ``Content-Length`` — so a worker never holds more
    than the limit, then handed to the app whole; one JSON access-log line (at warning level
    for a 5xx) naming the route template, also of a request refused here (``route_of``);
    the latency histogram.
    """

    def __init__(self, app: Any, metrics: Metrics, gate: Gate | None = None,
                 gate_blocks: Callable[[Mapping[str, str]], bool] | None = None,
                 route_of: Callable[[dict[str, Any]], str | None] | None = None) -> None:
        self.app, self.metrics, self.gate = app, metrics, gate
        #: whether the gate must read the store now for a request with these headers (the key
        #: list expired, or the request's key is not in it): then it runs on a worker thread,
        #: so a slow or unreachable store never stalls the event loop and every other request
        #: with it
        self.gate_blocks = gate_blocks
        #: the route template of a request no router saw (refused here: the gate, 413)
        self.route_of = route_of

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_headers = scope.get("headers") or ()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        request_id = headers.get("x-request-id", "")[:64] or secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = [500]

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode()), *_FRAMING]
            await send(message)

        if scope["method"] in _BODY_METHODS and self.gate_blocks is not None \
                and self.gate_blocks(headers):
            refusal = await anyio.to_thread.run_sync(self._admit, scope, headers, request_id)
        else:
            refusal = self._admit(scope, headers, request_id)
        if refusal is not None:
            await refusal(scope, receive, send_with_id)
        elif scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send_with_id)
        else:
            body = await _read_body(receive, body_limit(scope["path"]))
            if body is _GONE:  # the client left before its body arrived: nothing to answer
                status[0] = 499
            elif body is None:
                limit = body_limit(scope["path"])
                await problem(413, "payload too large", f"the body is limited to {limit} "
                              "bytes", request_id)(scope, receive, send_with_id)
            else:
                await self.app(scope, _replay(body, receive), send_with_id)
        elapsed = time.perf_counter() - start
        route = getattr(scope.get("route"), "path", None)
        if route is None:
            route = (self.route_of and self.route_of(scope)) or "unmatched"
        # (a method outside HTTP's own is one label: each would be a new series, kept for
        # the process's life, on a server that passes any method through)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        self.metrics.child(self.metrics.requests, method, route,
                           str(status[0])).observe(elapsed)
        # a server error is a warning: it shows at the level an operator watches
        level = logging.WARNING if status[0] >= 500 else logging.INFO
        if log.isEnabledFor(level):
            # the client: the proxy's X-Forwarded-For when serve trusts it (from 127.0.0.1)
            client = scope.get("client") or ("",)
            log.log(level, "request", extra={
                "request_id": request_id, "method": scope["method"], "path": route,
                "status": status[0], "ms": round(elapsed * 1000, 2), "client": client[0]})

    def _admit(self, scope: dict[str, Any], headers: Mapping[str, str],
                     request_id: str) -> Response | None:
        """A response that refuses the request before its body is read, or ``None``."""
        if scope["method"] not in _BODY_METHODS:
            return None
        limit = body_limit(scope["path"])
        raw_length = headers.get("content-length")
        if raw_length is not None and (not raw_length.isdigit() or int(raw_length) > limit):
            return problem(413, "payload too large", f"the body is limited to {limit} bytes",
                           request_id)
        return None if self.gate is None else self.gate(scope["path"], headers, request_id)


_GONE = b"\x00client gone"  # a sentinel: compared by identity


async def _read_body(receive: Callable[[], Awaitable[dict[str, Any]]],
                     limit: int) -> bytes | None:
    """The whole request body, or ``None`` as soon as it passes ``limit`` bytes (what is
    left is never read), or ``_GONE`` if the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return _GONE
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Callable[[], Awaitable[dict[str, Any]]]
            ) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A ``receive`` that gives the app the body read above, then waits for the client as
    the original does (a disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
