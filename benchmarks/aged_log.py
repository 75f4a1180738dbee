"""Decide -> reward on a SQLite log that has aged: decision ids that begin with their second
(what the service makes) against random ids (what it made before), in one run.

A store in use holds a long log, not the empty one the other benchmarks start from. Its
decisions table has an index of ids; a random id lands on any page of that index, and once
the index outgrows SQLite's page cache each insert reads a page back and dirties one far
from the last. An id that begins with the second it was made lands at the index's end, as
the table's rows do. Each repeat copies a log of ``--rows`` decided and rewarded decisions
(its ids of the kind being timed) and runs the service's SQLite loop (epsilon-greedy, WAL,
synchronous=NORMAL) on it, then the same loop on an empty log; the kinds rotate so each is
timed at every position. Beside them, in every repeat, two minimal durable commits (the
floor of ``decide_reward.py``). Process CPU time, median of the repeats with the range.

    python benchmarks/aged_log.py [--rows 200000] [--repeats 3] [--arms 3]

Prints one JSON line: µs per decide -> reward for each kind on the aged and the empty log,
``random_over_time_ids`` (per repeat, the median) and each loop over the two commits.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _isolate
import numpy as np

import banditbot.service._decisions as decisions
from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.service._core import new_id
from banditbot.stores import DecisionRecord
from banditbot.stores._sqlite import _DECISION_INSERT, _RowEncoder


def random_id() -> str:
    """The decision id the service made before: 128 random bits."""
    return os.urandom(16).hex()


KINDS: dict[str, Callable[[], str]] = {"time": new_id, "random": random_id}


def config(k: int) -> object:
    return parse_config({"experiments": [{
        "id": "bench", "arms": [{"id": f"a{i}", "content": f"arm {i}"} for i in range(k)],
        "policy": {"name": "epsilon-greedy", "epsilon": 0.1}, "burn_in": 0}]})


def aged(path: Path, k: int, rows: int, make_id: Callable[[], str]) -> None:
    """A log of ``rows`` decided and rewarded decisions, one a second up to now, written
    as the store writes them (its statistics folded by its triggers)."""
    store = SQLiteStore(path)
    store.init()
    store.close()
    arms = tuple(f"a{i}" for i in range(k))
    vector = np.full(k, 0.1 / k)
    vector[0] += 0.9
    conn = sqlite3.connect(path, isolation_level=None)
    encode = _RowEncoder()
    start = time.time() - rows
    conn.execute("BEGIN")
    batch = []
    for i in range(rows):
        made = make_id()
        if make_id is new_id:  # its second: when the row was made
            made = f"{int(start + i):08x}{made[8:]}"
        batch.append(encode(DecisionRecord(
            made, "bench", 0, "", arms[i % k], float(vector[i % k]), arms, vector,
            '{"name":"epsilon-greedy","params":{"epsilon":0.1}}', "user", start + i,
            reward=float(i % 5 == 0), rewarded_at=start + i), conn, 30.0))
        if len(batch) == 10_000:
            conn.executemany(_DECISION_INSERT, batch)
            batch.clear()
    conn.executemany(_DECISION_INSERT, batch)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def loop_us(path: Path, k: int, n: int, make_id: Callable[[], str], seed: int) -> float:
    """µs of process time per decide -> reward of the service on the log at ``path``."""
    decisions.new_id = make_id  # the id the service hands out (restored by the caller)
    store = SQLiteStore(path)
    store.init()  # (a copied log has its tables: nothing to do)
    try:
        svc = BanditService(config(k), store, rng=np.random.default_rng(seed))  # type: ignore[arg-type]
        return _isolate.service_loop_us(svc, n, seed)
    finally:
        store.close()
        decisions.new_id = new_id


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1),
            "max": round(max(values), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="decisions in the aged log")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every loop")
    parser.add_argument("--arms", type=int, default=3, help="arms of the experiment")
    parser.add_argument("--decisions", type=int, default=3000, help="timed per loop")
    args = parser.parse_args()
    k, n = args.arms, args.decisions
    names = [f"{kind}_{log}" for kind in KINDS for log in ("aged", "empty")]
    names.append("two_commits")
    with tempfile.TemporaryDirectory() as tmp:
        templates = {}
        for kind, make in KINDS.items():
            templates[kind] = Path(tmp) / f"template-{kind}.db"
            aged(templates[kind], k, args.rows, make)
        done = dict.fromkeys(names, 0)

        def measure(name: str) -> tuple[float, float]:
            if name == "two_commits":
                us = _isolate.two_commits_us(10_000)
                return us, us
            kind, log = name.split("_")
            done[name] += 1
            path = Path(tmp) / f"{name}-{done[name]}.db"
            if log == "aged":
                shutil.copy(templates[kind], path)
            us = loop_us(path, k, n, KINDS[kind], done[name])
            path.unlink()
            return us, us

        runs, _ = _isolate.rotated(names, args.repeats, measure)
    med = {name: statistics.median(values) for name, values in runs.items()}
    print(json.dumps({
        "benchmark": "aged_log", "rows": args.rows, "arms": k, "repeats": args.repeats,
        "us": {name: summary(values) for name, values in runs.items()},
        "random_over_time_ids": {log: round(statistics.median(
            r / t for r, t in zip(runs[f"random_{log}"], runs[f"time_{log}"], strict=True)), 2)
            for log in ("aged", "empty")},
        "over_two_commits": {name: round(med[name] / med["two_commits"], 2)
                             for name in names[:-1]},
        "aged_over_empty": {kind: round(med[f"{kind}_aged"] / med[f"{kind}_empty"], 2)
                            for kind in KINDS},
    }))


if __name__ == "__main__":
    main()
