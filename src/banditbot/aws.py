"""AWS Lambda entry point: ``banditbot.aws.handler``.

Serves API Gateway HTTP API (payload 2.0) and Lambda Function URL events:

* ``POST …/telegram`` — the Telegram webhook: secret-token check, de-duplication by
  ``update_id``, and the update processed to completion before the function returns;
* everything else — the HTTP API and dashboard (the same ASGI app ``banditbot serve`` runs).

The service, the PTB application and the event loop are built lazily, once per container, on
the first invocation; importing this module connects to nothing (cold starts and tests depend
on it). Settings come from the environment:

``BANDITBOT_STORE``
    e.g. ``dynamodb://banditbot?region=eu-west-1``
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
import json
import logging
import os
import threading
from typing import Any

__all__ = ["LambdaApp", "handler"]

log = logging.getLogger("banditbot.aws")


def _secret(name: str) -> str | None:
    """An environment value, or the SSM parameter named by ``{name}_PARAMETER``."""
    value = os.environ.get(name)
    if value:
        return value
    parameter = os.environ.get(f"{name}_PARAMETER")
    if not parameter:
        return None
    import boto3

    ssm = boto3.client("ssm")
    return str(ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"])


class LambdaApp:
    """A Lambda handler; the module-level :data:`handler` is one instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, Any] | None = None

    def _build(self) -> dict[str, Any]:
        from ._bootstrap import build_service

        service = build_service(os.environ.get("BANDITBOT_CONFIG") or None,
                                os.environ.get("BANDITBOT_STORE") or None,
                                init=os.environ.get("BANDITBOT_INIT_STORE") == "1")
        loop = asyncio.new_event_loop()
        state: dict[str, Any] = {"service": service, "loop": loop, "telegram": None,
                                 "secret": None, "asgi": None}
        token = _secret("TELEGRAM_TOKEN")
        if token:
            from .telegram import build_application

            secret = _secret("BANDITBOT_WEBHOOK_SECRET")
            if not secret:
                raise RuntimeError("a Telegram webhook needs BANDITBOT_WEBHOOK_SECRET")
            app = build_application(service, token, webhook=True,
                                    base_url=os.environ.get("BANDITBOT_TELEGRAM_BASE_URL"))
            loop.run_until_complete(app.initialize())  # getMe, once per container
            state["telegram"], state["secret"] = app, secret
        return state

    def state(self) -> dict[str, Any]:
        with self._lock:
            if self._state is None:
                self._state = self._build()
            return self._state

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        state = self.state()
        http = (event.get("requestContext") or {}).get("http") or {}
        method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
        path = str(event.get("rawPath") or event.get("path") or "/")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        body = event.get("body") or ""
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        if path.rstrip("/").endswith("/telegram") and method == "POST":
            return self._telegram(state, headers, raw)
        return self._asgi(state, event, method, path, headers, raw)

    @staticmethod
    def _telegram(state: dict[str, Any], headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        if state["telegram"] is None:
            return _response(404, {"ok": False, "detail": "no Telegram bot configured"})
        from .telegram._app import process_webhook

        outcome = state["loop"].run_until_complete(process_webhook(
            state["telegram"], state["service"], headers, raw, state["secret"], wait=True))
        return _response(outcome.status, {"ok": outcome.status == 200,
                                          "detail": outcome.reason})

    @staticmethod
    def _asgi(state: dict[str, Any], event: dict[str, Any], method: str, path: str,
              headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        if state["asgi"] is None:
            from .api import create_app

            state["asgi"] = create_app(state["service"])
        response: dict[str, Any] = state["loop"].run_until_complete(
            _call_asgi(state["asgi"], method, path, str(event.get("rawQueryString") or ""),
                       headers, raw))
        return response


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
