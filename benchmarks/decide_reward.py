"""Online loop speed: decide -> Bernoulli reward -> reward, per decision.

Compares, in one run, banditbot on the memory store, banditbot on SQLite (a file on disk, WAL,
synchronous=NORMAL) and MABWiser 2.7 (``predict()`` + ``partial_fit()``), for epsilon-greedy,
UCB1 and Thompson sampling with 3 and 50 arms. banditbot computes and logs the full
propensity vector on every decision, as in production.

Prints one JSON line: microseconds per decision for each (policy, arms, engine) and the
ratios MABWiser / banditbot. Targets (issue #2): memory >= 10x MABWiser at 3 arms and >= 20x
at 50 arms; SQLite >= 2x MABWiser at both sizes.

    python benchmarks/decide_reward.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot import BanditService, MemoryStore, SQLiteStore, parse_config

POLICIES = {
    "epsilon-greedy": ({"name": "epsilon-greedy", "epsilon": 0.1}, "EpsilonGreedy"),
    "ucb1": ({"name": "ucb1"}, "UCB1"),
    "thompson": ({"name": "thompson"}, "ThompsonSampling"),
}


def rates(k: int) -> np.ndarray:
    return np.linspace(0.05, 0.25, k)


def bench_banditbot(policy: dict[str, Any], k: int, store: Any, n: int, seed: int) -> float:
    cfg = parse_config({"experiments": [{
        "id": "bench", "arms": [{"id": f"a{i}", "content": f"arm {i}"} for i in range(k)],
        "policy": policy}]})
    svc = BanditService(cfg, store, rng=np.random.default_rng(seed))
    truth = dict(zip(svc.active_arms("bench"), rates(k), strict=True))
    env = np.random.default_rng(seed + 1)
    draws = env.random(n + 200)

    def loop(count: int, offset: int) -> None:
        for i in range(count):
            d = svc.decide("bench", "user")
            svc.reward(d.id, 1 if draws[offset + i] < truth[d.arm] else 0, "user")

    loop(200, n)  # warm-up
    start = time.perf_counter()
    loop(n, 0)
    return (time.perf_counter() - start) / n * 1e6


def bench_mabwiser(name: str, k: int, n: int, seed: int) -> float:
    from mabwiser.mab import MAB, LearningPolicy

    lp = {"EpsilonGreedy": LearningPolicy.EpsilonGreedy(epsilon=0.1),
          "UCB1": LearningPolicy.UCB1(alpha=1.0),
          "ThompsonSampling": LearningPolicy.ThompsonSampling()}[name]
    arms = list(range(k))
    mab = MAB(arms, lp, seed=seed)
    mab.fit(arms, [0] * k)
    r = rates(k)
    env = np.random.default_rng(seed + 1)
    draws = env.random(n + 50)
    for i in range(50):
        a = mab.predict()
        mab.partial_fit([a], [int(draws[n + i] < r[a])])
    start = time.perf_counter()
    for i in range(n):
        a = mab.predict()
        mab.partial_fit([a], [int(draws[i] < r[a])])
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--repeats", type=int, default=3, help="take the median of N runs")
    args = parser.parse_args()
    n_fast, n_slow = (2000, 300) if args.quick else (10000, 1500)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in (3, 50):
            for label, (spec, mabw) in POLICIES.items():
                row: dict[str, Any] = {"policy": label, "arms": k}
                mem, sql, mab = [], [], []
                for rep in range(args.repeats):
                    mem.append(bench_banditbot(spec, k, MemoryStore(), n_fast, rep))
                    store = SQLiteStore(Path(tmp) / f"b-{k}-{label}-{rep}.db")
                    store.init()
                    sql.append(bench_banditbot(spec, k, store, n_slow, rep))
                    store.close()
                    mab.append(bench_mabwiser(mabw, k, n_slow, rep))
                row["us_memory"] = round(statistics.median(mem), 2)
                row["us_sqlite"] = round(statistics.median(sql), 2)
                row["us_mabwiser"] = round(statistics.median(mab), 2)
                row["x_memory"] = round(row["us_mabwiser"] / row["us_memory"], 2)
                row["x_sqlite"] = round(row["us_mabwiser"] / row["us_sqlite"], 2)
                row["target_memory"] = 10 if k == 3 else 20
                row["target_sqlite"] = 2
                row["met"] = (row["x_memory"] >= row["target_memory"]
                              and row["x_sqlite"] >= row["target_sqlite"])
                results.append(row)
    print(json.dumps({"benchmark": "decide_reward", "results": results,
                      "all_targets_met": all(r["met"] for r in results)}))


if __name__ == "__main__":
    main()
