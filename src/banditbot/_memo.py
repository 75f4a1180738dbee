"""One memo for values that repeat from row to row (a log's arm lists, vectors, contexts,
pseudonyms, CSV cells): each distinct value is made once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["memo_map"]


def memo_map(memo: dict[Any, Any], values: Sequence[Any], make: Callable[[Any], Any],
             limit: int) -> list[Any]:
    """``[make(v) for v in values]``, each distinct ``v`` made once: kept in ``memo``, which
    starts over past ``limit`` entries (``None`` is kept too: a log's posterior column is
    ``None`` on every row of a policy that logs its vector)."""
    get, missing = memo.get, _MISSING
    out = [get(v, missing) for v in values]
    for i in [i for i, x in enumerate(out) if x is missing]:
        made = get(values[i], missing)  # a value repeated within the batch was made on its
        if made is missing:  # first miss
            if len(memo) >= limit:
                memo.clear()
            made = memo[values[i]] = make(values[i])
        out[i] = made
    return out


_MISSING: Any = object()
