"""SQLite under real concurrency: several processes × threads on one file, and SIGKILL."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from banditbot import StoreError
from banditbot.stores import ApplyResult, DecisionRecord, SQLiteStore

from ..conftest import ROOT
from .test_store_conformance import assert_stats_equal_fold

WRITER = textwrap.dedent("""
    import sys, threading, secrets
    import numpy as np
    from banditbot.stores import SQLiteStore, DecisionRecord, ApplyResult

    path, worker, threads, per_thread = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = SQLiteStore(path)
    store.init()
    lock = threading.Lock()

    def run(t):
        rng = np.random.default_rng(abs(hash((worker, t))) % 2**32)
        for i in range(per_thread):
            arm = ("a", "b", "c")[int(rng.integers(3))]
            value = float(rng.integers(0, 2))
            d = DecisionRecord(id=secrets.token_urlsafe(16), experiment="e", generation=0,
                               scope="", arm=arm, propensity=1/3, arms=("a", "b", "c"),
                               probabilities=np.full(3, 1/3), policy="{}",
                               subject=f"{worker}-{t}", created_at=float(i))
            store.record_decision(d)
            assert store.apply_reward(d.id, value, 1.0) is ApplyResult.APPLIED
            with lock:  # acknowledged: the commit returned
                print(f"ACK {d.id} {arm} {value}", flush=True)

    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
""")


def _spawn(path: Path, worker: str, threads: int, per_thread: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), worker, str(threads),
                             str(per_thread)], stdout=subprocess.PIPE, text=True)


def test_processes_and_threads_on_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SQLiteStore(path).init()
    procs = [_spawn(path, f"p{i}", threads=8, per_thread=25) for i in range(3)]
    acks: list[tuple[str, str, float]] = []
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0
        acks += [(line.split()[1], line.split()[2], float(line.split()[3]))
                 for line in out.splitlines() if line.startswith("ACK")]
    assert len(acks) == 3 * 8 * 25
    store = SQLiteStore(path)
    table = store.read_stats("e", 0, "", ("a", "b", "c"))
    for i, arm in enumerate(("a", "b", "c")):
        assert table.n[i] == sum(1 for _, a, _ in acks if a == arm)
        assert table.total[i] == sum(v for _, a, v in acks if a == arm)
    assert table.pulls.sum() == len(acks)
    store.close()


def test_sigkill_mid_load_loses_no_acknowledged_reward(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    SQLiteStore(path).init()
    proc = _spawn(path, "victim", threads=4, per_thread=100_000)
    acked: list[tuple[str, float]] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while len(acked) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ACK"):
            _, did, _, value = line.split()
            acked.append((did, float(value)))
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of the load, no chance to clean up
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 300
    store = SQLiteStore(path)  # reopen after the crash
    for did, value in acked:
        record = store.get_decision(did)
        assert record is not None, "an acknowledged decision is missing"
        assert record.reward == value, "an acknowledged reward is missing"
    assert_stats_equal_fold(store, "e", 0, ("a", "b", "c"))
    store.close()


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_store_reopens_and_reads_what_was_written(tmp_path: Path, synchronous: str) -> None:
    path = tmp_path / "reopen.db"
    s = SQLiteStore(path, synchronous=synchronous)
    s.init()
    s.init()  # idempotent
    from banditbot.stores import ExperimentMeta

    assert s.write_meta("e", ExperimentMeta(generation=3))
    s.close()
    again = SQLiteStore(path)
    assert again.read_meta("e").generation == 3
    again.close()


def _decision(i: int) -> DecisionRecord:
    return DecisionRecord(id=secrets.token_urlsafe(16), experiment="e", generation=0, scope="",
                          arm="a", propensity=1.0, arms=("a",), probabilities=np.ones(1),
                          policy="{}", subject="s", created_at=float(i))


def test_checkpoints_run_in_the_background_and_stop_with_the_store(tmp_path: Path) -> None:
    """Writes land in the WAL; the store's own thread copies them into the database file
    (the commits never wait for that), and close() stops the thread."""
    path = tmp_path / "ckpt.db"
    store = SQLiteStore(path)
    store.init()
    size_before = path.stat().st_size
    for i in range(2000):  # far below the commit-time backstop (20,000 pages)
        store.record_decision(_decision(i))
    deadline = time.monotonic() + 10
    while path.stat().st_size <= size_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size > size_before  # the decisions reached the database file
    probe = sqlite3.connect(path)
    assert probe.execute("SELECT count(*) FROM decisions").fetchone()[0] == 2000
    probe.close()
    assert any(t.name.startswith("banditbot-checkpoint") for t in threading.enumerate())
    store.close()
    assert not any(t.name == f"banditbot-checkpoint:{path.name}" for t in threading.enumerate())


def test_a_failed_batch_writes_nothing(tmp_path: Path) -> None:
    """On SQLite a batch is one transaction: an error inside it rolls back every write."""
    store = SQLiteStore(tmp_path / "batch.db")
    store.init()
    kept = _decision(0)
    store.record_decision(kept)
    lost = [_decision(i) for i in range(1, 4)]

    def crash_inside_a_batch() -> None:
        with store.batch():
            for d in lost:
                store.record_decision(d)
            store.apply_reward(kept.id, 1.0, 5.0)
            raise RuntimeError("the server died before the commit")

    with pytest.raises(RuntimeError):
        crash_inside_a_batch()
    assert [d.id for d in store.iter_decisions("e")] == [kept.id]
    assert store.read_stats("e", 0, "", ("a",)).n.tolist() == [0]
    assert store.apply_reward(kept.id, 1.0, 6.0) is ApplyResult.APPLIED  # still unrewarded
    store.close()


def test_a_batch_waits_for_another_process_and_fails_cleanly(tmp_path: Path) -> None:
    """While another connection holds the write lock, a batch waits up to the busy timeout,
    then raises StoreError with nothing written."""
    path = tmp_path / "locked.db"
    store = SQLiteStore(path, busy_timeout_ms=300)
    store.init()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()

    def write_in_a_batch() -> None:
        with store.batch():
            store.record_decision(_decision(1))

    with pytest.raises(StoreError):
        write_in_a_batch()
    assert 0.25 <= time.monotonic() - started < 10
    other.execute("ROLLBACK")
    other.close()
    assert list(store.iter_decisions("e")) == []
    store.close()


def test_a_database_of_the_previous_release_is_upgraded_in_place(tmp_path: Path) -> None:
    """A file made with banditbot 0.1.0's schema (version 1: no allocation periods), with a
    rewarded and an open decision in it, opens with today's store: the data stays, the
    schema version becomes current, the open decision can still be rewarded (once), and
    allocation periods work."""
    from banditbot import BanditService, parse_config

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript((ROOT / "tests" / "data" / "sqlite_schema_v1.sql").read_text())
    probabilities = np.array([0.5, 0.5], dtype="<f8").tobytes()
    rows = [("d-rewarded-0123456789", 1.0), ("d-open-0123456789abcd", None)]
    for i, (decision_id, reward) in enumerate(rows):
        old.execute(
            "INSERT INTO decisions (id, experiment, generation, scope, arm, propensity, arms, "
            "probabilities, policy, subject, context, kind, created_at, reward, rewarded_at, "
            "weight) VALUES (?, 'seed', 0, '', 'arm1', 0.5, ?, ?, '{}', 'alice', NULL, "
            "'policy', ?, ?, ?, 1)",
            (decision_id, "arm1\narm2", probabilities, 100.0 + i, reward,
             None if reward is None else 101.0))
    old.commit()
    old.close()

    store = SQLiteStore(path)
    assert store.schema_version() == 1
    with pytest.raises(StoreError, match="older") as err:  # read before the upgrade: refused
        store.read_stats("seed", 0, "", ("arm1", "arm2"))
    assert "banditbot init-db" in (err.value.hint or "")
    store.init()
    assert store.schema_version() == SQLiteStore.SCHEMA_VERSION
    store.init()  # idempotent
    table = store.read_stats("seed", 0, "", ("arm1", "arm2"))
    assert (table.pulls[0], table.n[0], table.total[0]) == (2, 1, 1)
    config = parse_config({"experiments": [{
        "id": "seed", "arms": [{"id": "arm1", "content": "1"}, {"id": "arm2", "content": "2"}],
        "burn_in": 0, "update": "2 rewards"}]})
    service = BanditService(config, store, rng=np.random.default_rng(1))
    assert service.reward("d-open-0123456789abcd", 0, "alice").applied
    assert not service.reward("d-open-0123456789abcd", 0, "alice").applied
    d = service.decide("seed", "bob")
    assert store.get_decision(d.id).allocation_id is not None  # type: ignore[union-attr]
    assert [a.period for a in store.allocations("seed", 0, "")] == [1]
    keyed = service.decide("seed", "carol", idempotency_key="k")  # (version 3: the keys)
    assert service.decide("seed", "carol", idempotency_key="k").id == keyed.id
    store.close()


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = SQLiteStore(path)
    store.init()
    store.close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    store = SQLiteStore(path)
    with pytest.raises(StoreError, match="newer"):
        store.init()
    with pytest.raises(StoreError, match="newer"):  # nor read or written by this code,
        store.get_decision("x")  # not even by the store whose init() failed
    store.close()


def test_a_database_without_tables_says_how_to_make_them(tmp_path: Path) -> None:
    """A walkthrough found a Lambda started without BANDITBOT_STORE failing with "no such
    table: claims" (it opened an empty banditbot.db), and a library caller who skipped
    ``init()`` got sqlite3's bare "no such table: meta" from the first decision: every
    operation says the tables are missing and how to make them, and works once they are
    made."""
    from banditbot import BanditService, parse_config

    store = SQLiteStore(tmp_path / "empty.db")
    with pytest.raises(StoreError, match="no banditbot tables") as err:
        store.claim_key("update:1", 60)
    assert "banditbot init-db" in (err.value.hint or "")
    config = parse_config({"experiments": [{
        "id": "e", "arms": [{"id": "a", "content": "1"}, {"id": "b", "content": "2"}]}]})
    service = BanditService(config, store, rng=np.random.default_rng(1))
    with pytest.raises(StoreError, match="no banditbot tables") as err:
        service.decide("e", "alice")
    assert "init()" in (err.value.hint or "")
    SQLiteStore(tmp_path / "empty.db").init()  # another store (or process) makes them
    assert service.decide("e", "alice").arm in ("a", "b")
    store.close()


def test_the_wal_a_burst_grew_is_given_back(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of writes while a reader holds its snapshot grows the WAL past the checkpoint
    threshold (83 MB in a trial of `serve --workers 2`), and the file kept that size for
    good (11 MB here without the limit). Once a checkpoint lets the WAL start over, it is
    cut back to the limit (here made small: 64 KiB)."""
    from banditbot.stores import _sqlite

    limit = 64 * 1024
    monkeypatch.setattr(_sqlite, "_WAL_LIMIT_BYTES", limit)
    path = tmp_path / "burst.db"
    store = SQLiteStore(path)
    store.init()
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM decisions").fetchone()  # holds its snapshot
    p = np.array([0.5, 0.5])
    for i in range(600):
        store.record_decision(DecisionRecord(
            secrets.token_hex(16), "e", 0, "", "a", 0.5, ("a", "b"), p,
            '{"name":"x","params":{}}', f"s{i}", time.time(), {"pad": "x" * 400}))
    wal = Path(f"{path}-wal")
    grown = wal.stat().st_size
    assert grown > 4 * limit
    reader.execute("COMMIT")
    for _ in range(200):  # what the thread runs (until done: the store's own checkpointer
        busy, frames, done = reader.execute(  # may hold the checkpoint lock a moment)
            "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not busy and frames == done:
            break
        time.sleep(0.01)
    store.record_decision(DecisionRecord(  # the next write starts the WAL over
        secrets.token_hex(16), "e", 0, "", "a", 0.5, ("a", "b"), p,
        '{"name":"x","params":{}}', "last", time.time()))
    assert wal.stat().st_size <= limit < grown
    assert sum(1 for _ in store.iter_decisions("e")) == 601  # nothing lost
    reader.close()
    store.close()


def test_a_new_database_writes_small_pages_to_its_wal(tmp_path: Path) -> None:
    """The store asked for 1 KiB pages, but SQLite ignores a page size in WAL mode: every
    database had 4 KiB pages, and a decision and its reward wrote 27.7 KB to the WAL (at 50
    arms). A new database now has the small pages, and writes under 14 KB per decision and
    reward; a file that is not new keeps its pages and its data."""
    import numpy as np

    from banditbot import BanditService, parse_config

    path = tmp_path / "small.db"
    store = SQLiteStore(path)
    store.init()
    cfg = parse_config({"experiments": [{
        "id": "e", "arms": [{"id": f"a{i}", "content": f"arm {i}"} for i in range(50)],
        "policy": "ucb1", "burn_in": 0}]})
    service = BanditService(cfg, store, rng=np.random.default_rng(0))

    def answered(count: int) -> None:
        for i in range(count):
            d = service.decide("e", "u")
            service.reward(d.id, i % 2, "u")

    answered(300)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 1024
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    answered(200)
    assert os.path.getsize(f"{path}-wal") / 200 < 14 * 1024
    store.close()
    again = SQLiteStore(path)
    again.init()  # not new: its pages and decisions stay
    arms = tuple(a.id for a in cfg.experiments[0].arms)
    assert again.read_stats("e", 0, None, arms).pulls.sum() == 500
    again.close()


def test_processes_that_open_a_new_database_at_once_all_start(tmp_path: Path) -> None:
    """Six processes opening one new file at once (a server's workers, the bot and a CLI
    started together): 17 of 90 such openings failed with "database is locked" (turning the
    file to WAL takes its lock a moment, and the store waited 0 s for it). They wait for
    each other now, and the file has the store's 1 KiB pages whoever came first."""
    code = ("import sys; from banditbot.stores import SQLiteStore; "
            "s = SQLiteStore(sys.argv[1]); s.init(); s.close()")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for trial in range(3):
        path = tmp_path / f"new-{trial}.db"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], env=env,
                                  stderr=subprocess.PIPE, text=True) for _ in range(6)]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, errors
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA page_size").fetchone()[0] == 1024
