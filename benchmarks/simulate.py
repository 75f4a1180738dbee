"""Simulator speed: Bernoulli Thompson sampling, 3 arms, 1,000 runs × 10,000 steps.

Issue #5's target: >= 10 million simulated decisions per second on this machine, where "a
straightforward vectorized numpy loop does about 5 million". That loop is textbook Thompson
sampling, so the like-for-like figure is banditbot's textbook Thompson sampling
(``optimistic=False``), measured here next to the loop itself (one process). banditbot's
default, optimistic Thompson sampling does more per decision (the posterior means, a max,
random tie-breaks); it is reported beside, on two processes and on one. On a smaller size,
MABWiser's ``Simulator`` replays 2,000 logged rows online (``batch_size=1``), per decision.
All in the same run.

    python benchmarks/simulate.py [--quick]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import warnings

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot import make_policy
from banditbot.sim import BernoulliEnv, simulate


def ours(runs: int, horizon: int, workers: int, repeats: int, optimistic: bool = True
         ) -> float:
    env = BernoulliEnv(rates=(0.1, 0.12, 0.15))
    policy = make_policy("thompson", optimistic=optimistic)
    rates = [simulate(policy, env, runs=runs, horizon=horizon, seed=s,
                      workers=workers).decisions_per_second for s in range(repeats)]
    return statistics.median(rates)


def straightforward(runs: int, horizon: int) -> float:
    """The issue's reference: a straightforward vectorized numpy loop of textbook Bernoulli
    Thompson sampling (``Generator.beta``, argmax, Bernoulli draw, count updates, regret),
    one process."""
    rng = np.random.default_rng(0)
    rates = np.array([0.1, 0.12, 0.15])
    gaps = rates.max() - rates
    a, b = np.ones((runs, 3)), np.ones((runs, 3))
    regret, rows = np.zeros(runs), np.arange(runs)
    start = time.perf_counter()
    for _ in range(horizon):
        arm = rng.beta(a, b).argmax(axis=1)
        regret += gaps[arm]
        win = rng.random(runs) < rates[arm]
        a[rows, arm] += win
        b[rows, arm] += ~win
    return runs * horizon / (time.perf_counter() - start)


def mabwiser_us_per_decision(rows: int) -> float:
    from mabwiser.mab import MAB, LearningPolicy
    from mabwiser.simulator import Simulator

    rng = np.random.default_rng(0)
    decisions = rng.integers(0, 3, size=rows)
    rewards = (rng.random(rows) < np.array([0.1, 0.12, 0.15])[decisions]).astype(int)
    # the Simulator sets the root logger to DEBUG with a console handler: thousands of lines
    # per run, which would be timed as MABWiser's work; silence them for this measurement
    logging.disable(logging.WARNING)
    bandit = MAB([0, 1, 2], LearningPolicy.ThompsonSampling(), seed=0)
    sim = Simulator([("ts", bandit)], decisions, rewards, test_size=0.5, is_ordered=True,
                    batch_size=1, seed=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's single-label confusion matrices
        sim.run()
    elapsed = time.perf_counter() - start
    logging.disable(logging.NOTSET)
    return elapsed / (rows * 0.5) * 1e6  # the test half is replayed online


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    horizon = 2000 if args.quick else 10_000
    repeats = 1 if args.quick else 3
    two = ours(1000, horizon, 2, repeats)
    one = ours(1000, horizon, 1, repeats)
    textbook = ours(1000, horizon, 2, repeats, optimistic=False)
    plain = straightforward(1000, horizon)
    mab = mabwiser_us_per_decision(400 if args.quick else 2000)
    print(json.dumps({
        "benchmark": "simulate", "policy": "thompson", "arms": 3, "runs": 1000,
        "steps": horizon, "target_decisions_per_s": 10_000_000,
        "textbook_decisions_per_s": round(textbook),
        "met_textbook": textbook >= 10_000_000,
        "straightforward_numpy_loop_per_s": round(plain),
        "textbook_x_straightforward": round(textbook / plain, 2),
        "default_optimistic_decisions_per_s": round(two),
        "met_default": two >= 10_000_000,
        "default_one_worker_per_s": round(one),
        "mabwiser_simulator_us_per_decision": round(mab, 1),
        "default_speedup_vs_mabwiser": round(two * mab / 1e6, 1),
    }))

if __name__ == "__main__":
    main()
