"""SQLite's rows of decisions among many arms: each arm list stored once, vectors with few
distinct values stored compactly (schema version 4), and every read giving back what was
written (the conformance suite checks the reads on every backend)."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from banditbot import BanditService, parse_config
from banditbot.stores import DecisionRecord, SQLiteStore

ARMS = tuple(f"greeting-variant-{i:02}" for i in range(50))


def _decision(arms: tuple[str, ...] = ARMS, i: int = 0) -> DecisionRecord:
    p = np.full(len(arms), 0.1 / len(arms))
    p[i % len(arms)] += 0.9
    return DecisionRecord(
        id=secrets.token_urlsafe(16), experiment="e", generation=0, scope="",
        arm=arms[i % len(arms)], propensity=float(p[i % len(arms)]), arms=arms,
        probabilities=p, policy='{"name":"epsilon-greedy"}', subject="u",
        created_at=1000.0 + i)


def test_a_many_arm_log_keeps_each_arm_list_once_and_vectors_compact(tmp_path: Path) -> None:
    """An ε-greedy bandit over 50 arms: its rows hold ~80 bytes of arm list and vector
    where the list written out and the plain vector took ~1,400 (a 1M-decision log was
    1.4 GB of them), and the report reads the log as before (every decision counted, its
    propensity the vector's)."""
    store = SQLiteStore(tmp_path / "b.db")
    store.init()
    config = parse_config({"experiments": [{
        "id": "e", "arms": [{"id": a, "content": a} for a in ARMS],
        "policy": {"name": "epsilon-greedy", "epsilon": 0.1}, "burn_in": 0}]})
    service = BanditService(config, store, rng=np.random.default_rng(3))
    truth = dict(zip(ARMS, np.linspace(0.05, 0.3, 50), strict=True))
    env = np.random.default_rng(4)
    for _ in range(1000):
        d = service.decide("e", "u")
        service.reward(d.id, float(env.random() < truth[d.arm]), "u")
    raw = sqlite3.connect(tmp_path / "b.db")
    per_row, = raw.execute(
        "SELECT avg(length(arms) + length(probabilities)) FROM decisions").fetchone()
    plain = len("\n".join(ARMS).encode()) + 8 * 50
    assert per_row < 100 < plain, (per_row, plain)
    assert raw.execute("SELECT count(*) FROM arm_lists").fetchone() == (1,)
    raw.close()
    records = list(service.decisions("e"))
    assert len(records) == 1000 and all(r.arms == ARMS for r in records)
    assert all(r.propensity == r.probabilities[ARMS.index(r.arm)] for r in records)
    report = service.report("e")  # (its intervals are read from the log)
    assert sum(a.pulls for a in report.arms) == 1000
    assert all(a.low is not None and a.low <= a.high for a in report.arms if a.answered > 20)
    store.close()


def test_stores_on_one_file_that_meet_a_new_arm_list_at_once_share_it(tmp_path: Path) -> None:
    """Four stores (as four processes would) log their first decisions over the same new
    arm list at the same moment: the list is stored once and every row reads back."""
    path = tmp_path / "b.db"
    SQLiteStore(path).init()
    stores = [SQLiteStore(path, busy_timeout_ms=10_000) for _ in range(4)]
    start = threading.Barrier(4)
    made: list[DecisionRecord] = []

    def run(store: SQLiteStore) -> None:
        start.wait()
        for i in range(20):
            d = _decision(i=i)
            store.record_decision(d)
            made.append(d)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader = SQLiteStore(path)
    assert len(made) == 80
    for d in made:
        got = reader.get_decision(d.id)
        assert got is not None and got.arms == ARMS
        assert got.probabilities.tobytes() == d.probabilities.tobytes()
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT count(*) FROM arm_lists").fetchone() == (1,)
    raw.close()
    for s in [*stores, reader]:
        s.close()


def test_an_arm_list_stored_in_a_rolled_back_batch_is_stored_again(tmp_path: Path) -> None:
    """A batch whose decision brought a new arm list fails: the list goes with it, and the
    next decision over those arms stores it again (its row would otherwise refer to a list
    that is not there)."""
    store = SQLiteStore(tmp_path / "b.db")
    store.init()

    def failing_batch() -> None:
        with store.batch():
            store.record_decision(_decision())
            raise RuntimeError("the batch fails")

    with pytest.raises(RuntimeError):
        failing_batch()
    d = _decision(i=1)
    store.record_decision(d)
    got = store.get_decision(d.id)
    assert got is not None and got.arms == ARMS
    store.close()


def test_a_version_3_database_keeps_its_rows_and_stores_new_ones_compactly(
        tmp_path: Path) -> None:
    """A database of the previous schema (version 3: every row spells out its arm list and
    vector) is upgraded in place: its rows read as before and new rows are compact."""
    path = tmp_path / "old.db"
    store = SQLiteStore(path)
    store.init()
    store.close()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("DROP TABLE arm_lists")
    raw.execute("PRAGMA user_version = 3")
    old = _decision()
    raw.execute(
        "INSERT INTO decisions (id, experiment, generation, scope, arm, propensity, arms, "
        "probabilities, policy, subject, kind, created_at, weight) VALUES "
        "(?, 'e', 0, '', ?, ?, ?, ?, '{}', 'u', 'policy', ?, 1)",
        (old.id, old.arm, old.propensity, "\n".join(ARMS), old.probabilities.tobytes(),
         old.created_at))
    raw.close()
    store = SQLiteStore(path)
    assert store.schema_version() == 3
    store.init()
    assert store.schema_version() == SQLiteStore.SCHEMA_VERSION == 4
    new = _decision(i=5)
    store.record_decision(new)
    for d in (old, new):
        got = store.get_decision(d.id)
        assert got is not None and got.arms == ARMS
        assert got.probabilities.tobytes() == d.probabilities.tobytes()
    raw = sqlite3.connect(path)
    sizes = dict(raw.execute("SELECT id, length(arms) + length(probabilities) FROM decisions"))
    assert sizes[new.id] < 100 < sizes[old.id]
    raw.close()
    store.close()


def test_an_arm_list_read_in_a_rolled_back_batch_is_not_taken_for_the_next_one(
        tmp_path: Path) -> None:
    """A batch logs a decision over a new arm list, reads it back, and fails: the list's
    number goes back to SQLite and the next new list gets it. The next list's decisions
    read as that list, not as the one read in the failed batch (found by review: they came
    back with the other list's arms, for the life of the process)."""
    store = SQLiteStore(tmp_path / "b.db")
    store.init()
    first = tuple(f"first-{i}" for i in range(10))
    second = tuple(f"second-{i}" for i in range(10))

    def failing_batch() -> None:
        with store.batch():
            d = _decision(first)
            store.record_decision(d)
            got = store.get_decision(d.id)
            assert got is not None and got.arms == first
            raise RuntimeError("the batch fails")

    with pytest.raises(RuntimeError):
        failing_batch()
    d = _decision(second)
    store.record_decision(d)
    for reader in (store, SQLiteStore(tmp_path / "b.db")):
        got = reader.get_decision(d.id)
        assert got is not None and got.arms == second
    store.close()


def test_batched_decisions_look_their_arm_list_up_once_it_is_committed(
        tmp_path: Path) -> None:
    """The HTTP server logs each decision inside a batch (group commit): after the first
    batch over a list commits, later decisions over it neither look it up nor store it
    (the list's number is remembered once committed); a savepoint rolled back inside a
    batch forgets the numbers met in it."""
    store = SQLiteStore(tmp_path / "b.db")
    store.init()
    with store.batch():
        store.record_decision(_decision())
        store.record_decision(_decision(i=1))
    conn: sqlite3.Connection = store._conn()  # type: ignore[attr-defined]
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    for i in range(5):
        with store.batch():
            store.record_decision(_decision(i=i))
    conn.set_trace_callback(None)
    assert not [s for s in seen if "arm_lists" in s], seen
    other = tuple(f"other-{i}" for i in range(10))

    def failing_savepoint() -> None:
        with store.batch():
            store.record_decision(_decision(other))
            raise RuntimeError("this part fails")

    with store.batch():
        with pytest.raises(RuntimeError):
            failing_savepoint()
        d = _decision(other, i=2)  # the list stored again, in the part that commits
        store.record_decision(d)
    got = SQLiteStore(tmp_path / "b.db").get_decision(d.id)
    assert got is not None and got.arms == other
    store.close()


def test_a_decision_among_more_arms_than_sixteen_bits_count_is_logged(
        tmp_path: Path) -> None:
    """The compact form counts arms in 16 bits: a decision among 70,000 arms keeps the
    plain vector and reads back (its logging raised struct.error)."""
    store = SQLiteStore(tmp_path / "b.db")
    store.init()
    arms = tuple(f"a{i}" for i in range(70_000))
    d = _decision(arms)
    store.record_decision(d)
    got = store.get_decision(d.id)
    assert got is not None and got.arms == arms
    assert got.probabilities.tobytes() == d.probabilities.tobytes()
    store.close()
