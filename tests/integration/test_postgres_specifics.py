"""PostgreSQL beyond the conformance suite: several processes × threads on one database, a
writer killed with SIGKILL, the server restarted mid-load, replies lost after a commit,
meta changes reaching another host, schema versions, URLs and secrets."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from banditbot import ConfigError, StoreError
from banditbot.stores import ApplyResult, DecisionRecord, ExperimentMeta, open_store
from banditbot.stores._postgres import SCHEMA_VERSION, PostgresStore

from ..conftest import (
    EXAMPLES,
    PostgresServer,
    postgres_bindir,
    postgres_schema_url,
    rest_of_output,
)
from .test_store_conformance import assert_stats_equal_fold

pytestmark = pytest.mark.skipif(postgres_bindir() is None,
                                reason="PostgreSQL is not installed")

WRITER = textwrap.dedent("""
    import sys, threading, secrets
    import numpy as np
    from banditbot.stores import open_store, DecisionRecord, ApplyResult

    url, worker, threads, per_thread = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = open_store(url)
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

    failed = []
    def guarded(t):  # a thread's exception must fail the process, not just end the thread
        try:
            run(t)
        except BaseException as exc:
            import traceback; traceback.print_exc()
            failed.append(exc)

    ts = [threading.Thread(target=guarded, args=(t,)) for t in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
    store.close()
    sys.exit(1 if failed else 0)
""")


def _spawn(url: str, worker: str, threads: int, per_thread: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, url, worker, str(threads),
                             str(per_thread)], stdout=subprocess.PIPE, text=True)


def _acks(out: str) -> list[tuple[str, str, float]]:
    return [(p[1], p[2], float(p[3])) for p in (line.split() for line in out.splitlines())
            if p and p[0] == "ACK"]


@pytest.fixture
def url(postgres_url: str) -> str:
    """A fresh schema (an empty store), initialized."""
    fresh = postgres_schema_url(postgres_url)
    store = open_store(fresh)
    store.init()
    store.close()
    return fresh


def _decision(arm: str = "a", *, subject: str = "u", t: float = 1.0) -> DecisionRecord:
    return DecisionRecord(id=secrets.token_urlsafe(16), experiment="e", generation=0, scope="",
                          arm=arm, propensity=0.5, arms=("a", "b"),
                          probabilities=np.array([0.5, 0.5]), policy="{}", subject=subject,
                          created_at=t)


def test_a_scan_of_fields_pages_through_a_log_with_tied_times(url: str) -> None:
    """``iter_fields`` reads keyset pages; rows with one ``created_at`` across a page
    boundary are neither repeated nor skipped (the key is ``(created_at, id)``)."""
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    made = [_decision("ab"[i % 2], t=float(i // 3)) for i in range(11)]
    for d in made:
        store.record_decision(d)
    store.scan_page = 2
    got = [row[0] for row in store.iter_fields("e", ("id", "arm"), generation=0)]
    assert got == [r.id for r in store.iter_decisions("e", generation=0)]
    assert sorted(got) == sorted(d.id for d in made)
    store.close()


# --- several processes, SIGKILL, a restarting server ---------------------------------------------
def test_processes_and_threads_on_one_database_lose_nothing(url: str) -> None:
    procs = [_spawn(url, f"p{i}", threads=8, per_thread=25) for i in range(2)]
    acks: list[tuple[str, str, float]] = []
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0
        acks += _acks(out)
    assert len(acks) == 2 * 8 * 25
    store = open_store(url)
    table = store.read_stats("e", 0, "", ("a", "b", "c"))
    for i, arm in enumerate(("a", "b", "c")):
        assert table.n[i] == sum(1 for _, a, _ in acks if a == arm)
        assert table.total[i] == sum(v for _, a, v in acks if a == arm)
    assert table.pulls.sum() == len(acks)
    assert_stats_equal_fold(store, "e", 0, ("a", "b", "c"))
    store.close()


def test_sigkill_of_a_writer_mid_load_loses_no_acknowledged_write(url: str) -> None:
    proc = _spawn(url, "victim", threads=4, per_thread=100_000)
    acked: list[tuple[str, float]] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while len(acked) < 200 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ACK"):
            _, did, _, value = line.split()
            acked.append((did, float(value)))
    os.kill(proc.pid, signal.SIGKILL)  # mid-statement, no chance to clean up
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 200
    store = open_store(url)
    for did, value in acked:
        record = store.get_decision(did)
        assert record is not None, "an acknowledged decision is missing"
        assert record.reward == value, "an acknowledged reward is missing"
    assert_stats_equal_fold(store, "e", 0, ("a", "b", "c"))
    store.close()


@pytest.mark.slow
def test_a_server_restart_mid_load_loses_nothing_acknowledged(
        postgres_server: PostgresServer) -> None:
    """Two writer processes × 4 threads; the (session's) server is stopped like a crash
    (``immediate``: no checkpoint, recovery from the WAL) and started again while they
    write. The writers reconnect and carry on; none of them sees an error, nothing
    acknowledged is missing and the statistics are the fold of the log."""
    server = postgres_server
    try:
        url = postgres_schema_url(server.url, retry_seconds=60)
        store = open_store(url)
        store.init()
        store.close()
        procs = [_spawn(url, f"p{i}", threads=4, per_thread=60) for i in range(2)]
        first = procs[0].stdout
        assert first is not None
        before: list[str] = []
        while len(before) < 40:  # mid-load: the first writer has acknowledged some already
            line = first.readline()
            assert line, "the writer died before the restart"
            if line.startswith("ACK"):
                before.append(line)
        server.stop("immediate", delete=False)
        time.sleep(0.5)  # down for a moment: the writers retry into a closed port
        server.start()
        acks = _acks("".join(before))
        for p in procs:
            acks += _acks(rest_of_output(p, timeout=240)[0])
        assert [p.returncode for p in procs] == [0, 0]  # no writer saw an error
        assert len(acks) == 2 * 4 * 60
        store = open_store(url)
        for did, _, value in acks:
            record = store.get_decision(did)
            assert record is not None and record.reward == value
        table = store.read_stats("e", 0, "", ("a", "b", "c"))
        assert table.pulls.sum() == table.n.sum() == 2 * 4 * 60  # every write exactly once
        assert_stats_equal_fold(store, "e", 0, ("a", "b", "c"))
        store.close()
    finally:
        if not (server.data / "postmaster.pid").exists():  # leave it running for the others
            server.start()


# --- a reply lost after the commit ---------------------------------------------------------------
class CuttingProxy:
    """A TCP proxy in front of the server that can drop the server's next reply and close
    the client's connection: the statement ran and committed, the client never hears so."""

    def __init__(self, port: int) -> None:
        self.upstream = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.cuts = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while data := src.recv(65536):
                if replies and self.armed.is_set():
                    self.armed.clear()
                    self.cuts += 1
                    raise OSError("cut")  # the reply is dropped here
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()


@pytest.fixture
def cut(postgres_url: str, url: str) -> Iterator[tuple[CuttingProxy, PostgresStore]]:
    """A store that talks to the server through a :class:`CuttingProxy` (one connection, no
    listener, so the next reply on the wire is the answer to the next write)."""
    port = int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    proxy = CuttingProxy(port)
    schema = url.split("schema=")[1]
    store = PostgresStore(f"postgresql://banditbot@127.0.0.1:{proxy.port}/postgres",
                          schema=schema, pool_min=1, pool_max=1, listen=False)
    store.read_counters("warm-up")  # the pool's connection is open and idle
    yield proxy, store
    store.close()
    proxy.close()


def test_a_reward_whose_reply_was_lost_is_applied_once_and_says_applied(
        cut: tuple[CuttingProxy, PostgresStore]) -> None:
    proxy, store = cut
    d = _decision(arm="b")
    proxy.armed.set()
    store.record_decision(d)  # committed, reply lost, retried: recognized, not "exists"
    assert proxy.cuts == 1
    proxy.armed.set()
    assert store.apply_reward(d.id, 1.0, 2.0, {"x": 1.0}) is ApplyResult.APPLIED
    assert proxy.cuts == 2
    assert store.apply_reward(d.id, 1.0, 3.0) is ApplyResult.DUPLICATE  # another caller
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.pulls.tolist() == [0, 1] and table.n.tolist() == [0, 1]
    assert table.extra["b"] == {"x": 1.0}
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))


def test_a_keyed_decision_whose_reply_was_lost_is_ours_and_logged_once(
        cut: tuple[CuttingProxy, PostgresStore]) -> None:
    """The retry finds the key holding its own decision (not another writer's), and
    neither the decision nor its pull is written twice."""
    proxy, store = cut
    d = _decision(arm="b")
    proxy.armed.set()
    kept = store.record_keyed_decision(d, "key", "request", 3600.0)
    assert proxy.cuts == 1 and kept.decision_id == d.id
    assert store.record_keyed_decision(_decision(arm="a"), "key", "request", 3600.0) == kept
    assert [r.id for r in store.iter_decisions("e")] == [d.id]
    assert store.read_stats("e", 0, "", ("a", "b")).pulls.tolist() == [0, 1]


def test_other_writes_whose_reply_was_lost_count_once(
        cut: tuple[CuttingProxy, PostgresStore]) -> None:
    proxy, store = cut
    proxy.armed.set()
    assert store.claim_key("update:1", 60)  # our claim, though the first reply was lost
    assert not store.claim_key("update:1", 60)
    proxy.armed.set()
    assert store.write_document("keys", "[]", 0)
    assert store.read_document("keys") == ("[]", 1)
    proxy.armed.set()
    store.add_counters("subject:e:u", {"n": 1.0, "total": 0.5})
    assert store.read_counters("subject:e:u") == {"n": 1.0, "total": 0.5}
    proxy.armed.set()
    assert store.write_meta("e", ExperimentMeta(generation=1))
    assert store.read_meta("e").version == 1
    assert proxy.cuts == 4


def test_a_group_whose_reply_was_lost_is_retried_whole_and_counts_once(
        cut: tuple[CuttingProxy, PostgresStore]) -> None:
    """Concurrent rewards share one pipelined transaction; the connection is cut at the first
    reply (committed or not, the client cannot tell). The group is sent again; each reward
    says applied and is counted once."""
    proxy, store = cut
    decisions = [_decision(arm="ab"[i % 2]) for i in range(12)]
    for d in decisions:
        store.record_decision(d)
    barrier = threading.Barrier(len(decisions))

    def reward(d: DecisionRecord) -> ApplyResult:
        barrier.wait()
        return store.apply_reward(d.id, 1.0, 2.0, known=d)

    proxy.armed.set()
    with ThreadPoolExecutor(len(decisions)) as pool:
        results = list(pool.map(reward, decisions))
    assert proxy.cuts == 1
    assert results == [ApplyResult.APPLIED] * len(decisions)
    assert store.commits < store.writes  # some of them did share a commit
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.n.tolist() == [6, 6] and table.total.tolist() == [6, 6]
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))


def test_a_batch_whose_commit_reply_was_lost_stands(
        cut: tuple[CuttingProxy, PostgresStore]) -> None:
    proxy, store = cut
    kept = _decision()
    store.record_decision(kept)
    fresh = [_decision(arm="b") for _ in range(3)]
    with store.batch():
        for d in fresh:
            store.record_decision(d)
        assert store.apply_reward(kept.id, 1.0, 2.0) is ApplyResult.APPLIED
        proxy.armed.set()  # the next reply is COMMIT's
    assert proxy.cuts == 1
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.pulls.tolist() == [1, 3] and table.n.tolist() == [1, 0]
    assert store.apply_reward(kept.id, 1.0, 3.0) is ApplyResult.DUPLICATE


def test_a_failed_batch_writes_nothing(url: str) -> None:
    store = open_store(url)
    kept = _decision()
    store.record_decision(kept)

    def crash_inside_a_batch() -> None:
        with store.batch():
            store.record_decision(_decision(arm="b"))
            assert store.apply_reward(kept.id, 1.0, 5.0) is ApplyResult.APPLIED
            raise RuntimeError("the server died before the commit")

    with pytest.raises(RuntimeError):
        crash_inside_a_batch()
    assert [d.id for d in store.iter_decisions("e")] == [kept.id]
    assert store.read_stats("e", 0, "", ("a", "b")).n.tolist() == [0, 0]
    assert store.apply_reward(kept.id, 1.0, 6.0) is ApplyResult.APPLIED
    store.close()


def test_a_refused_manual_import_inside_a_batch_leaves_the_rest_of_the_batch(url: str) -> None:
    """A manual import is all or nothing, also inside a batch (a savepoint): an import that
    repeats an id writes none of its records, and the batch's other writes still commit."""
    store = open_store(url)
    first = _decision()._replace(reward=1.0, rewarded_at=1.0, kind="manual")
    fresh = _decision(arm="b")._replace(reward=0.0, rewarded_at=1.0, kind="manual")
    with store.batch():
        store.record_manual([first])
        with pytest.raises(StoreError):
            store.record_manual([fresh, first])  # `first` exists: nothing of this one
        store.record_decision(_decision(arm="b"))
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.pulls.tolist() == [1, 1] and table.n.tolist() == [1, 0]
    assert store.get_decision(fresh.id) is None
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))
    store.close()


def test_one_bad_write_in_a_group_fails_only_its_caller(url: str) -> None:
    """Concurrent writes share a commit; a write the database refuses (a NUL character) is
    retried alone and fails alone; a duplicate id fails alone without aborting the group."""
    store = open_store(url)
    existing = _decision()
    store.record_decision(existing)
    barrier = threading.Barrier(8)

    def write(i: int) -> str:
        barrier.wait()
        try:
            if i == 0:
                store.record_decision(_decision(subject="bad\x00subject"))
            elif i == 1:
                store.record_decision(existing)
            else:
                store.record_decision(_decision(subject=f"s{i}"))
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(write, range(8)))
    assert outcomes[0] == "PayloadError" and outcomes[1] == "StoreError"
    assert outcomes[2:] == ["ok"] * 6
    assert store.read_stats("e", 0, "", ("a", "b")).pulls.tolist() == [7, 0]
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))
    store.close()


# --- sticky assignment: two concurrent first requests --------------------------------------------
def test_two_hosts_writing_the_first_sticky_arm_at_once_one_wins(url: str) -> None:
    hosts = [open_store(url), open_store(url)]
    for _ in range(10):
        name = f"sticky:e:0:{secrets.token_hex(4)}"
        barrier = threading.Barrier(8)

        def first(i: int, name: str = name, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            return hosts[i % 2].write_document(name, f'{{"arm": "a{i}"}}', 0)

        with ThreadPoolExecutor(8) as pool:
            won = list(pool.map(first, range(8)))
        assert won.count(True) == 1
        text, version = hosts[1].read_document(name)
        assert version == 1 and text == f'{{"arm": "a{won.index(True)}"}}'
    for h in hosts:
        h.close()


# --- meta changes reach every host ---------------------------------------------------------------
def test_a_reset_on_one_host_is_seen_by_another_within_milliseconds(url: str) -> None:
    here, there = open_store(url), open_store(url)
    assert there.read_meta("e").generation == 0
    deadline = time.monotonic() + 5
    while not there._listening():  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    cached = there.read_meta("e")
    assert there.read_meta("e") is cached  # served from the cache now
    assert here.write_meta("e", ExperimentMeta(generation=1, version=cached.version))
    changed = time.monotonic()
    while there.read_meta("e").generation != 1:
        assert time.monotonic() - changed < 1.0, "the other host still sees generation 0"
        time.sleep(0.001)
    here.close()
    there.close()


def test_without_listen_every_read_goes_to_the_database(url: str) -> None:
    here, there = open_store(url), open_store(url + "&listen=false")
    assert there.read_meta("e").generation == 0
    assert here.write_meta("e", ExperimentMeta(generation=4))
    assert there.read_meta("e").generation == 4
    here.close()
    there.close()


def test_decide_is_a_read_and_an_insert_and_reward_is_one_statement(postgres_url: str,
                                                                     url: str) -> None:
    """Round trips on the server path: counted by PostgreSQL itself."""
    import psycopg

    from banditbot import BanditService, parse_config

    from ..conftest import CONFIG

    svc = BanditService(parse_config(CONFIG), open_store(url), rng=np.random.default_rng(1))
    d = svc.decide("ts", "u")
    svc.reward(d.id, 1, "u")
    while not svc.store._listening():  # type: ignore[attr-defined]
        time.sleep(0.01)
    svc.store.read_meta("ts")  # cached from now on
    cycles = 20
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        admin.execute("SELECT pg_stat_statements_reset()")
        for _ in range(cycles):
            d = svc.decide("ts", "u")
            assert svc.reward(d.id, 1, "u").applied
        rows = admin.execute(
            "SELECT query, calls FROM pg_stat_statements WHERE toplevel "
            "AND query NOT LIKE '%pg_stat_statements%' AND query <> 'SELECT $1'").fetchall()
    svc.store.close()
    calls = {q.split()[0] + " " + q.split()[1]: c for q, c in rows}
    # autocommit statements: each is one round trip and (for writes) one commit
    assert sum(calls.values()) == 3 * cycles, rows  # read stats, log decision, set reward


# --- schema versions, URLs, secrets --------------------------------------------------------------
def test_init_is_idempotent_records_the_version_and_refuses_a_newer_schema(
        postgres_url: str) -> None:
    import psycopg

    fresh = postgres_schema_url(postgres_url)
    store = PostgresStore(fresh)
    assert store.schema_version() == 0
    with ThreadPoolExecutor(4) as pool:  # several hosts starting at once
        list(pool.map(lambda _: PostgresStore(fresh).init(), range(4)))
    store.init()
    assert store.schema_version() == SCHEMA_VERSION
    schema = store.schema
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"INSERT INTO {schema}.schema_version (version) VALUES (%s)",
                      (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError) as err:
        PostgresStore(fresh).init()
    assert "upgrade banditbot" in str(err.value)
    # a reader too (`banditbot report` read a newer schema without a word, a walkthrough
    # found), at its first read
    reader = PostgresStore(fresh)
    with pytest.raises(StoreError, match="newer than this banditbot"):
        reader.read_meta("e")
    reader.close()
    store.close()


def test_a_new_migration_is_applied_once_on_top_of_the_old_schema(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a release with a schema change does: the database at version 1 (with data) gets
    the next version applied by the first init(), and the data is still there."""
    import psycopg

    from banditbot.stores import _postgres

    store = PostgresStore(url)
    store.record_decision(_decision())
    store.close()
    monkeypatch.setattr(_postgres, "_MIGRATIONS", (*_postgres._MIGRATIONS,
                                                   "ALTER TABLE decisions ADD COLUMN note text"))
    monkeypatch.setattr(_postgres, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    upgraded = PostgresStore(url)
    upgraded.init()
    upgraded.init()
    assert upgraded.schema_version() == SCHEMA_VERSION + 1
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        rows = conn.execute("SELECT count(note), count(*) FROM " + upgraded.schema
                            + ".decisions").fetchone()
        versions = conn.execute("SELECT version FROM " + upgraded.schema
                                + ".schema_version ORDER BY version").fetchall()
    assert rows == (0, 1) and [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 2))
    assert upgraded.read_stats("e", 0, "", ("a",)).pulls.tolist() == [1]
    upgraded.close()


def test_libpq_environment_fills_what_the_url_omits(postgres_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
    monkeypatch.setenv("PGHOST", host_port.split(":")[0])
    monkeypatch.setenv("PGPORT", host_port.split(":")[1])
    monkeypatch.setenv("PGUSER", "banditbot")
    monkeypatch.setenv("PGDATABASE", "postgres")
    store = open_store(postgres_schema_url("postgresql://"))
    store.init()
    store.record_decision(_decision())
    assert store.read_stats("e", 0, "", ("a",)).pulls.tolist() == [1]
    store.close()


def test_the_password_never_shows(postgres_url: str) -> None:
    host_port = postgres_url.split("@", 1)[1].split("/", 1)[0]
    url = f"postgresql://banditbot:Sup3r-s3cret@{host_port.split(':')[0]}:1/postgres" \
          "?retry_seconds=0.2&connect_timeout=1"
    store = open_store(url)
    assert "Sup3r-s3cret" not in store.url and ":***@" in store.url
    with pytest.raises(StoreError) as err:
        store.init()
    with pytest.raises(StoreError) as err2:
        store.read_stats("e", 0, "", ("a",))
    for e in (err.value, err2.value):
        assert "Sup3r-s3cret" not in str(e)
    store.close()
    with pytest.raises(ConfigError) as bad:
        open_store("postgresql://u:Sup3r-s3cret@h/db?pool_max=lots")
    assert "Sup3r-s3cret" not in str(bad.value)
    # a trial: a password with '/' and '#' unencoded cut the URL inside it: part of it was
    # resolved as the host and shown; now refused at once, nothing of it shown, with how to
    # encode it
    with pytest.raises(ConfigError) as cut:
        open_store("postgresql://weird:p@ss/w:rd#1%@127.0.0.1:55433/bandits")
    said = f"{cut.value} {cut.value.hint}"
    assert "ss" not in said.replace("percent", "").replace("password", "") and "rd#1" not in said
    assert "%40" in said and "%2F" in said
    # another trial: a raw '?' made the rest of the password a "query parameter", quoted
    # in psycopg's error ('invalid URI query parameter: "ret9@127.0.0.1…"')
    for url in ("postgresql://weird:Sec?ret9@127.0.0.1:55433/bandits",
                "postgresql://weird:abc?sslmode=disable&x9Zq@127.0.0.1:55433/bandits"):
        with pytest.raises(ConfigError) as cut:
            open_store(url)
        said = f"{cut.value} {cut.value.hint}"
        assert "ret9" not in said and "x9Zq" not in said and "%3F" in said
    with pytest.raises(ConfigError, match="needs '//' after 'postgresql:'") as slash:
        open_store("postgresql:/weird:Sup3r-s3cret@127.0.0.1:55433/bandits")
    assert "Sup3r" not in f"{slash.value} {slash.value.hint}"
    # a one-letter password is masked as a word, not inside every word that holds its letter
    short = open_store(f"postgresql://banditbot:p@{host_port.split(':')[0]}:1/postgres"
                       "?retry_seconds=0.2&connect_timeout=1")
    with pytest.raises(StoreError) as err3:
        short.read_stats("e", 0, "", ("a",))
    said = f"{err3.value} {err3.value.hint}"
    assert not re.search(r"\w\*\*\*|\*\*\*\w", said), said  # ("***ort" for "port")
    short.close()


def test_a_server_that_is_down_is_named_in_one_line(postgres_url: str) -> None:
    """A walkthrough found a read against a stopped server ended with the pool's "couldn't
    get a connection after 15.00 sec" (the cause lost), and server errors ran over several
    lines (LINE 1: …, a caret). A read now says what the connection attempt met, on one
    line; a query error is its first line."""
    host = postgres_url.split("@", 1)[1].split("/", 1)[0].split(":")[0]
    store = open_store(f"postgresql://banditbot:pw@{host}:1/postgres?retry_seconds=0.5")
    with pytest.raises(StoreError) as err:
        store.read_stats("e", 0, "", ("a",))
    text = f"{err.value.message} {err.value.hint}"
    assert "refused" in text.lower() and "\n" not in err.value.message, text
    assert "couldn't get a connection" not in text
    store.close()
    fresh = open_store(postgres_schema_url(postgres_url))  # no tables yet: no init-db
    with pytest.raises(StoreError) as missing:
        fresh.read_meta("e")
    assert "\n" not in missing.value.message and "init-db" in (missing.value.hint or "")
    fresh.close()


def test_readiness_says_503_within_seconds_while_the_store_retries() -> None:
    """A walkthrough found /readyz took 15 s to say 503 with the database down (the store
    retries for retry_seconds): a balancer's probe saw a timeout. Against a server that
    takes connections and never answers, the probe answers 503 in about 3 s."""
    import asyncio

    import httpx

    from banditbot import BanditService, parse_config
    from banditbot.api import create_app

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts, never speaks
    port = silent.getsockname()[1]
    store = open_store(f"postgresql://u:pw@127.0.0.1:{port}/db?retry_seconds=20"
                       "&connect_timeout=20")
    service = BanditService(parse_config({"experiments": [{
        "id": "e", "arms": [{"id": "a", "content": "a"}]}]}), store)
    app = create_app(service)

    async def probe() -> tuple[int, str, float]:
        transport = httpx.ASGITransport(app=app)  # no lifespan: no warm-up read
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            start = time.monotonic()
            response = await client.get("/readyz")
            return response.status_code, response.json()["detail"], time.monotonic() - start

    try:
        status, detail, took = asyncio.run(probe())
    finally:
        silent.close()
        store.close()
    assert status == 503 and detail == "the store did not answer; retry in a moment"
    assert took < 10, took


@pytest.mark.parametrize("url", ["postgresql://h/db?schema=Bad-Name",
                                 "postgresql://h/db?pool_max=0",
                                 "postgresql://h/db?listen=maybe",
                                 "postgresql://h/db?retry_seconds=-1",
                                 "postgresql://h/db?retry_seconds=0",
                                 "postgresql://h/db?retry_seconds=nan",
                                 "postgresql://h/db?retry_seconds=inf"])
def test_bad_postgres_urls_say_what_works(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        open_store(url)
    assert err.value.hint


def test_urls_open_the_postgres_store() -> None:
    for url in ("postgresql://u@h/db", "postgres://u:p@h:5433/db?sslmode=require&schema=x"):
        store: Any = open_store(url)
        assert isinstance(store, PostgresStore)
    assert store.url == "postgres://u:***@h:5433/db?sslmode=require&schema=x"
    assert store.schema == "x"


def test_without_psycopg_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from banditbot import MissingDependencyError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("psycopg") else real(name, *a))
    store = open_store("postgresql://u@127.0.0.1:1/db")  # opening connects to nothing
    for call in (store.init, lambda: store.read_meta("e"),
                 lambda: store.record_decision(_decision())):
        with pytest.raises(MissingDependencyError) as err:
            call()
        assert "banditbot[postgres]" in str(err.value)


def test_a_database_without_the_schema_says_to_run_init_db(postgres_url: str) -> None:
    store = open_store(postgres_schema_url(postgres_url))  # never initialized
    with pytest.raises(StoreError) as err:
        store.read_stats("e", 0, "", ("a",))
    assert "banditbot init-db" in str(err.value.hint)
    store.close()


def test_a_database_of_the_first_schema_is_upgraded_with_its_data(postgres_url: str) -> None:
    """A database at schema version 1 (before allocation periods) with a rewarded and an
    open decision in it: init() brings it to the current version, the data stays, the open
    decision is rewarded once, and decisions get allocation periods."""
    import psycopg

    from banditbot import BanditService, parse_config
    from banditbot.stores import _postgres

    fresh = postgres_schema_url(postgres_url)
    schema = fresh.split("schema=")[1]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        conn.execute(_postgres._MIGRATIONS[0].encode())
        conn.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        for i, (decision_id, reward) in enumerate([("d-rewarded-0123456789", 1.0),
                                                   ("d-open-0123456789abcd", None)]):
            conn.execute(
                "INSERT INTO decisions (id, experiment, generation, scope, arm, propensity, "
                "arms, probabilities, policy, subject, kind, created_at, reward, weight) "
                "VALUES (%s, 'seed', 0, '', 'arm1', 0.5, %s, %s, '{}', 'alice', 'policy', %s, "
                "%s, 1)", (decision_id, "arm1\narm2", np.array([0.5, 0.5]).tobytes(),
                           100.0 + i, reward))
        conn.execute("INSERT INTO arm_stats (experiment, generation, scope, arm, shard, pulls, "
                     "n, total, total_sq) VALUES ('seed', 0, '', 'arm1', 0, 2, 1, 1, 1)")
    store = PostgresStore(fresh)
    assert store.schema_version() == 1
    store.init()
    assert store.schema_version() == SCHEMA_VERSION
    config = parse_config({"experiments": [{
        "id": "seed", "arms": [{"id": "arm1", "content": "1"}, {"id": "arm2", "content": "2"}],
        "burn_in": 0, "update": "2 rewards"}]})
    service = BanditService(config, store, rng=np.random.default_rng(1))
    assert service.reward("d-open-0123456789abcd", 0, "alice").applied
    assert not service.reward("d-open-0123456789abcd", 0, "alice").applied
    table = store.read_stats("seed", 0, "", ("arm1", "arm2"))
    assert (table.pulls[0], table.n[0], table.total[0]) == (2, 2, 1)
    d = service.decide("seed", "bob")
    assert store.get_decision(d.id).allocation_id is not None  # type: ignore[union-attr]
    keyed = service.decide("seed", "carol", idempotency_key="k")  # (version 3: the keys)
    assert service.decide("seed", "carol", idempotency_key="k").id == keyed.id
    store.close()


def test_a_mistake_in_the_url_is_refused_at_once_in_the_servers_words(
        postgres_url: str) -> None:
    """No such database, or an option libpq does not know: the server's own message, not
    "couldn't get a connection after 30 s (unreachable or restarting, retry)" after the
    pool's retries (a read waited them out before saying so)."""
    base, _, _ = postgres_url.rpartition("/")
    missing = open_store(f"{base}/no_such_db?retry_seconds=30")
    with pytest.raises(StoreError) as err:
        missing.read_meta("e")
    assert 'database "no_such_db" does not exist' in str(err.value)
    assert "couldn't get a connection" not in str(err.value)
    missing.close()
    bogus = open_store(postgres_schema_url(postgres_url, sslmode="bogus", retry_seconds=30))
    with pytest.raises(StoreError) as err:
        bogus.read_meta("e")
    assert "sslmode" in str(err.value) and "couldn't get a connection" not in str(err.value)
    bogus.close()


def test_a_cli_command_on_postgres_ends_cleanly(postgres_url: str) -> None:
    """A command's pool is closed when it ends: nothing on stderr (a pool left to its
    finalizer at exit could print "Exception ignored in … ConnectionPool.__del__")."""
    url = postgres_schema_url(postgres_url)
    for argv in (["init-db"], ["decide", "greeting", "--subject", "u"],
                 ["report", "greeting"]):
        proc = subprocess.run([sys.executable, "-m", "banditbot", *argv, "--store", url,
                               *([] if argv == ["init-db"] else ["--config", str(EXAMPLES)])],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stderr == "", (argv, proc.stderr)


def _schema_and_role(postgres_url: str, prefix: str, *grants: str
                     ) -> tuple[str, str, str]:
    """A new banditbot schema set up by its owner and a login role ``PREFIX_SCHEMA`` with
    ``grants`` (SQL with ``{schema}`` and ``{role}``): ``(schema, role, the role's URL)``."""
    import psycopg

    url = postgres_schema_url(postgres_url)
    owner = open_store(url)
    owner.init()
    owner.close()
    schema = url.split("schema=", 1)[1].split("&", 1)[0]
    role = f"{prefix}_{schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        for grant in grants:
            conn.execute(grant.format(schema=schema, role=role))
    return schema, role, url.replace("postgresql://banditbot@", f"postgresql://{role}@")


def test_a_role_without_grants_is_told_to_grant_not_to_init(postgres_url: str) -> None:
    """A trial followed docs/postgres.md's owner and app roles and read as the app role
    before the grants: "the database has no banditbot schema … init-db"; init-db as the
    owner then said "store ready" while the app kept failing. The schema is there: the
    message says the role may not use it, and the hint gives the grants."""
    import psycopg

    schema, role, app_url = _schema_and_role(postgres_url, "app")
    for step in ("no usage", "no tables"):
        app = open_store(app_url)
        with pytest.raises(StoreError) as refused:
            app.read_meta("e")
        app.close()
        said = f"{refused.value.message} {refused.value.hint}"
        assert "may not use" in said and f"GRANT USAGE ON SCHEMA {schema}" in said, said
        assert "init-db" not in said, said
        if step == "no usage":
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} "
                     f"TO {role}")
    app = open_store(app_url)
    assert app.read_meta("e").generation == 0  # granted: it reads
    app.close()


def test_init_db_as_a_role_that_may_only_read_says_so(postgres_url: str) -> None:
    """A trial ran init-db as a read-only role (USAGE and SELECT): "store ready", exit 0;
    serve then refused it. init-db now says the role may not write, with the grants; a role
    with the grants docs/postgres.md gives passes."""
    import psycopg

    schema, role, ro_url = _schema_and_role(
        postgres_url, "ro", "GRANT USAGE ON SCHEMA {schema} TO {role}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    try:
        store = open_store(ro_url)
        with pytest.raises(StoreError) as refused:
            store.init()
        store.close()
        said = f"{refused.value.message} {refused.value.hint}"
        assert "may not write banditbot's tables" in said and "GRANT SELECT, INSERT" in said, \
            said
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "
                         f"{schema} TO {role}")
        store = open_store(ro_url)
        store.init()  # granted: ready
        store.close()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_its_connections_are_named_banditbot_in_pg_stat_activity(postgres_url: str) -> None:
    """An ops trial read a blank application_name for banditbot's connections in
    pg_stat_activity: they are named ``banditbot`` unless the URL names them."""
    import psycopg

    url = postgres_schema_url(postgres_url)
    for extra, name in (("", "banditbot"), ("&application_name=bandits-eu", "bandits-eu")):
        store = open_store(url + extra)
        try:
            store.init()
            store.read_meta("e")
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                names = {r[0] for r in conn.execute(
                    "SELECT application_name FROM pg_stat_activity WHERE pid <> "
                    "pg_backend_pid() AND datname = current_database()").fetchall()}
            assert name in names, names
        finally:
            store.close()
