"""Store outages in the server log: told once, with their cause, and when they end.

A client whose request failed on the store hears only that it did (the store's own words
name its host and port); the log says why — once, not once per request for as long as the
outage lasts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .._errors import BanditBotError, StoreError

__all__ = ["ProbeTimeoutError", "StoreHealth"]

log = logging.getLogger("banditbot.store")


class ProbeTimeoutError(StoreError):
    """The readiness probe stopped waiting for the store: a failure that says nothing of
    its cause (the store's own error, which names its address, comes with the requests)."""


class StoreHealth:
    """Whether requests fail on the store now, and the log lines that say so.

    A warning with the cause (the error's class, its cause's class and its message, which
    the JSON log redacts) at the first failed request (and at the first that says why, if
    that one was the readiness probe's timeout); while failures go on, a reminder at
    most every ``remind_seconds`` with their count; a warning when a store call succeeds
    again, with how long the outage lasted (from the start of the first failed call, which
    :meth:`call_failed` tells). Every other failure is a debug line with its request id.

    Parameters
    ----------
    remind_seconds
        The least time between two warnings of one outage; also between the end of one
        outage and the warning of the next (a store that fails every other call is told
        about once per period, not twice per call).
    clock
        Monotonic seconds (tests pass a fake clock).

    Examples
    --------
    >>> from banditbot import StoreError
    >>> health = StoreHealth()
    >>> health.failed(StoreError("connection refused"))
    >>> health.down
    True
    >>> health.answered()
    >>> health.down
    False
    """

    def __init__(self, *, remind_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.remind_seconds = remind_seconds
        self.clock = clock
        #: a failure came after the last success: read on every store call, without the lock
        self.down = False
        self._lock = threading.Lock()
        self._since = 0.0  # when the outage began
        self._failures = 0  # failed requests since the last warning
        self._total = 0  # failed requests of this outage
        self._told = False  # this outage was announced
        self._cause_told = False  # the last warning's failure said why (not the probe's)
        self._warned_at: float | None = None
        #: the last store call that failed: (when it began, when it ended)
        self._last_call: tuple[float, float] | None = None

    def call_failed(self, seconds: float) -> None:
        """A store call failed after ``seconds`` (its retries included): the outage began
        no later than that call did. (A request fails only after the store's retries, 15 s
        on PostgreSQL: counted from its failure, a 16 s outage read "over 1.1 s".)"""
        now = self.clock()
        self._last_call = (now - seconds, now)

    def failed(self, error: BanditBotError, request_id: str | None = None) -> None:
        """A request failed on the store with ``error``."""
        now = self.clock()
        with self._lock:
            if not self.down:
                call = self._last_call  # (this request's failed call: it ended just now)
                began = call[0] if call is not None and now - call[1] < 1.0 else now
                self.down, self._since, self._total, self._failures = True, began, 0, 0
                self._told = False
            self._total += 1
            self._failures += 1
            says_why = not isinstance(error, ProbeTimeoutError)
            last = self._warned_at
            # (an outage announced by the readiness probe's timeout is told again by the
            # first failure that says why: a trial's server never logged the address nor
            # "connection refused")
            quiet = last is not None and now - last < self.remind_seconds and \
                (self._cause_told or not says_why)
            first, count, lasted = not self._told or (not self._cause_told and says_why), \
                self._failures, now - self._since
            if not quiet:
                self._warned_at, self._failures, self._told = now, 0, True
                if says_why:
                    self._cause_told = True
                elif first:  # (a reminder from the probe keeps what was said before it)
                    self._cause_told = False
        cause = error.__cause__
        fields = {"error": type(error).__name__, "request_id": request_id,
                  "cause": None if cause is None else type(cause).__name__}
        if quiet:
            log.debug("the store failed again: %s", error, extra=fields)
        elif first:
            log.warning("the store failed: %s: %s", type(error).__name__, error,
                        extra=fields)
        else:
            log.warning("the store still fails: %d failed requests since the last warning "
                        "(%.0f s since it began); the latest: %s: %s", count, lasted,
                        type(error).__name__, error, extra=fields)

    def answered(self) -> None:
        """A store call succeeded: the end of an outage, if one was going on."""
        with self._lock:
            if not self.down:
                return
            self.down = False
            told, total, lasted = self._told, self._total, self.clock() - self._since
        if told:
            log.warning("the store answers again, after %d failed request%s over %.1f s",
                        total, "" if total == 1 else "s", lasted,
                        extra={"failed_requests": total})
