"""The SQLite store's read cache on the decision path: one check of the file per decision,
and what another connection committed is in the next decision."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config

ARMS = ("a", "b", "c")


def service(path: Path, seed: int) -> BanditService:
    cfg = parse_config({"experiments": [{
        "id": "e", "arms": [{"id": a, "content": a} for a in ARMS], "burn_in": 0,
        "policy": {"name": "epsilon-greedy", "epsilon": 0.3}}]})
    store = SQLiteStore(path)
    store.init()
    return BanditService(cfg, store, rng=np.random.default_rng(seed))


def greedy_arm(svc: BanditService) -> tuple[str, int]:
    """The arm a decision's logged probabilities favour, and the generation it was made in."""
    d = svc.decide("e", "u")
    record = svc.store.get_decision(d.id)
    assert record is not None
    return record.arms[int(np.argmax(record.probabilities))], record.generation


def test_a_decision_sees_what_another_process_committed_since_its_last(
        tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    mine, theirs = service(path, 1), service(path, 2)
    mine.cheat("e", "a", [1, 1, 0], actor="test")
    assert greedy_arm(mine) == ("a", 0)  # this connection's cache holds "a" in the lead
    theirs.cheat("e", "b", [1] * 6, actor="test")  # another connection: "b" leads now
    assert greedy_arm(mine) == ("b", 0)
    theirs.reset("e", actor="test")  # and a new generation: the meta changed
    assert greedy_arm(mine)[1] == 1
    theirs.switch_policy("e", "ucb1", actor="test")
    d = mine.decide("e", "u")
    record = mine.store.get_decision(d.id)
    assert record is not None and '"ucb1"' in record.policy


def test_a_decision_checks_the_file_once(tmp_path: Path) -> None:
    svc = service(tmp_path / "b.db", 1)
    svc.reward(svc.decide("e", "u").id, 1.0, "u")
    conn: sqlite3.Connection = svc.store._conn()  # type: ignore[attr-defined]
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    for _ in range(10):
        svc.decide("e", "u")
    conn.set_trace_callback(None)
    checks = [s for s in seen if "data_version" in s]
    # the meta and the counters are read as one snapshot: one PRAGMA per decision
    assert len(checks) == 10, seen[:8]


def test_what_a_rolled_back_batch_read_is_not_served_after_it(tmp_path: Path) -> None:
    """A review: a period started inside a batch, and read there (a report), stayed in the
    read cache after the batch rolled back (a rollback does not change what PRAGMA
    data_version says): the next decisions cited a period the file does not hold, and the
    cadence later started period 2 with no period 1. Counters read inside the batch,
    likewise."""
    cfg = parse_config({"experiments": [{
        "id": "p", "arms": [{"id": a, "content": a} for a in ARMS], "burn_in": 0,
        "policy": {"name": "epsilon-greedy", "epsilon": 0.3}, "update": "every 5 rewards"}]})
    store = SQLiteStore(tmp_path / "p.db")
    store.init()
    svc = BanditService(cfg, store, rng=np.random.default_rng(1))

    def rolled_back() -> None:
        with store.batch():
            svc.decide("p", "u")  # starts period 1 inside the transaction
            svc.report("p")  # reads the current period (and the counters)
            raise RuntimeError  # the batch rolls back: period 1 and the pull are gone

    with pytest.raises(RuntimeError):
        rolled_back()
    assert store.allocations("p", 0, "") == []
    for _ in range(12):
        d = svc.decide("p", "u")
        record = store.get_decision(d.id)
        assert record is not None
        assert record.allocation_id in {a.id for a in store.allocations("p", 0, "")}
        svc.reward(d.id, 1, "u")
    assert [a.period for a in store.allocations("p", 0, "")] == [1, 2, 3]
    assert sum(a.pulls for a in svc.report("p").arms) == 12  # not the rolled-back 13th
