"""A developer's own PTB bot with banditbot added by one call keeps its own handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from banditbot import BanditService, SQLiteStore, load_config
from banditbot.telegram import install

from ..conftest import EXAMPLES
from ..telegram_double import BotApiDouble, ServerThread, make_app

T = TypeVar("T")


async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("pong")


async def own_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("the host's welcome", reply_markup=(
        InlineKeyboardMarkup([[InlineKeyboardButton("refresh", callback_data="refresh"),
                               InlineKeyboardButton("rate", callback_data="rate:5")]])))


async def own_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer(f"host got {update.callback_query.data}")


def _service(tmp_path: Path) -> BanditService:
    store = SQLiteStore(tmp_path / "lib.db")
    store.init()
    return BanditService(load_config(EXAMPLES), store, rng=np.random.default_rng(1))


def run_host_bot(double: BotApiDouble, setup: Callable[[Application[Any, Any, Any, Any,
                                                                          Any, Any]], None],
                 script: Callable[[], Awaitable[T]]) -> T:
    """A developer's own PTB application, set up by ``setup``, polling the double while
    ``script`` runs."""
    with ServerThread(make_app(double)) as url:
        async def main() -> T:
            app = Application.builder().token(double.token).base_url(f"{url}/bot").build()
            setup(app)
            async with app:
                await app.start()
                assert app.updater is not None
                await app.updater.start_polling(poll_interval=0.0, timeout=1)
                try:
                    return await script()
                finally:
                    await app.updater.stop()
                    await app.stop()

        return asyncio.run(main())


def test_install_adds_banditbot_and_keeps_own_handlers(tmp_path: Path) -> None:
    double = BotApiDouble()
    service = _service(tmp_path)

    def setup(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        app.add_handler(CommandHandler("ping", ping))
        install(app, service)

    async def script() -> None:
        user = double.user(77)
        double.send_command(user, 77, "/ping")
        await double.wait_for(lambda: double.chat_messages(77))
        double.send_command(user, 77, "/greeting")
        await double.wait_for(lambda: len(double.chat_messages(77)) == 2)

    run_host_bot(double, setup, script)
    pong, greeting = double.chat_messages(77)
    assert pong.text == "pong"
    assert [b["text"] for b in greeting.buttons()] == ["👍", "👎"]
    assert len(list(service.decisions("greeting"))) == 1


def test_handlers_added_after_install_keep_their_start_and_buttons(tmp_path: Path) -> None:
    """A host bot that adds its own /start and buttons after install(): banditbot claims
    only its own callback data (it once claimed every "r…", so "refresh" and "rate:5" were
    answered "this confirmation is not valid"), and welcome=False leaves /start alone."""
    double = BotApiDouble()
    service = _service(tmp_path)

    def setup(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        install(app, service, welcome=False)
        app.add_handler(CommandHandler("start", own_start))
        app.add_handler(CallbackQueryHandler(own_button))

    async def script() -> list[str]:
        user = double.user(78)
        double.send_command(user, 78, "/start")
        await double.wait_for(lambda: double.chat_messages(78))
        welcome = double.chat_messages(78)[0]
        pressed = [double.press(user, welcome, label)["callback_query"]["id"]
                   for label in ("refresh", "rate")]
        await double.wait_for(lambda: all(q in double.callback_answers for q in pressed))
        return pressed

    refresh, rate = run_host_bot(double, setup, script)
    assert double.chat_messages(78)[0].text == "the host's welcome"
    assert double.callback_answers[refresh]["text"] == "host got refresh"
    assert double.callback_answers[rate]["text"] == "host got rate:5"
