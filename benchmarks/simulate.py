"""Simulator speed: Bernoulli Thompson sampling, 3 arms, 1,000 runs × 10,000 steps.

Issue #18's target: >= 2x a plain vectorized numpy Thompson loop measured in the same run
(textbook Thompson sampling: ``Generator.beta``, argmax, Bernoulli draw, count updates,
regret; one process). Each repeat times, in an order that rotates, the loop and banditbot's
simulator (``simulate``) with textbook Thompson sampling (``optimistic=False``, the loop's
algorithm) and with the default, optimistic one (which does more per decision: the posterior
means, a max, random tie-breaks), on two processes (``workers=2``, the default) and on one,
on the compiled kernel (numba; ``textbook``, ``default``, ...: what ``simulate`` runs at this
size when numba is installed) and on numpy (``*_numpy*``: without numba). The first
compiled call of the process (numba's import and the cached kernel's load) is timed once,
apart (``compiled_first_call_s``). Ratios are taken within a repeat; the JSON gives their
median and [min, max] over repeats.
On a busy machine the wall-clock ratios of two processes mean little; the one-process ratios
per CPU second (``*_cpu_x_loop_cpu``) say what a core does, and two workers on two idle cores
approach twice that.
Issue #5's absolute target (10 million decisions/s) is reported beside. On a smaller size,
MABWiser's ``Simulator`` replays 2,000 logged rows online (``batch_size=1``), per decision,
once.

    python benchmarks/simulate.py [--quick] [--repeats N]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import statistics
import time
import warnings
from collections.abc import Callable

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot import make_policy
from banditbot.sim import BernoulliEnv, simulate


def ours(runs: int, horizon: int, workers: int, optimistic: bool, seed: int,
         compiled: bool) -> tuple[float, float]:
    """banditbot's simulator: decisions per wall-clock second of one ``simulate`` call, and
    per CPU second of this process (meaningful with one worker)."""
    env = BernoulliEnv(rates=(0.1, 0.12, 0.15))
    policy = make_policy("thompson", optimistic=optimistic)
    cpu = time.process_time()
    result = simulate(policy, env, runs=runs, horizon=horizon, seed=seed, workers=workers,
                      compiled=compiled)
    assert result.engine == ("compiled" if compiled else "numpy")
    return result.decisions_per_second, runs * horizon / (time.process_time() - cpu)


def first_compiled_call() -> float:
    """Seconds of this process's first call on the compiled engine (numba's import and its
    cached kernel's load; a compile, the first time after an install or a change)."""
    start = time.perf_counter()
    simulate(make_policy("thompson"), BernoulliEnv(rates=(0.1, 0.2)), runs=2, horizon=2,
             workers=1, compiled=True)
    return time.perf_counter() - start


def straightforward(runs: int, horizon: int, seed: int) -> tuple[float, float]:
    """The issue's reference: a straightforward vectorized numpy loop of textbook Bernoulli
    Thompson sampling (``Generator.beta``, argmax, Bernoulli draw, count updates, regret),
    one process. Decisions per wall-clock second and per CPU second."""
    rng = np.random.default_rng(seed)
    rates = np.array([0.1, 0.12, 0.15])
    gaps = rates.max() - rates
    a, b = np.ones((runs, 3)), np.ones((runs, 3))
    regret, rows = np.zeros(runs), np.arange(runs)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(horizon):
        arm = rng.beta(a, b).argmax(axis=1)
        regret += gaps[arm]
        win = rng.random(runs) < rates[arm]
        a[rows, arm] += win
        b[rows, arm] += ~win
    return (runs * horizon / (time.perf_counter() - start),
            runs * horizon / (time.process_time() - cpu))


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


def spread(values: list[float], digits: int = 2) -> list[float]:
    return [round(min(values), digits), round(max(values), digits)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 steps, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="default 5 (quick: 3)")
    args = parser.parse_args()
    horizon = 2000 if args.quick else 10_000
    repeats = args.repeats or (3 if args.quick else 5)
    runs = 1000
    have_numba = importlib.util.find_spec("numba") is not None
    first_call = first_compiled_call() if have_numba else None  # once, outside the repeats
    cases: dict[str, Callable[[int], tuple[float, float]]] = {
        "loop": lambda s: straightforward(runs, horizon, s),
    }
    if have_numba:  # the fast extra
        cases.update({
            "textbook": lambda s: ours(runs, horizon, 2, False, s, True),
            "default": lambda s: ours(runs, horizon, 2, True, s, True),
            "textbook_one_worker": lambda s: ours(runs, horizon, 1, False, s, True),
            "default_one_worker": lambda s: ours(runs, horizon, 1, True, s, True),
        })
    cases.update({
        "textbook_numpy": lambda s: ours(runs, horizon, 2, False, s, False),
        "default_numpy": lambda s: ours(runs, horizon, 2, True, s, False),
        "textbook_numpy_one_worker": lambda s: ours(runs, horizon, 1, False, s, False),
        "default_numpy_one_worker": lambda s: ours(runs, horizon, 1, True, s, False),
    })
    names = list(cases)
    rate: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        for name in names[i % len(names):] + names[:i % len(names)]:
            wall_rate, cpu_rate = cases[name](i)
            rate[name].append(wall_rate)
            cpu[name].append(cpu_rate)
    ratio = {name: [r / p for r, p in zip(rate[name], rate["loop"], strict=True)]
             for name in names[1:]}
    # per CPU second, one process each: what a core does, whatever else the machine runs
    cpu_ratio = {name: [r / p for r, p in zip(cpu[name], cpu["loop"], strict=True)]
                 for name in names if name.endswith("one_worker")}
    med = {name: statistics.median(v) for name, v in rate.items()}

    def best(kind: str) -> str:
        return kind if have_numba else f"{kind}_numpy"

    mab = mabwiser_us_per_decision(400 if args.quick else 2000)
    print(json.dumps({
        "benchmark": "simulate", "policy": "thompson", "arms": 3, "runs": runs,
        "steps": horizon, "repeats": repeats,
        "straightforward_numpy_loop_per_s": round(med["loop"]),
        "loop_range_per_s": spread(rate["loop"], 0),
        **{f"{name}_per_s": round(med[name]) for name in names[1:]},
        **{f"{name}_range_per_s": spread(rate[name], 0) for name in names[1:]},
        **{f"{name}_x_loop": round(statistics.median(ratio[name]), 2) for name in names[1:]},
        **{f"{name}_x_loop_range": spread(ratio[name]) for name in names[1:]},
        **{f"{name}_cpu_x_loop_cpu": round(statistics.median(v), 2)
           for name, v in cpu_ratio.items()},
        **{f"{name}_cpu_x_loop_cpu_range": spread(v) for name, v in cpu_ratio.items()},
        "target_x_loop": 2.0,
        # the default engine at this size: compiled with numba, else numpy
        **{f"met_{kind}": statistics.median(ratio[best(kind)]) >= 2.0
           for kind in ("textbook", "default")},
        **{f"met_10M_{kind}": med[best(kind)] >= 10_000_000 for kind in ("textbook", "default")},
        "compiled_first_call_s": None if first_call is None else round(first_call, 2),
        "mabwiser_simulator_us_per_decision": round(mab, 1),
        "default_speedup_vs_mabwiser": round(med[best("default")] * mab / 1e6, 1),
    }))


if __name__ == "__main__":
    main()
