"""The Telegram bot (python-telegram-bot v22): experiments as commands, feedback buttons,
/report with charts, admin tools; long polling or webhook.

Add banditbot to an existing bot with one call::

    from banditbot import build_service
    from banditbot.telegram import install

    service = build_service("experiments.yaml")
    install(application, service)          # your own handlers keep working

Needs the ``telegram`` extra: ``pip install 'banditbot[telegram]'``.
"""

from .._errors import require

require("telegram", "telegram")

from ._app import (  # noqa: E402
    ChatOrder,
    Reachability,
    build_application,
    check_secret,
    process_webhook,
    run_polling,
    start_webhook_bot,
    unavailable_reason,
)
from ._bot import (  # noqa: E402
    BanditBot,
    admin_commands_for,
    commands_for,
    install,
    publish_menus,
)
from ._context import CHAT_FEATURES, chat_context  # noqa: E402

__all__ = [
    "CHAT_FEATURES",
    "BanditBot",
    "ChatOrder",
    "Reachability",
    "admin_commands_for",
    "build_application",
    "chat_context",
    "check_secret",
    "commands_for",
    "install",
    "process_webhook",
    "publish_menus",
    "run_polling",
    "start_webhook_bot",
    "unavailable_reason",
]
