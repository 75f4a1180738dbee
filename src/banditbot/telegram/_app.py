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
        log.warning("webhook update refused", extra={"status": 413, "bytes": len(body)})
        return WebhookOutcome(413, "update too large")
    try:
        data = json.loads(body)
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if type(update_id) is not int or not 0 <= update_id < 2**63:
            raise PayloadError("not a Telegram update")
        _check_shape(data)
        update = Update.de_json(data, application.bot)
    except Exception as exc:  # anything python-telegram-bot cannot read is malformed
        # one line, naming the problem but nothing the update carried
        log.warning("webhook update refused", extra={"status": 400,
                                                     "error": type(exc).__name__})
        return WebhookOutcome(400, "malformed update")
    key = f"tg-update:{application.bot.id}:{update.update_id}"
    if not service.store.claim_key(key, ttl_seconds=7 * 86400):
        return WebhookOutcome(200, "duplicate update ignored")
    return WebhookOutcome(200, "ok", update)


def _check_shape(data: dict[str, Any]) -> None:
    """The fields the bot reads have the types the Bot API gives them (python-telegram-bot
    takes many wrong types as they are, and a handler would fail on them later)."""

    def need(value: Any, kind: type | tuple[type, ...], where: str) -> None:
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise PayloadError(f"{where} has the wrong type")

    def user(value: Any, where: str) -> None:
        need(value, dict, where)
        need(value.get("id"), int, f"{where}.id")
        if "language_code" in value:
            need(value["language_code"], str, f"{where}.language_code")

    def message(value: Any, where: str) -> None:
        need(value, dict, where)
        need(value.get("message_id"), int, f"{where}.message_id")
        date = value.get("date")
        need(date, int, f"{where}.date")
        if not 0 <= date < 2**40:
            raise PayloadError(f"{where}.date is out of range")
        need(value.get("chat"), dict, f"{where}.chat")
        need(value["chat"].get("id"), int, f"{where}.chat.id")
        need(value["chat"].get("type"), str, f"{where}.chat.type")
        for name in ("text", "caption"):
            if name in value:
                need(value[name], str, f"{where}.{name}")
        if "from" in value:
            user(value["from"], f"{where}.from")
        if "entities" in value:
            need(value["entities"], list, f"{where}.entities")
            for entity in value["entities"]:
                need(entity, dict, f"{where}.entities[]")
                for name in ("offset", "length"):
                    need(entity.get(name), int, f"{where}.entities[].{name}")

    for name in ("message", "edited_message", "channel_post", "edited_channel_post"):
        if name in data:
            message(data[name], name)
    if "callback_query" in data:
        query = data["callback_query"]
        need(query, dict, "callback_query")
        need(query.get("id"), str, "callback_query.id")
        user(query.get("from"), "callback_query.from")
        if "data" in query:
            need(query["data"], str, "callback_query.data")
        if "message" in query:
            message(query["message"], "callback_query.message")


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
        try:
            await application.process_update(outcome.update)
        except Exception as exc:  # claimed: a redelivery would be dropped, so answer 200
            log.error("update failed", extra={"update_id": outcome.update.update_id,
                                              "error": type(exc).__name__})
    else:
        await application.update_queue.put(outcome.update)
    return outcome
