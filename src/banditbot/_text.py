"""Counts and durations in words, for messages on every path (a reward that came too late,
an admin's confirmation), kept apart from the report types they are also used by."""

from __future__ import annotations

__all__ = ["count_text", "duration_text"]


def count_text(n: float, noun: str) -> str:
    """``1 decision``, ``1,500 decisions``: a whole count with its noun."""
    return f"{n:,.0f} {noun}{'' if round(n) == 1 else 's'}"


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
