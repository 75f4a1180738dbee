"""A decision and its reward on a SQLite log that has aged: decision ids that begin with
their second (what the service makes) against random ids (what it made before), in one run.

A store in use holds a long log, not the empty one the other benchmarks start from. Its
decisions table has an index of ids; a random id lands on any page of that index, and once
the index outgrows SQLite's page cache each insert reads a page back and dirties one far
from the last. An id that begins with the second it was made lands at the index's end, as
the table's rows do. A log of ``--rows`` decided and rewarded decisions is made for each
kind of id, and each repeat runs the store's part of a decision's loop on it
(``record_decision`` of a decision, then ``apply_reward`` of its answer: the statements,
their commits and the store's Python; the service's part does not depend on the ids), then
the same on an empty log; the kinds rotate so each is timed at every position. Beside
them, in every repeat, two minimal durable commits (the floor of ``decide_reward.py``).
Process CPU time, median of the repeats with the range.

    python benchmarks/aged_log.py [--rows 200000] [--repeats 3] [--arms 3]

Prints one JSON line: µs per decision and reward for each kind on the aged and the empty
log, ``random_over_time_ids`` (per repeat, the median) and each loop over the two commits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _isolate
import numpy as np

from banditbot.stores import DecisionRecord, SQLiteStore

POLICY = '{"name":"epsilon-greedy","params":{"epsilon":0.1}}'


def time_id(at: float) -> str:
    """The layout of the service's decision ids: the second ``at`` (8 hex digits), then
    96 random bits."""
    return f"{int(at) & 0xFFFFFFFF:08x}{os.urandom(12).hex()}"


def random_id(at: float) -> str:
    """The decision id the service made before: 128 random bits."""
    return os.urandom(16).hex()


KINDS: dict[str, Callable[[float], str]] = {"time": time_id, "random": random_id}


def decisions(k: int, count: int, start: float, make_id: Callable[[float], str], *,
              rewarded: bool) -> list[DecisionRecord]:
    """``count`` ε-greedy decisions among ``k`` arms, one a second from ``start`` (with
    their answers when ``rewarded``)."""
    arms = tuple(f"a{i}" for i in range(k))
    vector = np.full(k, 0.1 / k)
    vector[0] += 0.9
    return [DecisionRecord(
        make_id(start + i), "bench", 0, "", arms[i % k], float(vector[i % k]), arms, vector,
        POLICY, "user", start + i, kind="manual" if rewarded else "policy",
        reward=float(i % 5 == 0) if rewarded else None,
        rewarded_at=start + i if rewarded else None) for i in range(count)]


def aged(path: Path, k: int, rows: int, make_id: Callable[[float], str]) -> None:
    """A log of ``rows`` decided and rewarded decisions, one a second up to now, written
    by the store (its statistics folded as it folds them)."""
    store = SQLiteStore(path)
    store.init()
    start = time.time() - rows
    for first in range(0, rows, 10_000):
        store.record_manual(decisions(k, min(10_000, rows - first), start + first, make_id,
                                      rewarded=True))
    store.close()


def loop_us(path: Path, k: int, n: int, make_id: Callable[[float], str]) -> float:
    """µs of process time per ``record_decision`` + ``apply_reward`` on the log at
    ``path`` (200 pairs first, not timed)."""
    store = SQLiteStore(path)
    store.init()  # (a copied log has its tables: nothing to do)
    try:
        batch = decisions(k, n + 200, time.time(), make_id, rewarded=False)
        for record in batch[:200]:
            store.record_decision(record)
            store.apply_reward(record.id, 1.0, record.created_at, known=record)
        began = time.process_time()
        for record in batch[200:]:
            store.record_decision(record)
            store.apply_reward(record.id, 1.0, record.created_at, known=record)
        return (time.process_time() - began) / n * 1e6
    finally:
        store.close()


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
            if log == "aged":  # the same log each repeat (a repeat adds 1-2% to it; a copy
                # of a log of a million, 320 MB, made the timing the disk's)
                return (us := loop_us(templates[kind], k, n, KINDS[kind])), us
            path = Path(tmp) / f"{name}-{done[name]}.db"
            us = loop_us(path, k, n, KINDS[kind])
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
