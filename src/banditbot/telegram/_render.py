"""What the bot sends: escaping per parse mode, feedback keyboards, callback data.

Arm text written by the operator is sent exactly as written (it is already in the
experiment's parse mode); anything the bot inserts (labels, report tables, error messages) is
escaped for that mode.

Callback data is ``v:<decision id>:<option index>`` for votes — only an unguessable id and an
index, ≤ 64 bytes — and ``r:<experiment>:<expiry>:<signature>`` for the reset confirmation
(signed with a key derived from the bot token, so it cannot be forged or replayed later).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from typing import Any

from .._config import ExperimentConfig, RewardOption

__all__ = [
    "MAX_CALLBACK_BYTES",
    "escape",
    "keyboard_rows",
    "parse_mode_of",
    "parse_vote",
    "sign_reset",
    "verify_reset",
    "vote_data",
]

MAX_CALLBACK_BYTES = 64
_MD2_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
#: The most buttons Telegram shows in one row of an inline keyboard
ROW_BUTTONS = 8
_VOTE = re.compile(r"^v:([A-Za-z0-9_-]{16,43}):(\d{1,2})$")
_RESET = re.compile(r"^r:([A-Za-z0-9_.-]{1,32}):(\d{1,12}):([A-Za-z0-9_-]{8,16})$")


def parse_mode_of(exp: ExperimentConfig) -> str | None:
    """The Bot API ``parse_mode`` for an experiment (``None`` for plain text)."""
    return None if exp.telegram.parse_mode == "plain" else exp.telegram.parse_mode


def escape(text: str, parse_mode: str | None) -> str:
    """Escape bot-inserted text for a parse mode.

    Examples
    --------
    >>> escape("1.5 (ok)!", "MarkdownV2")
    '1\\\\.5 \\\\(ok\\\\)\\\\!'
    >>> escape("<b>", "HTML")
    '&lt;b&gt;'
    """
    if parse_mode == "MarkdownV2":
        return _MD2_SPECIAL.sub(r"\\\1", text)
    if parse_mode == "HTML":
        return html.escape(text, quote=False)
    return text


def vote_data(decision_id: str, index: int) -> str:
    """Callback data of a feedback button."""
    data = f"v:{decision_id}:{index}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError("callback data longer than Telegram allows")
    return data


def parse_vote(data: str | None) -> tuple[str, int] | None:
    """``(decision_id, option_index)`` from callback data, or ``None`` if malformed."""
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    match = _VOTE.match(data)
    return (match.group(1), int(match.group(2))) if match else None


def keyboard_rows(exp: ExperimentConfig, decision_id: str) -> list[list[dict[str, Any]]]:
    """Inline keyboard rows for a decision: one row of up to five buttons, else rows of
    equal length, at least two and at most :data:`ROW_BUTTONS` buttons each (Telegram's
    limit per row)."""
    buttons: tuple[RewardOption, ...] = exp.reward.buttons
    cells = [{"text": b.label, "callback_data": vote_data(decision_id, i)}
             for i, b in enumerate(buttons)]
    if len(cells) <= 5:
        return [cells]
    rows = max(2, -(-len(cells) // ROW_BUTTONS))
    width = -(-len(cells) // rows)
    return [cells[i:i + width] for i in range(0, len(cells), width)]


def _key(token: str) -> bytes:
    return hashlib.sha256(b"banditbot-reset:" + token.encode()).digest()


def _signature(token: str, experiment: str, expires: int, user_id: int) -> str:
    mac = hmac.new(_key(token), f"{experiment}:{expires}:{user_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:12]).decode().rstrip("=")


def sign_reset(token: str, experiment: str, user_id: int, expires: int) -> str:
    """Callback data confirming a reset of ``experiment`` by ``user_id`` until ``expires``."""
    data = f"r:{experiment}:{expires}:{_signature(token, experiment, expires, user_id)}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError("callback data longer than Telegram allows")
    return data


def verify_reset(token: str, data: str | None, user_id: int, now: float) -> str | None:
    """The experiment to reset if ``data`` is a valid, unexpired confirmation by
    ``user_id``; else ``None``."""
    match = _RESET.match(data or "")
    if not match:
        return None
    experiment, expires, signature = match.group(1), int(match.group(2)), match.group(3)
    expected = _signature(token, experiment, expires, user_id)
    if not hmac.compare_digest(signature, expected) or expires < now:
        return None
    return experiment
