"""Floors under the decide -> reward loop of ``decide_reward.py``, against its time budgets.

Issue #2 asks for the online loop (decide, log the propensity, reward exactly once) to be 10x
(3 arms) / 20x (50 arms) faster than MABWiser in memory and 2x faster on SQLite. This script
prices, in one run, the parts every implementation of that loop has to pay for here, next to
the budget each target leaves:

* ``stripped_loop_us`` -- epsilon-greedy with 3 arms as one flat Python loop: choice, the full
  probability vector, a random id, a dict as the log, an exactly-once reward. No service, no
  store, no validation: the least a Python loop does per decision.
* ``ts_propensity_us`` -- Thompson sampling's logged propensity vector (within 0.5
  percentage points) after one posterior changed, as banditbot computes it (quadrature), for
  the default (optimistic) form; ``textbook_us`` beside it for P(best).
* ``two_commits_us`` -- two durable SQLite WAL commits (synchronous=NORMAL) of one tiny row
  each: the decision must be logged before the user sees it, the reward is its own write.
* ``mabwiser_us`` -- MABWiser 2.7 ``predict()`` + ``partial_fit()``, the peer of the targets
  (``decide_reward.py``'s loop).

    python benchmarks/floors.py

Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import tempfile
import time
from typing import Any

import numpy as np

# while this folder is on sys.path: decide_reward imports _isolate, which then takes it off
# (so that benchmarks/http.py cannot shadow the standard library's http)
from decide_reward import POLICIES, bench_mabwiser  # the MABWiser loop it measures

from banditbot.statistics import beta_best_probabilities, beta_optimistic_probabilities

TARGET_MEMORY = {3: 10, 50: 20}
TARGET_SQLITE = 2


def stripped_loop_us(n: int = 200_000) -> float:
    u = np.random.default_rng(0).random(3 * n).tolist()
    truth = (0.05, 0.15, 0.25)
    pulls, sums = [0.0] * 3, [0.0] * 3
    log: dict[str, list[Any]] = {}
    start = time.perf_counter()
    for i in range(n):
        means = [s / p if p else 0.0 for s, p in zip(sums, pulls, strict=True)]
        best = max(range(3), key=means.__getitem__)
        probs = [0.1 / 3] * 3
        probs[best] += 0.9
        arm = best if u[3 * i] >= 0.1 else int(u[3 * i + 1] * 3)
        decision_id = os.urandom(16).hex()
        log[decision_id] = [arm, probs[arm], probs, "user", None]
        pulls[arm] += 1.0
        record = log.get(decision_id)
        if record is not None and record[4] is None and record[3] == "user":
            record[4] = 1.0 if u[3 * i + 2] < truth[record[0]] else 0.0
            sums[record[0]] += record[4]
    return (time.perf_counter() - start) / n * 1e6


def ts_propensity_us(k: int, n: int = 5000, textbook: bool = False) -> float:
    propensities = beta_best_probabilities if textbook else beta_optimistic_probabilities
    rates = np.linspace(0.05, 0.25, k)
    pulls = np.linspace(20, 2000, k)  # a bandit a while into learning: the best arm leads
    a = 1.0 + np.round(pulls * rates)
    b = 1.0 + pulls - (a - 1.0)
    propensities(a, b)  # loads SciPy and the lattice
    rewards = (np.random.default_rng(2).random(n) < rates[np.arange(n) % k]).tolist()
    start = time.perf_counter()
    for i, success in enumerate(rewards):  # every reward changes one posterior (at its rate)
        if success:
            a[i % k] += 1.0
        else:
            b[i % k] += 1.0
        propensities(a, b)
    return (time.perf_counter() - start) / n * 1e6


def two_commits_us(n: int = 20_000) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "floor.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, reward REAL)")
        start = time.perf_counter()
        for i in range(n):
            conn.execute("INSERT INTO t VALUES (?, NULL)", (i,))
            conn.execute("UPDATE t SET reward = 1 WHERE id = ? AND reward IS NULL", (i,))
        elapsed = time.perf_counter() - start
        conn.close()
    return elapsed / n * 1e6


def median(fn: Any, *args: Any) -> float:
    return round(statistics.median(fn(*args) for _ in range(3)), 2)


def main() -> None:
    loop = median(stripped_loop_us)
    commits = median(two_commits_us)
    rows = []
    for policy, k in (("epsilon-greedy", 3), ("thompson", 3), ("thompson", 50)):
        peer = median(bench_mabwiser, POLICIES[policy][1], k, 1500, 0)
        ts = policy == "thompson"
        floor_memory = loop + (median(ts_propensity_us, k) if ts else 0.0)
        budget_memory = round(peer / TARGET_MEMORY[k], 2)
        budget_sqlite = round(peer / TARGET_SQLITE, 2)
        rows.append({
            "policy": policy, "arms": k, "mabwiser_us": peer,
            "memory_floor_us": round(floor_memory, 2), "memory_budget_us": budget_memory,
            "memory_feasible": floor_memory <= budget_memory,
            "sqlite_floor_us": round(floor_memory + commits, 2),
            "sqlite_budget_us": budget_sqlite,
            "sqlite_feasible": floor_memory + commits <= budget_sqlite,
            **({"textbook_propensity_us": median(ts_propensity_us, k, 5000, True)} if ts
               else {}),
        })
    print(json.dumps({"benchmark": "floors", "stripped_loop_us": loop,
                      "two_commits_us": commits, "rows": rows}))


if __name__ == "__main__":
    main()
