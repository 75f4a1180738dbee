"""Building and running the Telegram application: polling, webhook processing, secrets."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from .._errors import PayloadError
from ..service import BanditService

__all__ = [
    "MAX_UPDATE_BYTES",
    "WebhookOutcome",
    "build_application",
    "process_webhook",
]

log = logging.getLogger("banditbot.telegram")

MAX_UPDATE_BYTES = 1_000_000  # Telegram updates are far smaller; refuse anything bigger
SECRET_HEADER = "x-telegram-bot-api-secret-token"

def build_application(service: BanditService, token: str, *,
                      base_url: str | None = None, webhook: bool = False,
                      experiments: list[str] | None = None) -> Any:
    """A python-telegram-bot ``Application`` with banditbot installed.

    Parameters
    ----------
    service
        The engine.
    token
        Bot token (from @BotFather).
    base_url
        Bot API server root, e.g. ``http://127.0.0.1:8081`` for a local server or a test
        double (default: Telegram's).
    webhook
        Build without an updater (updates arrive through :func:`process_webhook`).
    """
    from .._errors import require

    require("telegram", "telegram")
    from telegram.ext import Application

    from ._bot import install

    builder = Application.builder().token(token)
    limiter = _rate_limiter()
    if limiter is not None:
        builder = builder.rate_limiter(limiter)
    if base_url:
        builder = builder.base_url(f"{base_url.rstrip('/')}/bot") \
            .base_file_url(f"{base_url.rstrip('/')}/file/bot")
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    bot = install(application, service, experiments=experiments,
                  answer_unknown_callbacks=True)
    application.post_init = bot.publish_commands
    return application


def _rate_limiter() -> Any:
    """Telegram's flood control, kept rather than hit: at most 30 messages a second and 20 a
    minute per group, and a request refused with "retry after N" waits N seconds and is sent
    again (up to 3 times). A lost reply would be worse than a late one: its decision is
    logged, and in implicit mode an unseen message would count as silence."""
    from telegram.ext import AIORateLimiter

    try:
        return AIORateLimiter(max_retries=3)
    except RuntimeError:  # aiolimiter missing: python-telegram-bot installed without the extra
        log.warning("flood-control retries are off: pip install 'banditbot[telegram]'")
        return None


class WebhookOutcome:
    """Result of :func:`process_webhook`: an HTTP status and a short reason."""

    __slots__ = ("reason", "status", "update")

    def __init__(self, status: int, reason: str, update: Any = None) -> None:
        self.status, self.reason, self.update = status, reason, update


def check_secret(headers: Any, secret: str) -> bool:
    """Constant-time check of Telegram's ``X-Telegram-Bot-Api-Secret-Token`` header."""
    given = headers.get(SECRET_HEADER) or headers.get("X-Telegram-Bot-Api-Secret-Token") or ""
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


def parse_update(application: Any, body: bytes, service: BanditService) -> WebhookOutcome:
    """Validate a webhook body; claim its ``update_id`` so re-deliveries are ignored."""
    from telegram import Update

    if len(body) > MAX_UPDATE_BYTES:
        return WebhookOutcome(413, "update too large")
    try:
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise PayloadError("not a Telegram update")
        update = Update.de_json(data, application.bot)
    except (ValueError, TypeError, KeyError, PayloadError):
        return WebhookOutcome(400, "malformed update")
    key = f"tg-update:{application.bot.id}:{update.update_id}"
    if not service.store.claim_key(key, ttl_seconds=7 * 86400):
        return WebhookOutcome(200, "duplicate update ignored")
    return WebhookOutcome(200, "ok", update)


async def process_webhook(application: Any, service: BanditService, headers: Any,
                          body: bytes, secret: str, *, wait: bool = True) -> WebhookOutcome:
    """Handle one webhook request: secret check, size and JSON validation, de-duplication by
    ``update_id``, then the update — processed to completion (``wait=True``, e.g. Lambda) or
    queued for the running application (``wait=False``, answers at once)."""
    import asyncio

    if not check_secret(headers, secret):
        return WebhookOutcome(403, "missing or wrong secret token")
    outcome = await asyncio.to_thread(parse_update, application, body, service)
    if outcome.update is None:
        return outcome
    if wait:
        await application.process_update(outcome.update)
    else:
        await application.update_queue.put(outcome.update)
    return outcome
