"""A developer's own PTB bot with banditbot added by one call keeps its own handlers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from banditbot import BanditService, SQLiteStore, load_config
from banditbot.telegram import install

from ..conftest import EXAMPLES
from ..telegram_double import BotApiDouble, ServerThread, make_app


async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("pong")


def test_install_adds_banditbot_and_keeps_own_handlers(tmp_path: Path) -> None:
    double = BotApiDouble()
    store = SQLiteStore(tmp_path / "lib.db")
    store.init()
    service = BanditService(load_config(EXAMPLES), store, rng=np.random.default_rng(1))
    with ServerThread(make_app(double)) as url:
        async def main() -> None:
            app = Application.builder().token(double.token).base_url(f"{url}/bot").build()
            app.add_handler(CommandHandler("ping", ping))
            install(app, service)
            async with app:
                await app.start()
                assert app.updater is not None
                await app.updater.start_polling(poll_interval=0.0, timeout=1)
                user = double.user(77)
                double.send_command(user, 77, "/ping")
                await double.wait_for(lambda: double.chat_messages(77))
                double.send_command(user, 77, "/greeting")
                await double.wait_for(lambda: len(double.chat_messages(77)) == 2)
                await app.updater.stop()
                await app.stop()

        asyncio.run(main())
    pong, greeting = double.chat_messages(77)
    assert pong.text == "pong"
    assert [b["text"] for b in greeting.buttons()] == ["👍", "👎"]
    assert len(list(service.decisions("greeting"))) == 1
