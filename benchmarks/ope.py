"""Off-policy estimator speed: IPS, SNIPS and DR on 1,000,000 synthetic rounds with 10
actions. Targets (issues #6, #18): each point estimate under 1 s; a 1,000-replicate bootstrap
interval under 30 s on all cores (the reward model's predictions are given, as an OPE
pipeline passes them; fitting them is reported separately).

    python benchmarks/ope.py [--rounds 1000000] [--bootstrap 1000] [--jobs N]
    python benchmarks/ope.py --coverage [--repetitions 200]

Each bootstrap runs twice in the same process, on 1 thread and on ``--jobs`` threads
(default: every core), with the same seed: the line gives both times, their ratio, whether
the two intervals are identical (they must be: each replicate has its own random stream),
and whether the target is met on all cores. The load average is printed beside them: on a
shared machine the times move with it.

``--coverage`` is the full statistical validation the test suite runs a small version of:
repetitions of 2,000 logged rounds (logistic clicks, softmax logging), each estimator's 95%
bootstrap interval (200 replicates, the reward model re-fitted inside) against the true value;
prints each estimator's coverage with its binomial 95% interval.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot.offline import RewardModel, SyntheticProblem, make_estimator
from banditbot.offline._estimators import default_jobs

TARGET_S = 30.0  # a 1,000-replicate bootstrap on 1M rounds, all cores


def coverage(repetitions: int) -> None:
    from banditbot.offline import ESTIMATORS, estimate_all

    prob = SyntheticProblem(seed=1, logging_temperature=4.0, eval_temperature=2.0)
    truth = prob.true_value()
    rng = np.random.default_rng(0)
    names = [n for n in ESTIMATORS if n != "replay"]
    hits = dict.fromkeys(names, 0)
    start = time.perf_counter()
    for _ in range(repetitions):
        log, dist = prob.sample(2000, rng)
        model = RewardModel(kind="logistic")
        q = model.fit_predict(log.context, log.action, log.reward, log.n_actions, rng=rng)
        refit = model.refitter(log.context, log.action, log.reward, log.n_actions)
        for r in estimate_all([make_estimator(n) for n in names], reward=log.reward,
                              action=log.action, pscore=log.pscore, action_dist=dist,
                              estimated_rewards=q, n_bootstrap=200, rng=rng, refit=refit):
            hits[r.estimator] += r.low <= truth <= r.high
    out = {}
    for name, h in hits.items():
        p = h / repetitions
        half = 1.96 * (p * (1 - p) / repetitions) ** 0.5
        out[name] = {"coverage": round(p, 3), "ci95": [round(p - half, 3), round(p + half, 3)]}
    print(json.dumps({"benchmark": "ope-coverage", "repetitions": repetitions,
                      "nominal": 0.95, "estimators": out,
                      "seconds": round(time.perf_counter() - start, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=None,
                        help="threads for the parallel run (default: every core)")
    parser.add_argument("--coverage", action="store_true",
                        help="validate the intervals' coverage instead of timing them")
    parser.add_argument("--repetitions", type=int, default=200)
    args = parser.parse_args()
    if args.coverage:
        coverage(args.repetitions)
        return
    jobs = args.jobs or default_jobs()
    problem = SyntheticProblem(n_actions=10, dim=5, seed=3, logging_temperature=3.0,
                               eval_temperature=1.0)
    log, dist = problem.sample(args.rounds, np.random.default_rng(0))
    start = time.perf_counter()
    q = RewardModel(kind="ridge").fit_predict(log.context, log.action, log.reward,
                                              log.n_actions)
    fit_s = time.perf_counter() - start
    out: dict[str, object] = {"benchmark": "ope", "rounds": args.rounds, "actions": 10,
                              "bootstrap": args.bootstrap, "jobs": jobs,
                              "load_average_1min": round(os.getloadavg()[0], 2),
                              "reward_model_fit_s": round(fit_s, 3),
                              "truth": round(problem.true_value(), 5)}
    met = True
    for name in ("ips", "snips", "dr"):
        est = make_estimator(name)
        kwargs = {"reward": log.reward, "action": log.action, "pscore": log.pscore,
                  "action_dist": dist, "estimated_rewards": q if est.needs_model else None}
        start = time.perf_counter()
        value = est.estimate_policy_value(**kwargs)
        point_s = time.perf_counter() - start
        seconds, intervals = {}, {}
        for n_jobs in (1, jobs):
            start = time.perf_counter()
            intervals[n_jobs] = est.estimate_interval(**kwargs, n_bootstrap=args.bootstrap,
                                                      rng=np.random.default_rng(1),
                                                      n_jobs=n_jobs)
            seconds[n_jobs] = time.perf_counter() - start
        low, high = intervals[jobs]
        ok = point_s < 1.0 and seconds[jobs] < TARGET_S
        met = met and ok
        out[name] = {"estimate": round(value, 5), "ci95": [round(low, 5), round(high, 5)],
                     "point_s": round(point_s, 3), "bootstrap_1_core_s": round(seconds[1], 2),
                     "bootstrap_all_cores_s": round(seconds[jobs], 2),
                     "speedup": round(seconds[1] / seconds[jobs], 2),
                     "same_interval": intervals[1] == intervals[jobs], "met": ok}
    out["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    out["target"] = f"bootstrap < {TARGET_S:g} s on all cores, point estimate < 1 s"
    out["met"] = met
    print(json.dumps(out))


if __name__ == "__main__":
    main()
