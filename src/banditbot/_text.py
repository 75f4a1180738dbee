"""Counts and durations in words, for messages on every path (a reward that came too late,
an admin's confirmation), kept apart from the report types they are also used by."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

__all__ = ["MESSAGE_UNITS", "closest", "count_text", "counted_kinds", "did_you_mean",
           "duration_text", "fit_message", "local_time", "message_units", "one_line",
           "rows_text"]

#: the kinds of a log's rows that are no decision of the policy's, as an export names them
_NOT_DRAWN = {"manual": "added by hand", "import": "imported"}


def count_text(n: float, noun: str) -> str:
    """``1 decision``, ``1,500 decisions``: a whole count with its noun."""
    return f"{n:,.0f} {noun}{'' if round(n) == 1 else 's'}"


def counted_kinds(records: Iterable[Any], kinds: Counter[str]) -> Iterator[Any]:
    """``records`` (decision records) as they are read, each counted by its ``kind``."""
    for record in records:
        kinds[record.kind] += 1
        yield record


def rows_text(n: int, kinds: Counter[str]) -> str:
    """What an export wrote: ``29 decisions``, or with rows that are no decision of the
    policy's ``29 rows (20 decisions, 9 rewards added by hand)`` (a trial counted the
    hand-added rows among the decisions)."""
    decided = n - sum(kinds[k] for k in _NOT_DRAWN)
    if decided == n:
        return count_text(n, "decision")
    parts = [count_text(decided, "decision")] if decided else []
    parts += [f"{count_text(kinds[k], 'reward')} {said}" for k, said in _NOT_DRAWN.items()
              if kinds[k]]
    return f"{count_text(n, 'row')} ({', '.join(parts)})"


def one_line(text: str, width: int | None = 60) -> str:
    """An arm's content on one line, as an arm list shows it (the bot's /arm list, the
    CLI's ``arms list``): its whitespace, line breaks too, folded to single spaces, cut at
    ``width`` characters with "…" (``None``: whole, as a terminal has the room)."""
    words = " ".join(text.split())
    return words if width is None or len(words) <= width else words[:width - 1] + "…"


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``"did you mean thompson? "`` for the name closest to a misspelt ``word`` (any case),
    or ``""`` when none is close: the start of a hint that then lists the names.

    Examples
    --------
    >>> did_you_mean("thomson", ["thompson", "ucb1"]), did_you_mean("HEY", ["hello", "hey"])
    ('did you mean thompson? ', 'did you mean hey? ')
    >>> did_you_mean("zzz", ["thompson"])
    ''
    """
    name = closest(word, names)
    return f"did you mean {name}? " if name is not None else ""


def closest(word: str, names: Iterable[str]) -> str | None:
    """The name closest to a misspelt ``word`` (any case), or ``None`` when none is close
    (:func:`did_you_mean`'s)."""
    import difflib

    by_lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(word.strip().lower(), list(by_lower), n=1)
    return by_lower[close[0]] if close else None


def amount_text(x: float) -> str:
    """A count as tables show it: ``1,234``, or ``12.5`` with a weighted part."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def duration_text(seconds: float) -> str:
    """A duration in its largest fitting unit: ``45s``, ``30m``, ``6h``, ``3d``."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def local_time(timestamp: float, time_zone: str) -> datetime:
    """A time in the experiments file's ``time_zone``, as reports show it (UTC for a zone
    this system lacks; the file's zone was checked when it was loaded).

    >>> local_time(1_780_000_000, "Europe/Berlin").strftime("%Y-%m-%d %H:%M %Z")
    '2026-05-28 22:26 CEST'
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = UTC if time_zone == "UTC" else ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return datetime.fromtimestamp(timestamp, tz=zone)


#: the longest message Telegram takes, in UTF-16 code units (what it counts: an emoji is two)
MESSAGE_UNITS = 4096


def message_units(text: str) -> int:
    """``text``'s length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def fit_message(text: str, tail: str) -> str:
    """``text``, cut with "…" where it and ``tail`` would be longer than a message."""
    room = MESSAGE_UNITS - message_units(tail)
    if message_units(text) <= room:
        return text
    cut = text[:room - 1]
    excess = message_units(cut) - (room - 1)  # (characters of two units: emoji)
    while excess > 0:
        excess -= message_units(cut[-1])
        cut = cut[:-1]
    return cut + "…"
