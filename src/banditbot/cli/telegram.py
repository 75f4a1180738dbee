"""The Telegram bot: ``run`` (long polling), ``set-webhook``, ``delete-webhook``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .._errors import ConfigError, require
from .._logging import redact, register_secret
from ._app import (
    ConfigOpt,
    StoreOpt,
    app,
    config_read,
    console,
    err_console,
    service,
    settings,
    this_server,
)

BaseUrlOpt = Annotated[str | None, typer.Option(
    "--bot-api-url",
    help="Bot API server root (default: BANDITBOT_TELEGRAM_BASE_URL or Telegram's; e.g. a "
         "local Bot API server).")]
TokenOpt = Annotated[str | None, typer.Option(
    "--token", help="Bot token from @BotFather (better: TELEGRAM_TOKEN in the environment "
                    "or .env).")]


@app.command()
def run(config: ConfigOpt = None, store: StoreOpt = None, token: TokenOpt = None,
        bot_api_url: BaseUrlOpt = None,
        replace_webhook: Annotated[bool, typer.Option(
            help="Poll even if the bot has a webhook (polling removes it: the deployment "
                 "behind it stops receiving updates).")] = False) -> None:
    """Run the Telegram bot with long polling (no public URL needed).

    Logs are JSON lines on stderr. A token Telegram rejects stops it at once (exit 2); while
    Telegram cannot be reached it retries with backoff, logging when the outage begins and
    ends; a command list Telegram refuses is a warning. A bot with a webhook is not taken
    over unless you say so (--replace-webhook).
    """
    import logging
    import signal

    from .._compose import build_bot
    from .._logging import configure_json_logging
    from ..telegram import run_polling

    chosen = settings().replace(telegram_token=token, telegram_base_url=bot_api_url)
    chosen.require_token()
    configure_json_logging(libraries=logging.WARNING)
    svc = service(config, store)
    for line in svc.compare_config(this_server()):
        logging.getLogger("banditbot").warning(line)  # (another server's file on the store)
    application = build_bot(svc, chosen)

    import asyncio  # not at import: keeps `banditbot --help` fast

    async def polling() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        read = config_read()  # (a trial: a stray ./experiments.yaml served other commands)
        commands = [f"/{e.telegram.command_for(e.id)}" for e in svc.config.experiments
                    if e.reward.buttons]
        await run_polling(application, stop, replace_webhook=replace_webhook, started=lambda: (
            console.print(f"banditbot is polling Telegram; experiments: {read[0]} "
                          f"({', '.join(commands)}); "
                          f"store: {svc.store.url}. Stop with Ctrl+C.", highlight=False,
                          soft_wrap=True, markup=False)))

    asyncio.run(polling())


@app.command("set-webhook")
def set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS URL of /telegram.")],
    secret: Annotated[str | None, typer.Option(
        help="Secret token (default: BANDITBOT_WEBHOOK_SECRET, or generated and stored in "
             ".env if that is unset).")] = None,
    token: TokenOpt = None,
    bot_api_url: BaseUrlOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Register the webhook with Telegram (with a secret token) and publish the bot's
    command list (with the admin commands in each admin's private chat), which `banditbot
    run` would otherwise do.

    Refused before Telegram is asked (exit 2): a URL that is not HTTPS (Telegram's own
    servers refuse it; a Bot API server of yours, --bot-api-url, decides itself), and a
    secret that is set but empty (a failed ``$(aws ssm get-parameter …)``: a new secret
    would be registered that the deployment does not know, and it would refuse every
    update).
    """
    from .._compose import ensure_webhook_secret
    from .._config import default_config_path, load_config
    from ..telegram import admin_commands_for, commands_for, publish_menus

    if not (bot_api_url or settings().telegram_base_url):
        _check_webhook_url(url)
    if secret is not None and not secret.strip():
        raise ConfigError("--secret is empty",
                          hint="give the secret your deployment checks, or leave the option "
                               "out")
    if secret is None and settings().webhook_secret_blank:
        raise ConfigError(
            "BANDITBOT_WEBHOOK_SECRET is set but empty: a new secret would be registered "
            "that your deployment does not know, and it would refuse every update",
            hint="set it to the deployment's secret (on AWS: the SSM parameter "
                 "/banditbot/webhook-secret, read with aws ssm get-parameter "
                 "--with-decryption), or unset it to generate one into .env")
    bot, root = _bot(token, bot_api_url)
    path = config if config is not None else settings().config_path
    loaded = load_config(path if path is not None else default_config_path())
    commands, admin_commands = commands_for(loaded), admin_commands_for(loaded)
    admins = frozenset(loaded.admins) | settings().admins
    generated = not (secret or settings().webhook_secret)
    secret = ensure_webhook_secret(settings(), secret)

    async def go() -> tuple[int, list[tuple[str, str]]]:
        from telegram.error import TelegramError

        try:
            async with bot:
                await bot.set_webhook(url, secret_token=secret,
                                      allowed_updates=["message", "callback_query"])
                return await publish_menus(bot, commands, admin_commands, admins)
        except TelegramError as exc:
            raise _failure(exc, root, "Telegram refused the webhook") from None

    import asyncio  # not at import: keeps `banditbot --help` fast

    from rich.markup import escape

    from .._text import count_text

    menus, problems = asyncio.run(go())
    where = f"generated and stored in {settings().env_file}" if generated else "as given"
    console.print(f"webhook set to {url} (secret token {where}; not shown)")
    for problem, error in problems:
        err_console.print(f"[yellow]warning:[/] {escape(problem)}"
                          + (f": {escape(redact(error))}" if error else ""),
                          markup=True, highlight=False)
    if not any(problem.startswith("the command list") for problem, _ in problems):
        console.print(f"command list published ({len(commands)} commands"
                      + (f"; the admin commands too, in the private chats of "
                         f"{count_text(menus, 'admin')}" if menus else "") + ")", markup=False,
                      highlight=False)


@app.command("delete-webhook")
def delete_webhook(token: TokenOpt = None, bot_api_url: BaseUrlOpt = None) -> None:
    """Remove the webhook (back to polling with `banditbot run`)."""
    bot, root = _bot(token, bot_api_url)

    async def go() -> None:
        from telegram.error import TelegramError

        try:
            async with bot:
                await bot.delete_webhook()
        except TelegramError as exc:
            raise _failure(exc, root, "Telegram refused to delete the webhook") from None

    import asyncio  # not at import: keeps `banditbot --help` fast

    asyncio.run(go())
    console.print("webhook deleted")


def _check_webhook_url(url: str) -> None:
    """Refuse, as Telegram does, a webhook URL that is not HTTPS."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ConfigError(f"bad webhook: HTTPS url must be provided for webhook ({url!r})",
                          hint="give the https:// URL of /telegram (on AWS: the stack's "
                               "WebhookUrl output)")


#: the Bot API root when neither --bot-api-url nor BANDITBOT_TELEGRAM_BASE_URL names one
_TELEGRAM_API = "https://api.telegram.org"


def _bot(token: str | None, base_url: str | None) -> tuple[Any, str]:
    """A bare PTB ``Bot`` for one-off calls, and the root of the Bot API it calls (without
    the token: an error message names it)."""
    require("telegram", "telegram")
    from telegram import Bot

    chosen = settings().replace(telegram_token=token, telegram_base_url=base_url)
    token = chosen.require_token()
    register_secret(token)
    if chosen.telegram_base_url:
        root = chosen.telegram_base_url.rstrip("/")
        return Bot(token, base_url=f"{root}/bot"), root
    return Bot(token), _TELEGRAM_API


def _failure(exc: Exception, root: str, refused: str) -> ConfigError:
    """A one-off Bot API call's error as one line: the token rejected, the Bot API at
    ``root`` not reached (no answer, a timeout), or its refusal (``refused``: what was
    refused, followed by Telegram's reason)."""
    from telegram.error import BadRequest, InvalidToken, NetworkError

    if isinstance(exc, InvalidToken):
        return ConfigError("Telegram rejected the bot token",
                           hint="check TELEGRAM_TOKEN: a token from @BotFather looks like "
                                "123456:ABC…")
    if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):  # (a refusal)
        where = "the network" if root == _TELEGRAM_API else \
            "the network, and --bot-api-url or BANDITBOT_TELEGRAM_BASE_URL"
        return ConfigError(f"the Bot API at {root} could not be reached "
                           f"({redact(str(exc))})", hint=f"check {where}")
    return ConfigError(f"{refused}: {redact(str(exc))}")
