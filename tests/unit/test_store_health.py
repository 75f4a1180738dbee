"""A store outage in the server's log: a warning with its cause when it begins, a reminder
at most once a minute while it lasts, a warning when it ends — not a line per request."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from banditbot import StoreError
from banditbot.api._health import ProbeTimeoutError, StoreHealth

from ..conftest import FakeClock


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The warnings of ``banditbot.store`` (a handler of its own: the JSON logging of a
    server started in this process may have stopped it from propagating)."""
    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                said.append(record.getMessage())

    logger = logging.getLogger("banditbot.store")
    handler = Keep()
    logger.addHandler(handler)
    try:
        yield said
    finally:
        logger.removeHandler(handler)


def _refused() -> StoreError:
    try:
        raise StoreError("PostgreSQL read failed: Connection refused") from \
            ConnectionRefusedError()
    except StoreError as exc:
        return exc


def test_an_outage_is_told_at_its_start_once_a_minute_and_at_its_end(
        warnings: list[str]) -> None:
    clock = FakeClock()
    health = StoreHealth(clock=clock)
    for _ in range(500):  # a busy server: requests fail for 30 s
        health.failed(_refused())
        clock.advance(0.06)
    assert warnings == ["the store failed: StoreError: PostgreSQL read failed: "
                        "Connection refused"]
    for _ in range(1000):  # a minute later: one reminder, with the count
        health.failed(_refused())
        clock.advance(0.06)
    assert len(warnings) == 2
    assert re.match(r"the store still fails: \d+ failed requests since the last warning "
                    r"\(60 s since it began\); the latest: StoreError: PostgreSQL", warnings[1])
    health.answered()
    health.answered()
    assert len(warnings) == 3 and warnings[2].startswith(
        "the store answers again, after 1500 failed requests over 90.0 s")


def test_a_store_that_fails_every_other_call_is_told_once_a_minute(
        warnings: list[str]) -> None:
    clock = FakeClock()
    health = StoreHealth(clock=clock)
    for _ in range(100):  # 20 s of flapping
        health.failed(_refused())
        health.answered()
        clock.advance(0.2)
    assert len(warnings) == 2  # the first failure, and its end
    for _ in range(300):  # the next 60 s: once more
        health.failed(_refused())
        health.answered()
        clock.advance(0.2)
    assert [w[:23] for w in warnings] == ["the store failed: Store",
                                          "the store answers again"] * 2


def test_an_outage_is_timed_from_the_start_of_the_first_failed_call(
        warnings: list[str]) -> None:
    """A request fails only after the store's retries (15 s on PostgreSQL): a 16 s outage
    read "over 1.1 s", timed from the first failure. It is timed from the start of the
    call that failed first; a failed call long before (its error not a request's) is not
    taken for the start."""
    clock = FakeClock()
    health = StoreHealth(clock=clock)
    health.call_failed(0.2)  # a call that failed and was not a request's failure
    clock.advance(3600)
    clock.advance(15)
    health.call_failed(15)  # retried for 15 s, then failed
    health.failed(_refused())
    clock.advance(1.1)
    health.answered()
    assert warnings[-1].startswith("the store answers again, after 1 failed request over "
                                   "16.1 s"), warnings
    clock.advance(100)
    health.failed(_refused())  # no call's start told: from the failure, as before
    clock.advance(2)
    health.answered()
    assert warnings[-1].endswith("over 2.0 s"), warnings


def test_the_server_s_store_tells_when_its_failed_call_began(warnings: list[str]) -> None:
    """The metered store (what the server's requests go through) tells the health when a
    failed call began: a call that retried 0.3 s and failed makes an outage of at least
    0.3 s (it read from the failure on)."""
    import time

    from banditbot.api._metrics import MeteredStore, Metrics

    class Down:
        url = "test://down"
        up = False

        def read_meta(self, experiment: str) -> str:
            if not self.up:
                time.sleep(0.3)  # the store's retries
                raise StoreError("read failed: Connection refused")
            return "meta"

    inner = Down()
    metered = MeteredStore(inner, Metrics())  # type: ignore[arg-type]
    with pytest.raises(StoreError) as failure:
        metered.read_meta("g")
    metered.health.failed(failure.value)
    inner.up = True
    assert metered.read_meta("g") == "meta"
    lasted = float(re.findall(r"over ([\d.]+) s", warnings[-1])[0])
    assert lasted >= 0.3, warnings


def test_an_outage_first_seen_by_the_readiness_probe_is_told_with_its_cause(
        warnings: list[str]) -> None:
    """A trial's server with two workers logged only the readiness probe's "did not answer
    within 3 s" (no cause) for a whole PostgreSQL outage: the requests' failures, which
    name the address and "connection refused", came within the minute and went to debug."""
    clock = FakeClock()
    health = StoreHealth(clock=clock)
    health.failed(ProbeTimeoutError("the store did not answer within 3 s"))
    for _ in range(100):
        clock.advance(0.1)
        health.failed(_refused())
    assert warnings == ["the store failed: ProbeTimeoutError: the store did not answer within 3 s",
                        "the store failed: StoreError: PostgreSQL read failed: "
                        "Connection refused"]
    for _ in range(50):  # then quiet until the reminder, as for any outage
        clock.advance(0.1)
        health.failed(_refused())
    assert len(warnings) == 2


def test_a_reminder_from_the_probe_does_not_start_the_outage_over(
        warnings: list[str]) -> None:
    """A review: a reminder triggered by the probe's timeout marked the cause as untold, so
    the next request's failure was told as a new outage ("the store failed: …") beside it."""
    clock = FakeClock()
    health = StoreHealth(clock=clock)
    health.failed(_refused())
    clock.advance(61)
    health.failed(ProbeTimeoutError("the store did not answer within 3 s"))  # the reminder
    clock.advance(1)
    health.failed(_refused())
    assert len(warnings) == 2 and warnings[1].startswith("the store still fails"), warnings
