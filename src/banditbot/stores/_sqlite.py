"""SQLite store: the embedded default. WAL, busy timeout, one transaction per operation.

Statistics change only by ``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n`` inside
the same ``BEGIN IMMEDIATE`` transaction that writes the decision or its reward, so
concurrent writers (threads or processes on one file) never lose an update, and a process
killed at any point leaves either the whole operation or none of it.

Checkpoints (copying the WAL back into the database file, with an fsync) run in a background
thread of each process, not in the request path: SQLite's automatic checkpoint runs inside
the commit that crosses the threshold, and on a busy server that one request then waits
milliseconds for the disk (it was 60% of the time of a decide+reward loop here). The
automatic checkpoint stays on, at a higher threshold, as a bound on the WAL should the thread
fall behind.

Reads on the decision path are cached per connection and checked with ``PRAGMA
data_version``, which changes exactly when another connection (thread or process) committed
since: a decide then costs that pragma and its one insert, not two queries. The connection's
own writes update the cache as they commit (a decision adds its pull; a reward whose decision
the caller passed adds its reward; anything else clears it), so the cache always equals what
a query would return.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import StoreError
from .._types import FloatArray
from ._base import (
    COMPACT_MIN_ARMS,
    INIT_DB_HINT,
    JITTER,
    RESOLVED_TAG,
    AdminRecord,
    AllocationRecord,
    ApplyResult,
    CountColumns,
    CountRows,
    DecisionRecord,
    ExperimentMeta,
    FieldDecoder,
    KeyedDecision,
    PeriodCounts,
    ResolvedVector,
    StatsTable,
    admin_filter,
    check_fields,
    compact_vector,
    encode_vector,
    is_posterior,
    split_vector,
    stored_propensity,
)

__all__ = ["SQLiteStore"]

_DEFAULT_META = ExperimentMeta()

#: Idempotency keys of decisions (schema version 3; also its migration).
_DECISION_KEYS = """
CREATE TABLE IF NOT EXISTS decision_keys (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, decision_id TEXT NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
-- the occasional cleanup deletes the expired keys alone, not a scan under the write lock
CREATE INDEX IF NOT EXISTS decision_keys_by_expiry ON decision_keys (expires);
"""
#: Arm lists stored once (schema version 4; also its migration): a decision among many arms
#: holds its list's number (see _RowEncoder)
_ARM_LISTS = """
CREATE TABLE IF NOT EXISTS arm_lists (id INTEGER PRIMARY KEY, arms TEXT NOT NULL UNIQUE);
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    experiment TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS arm_stats (
    experiment TEXT NOT NULL, generation INTEGER NOT NULL, scope TEXT NOT NULL,
    arm TEXT NOT NULL,
    pulls REAL NOT NULL DEFAULT 0, n REAL NOT NULL DEFAULT 0,
    total REAL NOT NULL DEFAULT 0, total_sq REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, generation, scope, arm)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS extra_stats (
    experiment TEXT NOT NULL, generation INTEGER NOT NULL, scope TEXT NOT NULL,
    arm TEXT NOT NULL, field TEXT NOT NULL, value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, generation, scope, arm, field)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL, generation INTEGER NOT NULL, scope TEXT NOT NULL,
    arm TEXT NOT NULL, propensity REAL NOT NULL,
    arms TEXT NOT NULL, probabilities BLOB NOT NULL,
    policy TEXT NOT NULL, subject TEXT NOT NULL, context TEXT,
    kind TEXT NOT NULL, created_at REAL NOT NULL,
    reward REAL, rewarded_at REAL, weight REAL NOT NULL DEFAULT 1,
    allocation_id TEXT
);
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (experiment, created_at, id);
CREATE TABLE IF NOT EXISTS allocations (
    id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL, generation INTEGER NOT NULL, scope TEXT NOT NULL,
    period INTEGER NOT NULL, doc TEXT NOT NULL, created_at REAL NOT NULL,
    rewards REAL NOT NULL DEFAULT 0,
    UNIQUE (experiment, generation, scope, period)
);
-- the statistics are the fold of the log, kept by the database itself: logging a decision
-- adds a pull (and its reward, for history rows), setting a reward adds it, in the same
-- statement -- so one INSERT or UPDATE is the whole atomic unit
CREATE TRIGGER IF NOT EXISTS decisions_fold_insert AFTER INSERT ON decisions BEGIN
    INSERT INTO arm_stats (experiment, generation, scope, arm, pulls, n, total, total_sq)
    VALUES (NEW.experiment, NEW.generation, NEW.scope, NEW.arm, 1,
            iif(NEW.reward IS NULL, 0, NEW.weight),
            coalesce(NEW.weight * NEW.reward, 0),
            coalesce(NEW.weight * NEW.reward * NEW.reward, 0))
    ON CONFLICT DO UPDATE SET pulls = pulls + excluded.pulls, n = n + excluded.n,
        total = total + excluded.total, total_sq = total_sq + excluded.total_sq;
END;
CREATE TRIGGER IF NOT EXISTS decisions_fold_reward AFTER UPDATE OF reward ON decisions
WHEN OLD.reward IS NULL AND NEW.reward IS NOT NULL BEGIN
    INSERT INTO arm_stats (experiment, generation, scope, arm, pulls, n, total, total_sq)
    VALUES (NEW.experiment, NEW.generation, NEW.scope, NEW.arm, 0, NEW.weight,
            NEW.weight * NEW.reward, NEW.weight * NEW.reward * NEW.reward)
    ON CONFLICT DO UPDATE SET n = n + excluded.n, total = total + excluded.total,
        total_sq = total_sq + excluded.total_sq;
    UPDATE allocations SET rewards = rewards + NEW.weight WHERE id = NEW.allocation_id;
END;
CREATE TABLE IF NOT EXISTS admin_log (
    at REAL NOT NULL, actor TEXT NOT NULL, experiment TEXT NOT NULL,
    action TEXT NOT NULL, details TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (
    name TEXT PRIMARY KEY, body TEXT NOT NULL, version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    key TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (key, name)
) WITHOUT ROWID;
""" + _DECISION_KEYS + _ARM_LISTS

#: Version of the schema above (``PRAGMA user_version``). 1: banditbot 0.1.0 (before
#: allocation periods; its databases have user_version 0); 2: allocation periods; 3:
#: idempotency keys of decisions; 4: arm lists stored once, compact vectors (an earlier
#: banditbot could not read the rows this one writes).
SCHEMA_VERSION = 4
_MIGRATIONS: dict[int, str] = {
    # 1 -> 2: decisions cite their allocation period; periods count their rewards
    1: """
ALTER TABLE decisions ADD COLUMN allocation_id TEXT;
DROP TRIGGER IF EXISTS decisions_fold_reward;
""",
    # 2 -> 3: an idempotency key stands for the decision its first request made
    2: _DECISION_KEYS,
    # 3 -> 4: many-arm decisions refer to their arm list (earlier rows keep theirs)
    3: _ARM_LISTS,
}

#: leaves the time buckets (``tb.*``) out of an extra_stats read
_NO_BUCKETS = " AND NOT (field >= 'tb.' AND field < 'tb/')"
_AROUND_BUCKETS = ("SELECT arm, field, value FROM extra_stats WHERE experiment = ? AND "
                   "generation = ? AND scope = ? AND arm IN ({marks}) AND field {cmp} ?")
_EXTRA_UPSERT = (
    "INSERT INTO extra_stats (experiment, generation, scope, arm, field, value) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = value + excluded.value"
)
_DECISION_INSERT = (
    "INSERT INTO decisions (id, experiment, generation, scope, arm, propensity, arms, "
    "probabilities, policy, subject, context, kind, created_at, reward, rewarded_at, weight, "
    "allocation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: a reward, once: the trigger adds it to the statistics in the same statement
_REWARD_UPDATE = ("UPDATE decisions SET reward = ?, rewarded_at = ? "
                  "WHERE id = ? AND reward IS NULL "
                  "RETURNING experiment, generation, scope, arm")
#: the same for a decision the caller knows: the row is checked against it in the statement
#: (its experiment, generation, scope and arm), and nothing is returned (a RETURNING clause
#: cost the reward's statement ~4 µs of 50: ``benchmarks/decide_reward.py``)
_KNOWN_REWARD_UPDATE = ("UPDATE decisions SET reward = ?, rewarded_at = ? "
                        "WHERE id = ? AND reward IS NULL AND experiment = ? AND generation = ? "
                        "AND scope = ? AND arm = ?")
_DECISION_COLUMNS = (
    "id, experiment, generation, scope, arm, propensity, arms, probabilities, policy, "
    "subject, context, kind, created_at, reward, rewarded_at, weight, allocation_id"
)


def _decision_from_row(row: Sequence[Any], arm_list: Callable[[bytes], tuple[str, ...]]
                       ) -> DecisionRecord:
    return _RowDecoder(arm_list)(row)


class _RowDecoder:
    """Decision rows to records, for a scan: arm lists, probability vectors and contexts
    repeat from row to row and are decoded once (records share them: the arrays are
    read-only views of immutable bytes, a record's context is a read-only ``Mapping``). The
    memo tables start over at :attr:`LIMIT` entries. ``arm_list`` reads an arm list stored
    once (:class:`_RowEncoder`) by its reference."""

    LIMIT = 4096
    __slots__ = ("arm_list", "arms", "contexts", "vectors")

    def __init__(self, arm_list: Callable[[bytes], tuple[str, ...]]) -> None:
        self.arm_list = arm_list
        self.arms: dict[str | bytes, tuple[str, ...]] = {}
        self.vectors: dict[bytes, FloatArray] = {}
        self.contexts: dict[str, dict[str, Any]] = {}

    def __call__(self, row: Sequence[Any]) -> DecisionRecord:
        arms = self.arms.get(row[6])
        if arms is None:
            if len(self.arms) >= self.LIMIT:
                self.arms.clear()
            arms = self.arms[row[6]] = self.arm_list(row[6]) if type(row[6]) is bytes \
                else tuple(row[6].split("\n"))
        blob = row[7]
        propensity, posterior = row[5], None
        if is_posterior(blob):  # a deferred decision: its posterior (and vector, once known)
            vector, propensity, posterior = split_vector(blob, row[5])
        else:
            known = self.vectors.get(blob)
            if known is None:
                if len(self.vectors) >= self.LIMIT:
                    self.vectors.clear()
                known = self.vectors[blob] = split_vector(blob, 0.0)[0]
            vector = known
        context = None
        if row[10]:
            context = self.contexts.get(row[10])
            if context is None:
                if len(self.contexts) >= self.LIMIT:
                    self.contexts.clear()
                context = self.contexts[row[10]] = json.loads(row[10])
        return _new_record(DecisionRecord, row[0], row[1], row[2], row[3], row[4],
                           propensity, arms, vector, row[8], row[9], row[12], context,
                           row[11], row[13], row[14], row[15], row[16], posterior)


class _RowEncoder:
    """Decision records to the rows :data:`_DECISION_INSERT` writes. A decision among many
    arms (:data:`~banditbot.stores._base.COMPACT_MIN_ARMS` or more) does not repeat its arm
    list: the list is stored once in ``arm_lists`` and the row holds its number (8 bytes, a
    BLOB in the ``arms`` column, where a list written out is TEXT), and its vector is
    stored compactly when it has few distinct values (:func:`~banditbot.stores._base.
    compact_vector`: ε-greedy's or UCB's, 400 bytes at 50 arms, become ~70). Rows shrink
    (a 50-arm log is a fraction of the file) and so does each decision's commit. Both
    encodings are remembered: a decision repeats its experiment's arm list, and its
    vector as long as the leader stays. A list's reference found or stored inside a
    transaction is remembered only once the outermost transaction commits (:meth:`committed`;
    a rollback, of a savepoint too, forgets it: :meth:`undone`): its row could go with it,
    and the number be given to another list."""

    LIMIT = 1024
    __slots__ = ("lists", "pending", "vectors")

    def __init__(self) -> None:
        #: arm list -> its reference, once the row that holds it is committed
        self.lists: dict[tuple[str, ...], bytes] = {}
        #: per thread (its connection): the references met in its open transaction
        self.pending = threading.local()
        #: a vector's plain bytes -> its stored bytes
        self.vectors: dict[bytes, bytes] = {}

    def committed(self) -> None:
        """The outermost transaction of this thread committed: remember its references."""
        met: dict[tuple[str, ...], bytes] | None = getattr(self.pending, "lists", None)
        if met:
            if len(self.lists) + len(met) > self.LIMIT:
                self.lists.clear()
            self.lists.update(met)
            met.clear()

    def undone(self) -> None:
        """A rollback in this thread (or a new transaction): forget what it met."""
        met: dict[tuple[str, ...], bytes] | None = getattr(self.pending, "lists", None)
        if met:
            met.clear()

    def __call__(self, d: DecisionRecord, conn: sqlite3.Connection,
                 timeout: float) -> tuple[Any, ...]:
        arms: str | bytes
        if len(d.arms) < COMPACT_MIN_ARMS:
            arms, vector = "\n".join(d.arms), encode_vector(d)
        else:
            arms = self.lists.get(d.arms) or self._list(d.arms, conn, timeout)
            vector = self._vector(d) if d.posterior is None else encode_vector(d)
        return (d.id, d.experiment, d.generation, d.scope, d.arm, stored_propensity(d), arms,
                vector, d.policy, d.subject,
                json.dumps(d.context, separators=(",", ":")) if d.context else None,
                d.kind, d.created_at, d.reward, d.rewarded_at, d.weight, d.allocation_id)

    def _vector(self, d: DecisionRecord) -> bytes:
        plain = np.asarray(d.probabilities, dtype="<f8").tobytes()
        stored = self.vectors.get(plain)
        if stored is None:
            if len(self.vectors) >= self.LIMIT:
                self.vectors.clear()
            stored = self.vectors[plain] = compact_vector(d.probabilities) or plain
        return stored

    def _list(self, arms: tuple[str, ...], conn: sqlite3.Connection, timeout: float) -> bytes:
        """The reference of an arm list, stored first if it is new (by whichever process
        gets there first); see the class's note on transactions."""
        inside = conn.in_transaction
        met: dict[tuple[str, ...], bytes] | None = getattr(self.pending, "lists", None)
        if inside and met and arms in met:
            return met[arms]
        text = "\n".join(arms)
        found = conn.execute("SELECT id FROM arm_lists WHERE arms = ?", (text,)).fetchone()
        if found is None:
            _locked_retry(lambda: conn.execute(
                "INSERT INTO arm_lists (arms) VALUES (?) ON CONFLICT (arms) DO NOTHING",
                (text,)), timeout)
            found = conn.execute("SELECT id FROM arm_lists WHERE arms = ?", (text,)).fetchone()
        ref = int(found[0]).to_bytes(8, "little")
        if inside:
            if met is None:
                met = self.pending.lists = {}
            met[arms] = ref
        else:
            if len(self.lists) >= self.LIMIT:
                self.lists.clear()
            self.lists[arms] = ref
        return ref


_new_record = DecisionRecord.__new__  # positional: the field order of DecisionRecord


class SQLiteStore:
    """A :class:`~banditbot.stores.Store` on one SQLite file (WAL mode).

    Parameters
    ----------
    path
        Database file; created with its parent directory if missing.
    synchronous
        ``NORMAL`` (default; durable across process crashes) or ``FULL`` (also across power
        loss, slower).
    busy_timeout_ms
        How long a writer waits for the lock before failing.
    """

    #: The schema version this store writes (``PRAGMA user_version``; see ``init``).
    SCHEMA_VERSION = SCHEMA_VERSION

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL",
                 busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._pid = os.getpid()
        self._meta_cache: dict[str, tuple[str, ExperimentMeta]] = {}
        self._allocation_docs: dict[str, AllocationRecord] = {}
        self._checkpointer: _Checkpointer | None = None
        self._schema_ok = False  # set once the tables are seen at this version
        self._rows = _RowEncoder()
        self._arm_lists: dict[bytes, tuple[str, ...]] = {}  # (immutable rows)

    # --- connections --------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        """This thread's connection to a database with banditbot's tables at this version."""
        conn = self._connected()
        if not self._schema_ok:
            self._check_schema()
        return conn

    def _connected(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use), whatever the database holds."""
        if self._pid != os.getpid():  # forked: never share a connection with the parent
            self._local = threading.local()
            self._all = []
            self._pid = os.getpid()
            self._checkpointer = None  # the parent's thread does not exist here
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if not self.path.exists():  # it will hold secrets: the owner's alone (its
                    # -wal and -shm files take the database's mode)
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=self._busy_timeout_ms / 1000)
                # writers wait in _Transaction; reads never wait for a lock in WAL mode
                conn.execute("PRAGMA busy_timeout = 0")
                # the page size of a file with no page yet: WAL mode fixes it (SQLite ignores
                # it there, and on a database that has pages)
                conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
                # (turning a new file to WAL takes its lock a moment: processes that open it
                # at once wait for each other, as writers do, instead of failing)
                _locked_retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone(),
                              self._busy_timeout_ms / 1000)
                conn.execute(f"PRAGMA synchronous = {self._synchronous}")
                conn.execute(f"PRAGMA wal_autocheckpoint = {_AUTOCHECKPOINT_PAGES}")
                # a burst with readers holding snapshots grows the WAL past the checkpoint
                # threshold (83 MB in a trial); without a limit the file keeps that size
                conn.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT_BYTES}")
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(f"cannot open SQLite database {self.path}: {exc}",
                                 hint="check the path and its permissions") from exc
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
                if self._checkpointer is None:
                    self._checkpointer = _Checkpointer(self.path)
                    # stops with close(), or when the store is garbage-collected
                    weakref.finalize(self, self._checkpointer.stop)
                    self._checkpointer.start()
        return conn

    def _check_schema(self) -> None:
        """Refuse, with the command that mends it, a database without banditbot's tables at
        this version (instead of a bare "no such table" or "no such column" from the first
        query). Checked on every call until the tables are seen at this version (so another
        process's ``init`` is picked up), then no more: a database migrated later by a newer
        banditbot is not noticed by a store already open on it."""
        try:
            version = self.schema_version()
        except sqlite3.Error as exc:
            raise _error(exc) from exc
        if version == SCHEMA_VERSION:
            self._schema_ok = True
        elif version == 0:
            raise StoreError(f"{self.path} has no banditbot tables",
                             hint=f"{INIT_DB_HINT}, or call the store's init()")
        elif version < SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, older than this "
                             f"banditbot's ({SCHEMA_VERSION})",
                             hint="bring it up to date with: banditbot init-db (same store "
                                  "URL), or call the store's init()")
        else:
            raise self._newer(version)

    def _newer(self, version: int) -> StoreError:
        """The refusal of a database made by a newer banditbot (its tables may not read as
        this code expects)."""
        return StoreError(f"{self.path} has schema version {version}, newer than this "
                          f"banditbot's ({SCHEMA_VERSION})", hint="upgrade banditbot")

    def _write(self) -> _Transaction:
        return _Transaction(self._conn(), self._busy_timeout_ms / 1000, self._rows,
                            self._forget)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` … ``COMMIT`` around every write of this thread inside the
        block (group commit): one lock acquisition, one commit, and the pages the writes
        share are written to the WAL once. An exception rolls all of them back. A block
        inside another is a savepoint: an exception that leaves it undoes its writes only,
        so a caller that catches it can commit the others."""
        with self._write():
            yield

    def init(self) -> None:
        """Create the schema, or bring a database of an earlier version up to date (each
        migration in one transaction; idempotent)."""
        try:
            conn = self._connected()  # not _conn(): the schema is what this makes
            with _Transaction(conn, self._busy_timeout_ms / 1000) as tx:
                version = self.schema_version()
                if version > SCHEMA_VERSION:
                    raise self._newer(version)
                if version:  # a database of an earlier version: migrate it step by step
                    for step in range(version, SCHEMA_VERSION):
                        _run_script(tx, _MIGRATIONS[step])
                _run_script(tx, _SCHEMA)  # every statement is IF NOT EXISTS
                tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create the schema in {self.path}: {exc}") from exc

    def schema_version(self) -> int:
        """The database's schema version: 0 for an empty file, 1 for one made by banditbot
        0.1.0 (which did not set it), else ``PRAGMA user_version``."""
        conn = self._connected()
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version == 0 and conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'decisions'").fetchone():
            return 1
        return version

    def close(self) -> None:
        with self._all_lock:
            checkpointer, self._checkpointer = self._checkpointer, None
            for conn in self._all:
                conn.close()
            self._all.clear()
        if checkpointer is not None:
            checkpointer.stop()
            if checkpointer.ident != threading.get_ident():
                checkpointer.join()
        self._local = threading.local()

    # --- the read cache ---------------------------------------------------------------------
    def _cache(self, conn: sqlite3.Connection) -> _ReadCache:
        """This connection's read cache, emptied when another connection has committed."""
        cache: _ReadCache | None = getattr(self._local, "cache", None)
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if cache is None or cache.version != version or cache.conn is not conn:
            cache = self._local.cache = _ReadCache(conn, version)
        return cache

    def _after_meta(self, conn: sqlite3.Connection, after_meta: bool) -> _ReadCache:
        """The read cache for a read that follows this operation's meta read
        (``after_meta``: a decision): the cache that read checked, once (the meta and this
        read are one snapshot); else, or once used, the cache checked again."""
        cache: _ReadCache | None = getattr(self._local, "cache", None) if after_meta else None
        if cache is not None and cache.lent and cache.conn is conn:
            cache.lent = False
            return cache
        return self._cache(conn)

    def _forget(self) -> None:
        """Empty this thread's read cache (after a write the cache cannot follow)."""
        self._local.cache = None

    # --- meta ---------------------------------------------------------------------------
    def read_meta(self, experiment: str) -> ExperimentMeta:
        conn = self._conn()
        cache = self._cache(conn)
        cache.lent = True  # the same operation's counters read may use this check
        found = cache.meta.get(experiment)
        if found is not None:
            return found
        meta = self._read_meta(conn, experiment)
        cache.meta[experiment] = meta
        return meta

    def _read_meta(self, conn: sqlite3.Connection, experiment: str) -> ExperimentMeta:
        row = conn.execute(
            "SELECT doc, version FROM meta WHERE experiment = ?", (experiment,)
        ).fetchone()
        if row is None:
            return _DEFAULT_META
        cached = self._meta_cache.get(experiment)
        if cached is not None and cached[0] == row[0] and cached[1].version == row[1]:
            return cached[1]  # same document: skip the JSON parse
        meta = ExperimentMeta.from_json(row[0], row[1])
        self._meta_cache[experiment] = (row[0], meta)
        return meta

    def write_meta(self, experiment: str, meta: ExperimentMeta) -> bool:
        self._forget()
        with self._write() as conn:
            if meta.version == 0:
                cur = conn.execute(
                    "INSERT INTO meta (experiment, doc, version) VALUES (?, ?, 1) "
                    "ON CONFLICT DO NOTHING", (experiment, meta.to_json()))
            else:
                cur = conn.execute(
                    "UPDATE meta SET doc = ?, version = version + 1 "
                    "WHERE experiment = ? AND version = ?",
                    (meta.to_json(), experiment, meta.version))
            return cur.rowcount == 1

    # --- statistics ---------------------------------------------------------------------
    def read_stats(self, experiment: str, generation: int, scope: str | None,
                   arms: Sequence[str], *, with_extra: bool = True,
                   time_buckets: bool = True) -> StatsTable:
        conn = self._conn()
        if scope is not None and not with_extra:  # the decision path: cached
            arms = tuple(arms)
            return StatsTable.of_counts(arms, self._cached_counts(
                conn, experiment, generation, scope, arms).counts(arms))
        if scope is None:
            rows = conn.execute(
                "SELECT arm, sum(pulls), sum(n), sum(total), sum(total_sq) FROM arm_stats "
                "WHERE experiment = ? AND generation = ? GROUP BY arm",
                (experiment, generation)).fetchall()
            extra_rows = conn.execute(
                "SELECT arm, field, sum(value) FROM extra_stats "
                f"WHERE experiment = ? AND generation = ?{'' if time_buckets else _NO_BUCKETS} "
                "GROUP BY arm, field", (experiment, generation)).fetchall()
        else:
            key = (experiment, generation, scope)
            rows = conn.execute(
                "SELECT arm, pulls, n, total, total_sq FROM arm_stats "
                "WHERE experiment = ? AND generation = ? AND scope = ?", key).fetchall()
            if not with_extra:
                extra_rows = []
            elif time_buckets or len(arms) > 500:
                extra_rows = conn.execute(
                    "SELECT arm, field, value FROM extra_stats "
                    f"WHERE experiment = ? AND generation = ? AND scope = ?"
                    f"{'' if time_buckets else _NO_BUCKETS}", key).fetchall()
            else:  # the fields on either side of the buckets, two index ranges an arm (a
                # filter would walk every bucket of a long-running experiment)
                marks = ", ".join("?" * len(arms))
                extra_rows = conn.execute(
                    f"{_AROUND_BUCKETS.format(marks=marks, cmp='<')} UNION ALL "
                    f"{_AROUND_BUCKETS.format(marks=marks, cmp='>=')}",
                    (*key, *arms, "tb.", *key, *arms, "tb/")).fetchall()
        extra: dict[str, dict[str, float]] = {}
        for arm, name, value in extra_rows:
            extra.setdefault(arm, {})[name] = value
        return StatsTable.from_rows(arms, {r[0]: r[1:] for r in rows}, extra)

    def read_counts(self, experiment: str, generation: int, scope: str,
                    arms: tuple[str, ...], *, after_meta: bool = False) -> CountRows:
        conn = self._conn()
        return self._cached_counts(conn, experiment, generation, scope, arms,
                                   self._after_meta(conn, after_meta)).counts(arms)

    def drop_extra(self, experiment: str, generation: int, fields: Collection[str], *,
                   keep_total: str | None = None) -> None:
        names = sorted(fields)
        if not names:
            return
        with self._write() as conn:
            for i in range(0, len(names), 500):  # (SQLite's bound on parameters)
                chunk = names[i:i + 500]
                if keep_total is not None:  # (in the same transaction as the delete)
                    conn.execute(
                        "INSERT INTO extra_stats (experiment, generation, scope, arm, field, "
                        "value) SELECT experiment, generation, scope, arm, ?, sum(value) "
                        "FROM extra_stats WHERE experiment = ? AND generation = ? AND "
                        f"field IN ({', '.join('?' * len(chunk))}) GROUP BY scope, arm "
                        "ON CONFLICT DO UPDATE SET value = value + excluded.value",
                        (keep_total, experiment, generation, *chunk))
                conn.execute(
                    "DELETE FROM extra_stats WHERE experiment = ? AND generation = ? AND "
                    f"field IN ({', '.join('?' * len(chunk))})",
                    (experiment, generation, *chunk))

    def _cached_counts(self, conn: sqlite3.Connection, experiment: str, generation: int,
                       scope: str, arms: tuple[str, ...],
                       cache: _ReadCache | None = None) -> CountColumns:
        """The counters of one scope, from the connection's cache (``cache``, checked by
        the caller, or checked here) while nothing changed the file (the decision path;
        ``arms`` take the first slots, so reads slice them)."""
        if cache is None:
            cache = self._cache(conn)
        key = (experiment, generation, scope)
        counts = cache.stats.get(key)
        if counts is None:
            rows = conn.execute(
                "SELECT arm, pulls, n, total, total_sq FROM arm_stats "
                "WHERE experiment = ? AND generation = ? AND scope = ?", key).fetchall()
            counts = cache.stats[key] = CountColumns(arms)
            for arm, *values in rows:
                i = counts.slot(arm)
                for column, value in zip(counts.columns, values, strict=True):
                    column[i] = float(value)
            counts.finite = all(math.isfinite(x) for column in counts.columns
                                for x in column)
        return counts

    def _arm_list(self, ref: bytes) -> tuple[str, ...]:
        """The arm list a many-arm decision's row refers to (see :class:`_RowEncoder`;
        remembered when read outside a transaction: one that rolls back could take the row
        with it, and its number go to another list)."""
        arms = self._arm_lists.get(ref)
        if arms is None:
            conn = self._conn()
            row = conn.execute("SELECT arms FROM arm_lists WHERE id = ?",
                               (int.from_bytes(ref, "little"),)).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: a decision refers to arm list "
                                 f"{int.from_bytes(ref, 'little')}, which is not there")
            arms = tuple(row[0].split("\n"))
            if not conn.in_transaction:
                self._arm_lists[ref] = arms
        return arms

    def _arms_field(self, value: str | bytes) -> tuple[str, ...]:
        """A row's ``arms`` column: the list written out, or its reference."""
        if isinstance(value, bytes):
            return self._arm_list(value)
        return tuple(value.split("\n"))

    # --- decisions and rewards ----------------------------------------------------------
    def record_decision(self, decision: DecisionRecord) -> None:
        conn = self._conn()
        timeout = self._busy_timeout_ms / 1000
        row = self._rows(decision, conn, timeout)
        _locked_retry(lambda: conn.execute(_DECISION_INSERT, row),
                      timeout)  # one statement: the trigger adds the pull
        self._counted(decision, 1.0, None)

    def record_keyed_decision(self, decision: DecisionRecord, key: str, fingerprint: str,
                              ttl_seconds: float) -> KeyedDecision:
        if decision.reward is not None:
            raise ValueError("a keyed decision is logged without its reward")
        now = time.time()
        with self._write() as conn:  # the key (unless held) and the decision: one transaction
            taken = conn.execute(
                "INSERT INTO decision_keys (key, fingerprint, decision_id, expires) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET fingerprint = "
                "excluded.fingerprint, decision_id = excluded.decision_id, expires = "
                "excluded.expires WHERE decision_keys.expires <= ?",
                (key, fingerprint, decision.id, now + ttl_seconds, now)).rowcount == 1
            if not taken:
                held = self._keyed(conn, key, now)
                assert held is not None  # (held and unexpired: the write lock is ours)
                return held
            conn.execute(_DECISION_INSERT,
                         self._rows(decision, conn, self._busy_timeout_ms / 1000))
            if JITTER.random() < 0.01:  # now and then, forget expired keys
                conn.execute("DELETE FROM decision_keys WHERE expires <= ?", (now,))
        self._counted(decision, 1.0, None)
        return KeyedDecision(key, fingerprint, decision.id, now + ttl_seconds)

    def keyed_decision(self, key: str) -> KeyedDecision | None:
        return self._keyed(self._conn(), key, time.time())

    @staticmethod
    def _keyed(conn: sqlite3.Connection, key: str, now: float) -> KeyedDecision | None:
        row = conn.execute("SELECT key, fingerprint, decision_id, expires FROM "
                           "decision_keys WHERE key = ? AND expires > ?",
                           (key, now)).fetchone()
        return KeyedDecision(*row) if row else None

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        row = self._conn().execute(
            f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE id = ?", (decision_id,)
        ).fetchone()
        return _decision_from_row(row, self._arm_list) if row else None

    def apply_reward(self, decision_id: str, value: float, rewarded_at: float,
                     extra: Mapping[str, float] | None = None, *,
                     known: DecisionRecord | None = None) -> ApplyResult:
        update, args = _REWARD_UPDATE, (value, rewarded_at, decision_id)
        if not extra:  # one statement: the trigger adds the reward to the statistics
            conn = self._conn()
            timeout = self._busy_timeout_ms / 1000
            if known is not None and known.id == decision_id:
                # the row is the one the caller knows (checked by the statement): the read
                # cache follows the reward; any other outcome is told by the general path
                checked = (value, rewarded_at, decision_id, known.experiment,
                           known.generation, known.scope, known.arm)
                if _locked_retry(lambda: conn.execute(_KNOWN_REWARD_UPDATE, checked).rowcount,
                                 timeout) == 1:
                    self._counted(known, 0.0, value)
                    return ApplyResult.APPLIED
            if _locked_retry(lambda: conn.execute(update, args).fetchall(), timeout):
                self._forget()  # (a row unlike the one the caller knew, or none known)
                return ApplyResult.APPLIED
            exists = conn.execute("SELECT 1 FROM decisions WHERE id = ?",
                                  (decision_id,)).fetchone()
            return ApplyResult.DUPLICATE if exists else ApplyResult.UNKNOWN
        with self._write() as conn:
            row = conn.execute(update, args).fetchone()
            if row is None:
                exists = conn.execute("SELECT 1 FROM decisions WHERE id = ?",
                                      (decision_id,)).fetchone()
                return ApplyResult.DUPLICATE if exists else ApplyResult.UNKNOWN
            conn.executemany(_EXTRA_UPSERT, [(*row, k, v) for k, v in extra.items()])
            self._forget()
            return ApplyResult.APPLIED

    def record_manual(self, decisions: Sequence[DecisionRecord],
                      extras: Sequence[Mapping[str, float]] | None = None) -> None:
        if any(d.reward is None for d in decisions):
            raise ValueError("manual decisions carry their reward")
        self._forget()
        with self._write() as conn:  # the trigger adds each row's pull and reward
            timeout = self._busy_timeout_ms / 1000
            conn.executemany(_DECISION_INSERT, [self._rows(d, conn, timeout)
                                                for d in decisions])
            if extras:
                conn.executemany(_EXTRA_UPSERT, [
                    (d.experiment, d.generation, d.scope, d.arm, k, v)
                    for d, extra in zip(decisions, extras, strict=True)
                    for k, v in extra.items()])

    def keep_vectors(self, resolved: Sequence[ResolvedVector]) -> None:
        """Best effort: waits at most a second for the write lock (a busy writer wins; the
        next read keeps them)."""
        if not resolved:
            return
        with _Transaction(self._conn(), 1.0) as conn:
            conn.executemany(  # rows whose vector is not kept, or kept by an older version
                "UPDATE decisions SET propensity = ?, probabilities = ? WHERE id = ? "
                "AND length(probabilities) % 8 = 1 AND substr(probabilities, 1, 1) <> ?",
                [(r.propensity, r.blob(), r.decision_id, RESOLVED_TAG) for r in resolved])

    def iter_decisions(self, experiment: str, *, generation: int | None = None,
                       since: float | None = None, after_id: str | None = None,
                       limit: int | None = None) -> Iterator[DecisionRecord]:
        where = ["experiment = ?"]
        args: list[Any] = [experiment]
        if generation is not None:
            where.append("generation = ?")
            args.append(generation)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        if after_id is not None:
            where.append("(created_at, id) > (SELECT created_at, id FROM decisions WHERE id = ?)")
            args.append(after_id)
        sql = (f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE {' AND '.join(where)} "
               "ORDER BY created_at, id")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        cur = self._conn().execute(sql, args)
        decode = _RowDecoder(self._arm_list)
        while batch := cur.fetchmany(1000):
            for row in batch:
                yield decode(row)

    def iter_fields(self, experiment: str, fields: Sequence[str], *, generation: int,
                    kinds: Collection[str] | None = None, scope: str | None = None
                    ) -> Iterator[tuple[Any, ...]]:
        check_fields(fields, kinds)  # the names go into the query: DecisionRecord's only
        where = ["experiment = ?", "generation = ?"]
        args: list[Any] = [experiment, generation]
        if kinds is not None:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            args.extend(sorted(kinds))
        if scope is not None:
            where.append("scope = ?")
            args.append(scope)
        cur = self._conn().execute(
            f"SELECT {', '.join(FieldDecoder.columns(fields))} FROM decisions "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY created_at, id", args)
        decode = FieldDecoder(fields, self._arms_field)
        while batch := cur.fetchmany(1000):
            yield from decode(batch)

    def pending_decisions(self, experiment: str, generation: int, older_than: float,
                          limit: int = 1000, *, newer_than: float | None = None
                          ) -> list[DecisionRecord]:
        rows = self._conn().execute(
            f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE experiment = ? "
            "AND created_at >= ? AND created_at < ? AND generation = ? AND reward IS NULL "
            "AND kind IN ('policy', 'holdout') ORDER BY created_at LIMIT ?",
            (experiment, -1e300 if newer_than is None else newer_than, older_than, generation,
             limit)).fetchall()
        decode = _RowDecoder(self._arm_list)
        return [decode(r) for r in rows]

    def _counted(self, decision: DecisionRecord, pulls: float, reward: float | None) -> None:
        """Follow this connection's own committed write in its read cache. Inside a batch
        the write is not committed yet: the cache is emptied instead."""
        cache: _ReadCache | None = getattr(self._local, "cache", None)
        if cache is None:
            return
        if cache.conn.in_transaction:
            self._forget()
            return
        key = (decision.experiment, decision.generation, decision.scope)
        counts = cache.stats.get(key)
        if counts is not None:
            counts.add(decision.arm, pulls, 0.0 if reward is None else decision.weight,
                       reward or 0.0)
        if reward is not None and decision.allocation_id is not None:
            period = cache.allocations.get(key)  # its rewards, as the trigger added them
            if period is not None and period[0] is not None and \
                    period[0].id == decision.allocation_id:
                period[1] += decision.weight

    # --- allocation periods ------------------------------------------------------------
    def current_allocation(self, experiment: str, generation: int, scope: str, *,
                           after_meta: bool = False) -> AllocationRecord | None:
        conn = self._conn()
        cache = self._after_meta(conn, after_meta)
        key = (experiment, generation, scope)
        found = cache.allocations.get(key)
        if found is None:
            row = conn.execute(
                "SELECT doc, rewards FROM allocations WHERE experiment = ? AND "
                "generation = ? AND scope = ? ORDER BY period DESC LIMIT 1", key).fetchone()
            found = cache.allocations[key] = [self._parsed(row[0]), row[1]] \
                if row else [None, 0.0]
        record, rewards = found
        return record.with_rewards(rewards) if record is not None else None

    def _parsed(self, doc: str) -> AllocationRecord:
        """A stored allocation document, parsed once (a decision reads its period's every
        time; only the live ``rewards`` counter changes, which callers add: this record is
        shared)."""
        parsed = self._allocation_docs.get(doc)
        if parsed is None:
            if len(self._allocation_docs) >= 256:
                self._allocation_docs.clear()
            parsed = self._allocation_docs[doc] = AllocationRecord.from_json(doc, 0.0)
            parsed.probabilities.flags.writeable = False  # shared by every decision
        return parsed

    def start_allocation(self, record: AllocationRecord) -> AllocationRecord:
        self._forget()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO allocations (id, experiment, generation, scope, period, doc, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (record.id, record.experiment, record.generation, record.scope, record.period,
                 record.to_json(), record.created_at))
            row = conn.execute(
                "SELECT doc, rewards FROM allocations WHERE experiment = ? AND generation = ? "
                "AND scope = ? AND period = ?",
                (record.experiment, record.generation, record.scope, record.period)).fetchone()
        return AllocationRecord.from_json(row[0], row[1])

    def allocations(self, experiment: str, generation: int,
                    scope: str | None = None) -> list[AllocationRecord]:
        sql = "SELECT doc, rewards FROM allocations WHERE experiment = ? AND generation = ?"
        args: tuple[Any, ...] = (experiment, generation)
        if scope is not None:
            sql += " AND scope = ?"
            args = (*args, scope)
        rows = self._conn().execute(sql + " ORDER BY created_at, period", args).fetchall()
        return [AllocationRecord.from_json(doc, rewards) for doc, rewards in rows]

    def period_counts(self, experiment: str, generation: int,
                      scope: str | None = None) -> list[PeriodCounts]:
        sql = ("SELECT allocation_id, arm, count(*), sum(iif(reward IS NULL, 0, weight)), "
               "coalesce(sum(weight * reward), 0), coalesce(sum(weight * reward * reward), 0) "
               "FROM decisions WHERE experiment = ? AND generation = ? "
               "AND kind IN ('policy', 'holdout')")
        args: tuple[Any, ...] = (experiment, generation)
        if scope is not None:
            sql += " AND scope = ?"
            args = (*args, scope)
        rows = self._conn().execute(sql + " GROUP BY allocation_id, arm", args).fetchall()
        return [PeriodCounts(r[0], r[1], int(r[2]), float(r[3]), float(r[4]), float(r[5]))
                for r in rows]

    # --- admin log and idempotency -------------------------------------------------------
    def log_admin(self, record: AdminRecord) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO admin_log VALUES (?, ?, ?, ?, ?)",
                         (record.at, record.actor, record.experiment, record.action,
                          record.details))

    def admin_log(self, experiment: str | None = None, limit: int = 100, *,
                  actions: Collection[str] | None = None) -> list[AdminRecord]:
        where, args = admin_filter(experiment, actions, "?")
        rows = self._conn().execute(
            "SELECT at, actor, experiment, action, details FROM admin_log" + where
            + f" ORDER BY at DESC LIMIT {int(limit)}", args)
        return [AdminRecord(*r) for r in rows]

    def claim_key(self, key: str, ttl_seconds: float) -> bool:
        now = time.time()
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO claims (key, expires) VALUES (?, ?) ON CONFLICT DO UPDATE "
                "SET expires = excluded.expires WHERE claims.expires <= ?",
                (key, now + ttl_seconds, now))
            if JITTER.random() < 0.01:  # now and then, forget expired claims
                conn.execute("DELETE FROM claims WHERE expires <= ?", (now,))
            return cur.rowcount == 1


    def add_counters(self, key: str, deltas: Mapping[str, float]) -> None:
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO counters (key, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT DO UPDATE SET value = value + excluded.value",
                [(key, name, value) for name, value in deltas.items()])

    def read_counters(self, key: str) -> dict[str, float]:
        rows = self._conn().execute("SELECT name, value FROM counters WHERE key = ?", (key,))
        return dict(rows)


    def read_document(self, name: str) -> tuple[str | None, int]:
        row = self._conn().execute("SELECT body, version FROM documents WHERE name = ?",
                                   (name,)).fetchone()
        return (row[0], int(row[1])) if row else (None, 0)

    def write_document(self, name: str, text: str, version: int) -> bool:
        with self._write() as conn:
            if version == 0:
                cur = conn.execute("INSERT INTO documents (name, body, version) VALUES "
                                   "(?, ?, 1) ON CONFLICT DO NOTHING", (name, text))
            else:
                cur = conn.execute("UPDATE documents SET body = ?, version = version + 1 "
                                   "WHERE name = ? AND version = ?", (text, name, version))
            return cur.rowcount == 1


class _ReadCache:
    """A connection's cached reads, valid while ``PRAGMA data_version`` says no other
    connection has committed: meta documents, and per scope the core counters and the
    current allocation period."""

    __slots__ = ("allocations", "conn", "lent", "meta", "stats", "version")

    def __init__(self, conn: sqlite3.Connection, version: int) -> None:
        self.conn = conn
        self.version = version
        #: checked by a meta read whose counters read has not come yet (see ``read_counts``)
        self.lent = False
        self.meta: dict[str, ExperimentMeta] = {}
        self.stats: dict[tuple[str, int, str], CountColumns] = {}
        #: per scope: its current allocation period (``None``: none yet) and its rewards
        self.allocations: dict[tuple[str, int, str], list[Any]] = {}


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run the statements of ``script`` one by one inside the caller's transaction
    (``executescript`` would commit it)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""


#: The page size of a new database, set before its first page (init once asked for it after
#: WAL mode, where SQLite ignores it: every database had the default 4 KiB). A decision or a
#: reward rewrites ~3-7 pages per commit, so small pages are fewer bytes to the WAL
#: (measured, a decide + reward at 50 arms: 73-78 µs against 78-211 µs with 4 KiB pages,
#: and far steadier)
_PAGE_SIZE = 1024


_AUTOCHECKPOINT_PAGES = 20_000  # the backstop: 20 MB of WAL with 1 KiB pages
#: The size the WAL file is cut back to when a checkpoint lets it start over
#: (``PRAGMA journal_size_limit``): what a burst left behind is given back to the disk.
_WAL_LIMIT_BYTES = 4 * 1024 * 1024
_CHECKPOINT_INTERVAL_S = 0.25


class _Checkpointer(threading.Thread):
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` every quarter second while the store is open.

    PASSIVE never waits for readers or writers (it copies what it can; the rest waits for the
    next round), so requests are not blocked; the fsync happens here with the GIL released.
    One per process and store; several processes on one file take turns on SQLite's
    checkpoint lock.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(name=f"banditbot-checkpoint:{path.name}", daemon=True)
        self.path = path
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stopped.wait(_CHECKPOINT_INTERVAL_S):
                try:
                    if conn is None:  # mode=rw: never create a file the store has not
                        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw",
                                               uri=True, isolation_level=None,
                                               check_same_thread=False)
                        conn.execute("PRAGMA busy_timeout = 0")
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # busy, or the file is gone: the commit-time checkpoint is the backstop
        finally:
            if conn is not None:
                conn.close()


def _error(exc: sqlite3.Error) -> StoreError:
    """A SQLite error in one line; a database without banditbot's tables says how to make
    them (a Lambda or server started without BANDITBOT_STORE opens an empty banditbot.db)."""
    hint = INIT_DB_HINT if "no such table" in str(exc) else None
    return StoreError(f"SQLite: {exc}", hint=hint)


def _locked_retry(statement: Callable[[], Any], timeout: float) -> Any:
    """Run one self-committing statement, waiting for the write lock like _Transaction."""
    delay = 0.00005
    deadline = 0.0
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise _error(exc) from exc
            now = time.monotonic()
            deadline = deadline or now + timeout
            if now >= deadline:
                raise StoreError(f"SQLite: {exc}",
                                 hint="another process holds the lock; retry") from exc
            time.sleep(delay * (0.5 + JITTER.random()))
            delay = min(delay * 2, 0.002)
        except sqlite3.IntegrityError as exc:
            raise _error(exc) from exc


class _Transaction:
    """``with`` block around ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error).

    Waiting for the write lock is done here, not by SQLite's busy handler: that one sleeps
    1, 2, 5, 10 … ms between tries, which under steady contention from several processes
    (uvicorn workers) costs far more than the sub-millisecond transactions it waits for. This
    loop retries after 50 µs, doubling to at most 2 ms, with jitter, until ``timeout``.
    """

    __slots__ = ("conn", "forget", "nested", "rows", "timeout")

    def __init__(self, conn: sqlite3.Connection, timeout: float = 30.0,
                 rows: _RowEncoder | None = None,
                 forget: Callable[[], None] | None = None) -> None:
        self.conn = conn
        self.timeout = timeout
        self.nested = False
        self.rows = rows  # told of the commit or rollback (what it may remember)
        #: empties the read cache on a rollback: what was read inside the transaction
        #: (a period it started, counters it added) is gone from the file, and a rollback
        #: does not change what PRAGMA data_version says
        self.forget = forget

    def _undone(self) -> None:
        if self.rows is not None:
            self.rows.undone()
        if self.forget is not None:
            self.forget()

    def __enter__(self) -> sqlite3.Connection:
        if self.conn.in_transaction:  # inside a batch: a savepoint; the outer block commits
            self.nested = True
            self.conn.execute("SAVEPOINT nested")
            return self.conn
        _locked_retry(lambda: self.conn.execute("BEGIN IMMEDIATE"), self.timeout)
        if self.rows is not None:
            self.rows.undone()
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.nested:
            if exc_type is None:
                self.conn.execute("RELEASE nested")
            elif self.conn.in_transaction:  # undo this block only; the error propagates
                self.conn.execute("ROLLBACK TO nested")
                self.conn.execute("RELEASE nested")
                self._undone()
            if isinstance(exc, sqlite3.Error):
                raise _error(exc) from exc
            return
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                self.conn.execute("ROLLBACK")
                self._undone()
                raise StoreError(f"SQLite: commit failed: {err}") from err
            if self.rows is not None:
                self.rows.committed()
            return
        self._undone()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise _error(exc) from exc
