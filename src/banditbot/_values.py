"""The rules every decision and reward checks a value from outside against: a subject that
shows nothing, a reward's number. Plain functions of text and numbers, so the compiled
build (``BANDITBOT_COMPILE=1``, see ``setup.py``) compiles this module with the service,
which then calls them as C functions; the experiments file's types
(:mod:`banditbot._config`) say the same rules in words.
"""

from __future__ import annotations

import math
from typing import Any, Final

__all__ = ["BLANKS", "MAX_REWARD", "blank_text", "reward_number"]

#: The largest reward magnitude accepted (sums of squares must stay finite in float64).
MAX_REWARD: Final = 1e12

#: what shows nothing in an id (besides format characters, U+200B and such): spaces, and
#: the fillers that print as a blank
BLANKS: Final = " \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009" \
    "\u200a\u202f\u205f\u3000\u115f\u1160\u3164\uffa0\u2800"


def blank_text(text: str) -> bool:
    """Whether ``text`` shows nothing: only spaces, blank fillers and invisible format
    characters (a trial's subjects ``"   "`` and ``"\u200b"`` were taken). Cheap for the
    usual text: a strip that stops at its first visible character; each character is
    looked at only in a text that is not printable.

    Examples
    --------
    >>> blank_text("   "), blank_text("\u200b"), blank_text("user 42")
    (True, True, False)
    """
    if text.isprintable():
        return not text.strip(BLANKS)
    import unicodedata  # (only here: a text with a format character, U+200B…)

    return all(c in BLANKS or unicodedata.category(c) == "Cf" for c in text)


def reward_number(kind: str, lo: float | None, hi: float | None, value: Any) -> float | None:
    """``value`` as the reward it stands for under a reward spec of type ``kind``
    (``binary``, ``rating`` or ``continuous``) with bounds ``lo`` and ``hi`` (``None``:
    unbounded), or ``None`` if the spec does not allow it (the spec's ``validate_value``
    says why). ``true``/``false`` are 1 and 0 for a binary reward only: on a rating or a
    number they would silently be the lowest values.

    Examples
    --------
    >>> reward_number("binary", 0.0, 1.0, True), reward_number("rating", 1.0, 5.0, 4.5)
    (1.0, None)
    """
    binary = kind == "binary"
    if binary and type(value) in (int, float, bool) and (value == 1 or value == 0):
        return 1.0 if value else 0.0  # (the buttons' values, at once)
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if binary:
        return number if number in (0.0, 1.0) else None
    ok = math.isfinite(number) and abs(number) <= MAX_REWARD
    if kind == "rating":
        ok = ok and number == int(number)
    ok = ok and (lo is None or number >= lo) and (hi is None or number <= hi)
    return number if ok else None
