"""Building and running the Telegram application: polling, webhook processing, secrets.

Updates are processed concurrently, in order within each chat (:class:`ChatOrder`): one
person's slow request (a chart, a store that hesitates, a group at Telegram's flood limit)
delays nobody else, and a button press is never handled before the command that sent its
message. When Telegram cannot be reached, the bot retries with backoff and logs one line
when the outage begins and one when it ends (:class:`Reachability`); a token Telegram
rejects is one :class:`~banditbot.ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from telegram.ext import BaseUpdateProcessor
from telegram.request import BaseRequest, HTTPXRequest

from .._errors import ConfigError, PayloadError, StoreError
from .._logging import register_secret
from ..service import BanditService

__all__ = [
    "MAX_UPDATE_BYTES",
    "ChatOrder",
    "Reachability",
    "WebhookOutcome",
    "build_application",
    "process_webhook",
    "run_polling",
    "start_webhook_bot",
    "unavailable_reason",
]

log = logging.getLogger("banditbot.telegram")

MAX_UPDATE_BYTES = 1_000_000  # Telegram updates are far smaller; refuse anything bigger
SECRET_HEADER = "x-telegram-bot-api-secret-token"
#: how long a webhook update being handled holds its claim (a redelivery meanwhile is
#: answered 503: Telegram delivers it again later), and how long a handled one is remembered
UPDATE_LEASE_SECONDS = 120.0
UPDATE_DONE_SECONDS = 7 * 86400.0
#: updates processed at once (each chat's in order)
MAX_CONCURRENT_UPDATES = 64
_MAX_BACKOFF = 60.0


class ChatOrder(BaseUpdateProcessor):
    """Process updates concurrently, but one at a time per chat, in the order they came.

    Each chat (or, without a chat, each user) has a lock; asyncio locks are fair, so a
    chat's updates run in arrival order while other chats' run beside them.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[object, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object,
                                coroutine: Awaitable[Any]) -> None:
        key = _chat_key(update)
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def _chat_key(update: object) -> object:
    chat = getattr(update, "effective_chat", None)
    if chat is not None:
        return ("chat", chat.id)
    user = getattr(update, "effective_user", None)
    return ("user", user.id) if user is not None else None


class Reachability:
    """Whether Telegram answers: one log line when it stops, one when it answers again,
    nothing for the retries in between."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.down_since: float | None = None
        self.failures = 0
        self.last_refusal: str | None = None

    def failed(self, error: BaseException) -> None:
        """A request got no answer (or a 5xx)."""
        self.failures += 1
        if self.down_since is None:
            self.down_since = self.clock()
            log.warning("Telegram is unreachable; retrying with backoff",
                        extra={"error": type(error).__name__})

    def polling_error(self, error: BaseException) -> None:
        """``getUpdates`` failed (python-telegram-bot retries it with backoff). Network
        errors were reported by the request itself; a refusal (another instance polling, a
        webhook set) is logged once until polling works again."""
        from telegram.error import NetworkError

        if isinstance(error, NetworkError) and type(error).__name__ in ("NetworkError",
                                                                        "TimedOut"):
            return
        text = f"{type(error).__name__}: {error}"
        if text != self.last_refusal:
            self.last_refusal = text
            log.warning("Telegram refuses getUpdates; retrying with backoff",
                        extra={"error": text[:200]})

    def ok(self, *, success: bool = True) -> None:
        """A request got an answer (``success``: a 2xx one, which also ends a refusal)."""
        if success:
            self.last_refusal = None
        if self.down_since is not None:
            log.warning("Telegram is reachable again", extra={
                "down_seconds": round(self.clock() - self.down_since, 1),
                "failed_requests": self.failures})
            self.down_since = None
            self.failures = 0


class _WatchedRequest(HTTPXRequest):
    """The ``getUpdates`` connection, reporting to a :class:`Reachability`."""

    def __init__(self, watch: Reachability, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.watch = watch

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            code, payload = await super().do_request(*args, **kwargs)
        except Exception as exc:
            self.watch.failed(exc)
            raise
        if code >= 500:
            self.watch.failed(RuntimeError(f"HTTP {code}"))
        else:
            self.watch.ok(success=code < 300)
        return code, payload


class _NoPolling(BaseRequest):
    """The ``getUpdates`` connection of a webhook bot, which never polls: it refuses, as
    Telegram does while a webhook is set, and holds no HTTP client. python-telegram-bot
    would otherwise build a second client, whose TLS context loads the CA bundle again
    (about 25 ms of CPU on every Lambda cold start) for a connection that is never used."""

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(self, url: str, method: str, request_data: Any = None,
                         read_timeout: Any = None, write_timeout: Any = None,
                         connect_timeout: Any = None, pool_timeout: Any = None
                         ) -> tuple[int, bytes]:
        from telegram.error import Conflict

        raise Conflict("this bot receives its updates by webhook: it does not poll "
                       "(getUpdates)")


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

    register_secret(token)  # no log line ever carries it …
    # … and httpx, which logs every request's URL (…/bot<token>/…) at INFO, logs less
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
    watch = Reachability()
    builder = Application.builder().token(token).concurrent_updates(ChatOrder())
    limiter = _rate_limiter()
    if limiter is not None:
        builder = builder.rate_limiter(limiter)
    if base_url:
        builder = builder.base_url(f"{base_url.rstrip('/')}/bot") \
            .base_file_url(f"{base_url.rstrip('/')}/file/bot")
    if webhook:
        builder = builder.updater(None).get_updates_request(_NoPolling())
    else:
        builder = builder.get_updates_request(_WatchedRequest(watch, connection_pool_size=1))
    application = builder.build()
    application.bot_data["banditbot.reachability"] = watch
    bot = install(application, service, experiments=experiments,
                  answer_unknown_callbacks=True)
    application.post_init = bot.publish_commands
    return application


def _backoff() -> Iterator[float]:
    """Seconds to wait before each new try to reach Telegram: 1, doubling, at most
    :data:`_MAX_BACKOFF` (a minute)."""
    delay = 1.0
    while True:
        yield delay
        delay = min(delay * 2, _MAX_BACKOFF)


async def run_polling(application: Any, stop: asyncio.Event, *,
                      allowed_updates: Sequence[str] = ("message", "callback_query"),
                      timeout: float = 10.0, replace_webhook: bool = False,
                      started: Callable[[], Any] | None = None) -> None:
    """Run a bot built by :func:`build_application` with long polling until ``stop`` is set.

    Connecting retries with backoff (1 s, doubling, at most a minute) while Telegram cannot
    be reached; a rejected token raises :class:`~banditbot.ConfigError` at once. The command
    list is published (a failure is a warning). While polling (long polls of ``timeout``
    seconds), an outage is two log lines.

    Parameters
    ----------
    application
        The bot, from :func:`build_application` (not initialized yet).
    stop
        Set it to stop (``banditbot run`` sets it on SIGINT and SIGTERM).
    allowed_updates
        The update kinds to ask Telegram for.
    timeout
        Seconds each long poll may wait for updates.
    replace_webhook
        Poll even when the bot has a webhook (polling removes it: a production deployment
        stops receiving updates). Without it, a webhook stops this with an error.
    started
        Called once polling is about to start (after the token and webhook checks: a
        "polling" notice printed before them would precede a refusal).

    Raises
    ------
    ConfigError
        Telegram rejected the token (the message does not contain it), or the bot has a
        webhook and ``replace_webhook`` is false.
    """
    from telegram.error import InvalidToken, NetworkError

    watch: Reachability = application.bot_data.get("banditbot.reachability") or Reachability()
    delays = _backoff()
    while True:
        try:
            await application.initialize()
            watch.ok()
            break
        except InvalidToken:
            raise ConfigError("Telegram rejected the bot token",
                              hint="check TELEGRAM_TOKEN: a token from @BotFather looks "
                                   "like 123456:ABC…") from None
        except NetworkError as exc:  # timeouts included
            watch.failed(exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), next(delays))
        if stop.is_set():
            return
    try:
        webhook = (await application.bot.get_webhook_info()).url
        if webhook and not replace_webhook:
            raise ConfigError(
                "this bot has a webhook: polling would remove it and the deployment behind "
                "it would stop receiving updates",
                hint="run `banditbot delete-webhook` first, or `banditbot run "
                     "--replace-webhook`")
        if webhook:
            log.warning("webhook removed: this process polls instead")
        if application.post_init is not None:
            await application.post_init(application)
        if started is not None:
            started()
        await application.updater.start_polling(allowed_updates=list(allowed_updates),
                                                timeout=timeout,
                                                error_callback=watch.polling_error)
        await application.start()
        await stop.wait()
    finally:
        if application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()


def unavailable_reason(error: BaseException) -> str:
    """Why a bot could not start, in words that never carry the token (python-telegram-bot's
    ``InvalidToken`` quotes it).

    Parameters
    ----------
    error
        What ``Application.initialize`` (``getMe``) raised.

    Returns
    -------
    str
        One phrase for a log line, e.g. ``Telegram is unreachable (TimedOut)``.
    """
    from telegram.error import InvalidToken, NetworkError

    if isinstance(error, InvalidToken):
        return "Telegram rejected the bot token (check TELEGRAM_TOKEN)"
    if isinstance(error, NetworkError):  # timeouts included
        return f"Telegram is unreachable ({type(error).__name__})"
    return f"Telegram could not be initialized ({type(error).__name__})"


async def start_webhook_bot(application: Any) -> asyncio.Task[None] | None:
    """Initialize (``getMe``) and start a webhook bot — what ``banditbot serve`` runs beside
    the HTTP API.

    Parameters
    ----------
    application
        The bot's python-telegram-bot ``Application`` (built for a webhook).

    Returns
    -------
    asyncio.Task or None
        ``None`` when the bot runs. When Telegram cannot be reached or refuses the token:
        after one warning line, a task that retries with backoff (1 s, doubling, at most a
        minute) until it runs; meanwhile the HTTP API serves and the webhook answers 503
        (so Telegram delivers again). Cancel the task to stop trying.
    """
    try:
        await application.initialize()
    except Exception as exc:
        log.warning("%s; the HTTP API serves meanwhile, POST /telegram answers 503 and the "
                    "bot retries with backoff", unavailable_reason(exc))
        return asyncio.create_task(_keep_starting(application))
    await application.start()  # processes the update queue
    return None


async def _keep_starting(application: Any) -> None:
    """Initialize and start ``application`` with backoff until it runs; a failure after
    Telegram answered (``start``) is logged and tried again, never left to end the task
    silently (the webhook would answer 503 for good)."""
    for delay in _backoff():
        await asyncio.sleep(delay)
        try:
            await application.initialize()  # (a no-op once it worked)
        except Exception:  # said once, by start_webhook_bot
            continue
        try:
            await application.start()
        except Exception as exc:  # Telegram answered, the start failed: say why
            log.warning("the bot could not start; retrying", extra={"error": type(exc).__name__})
            continue
        break
    log.warning("Telegram answers again: the bot runs")


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
    key = _update_key(application, update.update_id)
    # a claim with a negative time to live is a test: it claims nothing that stands (a
    # handled update is ignored also after its lease has lapsed)
    if not service.store.claim_key(f"{key}:done", ttl_seconds=-1.0):
        return WebhookOutcome(200, "duplicate update ignored")
    if not service.store.claim_key(key, ttl_seconds=UPDATE_LEASE_SECONDS):
        return WebhookOutcome(503, "this update is being handled; Telegram delivers it "
                                   "again later")
    return WebhookOutcome(200, "ok", update)


def _update_key(application: Any, update_id: int) -> str:
    return f"tg-update:{application.bot.id}:{update_id}"


def _handled(application: Any, service: BanditService, update_id: int) -> None:
    """Mark an update as handled: a redelivery is then ignored (for a week). A store that
    fails here is a warning: the update was handled, and its lease still keeps a
    redelivery out for :data:`UPDATE_LEASE_SECONDS`."""
    try:
        service.store.claim_key(f"{_update_key(application, update_id)}:done",
                                ttl_seconds=UPDATE_DONE_SECONDS)
    except StoreError as exc:
        log.warning("a handled update could not be marked as handled",
                    extra={"update_id": update_id, "error": type(exc).__name__})


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
                          body: bytes, secret: str, *, wait: bool = True,
                          ready: bool = True) -> WebhookOutcome:
    """Handle one webhook request: secret check, size and JSON validation, de-duplication by
    ``update_id``, then the update, processed to completion before Telegram is answered
    (``wait=False`` queues it for the running application and answers at once: a crash
    then loses it).

    So a process that dies while it handles an update (a crash, a Lambda timeout) has not
    answered 200, and Telegram delivers the update again: its claim is a lease of
    :data:`UPDATE_LEASE_SECONDS` (a redelivery meanwhile is answered 503, and delivered
    again later), and only a handled update is ignored when it comes again. A bot that is
    not ``ready`` (Telegram unreachable at start) answers 503 before claiming the update."""
    if not check_secret(headers, secret):
        return WebhookOutcome(403, "missing or wrong secret token")
    if not ready:
        return WebhookOutcome(503, "the bot is not connected to Telegram yet; retry later")
    outcome = await asyncio.to_thread(parse_update, application, body, service)
    if outcome.update is None:
        return outcome
    if wait:
        try:  # through the update processor: in order within a chat, concurrency capped
            await application.update_processor.process_update(
                outcome.update, application.process_update(outcome.update))
        except Exception as exc:  # the error handler has answered the person: done, as 200
            log.error("update failed", extra={"update_id": outcome.update.update_id,
                                              "error": type(exc).__name__})
    else:
        await application.update_queue.put(outcome.update)
    await asyncio.to_thread(_handled, application, service, outcome.update.update_id)
    return outcome
