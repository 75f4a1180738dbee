"""Off-policy estimator speed: IPS, SNIPS and DR on 1,000,000 synthetic rounds with 10
actions. Targets (issue #6): each point estimate under 1 s; a 1,000-replicate bootstrap
interval under 30 s (the reward model's predictions are given, as an OPE pipeline passes
them; fitting them is reported separately).

    python benchmarks/ope.py [--rounds 1000000] [--bootstrap 1000]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot.offline import RewardModel, SyntheticProblem, make_estimator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    problem = SyntheticProblem(n_actions=10, dim=5, seed=3, logging_temperature=3.0,
                               eval_temperature=1.0)
    log, dist = problem.sample(args.rounds, np.random.default_rng(0))
    start = time.perf_counter()
    q = RewardModel(kind="ridge").fit_predict(log.context, log.action, log.reward,
                                              log.n_actions)
    fit_s = time.perf_counter() - start
    out: dict[str, object] = {"benchmark": "ope", "rounds": args.rounds, "actions": 10,
                              "bootstrap": args.bootstrap, "reward_model_fit_s": round(fit_s, 3),
                              "truth": round(problem.true_value(), 5)}
    for name in ("ips", "snips", "dr"):
        est = make_estimator(name)
        kwargs = {"reward": log.reward, "action": log.action, "pscore": log.pscore,
                  "action_dist": dist, "estimated_rewards": q if est.needs_model else None}
        start = time.perf_counter()
        value = est.estimate_policy_value(**kwargs)
        point_s = time.perf_counter() - start
        start = time.perf_counter()
        low, high = est.estimate_interval(**kwargs, n_bootstrap=args.bootstrap,
                                          rng=np.random.default_rng(1))
        boot_s = time.perf_counter() - start
        out[name] = {"estimate": round(value, 5), "ci95": [round(low, 5), round(high, 5)],
                     "point_s": round(point_s, 3), "bootstrap_s": round(boot_s, 2),
                     "met": point_s < 1.0 and boot_s < 30.0}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
