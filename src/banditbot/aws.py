"""AWS Lambda entry point: ``banditbot.aws.handler``.

Serves API Gateway HTTP API (payload 2.0) and Lambda Function URL events:

* ``POST …/telegram`` — the Telegram webhook: secret-token check (before anything else is
  built: the secret comes from the settings or SSM), de-duplication by ``update_id``, and the
  update processed to completion before the function returns;
* ``GET …/healthz`` — the function runs (no store, no settings needed);
* everything else — the HTTP API and dashboard (the same ASGI app ``banditbot serve`` runs).

The service and the event loop are built lazily, once per container, on the first
invocation that needs them; importing this module connects to nothing (cold starts and tests
depend on it). The bot (its token perhaps from SSM, then ``getMe``) is built on the first
Telegram event: while Telegram cannot be reached or refuses the token, the HTTP API and
dashboard serve and Telegram events are answered 503 (Telegram delivers them again), each
later Telegram event trying again.

Each invocation's store calls are bounded by its remaining time (the context's
``get_remaining_time_in_millis()``, less :data:`ANSWER_MARGIN`): a throttled store gives up
in time for the handler to log the cause and answer 503 (Telegram delivers the update again)
before Lambda's timeout. Failures are answered without internal detail (no file path, table
name or setting: anyone may call a Function URL); the detail is in the log. Logs are
banditbot's redacted JSON lines (no bot token, no secret), one access line per request.
Settings come from the environment:

``BANDITBOT_STORE``
    e.g. ``dynamodb://banditbot?region=eu-west-1`` (required: no SQLite default here)
``BANDITBOT_CONFIG``
    experiments file inside the package (default: the packaged example)
``TELEGRAM_TOKEN`` / ``TELEGRAM_TOKEN_PARAMETER``
    the bot token, or the name of an SSM SecureString parameter holding it
``BANDITBOT_WEBHOOK_SECRET`` / ``BANDITBOT_WEBHOOK_SECRET_PARAMETER``
    the webhook secret, or its SSM parameter
``BANDITBOT_ADMINS``
    Telegram user ids allowed admin commands (the template's ``AdminIds``), beside the
    experiments file's ``admins``
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._errors import BanditBotError, PayloadError, StoreError

__all__ = ["LambdaApp", "handler"]

#: How often, at most, webhook requests try to build and connect the bot while that fails
#: (Telegram redelivers meanwhile; each try reads SSM and calls getMe).
_RETRY_SECONDS = 10.0
_clock = time.monotonic  # (the retry cadence's clock)
#: Seconds of an invocation kept to answer after the store gave up (the bot's apology to the
#: chat, the log line, the answer): the store's retries stop this long before the timeout.
ANSWER_MARGIN = 3.0
#: what a failure's body says (the detail, which may name a file, table or setting, is logged)
_SEE_THE_LOG = "see the function's log"

log = logging.getLogger("banditbot.aws")


class LambdaApp:
    """A Lambda handler; the module-level :data:`handler` is one instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: Any = None
        self._settings: Any = None
        self._secret: str | None = None  # the webhook secret, once known (SSM: fetched once)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: one event at a time, as Lambda sends them (a harness that called the handler
        #: from two threads at once got "This event loop is already running"; the store's
        #: time limit and the bot's first build are the container's, one at a time too)
        self._one_event = threading.Lock()
        self._retry_at = 0.0  # (monotonic) no Telegram connection attempt before then

    def settings(self) -> Any:
        """The settings, read once per container (and banditbot's logging configured)."""
        with self._lock:
            if self._settings is None:
                from ._settings import Settings

                _configure_logging()
                self._settings = Settings.from_env(env_file=None)
            return self._settings

    def parts(self) -> Any:
        """What this container built on its first invocation that needs the service (see
        :func:`banditbot._compose.build_lambda`)."""
        settings = self.settings()
        with self._lock:
            if self._parts is None:
                from ._compose import build_lambda

                if self._loop is None:
                    self._loop = asyncio.new_event_loop()
                # the secret fetched for the check: the bot does not read SSM for it again
                self._parts = build_lambda(settings.replace(webhook_secret=self._secret))
            return self._parts

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Answer one API Gateway (payload 2.0) or Function URL event.

        An event that is not one (not an object, a non-object ``requestContext``, headers
        that are not a mapping of strings, a body that is not a string, invalid base64, a
        body over the limit, no HTTP method or path at all) is answered 400 (413) with one log
        line, before anything is built or read. ``/healthz`` is answered without building
        anything; a webhook request's secret is checked before the service is built. Anything
        else that fails is answered 500 (a store that failed: 503) with one redacted log line
        that says why; the answer's body says only that (anyone may call the function)."""
        try:
            request = _parse_event(event)
        except PayloadError as exc:
            status = 413 if isinstance(exc, _TooLargeError) else 400
            log.warning("refused an event", extra={"status": status, "reason": exc.message})
            return _response(status, {"ok": False, "detail": exc.message})
        if request.method in ("GET", "HEAD") and request.path.rstrip("/") == "/healthz":
            self.settings()  # (the log's format)
            log.info("request", extra={"method": request.method, "path": request.path,
                                       "status": 200})
            return _response(200, {"status": "ok"} if request.method == "GET" else None)
        try:
            with self._one_event:
                if request.path.rstrip("/").endswith("/telegram") and request.method == "POST":
                    return self._telegram(request.headers, request.body, context)
                parts = self.parts()
                with _time_limit(parts, context):
                    return self._asgi(parts, request)
        except BanditBotError as exc:
            status = 503 if isinstance(exc, StoreError) and not exc.lasting else 500
            log.error("cannot answer the event: %s", exc,
                      extra={"method": request.method, "path": request.path,
                             "status": status})
            return _response(status, {"ok": False, "detail": _SEE_THE_LOG})
        except Exception:
            log.exception("unexpected error", extra={"method": request.method,
                                                     "path": request.path, "status": 500})
            return _response(500, {"ok": False, "detail": "internal error"})

    def _run(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return self._loop.run_until_complete(coroutine)

    def _telegram(self, headers: dict[str, str], raw: bytes, context: Any) -> dict[str, Any]:
        """A webhook request: the secret is checked before anything is built, fetched or
        sent (a stranger's POST builds no service, reads no store and calls no Telegram; the
        secret's SSM parameter is read once per container), then the bot is built and
        connected if it is not yet — at most once per :data:`_RETRY_SECONDS` while that
        fails — and the update processed within the invocation's time. A store that fails
        before the update is claimed is answered 503: Telegram delivers it again."""
        settings = self.settings()
        if not (settings.telegram_token or settings.telegram_token_parameter):
            return self._telegram_answer(404, "no Telegram bot configured")
        from .telegram import check_secret, process_webhook

        known = self._webhook_secret(settings)
        if known is None:  # its SSM parameter is unreadable (logged), for now
            return self._telegram_answer(503, "the webhook secret's SSM parameter cannot be "
                                              "read (see the log); retry later")
        if not check_secret(headers, known):
            return self._telegram_answer(403, "missing or wrong secret token")
        parts = self.parts()
        with _time_limit(parts, context):
            ready = self._bot_ready(parts)
            if parts.telegram is None and ready:
                return self._telegram_answer(404, "no Telegram bot configured")
            if parts.telegram is None:  # the token's SSM parameter is unreadable
                return self._telegram_answer(503, "the bot token's SSM parameter cannot be "
                                                  "read (see the log); retry later")
            try:
                outcome = self._run(process_webhook(parts.telegram, parts.service, headers,
                                                    raw, known, wait=True, ready=ready))
            except StoreError as exc:  # not claimed: a redelivery is processed
                log.error("the store failed before the update was claimed: %s", exc,
                          extra={"method": "POST", "path": "/telegram", "status": 503})
                return _response(503, {"ok": False, "detail": "the store is unavailable; "
                                                              "retry later"})
        return self._telegram_answer(outcome.status, outcome.reason)

    def _webhook_secret(self, settings: Any) -> str | None:
        """The webhook secret: the settings', or its SSM parameter's (read once it works;
        while it fails, at most once per :data:`_RETRY_SECONDS`, one warning line each).

        Raises
        ------
        ConfigError
            Neither ``BANDITBOT_WEBHOOK_SECRET`` nor its parameter is set.
        """
        from ._errors import ConfigError

        if self._secret is None and settings.webhook_secret:
            self._secret = settings.webhook_secret
        if self._secret is not None:
            return self._secret
        if not settings.webhook_secret_parameter:
            raise ConfigError("a Telegram webhook needs BANDITBOT_WEBHOOK_SECRET",
                              hint="or BANDITBOT_WEBHOOK_SECRET_PARAMETER naming an SSM "
                                   "parameter")
        now = _clock()
        if now < self._retry_at:
            return None
        from ._compose import ssm_parameter

        try:
            secret = ssm_parameter(settings.webhook_secret_parameter)
        except Exception as exc:
            self._retry_at = now + _RETRY_SECONDS
            log.warning("cannot read the webhook secret: %s; Telegram events are answered "
                        "503 until it works", _ssm_failure(exc),
                        extra={"error": type(exc).__name__})
            return None
        if not secret:
            raise ConfigError("the webhook secret's SSM parameter is empty",
                              hint="put the secret given to set-webhook in it")
        from ._logging import register_secret

        register_secret(secret)
        self._secret = secret
        return secret

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
                log.warning("cannot build the Telegram bot: %s; Telegram events are "
                            "answered 503 until it works", _ssm_failure(exc),
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
        if response["statusCode"] >= 500:
            _withhold_detail(response, request)
        return response


@contextlib.contextmanager
def _time_limit(parts: Any, context: Any) -> Iterator[None]:
    """The invocation's store calls bounded by its remaining time, less
    :data:`ANSWER_MARGIN` (a store without time limits, or no Lambda context: unbounded)."""
    limit = getattr(parts.service.store, "time_limit", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if limit is None or remaining is None:
        yield
        return
    with limit(max(remaining() / 1000 - ANSWER_MARGIN, 0.0)):
        yield


def _withhold_detail(response: dict[str, Any], request: _Request) -> None:
    """A server error's problem body without its detail and hint (a table name, a path):
    logged instead, with the request id that the body keeps."""
    try:
        problem = json.loads(response["body"]) if not response["isBase64Encoded"] else None
    except ValueError:
        problem = None
    if not isinstance(problem, dict) or not ({"detail", "hint"} & problem.keys()):
        return
    log.error("answered %d: %s%s", response["statusCode"], problem.get("detail"),
              f" ({problem['hint']})" if problem.get("hint") else "",
              extra={"method": request.method, "path": request.path,
                     "status": response["statusCode"], "request_id": problem.get("request_id")})
    problem.pop("hint", None)
    problem["detail"] = _SEE_THE_LOG
    body = json.dumps(problem)
    response["body"] = body
    if "content-length" in response["headers"]:
        response["headers"]["content-length"] = str(len(body.encode()))


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
            "body": "" if payload is None else json.dumps(payload), "isBase64Encoded": False}


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


def _ssm_failure(exc: Exception) -> str:
    """An SSM read's failure in a few words: the parameter asked for (a trial's typo was
    logged as ``ParameterNotFound`` with no word of which name; a name is no secret) and
    the error's code (``ParameterNotFound``, ``AccessDeniedException``: a name without its
    leading ``/`` gives either), or its class."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    which = next((n for n in getattr(exc, "__notes__", ()) if n.startswith("SSM parameter ")),
                 None)
    if which is None:  # not an SSM read (the bot's own build): its class alone
        return type(exc).__name__
    return f"{which} unreadable ({code or type(exc).__name__})"
