"""Context features taken from a Telegram update (logged with each decision)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["CHAT_FEATURES", "chat_context"]

#: Features the extractor can provide.
CHAT_FEATURES = ("hour", "weekday", "language_code", "chat_type", "is_premium",
                 "past_reward_rate")


def chat_context(update: Any, *, time_zone: str, past_reward_rate: float | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    """Features of the moment and the person, from a PTB ``Update``.

    ``hour`` (0–23) and ``weekday`` (0 = Monday) in ``time_zone``, the user's
    ``language_code`` (``""`` if unknown), the ``chat_type`` (private, group, supergroup,
    channel), ``is_premium``, and ``past_reward_rate`` (the user's own mean reward in this
    experiment so far, on [0, 1]) when known. No names, no text: nothing personal beyond what
    a feature needs.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> u = NS(effective_user=NS(language_code="de", is_premium=None),
    ...        effective_chat=NS(type="private"), effective_message=None)
    >>> ctx = chat_context(u, time_zone="Europe/Berlin",
    ...                    now=datetime(2026, 11, 28, 8, 30, tzinfo=UTC))
    >>> ctx["hour"], ctx["weekday"], ctx["language_code"], ctx["is_premium"]
    (9, 5, 'de', False)
    """
    user = getattr(update, "effective_user", None)
    chat = getattr(update, "effective_chat", None)
    message = getattr(update, "effective_message", None)
    when = now or getattr(message, "date", None) or datetime.now(UTC)
    local = when.astimezone(ZoneInfo(time_zone))
    context: dict[str, Any] = {
        "hour": local.hour,
        "weekday": local.weekday(),
        "language_code": (getattr(user, "language_code", None) or "")[:8],
        "chat_type": str(getattr(chat, "type", "") or ""),
        "is_premium": bool(getattr(user, "is_premium", False)),
    }
    if past_reward_rate is not None:
        context["past_reward_rate"] = round(float(past_reward_rate), 6)
    return context
