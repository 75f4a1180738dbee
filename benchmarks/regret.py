"""Learning quality: banditbot vs MABWiser on the same instances and seeds.

One run, ``--runs`` (default 200) runs of T = ``--horizon`` (default 10,000) steps each, mean
cumulative pseudo-regret ± 95% CI. The Bernoulli comparison needs tighter intervals (the
policies compared differ by a few units of regret, and one run's regret varies by tens):
banditbot's vectorized simulator runs ``--sim-runs`` (default 4,000) there, and MABWiser's
loop ``--mabwiser-runs`` (default 1,000; about 25 minutes on two cores). More runs narrow the
intervals without favouring either side.

1. Bernoulli [0.10, 0.12, 0.15] and [0.05, 0.10, 0.15, 0.20, 0.25]: our Thompson sampling
   (the default, optimistic) and KL-UCB against MABWiser's Thompson sampling and UCB1;
   regret / Lai–Robbins. Our textbook Thompson sampling (``optimistic=False``, the same
   algorithm as MABWiser's) is printed beside them.
2. Linear contextual, 5 arms, 5 features (same θ, contexts drawn from the same seeds): our
   LinUCB and linear TS against MABWiser's LinUCB and against the best non-contextual policy.
3. Abrupt swap of the best arm at T/2: discounted TS vs stationary TS, regret after the swap.
4. ε-greedy (ε = 0.1): measured regret slope over the second half vs ε/K · Σ gaps.
5. Optimistic (the default) vs textbook Thompson sampling on instances beyond the two above:
   easy, close, high rates, 10 and 50 arms (``--sim-runs`` runs each).

MABWiser runs one Python loop per run (``predict`` + ``partial_fit``), spread over processes.

    python benchmarks/regret.py [--runs 200] [--sim-runs 4000] [--mabwiser-runs 1000]
        [--horizon 10000] [--quick] [--only bernoulli]

Prints one JSON line (and writes ``benchmarks/out/regret-*.png`` with ``--plots``).
"""

from __future__ import annotations

import argparse
import json
import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot import make_policy
from banditbot.sim import (
    AbruptDriftEnv,
    BernoulliEnv,
    LinearContextualEnv,
    lai_robbins,
    plot_regret,
    simulate,
)

Z = 1.959963984540054
SECTIONS = ("bernoulli", "optimism", "linear", "swap", "epsilon")


def ci(values: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(values.mean()), 2),
            "ci95": round(float(Z * values.std(ddof=1) / math.sqrt(values.size)), 2)}


def mabwiser_bernoulli(args: tuple[str, tuple[float, ...], int, int]) -> float:
    name, rates, horizon, seed = args
    from mabwiser.mab import MAB, LearningPolicy

    policy = {"ts": LearningPolicy.ThompsonSampling(),
              "ucb1": LearningPolicy.UCB1(alpha=1.0)}[name]
    k = len(rates)
    mab = MAB(list(range(k)), policy, seed=seed)
    rng = np.random.default_rng(10_000 + seed)
    r = np.asarray(rates)
    gaps = r.max() - r
    # one pull of each arm first (UCB1's initialization; MABWiser's UCB1 never tries an arm
    # it has no data for), counted in the regret like every other pull
    mab.fit(list(range(k)), [int(rng.random() < p) for p in r])
    regret = float(gaps.sum())
    for _ in range(horizon - k):
        arm = int(mab.predict())
        regret += gaps[arm]
        mab.partial_fit([arm], [int(rng.random() < r[arm])])
    return regret


def mabwiser_linucb(args: tuple[int, int, int]) -> tuple[float, float]:
    horizon, seed, env_seed = args
    from mabwiser.mab import MAB, LearningPolicy

    env = LinearContextualEnv(arms_=5, dim=5, seed=env_seed)
    mab = MAB(list(range(5)), LearningPolicy.LinUCB(alpha=1.0, l2_lambda=1.0), seed=seed)
    mab.fit([], [], np.zeros((0, 5)))
    rng = np.random.default_rng(20_000 + seed)
    regret = reward = 0.0
    for t in range(horizon):
        x = env.contexts(rng, t, 1)
        means = env.means(t, x, 1)[0]
        arm = int(mab.predict(x))
        y = float(means[arm] + env.noise * rng.standard_normal())
        regret += float(means.max() - means[arm])
        reward += y
        mab.partial_fit([arm], [y], x)
    return regret, reward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sim-runs", type=int, default=4000,
                        help="banditbot's runs in the Bernoulli comparison")
    parser.add_argument("--mabwiser-runs", type=int, default=1000,
                        help="MABWiser's runs in the Bernoulli comparison")
    parser.add_argument("--horizon", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="20 runs × 1,000 steps")
    parser.add_argument("--plots", action="store_true", help="write PNGs to benchmarks/out/")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run only these sections (repeatable; default: all)")
    args = parser.parse_args()
    runs, horizon = (20, 1000) if args.quick else (args.runs, args.horizon)
    if args.quick:
        args.sim_runs = args.mabwiser_runs = 20
    out: dict[str, Any] = {"benchmark": "regret", "runs": runs, "horizon": horizon}
    plots = Path(__file__).parent / "out"
    if args.plots:
        plots.mkdir(exist_ok=True)
    pool = ProcessPoolExecutor(args.workers)
    only = set(args.only or SECTIONS)

    if "bernoulli" in only:
        bernoulli(args, horizon, pool, plots, out)
    if "optimism" in only:
        optimism(args, horizon, out)
    if "linear" in only:
        linear(args, runs, horizon, pool, plots, out)
    if "swap" in only:
        swap(args, runs, horizon, plots, out)
    if "epsilon" in only:
        epsilon(args, runs, horizon, out)
    pool.shutdown()
    print(json.dumps(out))


def bernoulli(args: argparse.Namespace, horizon: int, pool: ProcessPoolExecutor,
              plots: Path, out: dict[str, Any]) -> None:
    """1. Bernoulli instances: our TS and KL-UCB vs MABWiser's TS and UCB1."""
    section: dict[str, Any] = {"banditbot_runs": args.sim_runs,
                               "mabwiser_runs": args.mabwiser_runs}
    out["bernoulli"] = section
    for label, rates in (("3 arms", (0.10, 0.12, 0.15)),
                         ("5 arms", (0.05, 0.10, 0.15, 0.20, 0.25))):
        env = BernoulliEnv(rates=rates)
        bound = float(lai_robbins(np.asarray(rates), np.array([float(horizon)]))[0])
        rows: dict[str, Any] = {"lai_robbins": round(bound, 2)}
        results = []
        for name, policy in (("thompson", make_policy("thompson")),
                             ("kl-ucb", make_policy("kl-ucb")),
                             ("thompson textbook", make_policy("thompson", optimistic=False))):
            res = simulate(policy, env, runs=args.sim_runs, horizon=horizon, seed=1,
                           workers=args.workers)
            results.append(res)
            rows[f"banditbot {name}"] = {**ci(res.regret[:, -1]),
                                         "regret/lai_robbins": round(res.final[0] / bound, 3)}
        for name in ("ts", "ucb1"):
            values = np.array(list(pool.map(mabwiser_bernoulli,
                                            [(name, rates, horizon, s)
                                             for s in range(args.mabwiser_runs)])))
            rows[f"mabwiser {name}"] = {**ci(values),
                                        "regret/lai_robbins": round(values.mean() / bound, 3)}
        for ours in ("thompson", "kl-ucb", "thompson textbook"):
            for theirs in ("ts", "ucb1"):
                a, b = rows[f"banditbot {ours}"], rows[f"mabwiser {theirs}"]
                diff, half = a["mean"] - b["mean"], math.hypot(a["ci95"], b["ci95"])
                rows[f"{ours} vs mabwiser {theirs}"] = {
                    "le": diff <= 0,
                    # ours minus theirs, with the 95% CI of the difference
                    "difference": {"mean": round(diff, 2), "ci95": round(half, 2)},
                    "lower_beyond_ci": diff + half < 0,
                    # not worse beyond noise: the difference is inside the combined 95% CI
                    "not_worse_within_ci": diff <= half}
        section[label] = rows
        if args.plots:
            plot_regret(results, plots / f"regret-bernoulli-{len(rates)}.png")


def optimism(args: argparse.Namespace, horizon: int, out: dict[str, Any]) -> None:
    """5. Optimistic vs textbook Thompson sampling on more Bernoulli instances."""
    draw = np.random.default_rng(0)
    instances = {"easy 0.2 / 0.5": (0.2, 0.5), "close 0.50 / 0.55": (0.5, 0.55),
                 "high 0.80 / 0.85 / 0.90": (0.8, 0.85, 0.9),
                 "10 arms in [0.02, 0.3]": tuple(draw.uniform(0.02, 0.3, 10)),
                 "50 arms in [0.02, 0.3]": tuple(draw.uniform(0.02, 0.3, 50))}
    section: dict[str, Any] = {"runs": args.sim_runs}
    for label, rates in instances.items():
        row = {}
        for name, optimistic in (("optimistic", True), ("textbook", False)):
            res = simulate(make_policy("thompson", optimistic=optimistic),
                           BernoulliEnv(rates=rates), runs=args.sim_runs, horizon=horizon,
                           seed=6, workers=args.workers)
            row[name] = ci(res.regret[:, -1])
        row["change"] = round(row["optimistic"]["mean"] / row["textbook"]["mean"] - 1, 3)
        section[label] = row
    out["optimistic_vs_textbook_thompson"] = section


def linear(args: argparse.Namespace, runs: int, horizon: int, pool: ProcessPoolExecutor,
           plots: Path, out: dict[str, Any]) -> None:
    """2. Linear contextual: LinUCB and linear TS vs MABWiser's LinUCB and plain policies."""
    env_seed = 7
    lin_env = LinearContextualEnv(arms_=5, dim=5, seed=env_seed)
    contextual: dict[str, Any] = {}
    lin_results = []
    for name in ("linucb", "lin-thompson", "gaussian-thompson", "ucb1", "epsilon-greedy"):
        res = simulate(make_policy(name), lin_env, runs=runs, horizon=horizon, seed=2,
                       workers=args.workers)
        lin_results.append(res)
        contextual[f"banditbot {name}"] = {**ci(res.regret[:, -1]),
                                           "reward": round(float(res.reward.mean()), 1)}
    pairs = list(pool.map(mabwiser_linucb, [(horizon, s, env_seed) for s in range(runs)]))
    theirs = np.array([p[0] for p in pairs])
    contextual["mabwiser linucb"] = {**ci(theirs),
                                     "reward": round(float(np.mean([p[1] for p in pairs])), 1)}
    best_plain = max(contextual[f"banditbot {n}"]["reward"]
                     for n in ("gaussian-thompson", "ucb1", "epsilon-greedy"))
    contextual["linear_beat_best_plain_reward"] = all(
        contextual[f"banditbot {n}"]["reward"] > best_plain for n in ("linucb", "lin-thompson"))
    for name in ("linucb", "lin-thompson"):
        a, b = contextual[f"banditbot {name}"], contextual["mabwiser linucb"]
        contextual[f"{name} vs mabwiser linucb"] = {
            "le": a["mean"] <= b["mean"],
            "not_worse_within_ci": a["mean"] - b["mean"] <= math.hypot(a["ci95"], b["ci95"])}
    out["linear_contextual"] = contextual
    if args.plots:
        plot_regret(lin_results[:2], plots / "regret-linear.png")


def swap(args: argparse.Namespace, runs: int, horizon: int, plots: Path,
         out: dict[str, Any]) -> None:
    """3. Abrupt swap of the best arm at T/2: discounted TS vs stationary TS."""
    swap = AbruptDriftEnv(before=(0.3, 0.2, 0.1), after=(0.1, 0.2, 0.3), at=horizon // 2)
    dts = simulate(make_policy("discounted-thompson", half_life=horizon / 20), swap, runs=runs,
                   horizon=horizon, seed=3, workers=args.workers)
    # stationary TS: textbook, the algorithm discounted TS discounts (the optimistic default
    # is printed too; it explores less and stays on the old best arm longer)
    ts = simulate(make_policy("thompson", optimistic=False), swap, runs=runs, horizon=horizon,
                  seed=3, workers=args.workers)
    ots = simulate(make_policy("thompson"), swap, runs=runs, horizon=horizon, seed=3,
                   workers=args.workers)
    (d_mean, d_ci), (t_mean, t_ci) = dts.after_change(), ts.after_change()
    o_mean, o_ci = ots.after_change()
    out["abrupt_swap"] = {
        "discounted_ts_after_swap": {"mean": round(d_mean, 2), "ci95": round(d_ci, 2)},
        "thompson_after_swap": {"mean": round(t_mean, 2), "ci95": round(t_ci, 2)},
        "optimistic_thompson_after_swap": {"mean": round(o_mean, 2), "ci95": round(o_ci, 2)},
        "reduction": round(1 - d_mean / t_mean, 3),
        "met_30_percent": d_mean <= 0.7 * t_mean,
    }
    if args.plots:
        plot_regret([dts, ts], plots / "regret-swap.png")


def epsilon(args: argparse.Namespace, runs: int, horizon: int, out: dict[str, Any]) -> None:
    """4. ε-greedy: measured regret slope over the second half vs ε/K · Σ gaps."""
    rates = np.array([0.2, 0.5, 0.8])
    eg = simulate(make_policy("epsilon-greedy", epsilon=0.1), BernoulliEnv(rates=tuple(rates)),
                  runs=runs, horizon=horizon, seed=4, workers=args.workers)
    slope = float((eg.regret[:, -1] - eg.at(horizon // 2)).mean() / (horizon - horizon // 2))
    theory = 0.1 / 3 * float((rates.max() - rates).sum())
    out["epsilon_greedy_slope"] = {"measured": round(slope, 5), "theory": round(theory, 5),
                                   "relative_error": round(abs(slope / theory - 1), 4),
                                   "met_10_percent": abs(slope / theory - 1) <= 0.10}


if __name__ == "__main__":
    main()
