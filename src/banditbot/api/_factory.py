"""``app_from_env``: the app uvicorn workers build from environment settings."""

from __future__ import annotations

import os

from fastapi import FastAPI

from .._bootstrap import build_service
from ._app import create_app

__all__ = ["app_from_env"]


def app_from_env() -> FastAPI:
    """Build the ASGI app from ``BANDITBOT_CONFIG``, ``BANDITBOT_STORE`` and, when
    ``TELEGRAM_TOKEN`` is set, the Telegram webhook (``BANDITBOT_WEBHOOK_SECRET``)."""
    from .._logging import configure_json_logging

    configure_json_logging()
    service = build_service(os.environ.get("BANDITBOT_CONFIG") or None,
                            os.environ.get("BANDITBOT_STORE") or None)
    telegram = None
    secret = None
    from ..telegram._app import _dotenv

    _dotenv()
    if os.environ.get("TELEGRAM_TOKEN"):
        from ..telegram import build_application, ensure_webhook_secret

        secret = ensure_webhook_secret()
        telegram = build_application(
            service, os.environ["TELEGRAM_TOKEN"], webhook=True,
            base_url=os.environ.get("BANDITBOT_TELEGRAM_BASE_URL") or None)
    return create_app(service, telegram=telegram, webhook_secret=secret)
