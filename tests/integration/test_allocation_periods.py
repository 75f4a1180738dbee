"""Allocation periods on every store: one allocation per period however many writers race at
a cadence boundary (threads, and processes on the stores that processes share), every logged
propensity the entry of the allocation the decision cites, statistics the fold of the log."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, Store, parse_config
from banditbot.stores import open_store

from ..conftest import BACKENDS, FakeClock
from .test_store_conformance import assert_stats_equal_fold

EXPERIMENT: dict[str, Any] = {
    "id": "p", "arms": [{"id": a, "content": a} for a in ("a", "b", "c")],
    "policy": {"name": "epsilon-greedy", "epsilon": 0.2}, "burn_in": 0,
    "update": {"every": "5 rewards"},
}
RATES = {"a": 0.2, "b": 0.6, "c": 0.4}


def _run(store: Store, seed: int, rounds: int) -> None:
    """One writer: decide and reward ``rounds`` times through its own service."""
    service = BanditService(parse_config({"experiments": [EXPERIMENT]}), store,
                            rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1000)
    for _ in range(rounds):
        d = service.decide("p", f"u{seed}")
        service.reward(d.id, int(rng.random() < RATES[d.arm]), f"u{seed}")


def _process(url: str, seed: int, rounds: int) -> None:  # a child process's whole life
    _run(open_store(url), seed, rounds)


def _check_periods(store: Store, expected_decisions: int) -> int:
    periods = store.allocations("p", 0, "")
    numbers = [a.period for a in periods]
    assert numbers == list(range(1, len(periods) + 1)), numbers  # one per period, no gap
    by_id = {a.id: a for a in periods}
    decisions = list(store.iter_decisions("p"))
    assert len(decisions) == expected_decisions
    for d in decisions:
        allocation = by_id[str(d.allocation_id)]  # every decision cites a stored period
        assert d.arms == allocation.arms
        assert d.probabilities.tolist() == allocation.probabilities.tolist()
        assert d.propensity == allocation.probabilities[allocation.arms.index(d.arm)]
    assert_stats_equal_fold(store, "p", 0, ("a", "b", "c"))
    # periods start at the cadence: each ended with at least 5 rewards counted
    assert all(a.rewards >= 5 for a in periods[:-1])
    return len(periods)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.slow
def test_eight_threads_across_cadence_boundaries_agree_on_each_period(
        backend: str, store_factory: Any) -> None:
    store = store_factory(backend)
    rounds = 25 if backend in ("memory", "sqlite") else 10
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda seed: _run(store, seed, rounds), range(8)))
    assert _check_periods(store, 8 * rounds) >= 8 * rounds // 5 // 2


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "memory"])
@pytest.mark.slow
def test_threads_and_two_processes_agree_on_each_period(backend: str, store_factory: Any,
                                                       tmp_path: Path) -> None:
    store = store_factory(backend)
    rounds = 20 if backend == "sqlite" else 8
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_process, args=(_url(store), 100 + i, rounds))
                for i in range(2)]
    for child in children:
        child.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda seed: _run(store, seed, rounds), range(8)))
    for child in children:
        child.join(timeout=300)
        assert child.exitcode == 0
    _check_periods(store, 10 * rounds)


def _url(store: Any) -> str:
    """A URL another process opens the same store with (a DynamoDB store's ``url`` leaves the
    endpoint out; the test PostgreSQL server has no password to mask)."""
    if store.url.startswith("dynamodb"):
        return f"dynamodb://{store.table}?region=us-east-1&endpoint_url={store.endpoint_url}"
    return str(store.url)


def test_a_time_cadence_starts_a_period_once_it_is_due(tmp_path: Path) -> None:
    clock = FakeClock()
    config = parse_config({"experiments": [{**EXPERIMENT, "update": "15m"}]})
    store = SQLiteStore(tmp_path / "t.db")
    store.init()
    service = BanditService(config, store, rng=np.random.default_rng(1), clock=clock)
    first = service.decide("p", "u")
    clock.advance(14 * 60)
    assert service.decide("p", "u").propensity == first.propensity  # same period
    clock.advance(61)
    service.decide("p", "u")
    periods = store.allocations("p", 0, "")
    assert [(a.period, a.reason) for a in periods] == [(1, "start"), (2, "cadence")]


def test_admin_changes_and_burn_in_start_periods(tmp_path: Path) -> None:
    clock = FakeClock()
    exp = {**EXPERIMENT, "burn_in": {"min_per_arm": 2, "min_answers": 0},
           "update": "1000 rewards"}
    store = SQLiteStore(tmp_path / "b.db")
    store.init()
    service = BanditService(parse_config({"experiments": [exp]}), store,
                            rng=np.random.default_rng(2), clock=clock)
    for _ in range(12):
        clock.advance(1)
        d = service.decide("p", "u")
        service.reward(d.id, 1, "u")
    reasons = [a.reason for a in store.allocations("p", 0, "")]
    assert reasons[:2] == ["burn-in", "burn-in ended"]
    first = store.allocations("p", 0, "")[0]
    assert first.probabilities.tolist() == pytest.approx([1 / 3] * 3)  # equal in burn-in
    service.retire_arm("p", "c")
    d = service.decide("p", "u")
    latest = store.allocations("p", 0, "")[-1]
    assert latest.reason == "admin" and latest.arms == ("a", "b")
    record = store.get_decision(d.id)
    assert record is not None and record.allocation_id == latest.id


def test_history_lists_periods_in_order_when_a_writers_clock_lags() -> None:
    """Two servers on one store, one of them with a clock 100 s behind (or a thread that
    read the time before another started a period): each period starts no earlier than the
    one it follows, so the history, oldest first, is in period order."""
    store = open_store("memory://")
    config = parse_config({"experiments": [EXPERIMENT]})
    ahead, behind = FakeClock(1_000.0), FakeClock(900.0)
    servers = [BanditService(config, store, rng=np.random.default_rng(i), clock=c)
               for i, c in enumerate((ahead, behind))]
    for turn in range(40):  # the servers take turns, five rewards each: a period per turn
        server = servers[turn % 2]
        for _ in range(5):
            d = server.decide("p", "u")
            server.reward(d.id, 1, "u")
        ahead.advance(1.0)
        behind.advance(1.0)
    periods = store.allocations("p", 0, "")
    assert [a.period for a in periods] == list(range(1, len(periods) + 1))
    assert len(periods) >= 20
    times = [a.created_at for a in periods]
    assert times == sorted(times)
