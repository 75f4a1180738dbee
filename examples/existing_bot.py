"""Add banditbot to a python-telegram-bot application you already have.

    TELEGRAM_TOKEN=... python examples/existing_bot.py

Your own handlers keep working; banditbot adds its experiment commands (/random, /greeting,
/tip from examples/experiments.yaml), the feedback buttons, /report and the admin commands.
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

import banditbot
from banditbot.telegram import install


async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One of "your" handlers."""
    if update.effective_message is not None:
        await update.effective_message.reply_text("pong")


def main() -> None:
    application = Application.builder().token(os.environ["TELEGRAM_TOKEN"]).build()
    application.add_handler(CommandHandler("ping", ping))

    service = banditbot.build_service("examples/experiments.yaml", "sqlite:///banditbot.db")
    bandit = install(application, service)  # the one call
    application.post_init = bandit.publish_commands  # optional: publish the command list

    application.run_polling(allowed_updates=["message", "callback_query"])


if __name__ == "__main__":
    main()
