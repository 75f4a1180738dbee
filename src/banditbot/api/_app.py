"""The ASGI app that ``banditbot serve`` runs: Telegram webhook, HTTP API, dashboard."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .._service import BanditService

__all__ = ["create_app"]

log = logging.getLogger("banditbot.api")


def create_app(service: BanditService, *, telegram: Any = None,
               webhook_secret: str | None = None) -> FastAPI:
    """Build the ASGI application.

    Parameters
    ----------
    service
        The engine.
    telegram
        A PTB ``Application`` built with ``webhook=True``; enables ``POST /telegram``.
    webhook_secret
        The secret Telegram sends in ``X-Telegram-Bot-Api-Secret-Token`` (required with
        ``telegram``).
    """
    if telegram is not None and not webhook_secret:
        raise ValueError("a Telegram webhook needs a secret token")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if telegram is None:
            yield
            return
        async with telegram:  # initialize (getMe) … shutdown
            await telegram.start()  # processes the update queue
            try:
                yield
            finally:
                await telegram.stop()

    app = FastAPI(title="banditbot", version="0.1.0", lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    app.state.service = service

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if telegram is not None:
        from ..telegram._app import MAX_UPDATE_BYTES, process_webhook

        secret = str(webhook_secret)

        @app.post("/telegram", include_in_schema=False)
        async def telegram_webhook(request: Request) -> JSONResponse:
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > MAX_UPDATE_BYTES:
                return JSONResponse({"ok": False, "detail": "update too large"}, 413)
            body = await request.body()
            outcome = await process_webhook(telegram, service, request.headers, body, secret,
                                            wait=False)
            return JSONResponse({"ok": outcome.status == 200, "detail": outcome.reason},
                                outcome.status)

    return app
