"""AWS Lambda entry point: ``banditbot.aws.handler``.

Serves API Gateway HTTP API (payload 2.0) and Lambda Function URL events:

* ``POST …/telegram`` — the Telegram webhook: secret-token check, de-duplication by
  ``update_id``, and the update processed to completion before the function returns;
* everything else — the HTTP API and dashboard (the same ASGI app ``banditbot serve`` runs).

The service and the event loop are built lazily, once per container, on the first
invocation; importing this module connects to nothing (cold starts and tests depend on it).
The bot (its token and secret perhaps from SSM, then ``getMe``) is built on the first Telegram
event: while Telegram cannot be reached or refuses the token, the HTTP API and dashboard
serve and Telegram events are answered 503 (Telegram delivers them again), each later
Telegram event trying again. Logs are banditbot's redacted JSON lines (no bot token, no
secret), one access line per request. Settings come from the environment:

``BANDITBOT_STORE``
    e.g. ``dynamodb://banditbot?region=eu-west-1`` (required: no SQLite default here)
``BANDITBOT_CONFIG``
    experiments file inside the package (default: the packaged example)
``TELEGRAM_TOKEN`` / ``TELEGRAM_TOKEN_PARAMETER``
    the bot token, or the name of an SSM SecureString parameter holding it
``BANDITBOT_WEBHOOK_SECRET`` / ``BANDITBOT_WEBHOOK_SECRET_PARAMETER``
    the webhook secret, or its SSM parameter
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from ._errors import BanditBotError, PayloadError

__all__ = ["LambdaApp", "handler"]

#: How often, at most, webhook requests try to build and connect the bot while that fails
#: (Telegram redelivers meanwhile; each try reads SSM and calls getMe).
_RETRY_SECONDS = 10.0
_clock = time.monotonic  # (the retry cadence's clock)

log = logging.getLogger("banditbot.aws")


class LambdaApp:
    """A Lambda handler; the module-level :data:`handler` is one instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry_at = 0.0  # (monotonic) no Telegram connection attempt before then

    def parts(self) -> Any:
        """What this container built on its first invocation (see
        :func:`banditbot._compose.build_lambda`)."""
        with self._lock:
            if self._parts is None:
                from ._compose import build_lambda
                from ._settings import Settings

                _configure_logging()
                if self._loop is None:
                    self._loop = asyncio.new_event_loop()
                self._parts = build_lambda(Settings.from_env(env_file=None))
            return self._parts

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Answer one API Gateway (payload 2.0) or Function URL event.

        An event that is not one (not an object, a non-object ``requestContext``, headers
        that are not a mapping of strings, a body that is not a string, invalid base64, a
        body over the limit, no HTTP method or path at all) is answered 400 (413) with one log
        line, before anything is built or read. Anything else that fails is answered 500
        with one redacted log line; nothing unredacted reaches the runtime."""
        try:
            request = _parse_event(event)
        except PayloadError as exc:
            status = 413 if isinstance(exc, _TooLargeError) else 400
            log.warning("refused an event", extra={"status": status, "reason": exc.message})
            return _response(status, {"ok": False, "detail": exc.message})
        try:
            parts = self.parts()
            if request.path.rstrip("/").endswith("/telegram") and request.method == "POST":
                return self._telegram(parts, request.headers, request.body)
            return self._asgi(parts, request)
        except BanditBotError as exc:
            from ._logging import redact

            log.error("cannot answer the event: %s", exc,
                      extra={"method": request.method, "path": request.path, "status": 500})
            return _response(500, {"ok": False, "detail": redact(str(exc))})
        except Exception:
            log.exception("unexpected error", extra={"method": request.method,
                                                     "path": request.path, "status": 500})
            return _response(500, {"ok": False, "detail": "internal error"})

    def _run(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return self._loop.run_until_complete(coroutine)

    def _telegram(self, parts: Any, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        """A webhook request: the secret is checked before anything is fetched or sent (a
        stranger's POST reads no SSM parameter and calls no Telegram), then the bot is built
        and connected if it is not yet — at most once per :data:`_RETRY_SECONDS` while that
        fails — and the update processed."""
        settings = parts.settings
        if not (settings.telegram_token or settings.telegram_token_parameter):
            return self._telegram_answer(404, "no Telegram bot configured")
        from .telegram import check_secret, process_webhook

        known = parts.secret or settings.webhook_secret  # (from SSM: known once fetched)
        if known and not check_secret(headers, known):
            return self._telegram_answer(403, "missing or wrong secret token")
        ready = self._bot_ready(parts)
        if parts.telegram is None and ready:
            return self._telegram_answer(404, "no Telegram bot configured")
        if parts.telegram is None:  # the secret's SSM parameter is unreadable
            return self._telegram_answer(503, "the bot is not connected to Telegram yet; "
                                              "retry later")
        outcome = self._run(process_webhook(parts.telegram, parts.service, headers, raw,
                                            parts.secret, wait=True, ready=ready))
        return self._telegram_answer(outcome.status, outcome.reason)

    @staticmethod
    def _telegram_answer(status: int, reason: str) -> dict[str, Any]:
        """The webhook's answer, with its one access line (a refused secret leaves a trace)."""
        extra = {"method": "POST", "path": "/telegram", "status": status}
        if status >= 500:
            log.warning("Telegram update answered %d: %s", status, reason, extra=extra)
        elif status >= 400:
            log.warning("webhook update refused: %s", reason, extra=extra)
        else:
            log.info("request", extra=extra)
        return _response(status, {"ok": status == 200, "detail": reason})

    def _bot_ready(self, parts: Any) -> bool:
        """Build the bot (SSM) and initialize it (``getMe``) if not done yet: whether it can
        process updates. A failure is one redacted warning line; a later Telegram event
        tries again, at most once per :data:`_RETRY_SECONDS` (the HTTP API never does)."""
        if parts.telegram_ready:
            return True
        now = _clock()
        if now < self._retry_at:
            return False
        self._retry_at = now + _RETRY_SECONDS  # (cleared below when it works)
        if parts.telegram is None:
            from ._compose import attach_lambda_bot

            try:
                attach_lambda_bot(parts)
            except BanditBotError:
                raise
            except Exception as exc:
                log.warning("cannot build the Telegram bot (SSM parameter unreadable?); "
                            "Telegram events are answered 503 until it works",
                            extra={"error": type(exc).__name__})
                return False
            if parts.telegram is None:
                return True  # no token after all
        from .telegram import unavailable_reason

        try:
            self._run(parts.telegram.initialize())  # getMe, once it works
        except Exception as exc:
            log.warning("%s; Telegram events are answered 503 until it works (the HTTP API "
                        "serves)", unavailable_reason(exc), extra={"error": type(exc).__name__})
            return False
        parts.telegram_ready = True
        self._retry_at = 0.0
        return True

    def _asgi(self, parts: Any, request: _Request) -> dict[str, Any]:
        if parts.asgi is None:
            from ._compose import build_http_app

            # a Function URL has no proxy in front to limit /metrics: it needs a read key
            parts.asgi = build_http_app(parts.service, parts.settings.replace(metrics_key=True))
        response: dict[str, Any] = self._run(_call_asgi(
            parts.asgi, request.method, request.path, request.query, request.headers,
            request.body))
        return response


#: the largest body an event may carry (Lambda's own payload limit is 6 MB; the API refuses
#: more than 64 KB and the webhook more than 1 MB on its own, counted again in the app)
MAX_EVENT_BODY = 1024 * 1024


class _TooLargeError(PayloadError):
    """The event's body is over :data:`MAX_EVENT_BODY` (413)."""


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


def _parse_event(event: Any) -> _Request:
    """The HTTP request inside an event; :class:`PayloadError` if it is not one."""
    if not isinstance(event, dict):
        raise PayloadError(f"the event is not an object ({type(event).__name__})")
    context = event.get("requestContext")
    if context is not None and not isinstance(context, dict):
        raise PayloadError("requestContext is not an object")
    http = (context or {}).get("http")
    if http is not None and not isinstance(http, dict):
        raise PayloadError("requestContext.http is not an object")
    method = (http or {}).get("method") or event.get("httpMethod")
    path = event.get("rawPath") or event.get("path")
    if method is None or path is None:
        raise PayloadError("not an HTTP event (API Gateway or Function URL): no method or "
                           "path")
    query = event.get("rawQueryString") or ""
    for name, value in (("method", method), ("path", path), ("rawQueryString", query)):
        if not isinstance(value, str) or len(value) > 8192:
            raise PayloadError(f"{name} is not a string")
    raw_headers = event.get("headers") or {}
    if not isinstance(raw_headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw_headers.items()):
        raise PayloadError("headers are not a mapping of strings")
    body = event.get("body")
    if body is not None and not isinstance(body, str):
        raise PayloadError("the body is not a string")
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        raise PayloadError("isBase64Encoded is not true or false")
    text = body or ""
    if len(text) > MAX_EVENT_BODY * 4 // 3 + 4:
        raise _TooLargeError(f"the body is limited to {MAX_EVENT_BODY} bytes")
    try:
        raw = base64.b64decode(text, validate=True) if encoded else text.encode()
    except (binascii.Error, ValueError):
        raise PayloadError("the body is not valid base64 (or UTF-8)") from None
    if len(raw) > MAX_EVENT_BODY:
        raise _TooLargeError(f"the body is limited to {MAX_EVENT_BODY} bytes")
    return _Request(method.upper(), path, query, {k.lower(): v for k, v in raw_headers.items()},
                    raw)


def _configure_logging() -> None:
    """banditbot's JSON lines, redacted (as ``banditbot serve`` writes them), on stderr; a
    handler the runtime put on the root logger writes redacted JSON lines too."""
    from ._logging import JsonFormatter, configure_json_logging

    root = logging.getLogger()
    # without a handler of the runtime's, the libraries' records get banditbot's own
    configure_json_logging(libraries=None if root.handlers else logging.WARNING)
    for existing in root.handlers:
        if not isinstance(existing.formatter, JsonFormatter):
            existing.setFormatter(JsonFormatter())


def _response(status: int, payload: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps(payload), "isBase64Encoded": False}


async def _call_asgi(app: Any, method: str, path: str, query: str, headers: dict[str, str],
                     body: bytes) -> dict[str, Any]:
    """Run one HTTP request through an ASGI app and return a payload-2.0 response."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode(),
        "query_string": query.encode(), "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": (headers.get("x-forwarded-for", "0.0.0.0").split(",")[0], 0),
        "server": (headers.get("host", "lambda"), 443),
    }
    sent = False
    status = 500
    out_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for key, value in message.get("headers", []):
                out_headers[key.decode().lower()] = value.decode()
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    data = b"".join(chunks)
    ctype = out_headers.get("content-type", "")
    if ctype.startswith(("text/", "application/json", "application/problem+json")):
        return {"statusCode": status, "headers": out_headers, "body": data.decode(),
                "isBase64Encoded": False}
    return {"statusCode": status, "headers": out_headers,
            "body": base64.b64encode(data).decode(), "isBase64Encoded": True}


#: The Lambda handler (``Handler: banditbot.aws.handler``).
handler = LambdaApp()
