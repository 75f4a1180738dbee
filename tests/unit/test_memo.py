"""The memo the log's readers and writers share (``banditbot._memo``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from banditbot._memo import memo_map


def test_each_distinct_value_is_made_once_none_included() -> None:
    """A first report of a 1M-decision log decoded the posterior column (``None`` on every
    row of a policy that logs its vector) a million times: a value made into ``None`` was
    made again on every row. Now each distinct value is made once, ``None`` too; values
    whose result is an array (no truth value) come out as made; the memo starts over past
    its limit and still gives the right values."""
    calls: list[Any] = []

    def make(v: Any) -> Any:
        calls.append(v)
        return None if v.startswith("plain") else np.array([len(v)])

    values = ["plain-a", "P1", "plain-a", "P1", "plain-b", "plain-a"] * 50
    memo: dict[Any, Any] = {}
    out = memo_map(memo, values, make, limit=100)
    assert sorted(calls) == ["P1", "plain-a", "plain-b"]
    assert [None if x is None else int(x[0]) for x in out] == \
        [None if v.startswith("plain") else len(v) for v in values]
    assert memo_map(memo, values[:6], make, limit=100)[1] is out[1]  # kept between batches
    assert len(calls) == 3
    small: dict[Any, Any] = {}
    many = [f"plain-{i}" for i in range(10)] * 2
    assert memo_map(small, many, make, limit=4) == [None] * 20
    assert len(small) <= 4
