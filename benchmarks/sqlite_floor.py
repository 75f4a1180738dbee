"""Issue #18's SQLite row (decide -> reward <= 2x two minimal durable commits) against the
leanest design measured, in one run.

The shipped store writes a decision with four B-trees (the row, its id's index, the time
index, the statistics by trigger) and a reward with two or three. The design change that
would be leanest is an append-only log: decisions keyed by SQLite's rowid plus a random
secret (no other index), no statistics table (a reward sets the row's reward once and a
trigger appends a reward event; readers fold the rows past the last one they saw), and the
store's reads kept in process behind one ``PRAGMA data_version`` check per decision. This
script prices that design two ways, beside the floor and the shipped store, each engine once
per repeat in rotating order (ε-greedy, ``update: decision``, burn-in off, the 1% floor on):

- ``floor``: two minimal commits (an INSERT and an UPDATE of a tiny row, WAL,
  synchronous=NORMAL, the store's 1 KiB pages);
- ``shipped``: the service's decide -> reward on :class:`~banditbot.SQLiteStore`;
- ``append_only``: the same service on :class:`AppendOnlyStore` below, a prototype of that
  design (the decision path only; the number and secret it gives a decision are kept beside
  the service's id, which stands for the id the log would give; its fold of other writers'
  rows is not exercised here: nothing else writes);
- ``design_<number>``: that design's statements alone, with no store code, each decision
  preceded by the freshness check and by one decide -> reward of the same service on the
  memory store (its in-process counting stands for the store's cache), called as any store
  but the memory store is (the compiled service calls the memory store itself directly):
  the floor of the design where it runs. ``<number>`` is how the decision's number comes
  back (``returning``, ``lastrowid``, ``cursors``: see ``decide_reward.store_sql_us``).

With ``--wheel W`` (a ``BANDITBOT_COMPILE=1`` wheel, as ``compiled_service.py`` takes) the
whole measurement runs again in the compiled tree. Prints one JSON line: µs per decision
(median, min, max over the repeats, process CPU time) and, per engine, the median and the
range of its per-repeat ratio to the floor.

    python benchmarks/sqlite_floor.py [--repeats 5] [--decisions 5000] [--wheel W.whl]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import _isolate  # (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot import BanditService, MemoryStore, SQLiteStore
from banditbot.stores._base import (
    ApplyResult,
    CountColumns,
    CountRows,
    DecisionRecord,
    ExperimentMeta,
    encode_vector,
    stored_propensity,
)

HERE = Path(__file__).resolve().parent
_bench = _isolate.sibling("decide_reward")

#: the prototype's reward event's kind (the trigger ``decide_reward._rowid_schema`` makes)
_REWARD_KIND = "reward"


class AppendOnlyStore(SQLiteStore):
    """A prototype of the append-only design, on the decision path only: ``read_meta``
    checks ``PRAGMA data_version`` (once per decision), ``read_counts`` answers from the
    counts kept in process (folded from the log when another connection wrote),
    ``record_decision`` appends the row and takes its number without a ``RETURNING``
    clause, ``apply_reward`` sets the reward once by number and secret (the trigger appends
    the reward event). One connection, kept cursors; a forked process is refused."""

    def init(self) -> None:
        super().init()
        conn = self._connected()
        self._insert, self._update = (sql.split(" RETURNING")[0] for sql in
                                      _bench._rowid_schema(conn, events=True))
        self._fresh, self._add, self._mark = conn.cursor(), conn.cursor(), conn.cursor()
        self._seen = -1
        self._metas: dict[str, ExperimentMeta] = {}
        self._counts: dict[tuple[str, int, str], CountColumns] = {}
        self._given: dict[str, str] = {}  # the service's id -> the id the log gave
        self._secrets: list[bytes] = []
        self._owner = os.getpid()

    def _check(self) -> None:
        if os.getpid() != self._owner:
            raise RuntimeError("the prototype is not fork-safe")
        seen = self._fresh.execute("PRAGMA data_version").fetchone()[0]
        if seen != self._seen:  # another connection wrote: read again
            self._seen = seen
            self._metas.clear()
            self._counts.clear()

    def read_meta(self, experiment: str) -> ExperimentMeta:
        self._check()
        meta = self._metas.get(experiment)
        if meta is None:
            meta = self._metas[experiment] = self._read_meta(self._connected(), experiment)
        return meta

    def read_counts(self, experiment: str, generation: int, scope: str,
                    arms: tuple[str, ...], *, after_meta: bool = False) -> CountRows:
        if not after_meta:
            self._check()
        key = (experiment, generation, scope)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = CountColumns(arms)
            for arm, kind, weight, reward in self._connected().execute(
                    "SELECT arm, kind, weight, reward FROM decisions WHERE experiment = ? "
                    "AND generation = ? AND scope = ?", key):
                if kind == _REWARD_KIND:
                    counts.add(arm, 0.0, weight, reward)
                else:
                    counts.add(arm, 1.0)
        return counts.counts(arms)

    def record_decision(self, decision: DecisionRecord) -> None:
        d = decision
        if not self._secrets:
            drawn = os.urandom(12 * 32)
            self._secrets = [drawn[i:i + 12] for i in range(0, len(drawn), 12)]
        secret = self._secrets.pop()
        seq = self._add.execute(self._insert, (
            secret, d.experiment, d.generation, d.scope, d.arm, stored_propensity(d),
            "\n".join(d.arms), encode_vector(d), d.policy, d.subject,
            json.dumps(d.context) if d.context else None, d.kind, d.created_at, d.reward,
            d.rewarded_at, d.weight, d.allocation_id)).lastrowid
        self._given[d.id] = f"{seq:x}.{secret.hex()}"
        counts = self._counts.get((d.experiment, d.generation, d.scope))
        if counts is not None:
            counts.add(d.arm, 1.0)

    def apply_reward(self, decision_id: str, value: float, rewarded_at: float,
                     extra: Mapping[str, float] | None = None, *,
                     known: DecisionRecord | None = None) -> ApplyResult:
        given = self._given.pop(decision_id, None)
        if given is None or extra or known is None:
            raise NotImplementedError("the prototype rewards decisions it logged")
        number, _, secret = given.partition(".")
        if self._mark.execute(self._update, (value, rewarded_at, int(number, 16),
                                             bytes.fromhex(secret))).rowcount != 1:
            return ApplyResult.DUPLICATE
        counts = self._counts.get((known.experiment, known.generation, known.scope))
        if counts is not None:
            counts.add(known.arm, 0.0, known.weight, value)
        return ApplyResult.APPLIED


def _service(store: Any, k: int, seed: int) -> BanditService:
    """The loop's service: ε-greedy on ``store`` (``decide_reward``'s experiment)."""
    return _bench.bench_service(_bench.POLICIES["epsilon-greedy"][0], k, store, seed)


def store_loop_us(make: Callable[[Path], SQLiteStore], k: int, n: int, seed: int) -> float:
    """µs per decide -> reward of the service on a new store in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        store = make(Path(tmp) / "loop.db")
        store.init()
        try:
            return float(_bench.fresh(_isolate.service_loop_us, _service(store, k, seed), n,
                                      seed))
        finally:
            store.close()


class _AnyStore(MemoryStore):
    """The memory store as the service calls any other store (through the ``Store``
    protocol: the compiled service calls a ``MemoryStore`` itself directly)."""


def design_us(k: int, n: int, seed: int, number: str) -> float:
    """µs per decision of the append-only design's statements with the freshness check,
    each decision preceded by one decide -> reward of the service on the memory store,
    called as any store."""
    svc = _service(_AnyStore(), k, seed)
    _isolate.service_loop_us(svc, 200, seed)  # warm
    truth = dict(zip(svc.active_arms("bench"), np.linspace(0.05, 0.25, k).tolist(),
                     strict=True))
    draws = iter(np.random.default_rng(seed + 1).random(n + 1).tolist())

    def step() -> None:
        d = svc.decide("bench", "user")
        svc.reward(d.id, 1 if next(draws) < truth[d.arm] else 0, "user")

    with tempfile.TemporaryDirectory() as tmp:
        return float(_bench.fresh(functools.partial(
            _bench.store_sql_us, schema="events", between=step, check=True, number=number),
            k, n, Path(tmp) / "design.db"))


ENGINES: dict[str, Callable[[int, int, int], float]] = {
    "floor": lambda k, n, seed: _isolate.two_commits_us(n),
    "shipped": lambda k, n, seed: store_loop_us(SQLiteStore, k, n, seed),
    "append_only": lambda k, n, seed: store_loop_us(AppendOnlyStore, k, n, seed),
    **{f"design_{number}": (lambda k, n, seed, number=number: design_us(k, n, seed, number))
       for number in ("returning", "lastrowid", "cursors")},
}


def measure(k: int, n: int, repeats: int) -> dict[str, Any]:
    """Every engine once per repeat, rotated; the figures and ratios to the floor."""
    names = list(ENGINES)
    runs: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            runs[name].append(ENGINES[name](k, n, rep))
    out: dict[str, Any] = {"build": "compiled" if type(BanditService.decide).__name__ !=
                           "function" else "interpreted", "arms": k}
    for name, values in runs.items():
        out[f"us_{name}"] = _bench.summary(values)
        if name != "floor":
            ratios = [v / f for v, f in zip(values, runs["floor"], strict=True)]
            out[f"{name}_over_floor"] = _bench.summary(ratios)
    return out


def in_tree(tree: Path, argv: Sequence[str]) -> dict[str, Any]:
    """This script's measurement in another process with ``tree`` first on its path."""
    done = subprocess.run([sys.executable, __file__, "--inner", *argv], capture_output=True,
                          text=True, check=False, env={**os.environ, "PYTHONPATH": str(tree)})
    if done.returncode:
        raise SystemExit(f"the run in {tree} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of every engine")
    parser.add_argument("--decisions", type=int, default=5000, help="decisions per run")
    parser.add_argument("--arms", type=int, default=3)
    parser.add_argument("--wheel", type=Path, default=None,
                        help="a compiled wheel: measure in its tree too")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(measure(args.arms, args.decisions, args.repeats)))
        return
    rows = [measure(args.arms, args.decisions, args.repeats)]
    if args.wheel is not None:
        with tempfile.TemporaryDirectory() as tmp:
            tree = _isolate.sibling("compiled_service").compiled_tree(Path(tmp), args.wheel)
            rows.append(in_tree(tree, ["--repeats", str(args.repeats), "--decisions",
                                       str(args.decisions), "--arms", str(args.arms)]))
    print(json.dumps({"benchmark": "sqlite_floor", "python": sys.version.split()[0],
                      "sqlite": sqlite3.sqlite_version, "machine_load": os.getloadavg()[0],
                      "results": rows}))


if __name__ == "__main__":
    gc.collect()
    main()
