"""Group commit for the hot routes on a local store (SQLite): one transaction for the writes
of the requests that became ready in the same event-loop turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from ..stores import Store

__all__ = ["GroupCommit"]

T = TypeVar("T")


class GroupCommit:
    """Group commit: a decide or reward request does its reads and its policy work first,
    then hands its write here and awaits it.

    The first write of an event-loop turn schedules a flush at the end of that turn, so
    every request that became ready in the same turn shares one ``store.batch()`` (on
    SQLite one transaction: one lock, one commit). Nobody waits for a timer: an idle server
    commits each request alone, a busy one in groups. Each write runs in a block of its own
    inside the batch (a savepoint on SQLite): one that fails, for whatever reason, is undone
    and fails only its request, exactly as it would alone; a failed commit fails them all
    (and nothing was written).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[tuple[Callable[..., Any], tuple[Any, ...],
                                 asyncio.Future[Any]]] = []

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``fn(*args)`` in this turn's commit; the future holds its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self.pending:
            loop.call_soon(self.flush)
        self.pending.append((fn, args, future))
        return future

    def flush(self) -> None:
        """Commit everything submitted so far, together."""
        batch, self.pending = self.pending, []
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        alone = len(batch) == 1  # its own transaction: a failure rolls back all of it
        try:
            with self.store.batch():
                for fn, args, future in batch:
                    if alone:
                        outcomes.append((future, fn(*args), None))
                        continue
                    try:
                        with self.store.batch():  # undone alone if it fails
                            outcomes.append((future, fn(*args), None))
                    except Exception as exc:  # this request's own problem, not the others'
                        outcomes.append((future, None, exc))
        except Exception as exc:  # that write failed, or the commit: nothing was written
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, value, error in outcomes:
            if future.done():  # the client went away; its write stands, like a sync call's
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)
