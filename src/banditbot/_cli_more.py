"""CLI commands of the optional entry points (bot, server). Imports happen inside commands."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from .cli import ConfigOpt, StoreOpt, console

__all__ = ["register"]

_REGISTERED: set[int] = set()

BaseUrlOpt = Annotated[str | None, typer.Option(
    "--bot-api-url", envvar="BANDITBOT_TELEGRAM_BASE_URL",
    help="Bot API server root (default: Telegram's; e.g. a local Bot API server).")]
TokenOpt = Annotated[str | None, typer.Option(
    "--token", envvar="TELEGRAM_TOKEN", show_envvar=True,
    help="Bot token from @BotFather (better: TELEGRAM_TOKEN in the environment or .env).")]


def register(app: typer.Typer) -> None:
    """Add the optional commands to ``app`` (once)."""
    if id(app) in _REGISTERED:
        return
    _REGISTERED.add(id(app))

    @app.command()
    def run(config: ConfigOpt = None, store: StoreOpt = None, token: TokenOpt = None,
            bot_api_url: BaseUrlOpt = None) -> None:
        """Run the Telegram bot with long polling (no public URL needed)."""
        from ._bootstrap import build_service
        from .telegram import build_application, load_token

        token = load_token(token)
        service = build_service(config, store)
        application = build_application(service, token, base_url=bot_api_url)
        console.print(f"banditbot is polling Telegram; store: {service.store.url}. "
                      "Stop with Ctrl+C.")
        application.run_polling(allowed_updates=["message", "callback_query"])

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port.")] = 8080,
        workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
        config: ConfigOpt = None,
        store: StoreOpt = None,
        bot_api_url: BaseUrlOpt = None,
    ) -> None:
        """Serve the HTTP app (uvicorn + uvloop): Telegram webhook at /telegram when
        TELEGRAM_TOKEN is set, the HTTP API under /v1 and the dashboard at /."""
        from ._errors import require

        require("uvicorn", "api")
        import uvicorn

        from ._bootstrap import build_service

        # workers build their own service from the environment
        if config:
            os.environ["BANDITBOT_CONFIG"] = config
        if store:
            os.environ["BANDITBOT_STORE"] = store
        if bot_api_url:
            os.environ["BANDITBOT_TELEGRAM_BASE_URL"] = bot_api_url
        build_service(config, store).store.close()  # validate and create tables once
        uvicorn.run("banditbot.api._factory:app_from_env", factory=True, host=host, port=port,
                    workers=workers, loop="uvloop", http="httptools", log_level="info",
                    proxy_headers=True)

    @app.command("set-webhook")
    def set_webhook(
        url: Annotated[str, typer.Argument(help="Public HTTPS URL of /telegram.")],
        secret: Annotated[str | None, typer.Option(
            envvar="BANDITBOT_WEBHOOK_SECRET",
            help="Secret token (default: generated and stored in .env).")] = None,
        token: TokenOpt = None,
        bot_api_url: BaseUrlOpt = None,
    ) -> None:
        """Register the webhook with Telegram, with a secret token."""
        from .telegram import ensure_webhook_secret

        secret = ensure_webhook_secret(secret)
        bot = _bot(token, bot_api_url)

        async def go() -> None:
            async with bot:
                await bot.set_webhook(url, secret_token=secret,
                                      allowed_updates=["message", "callback_query"])

        asyncio.run(go())
        console.print(f"webhook set to {url} (secret token stored; not shown)")

    @app.command("delete-webhook")
    def delete_webhook(token: TokenOpt = None, bot_api_url: BaseUrlOpt = None) -> None:
        """Remove the webhook (back to polling with `banditbot run`)."""
        bot = _bot(token, bot_api_url)

        async def go() -> None:
            async with bot:
                await bot.delete_webhook()

        asyncio.run(go())
        console.print("webhook deleted")


def _bot(token: str | None, base_url: str | None):  # type: ignore[no-untyped-def]
    from ._errors import require

    require("telegram", "telegram")
    from telegram import Bot

    from .telegram import load_token

    token = load_token(token)
    if base_url:
        return Bot(token, base_url=f"{base_url.rstrip('/')}/bot")
    return Bot(token)
