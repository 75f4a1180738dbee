"""The Telegram bot: ``run`` (long polling), ``set-webhook``, ``delete-webhook``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .._errors import require
from ._app import ConfigOpt, StoreOpt, app, console, service, settings

BaseUrlOpt = Annotated[str | None, typer.Option(
    "--bot-api-url",
    help="Bot API server root (default: BANDITBOT_TELEGRAM_BASE_URL or Telegram's; e.g. a "
         "local Bot API server).")]
TokenOpt = Annotated[str | None, typer.Option(
    "--token", help="Bot token from @BotFather (better: TELEGRAM_TOKEN in the environment "
                    "or .env).")]


@app.command()
def run(config: ConfigOpt = None, store: StoreOpt = None, token: TokenOpt = None,
        bot_api_url: BaseUrlOpt = None) -> None:
    """Run the Telegram bot with long polling (no public URL needed)."""
    from .._compose import build_bot

    chosen = settings().replace(telegram_token=token, telegram_base_url=bot_api_url)
    chosen.require_token()
    svc = service(config, store)
    application = build_bot(svc, chosen)
    console.print(f"banditbot is polling Telegram; store: {svc.store.url}. Stop with Ctrl+C.")
    application.run_polling(allowed_updates=["message", "callback_query"])


@app.command("set-webhook")
def set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS URL of /telegram.")],
    secret: Annotated[str | None, typer.Option(
        help="Secret token (default: BANDITBOT_WEBHOOK_SECRET, or generated and stored in "
             ".env).")] = None,
    token: TokenOpt = None,
    bot_api_url: BaseUrlOpt = None,
) -> None:
    """Register the webhook with Telegram, with a secret token."""
    from .._compose import ensure_webhook_secret

    bot = _bot(token, bot_api_url)
    secret = ensure_webhook_secret(settings(), secret)

    async def go() -> None:
        async with bot:
            await bot.set_webhook(url, secret_token=secret,
                                  allowed_updates=["message", "callback_query"])

    import asyncio  # not at import: keeps `banditbot --help` fast

    asyncio.run(go())
    console.print(f"webhook set to {url} (secret token stored; not shown)")


@app.command("delete-webhook")
def delete_webhook(token: TokenOpt = None, bot_api_url: BaseUrlOpt = None) -> None:
    """Remove the webhook (back to polling with `banditbot run`)."""
    bot = _bot(token, bot_api_url)

    async def go() -> None:
        async with bot:
            await bot.delete_webhook()

    import asyncio  # not at import: keeps `banditbot --help` fast

    asyncio.run(go())
    console.print("webhook deleted")


def _bot(token: str | None, base_url: str | None) -> Any:
    """A bare PTB ``Bot`` for one-off calls."""
    require("telegram", "telegram")
    from telegram import Bot

    chosen = settings().replace(telegram_token=token, telegram_base_url=base_url)
    token = chosen.require_token()
    if chosen.telegram_base_url:
        return Bot(token, base_url=f"{chosen.telegram_base_url.rstrip('/')}/bot")
    return Bot(token)
