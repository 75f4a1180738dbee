"""One memo for values that repeat from row to row (a log's arm lists, vectors, contexts,
pseudonyms, CSV cells): each distinct value is made once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["memo_map"]


def memo_map(memo: dict[Any, Any], values: Sequence[Any], make: Callable[[Any], Any],
             limit: int) -> list[Any]:
    """``[make(v) for v in values]``, each distinct ``v`` made once: kept in ``memo``, which
    starts over past ``limit`` entries. (A value made into ``None`` is made again each
    time.)"""
    get = memo.get
    out = [get(v) for v in values]
    for i in [i for i, x in enumerate(out) if x is None]:
        made = get(values[i])  # a value repeated within the batch was made on its first miss
        if made is None:
            if len(memo) >= limit:
                memo.clear()
            made = memo[values[i]] = make(values[i])
        out[i] = made
    return out
