"""Valid inference on bandit data (issue #19): error, power and coverage, fixed seeds.

Every instance is simulated twice with the same seeds, ``R`` runs of ``T = 10,000``
Bernoulli decisions, a look (and an allocation update) every 10 decisions and a 1%
exploration floor:

* Thompson sampling — read with "P(best) ≥ 95%" (the hosted platforms' rule) and with
  banditbot's valid rule (:func:`banditbot.statistics.stopping_rule`, α = 0.05);
* banditbot's sampling while no winner is declared — top-two sampling over the arms the rule
  has not ruled out (:func:`banditbot.policies.explore_contenders`) — read with the valid rule.

The valid rule is told the experiment's planned length, as a user sets ``winner.horizon``
(``--planned-horizon``, default the horizon ``T``; 0 for none); banditbot's sampling is also
run once more with the rule left unplanned (the library's default), for comparison.

Beside them, a fixed-horizon A/B/n test of the same error (uniform allocation, one z-test per
pair at the horizon, α split over the K events). A wrong winner is any declared arm that is
not the unique best (every winner of an A/A test); rates come with 95% Clopper–Pearson
intervals. Coverage: each arm's 95% interval at the horizon on the Thompson-sampling data.

    python benchmarks/inference.py [--quick] [--runs R] [--workers W] [--plots DIR]

Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from dataclasses import dataclass
from typing import Any

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot.sim._inference import InferenceRun, fixed_horizon_test, simulate_inference

ALPHA = 0.05
INSTANCES: list[tuple[str, tuple[float, ...]]] = [
    ("A/A, 2 arms", (0.10, 0.10)),
    ("A/A, 3 arms", (0.10, 0.10, 0.10)),
    ("A/A, 10 arms", (0.10,) * 10),
    ("near-tie, 3 arms", (0.10, 0.10, 0.105)),
    ("near-tie, 10 arms", (0.10,) * 9 + (0.105,)),
    ("gap, 2 arms", (0.10, 0.12)),
    ("gap, 3 arms", (0.10, 0.12, 0.15)),
]


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """Exact 95% binomial interval of ``k`` successes in ``n``."""
    from scipy.stats import beta

    lo = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return lo, hi


def _chunk(args: tuple[tuple[float, ...], str, int, int, int, int | None]) -> InferenceRun:
    rates, sampling, runs, horizon, seed, planned = args
    return simulate_inference(rates, runs=runs, horizon=horizon, sampling=sampling,  # type: ignore[arg-type]
                              alpha=ALPHA, seed=seed, planned_horizon=planned)


def run_pass(rates: tuple[float, ...], sampling: str, runs: int, horizon: int, seed: int,
             workers: int, planned: int | None = None) -> dict[str, np.ndarray]:
    """One pass split in ``workers`` blocks of runs (forked processes), concatenated."""
    sizes = [runs // workers + (1 if i < runs % workers else 0) for i in range(workers)]
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(workers)]
    jobs = [(rates, sampling, n, horizon, s, planned)
            for n, s in zip(sizes, seeds, strict=True) if n]
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            parts = pool.map(_chunk, jobs)
    else:
        parts = [_chunk(j) for j in jobs]
    fields = ("valid_winner", "valid_at", "pbest_winner", "pbest_at", "covered_naive",
              "covered_wald", "covered_score", "covered_cs", "covered_cs_always", "pulls")
    return {f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}


@dataclass
class RuleResult:
    wrong: int
    right: int
    runs: int
    median_at: float | None

    def rate(self, what: str) -> dict[str, float]:
        k = self.wrong if what == "wrong" else self.right
        lo, hi = clopper_pearson(k, self.runs)
        return {"rate": k / self.runs, "low": lo, "high": hi}


def score(winner: np.ndarray, at: np.ndarray | None, rates: tuple[float, ...]) -> RuleResult:
    mu = np.asarray(rates)
    best = int(mu.argmax())
    unique = int((mu == mu.max()).sum()) == 1
    declared = winner >= 0
    right = declared & (winner == best) & unique
    wrong = declared & ~right
    median = float(np.median(at[right])) if at is not None and right.any() else None
    return RuleResult(int(wrong.sum()), int(right.sum()), int(winner.shape[0]), median)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def rate_text(r: RuleResult, what: str) -> str:
    d = r.rate(what)
    return f"{pct(d['rate'])} [{pct(d['low'])}–{pct(d['high'])}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument("--runs", type=int, default=None, help="runs per instance (K <= 3)")
    parser.add_argument("--runs10", type=int, default=None, help="runs per 10-arm instance")
    parser.add_argument("--horizon", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--plots", default=None, help="write PNGs to this folder")
    parser.add_argument("--only", default=None, help="comma-separated instance numbers")
    parser.add_argument("--planned-horizon", type=int, default=None,
                        help="the rule's planned horizon (winner.horizon); default the "
                             "horizon, 0: none")
    args = parser.parse_args()
    runs = args.runs or (100 if args.quick else 1000)
    runs10 = args.runs10 or (40 if args.quick else 400)
    horizon = args.horizon or (2000 if args.quick else 10_000)
    planned = horizon if args.planned_horizon is None else (args.planned_horizon or None)
    chosen = INSTANCES if args.only is None else [INSTANCES[int(i)] for i in
                                                   args.only.split(",")]
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    for i, (name, rates) in enumerate(chosen):
        r = runs10 if len(rates) > 3 else runs
        t0 = time.perf_counter()
        seed = args.seed + 100 * i
        ts = run_pass(rates, "thompson", r, horizon, seed, args.workers, planned)
        ex = run_pass(rates, "explore", r, horizon, seed, args.workers, planned)
        unplanned = (run_pass(rates, "explore", r, horizon, seed, args.workers)
                     if planned is not None else None)
        fixed = fixed_horizon_test(rates, runs=r, horizon=horizon, alpha=ALPHA,
                                   seed=args.seed + 100 * i)
        rules = {
            "pbest_95_thompson": score(ts["pbest_winner"], ts["pbest_at"], rates),
            "valid_thompson": score(ts["valid_winner"], ts["valid_at"], rates),
            "valid_explore": score(ex["valid_winner"], ex["valid_at"], rates),
            "fixed_horizon": score(fixed, np.full(r, horizon), rates),
        }
        if unplanned is not None:
            rules["valid_explore_unplanned"] = score(unplanned["valid_winner"],
                                                     unplanned["valid_at"], rates)
        coverage = {
            f"{kind}_{data}": float(src[f"covered_{kind}"].mean())
            for data, src in (("thompson", ts), ("explore", ex))
            for kind in ("naive", "wald", "score", "cs", "cs_always")
        }
        worst_arm = {
            f"{kind}_thompson_worst_arm": float(ts[f"covered_{kind}"].mean(axis=0).min())
            for kind in ("naive", "score", "cs_always")
        }
        results.append({
            "instance": name, "rates": list(rates), "runs": r, "horizon": horizon,
            "rules": {k: {"wrong": v.rate("wrong"), "right": v.rate("right"),
                          "median_decisions_to_right_winner": v.median_at}
                      for k, v in rules.items()},
            "coverage": {**coverage, **worst_arm},
            "seconds": time.perf_counter() - t0,
        })
        print(f"# {name}: {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    print_tables(results, horizon, planned)
    if args.plots:
        plot(results, args.plots)
    gap = next((x for x in results if x["instance"] == "gap, 3 arms"), None)
    null = [x for x in results if not x["instance"].startswith("gap")]
    summary = {
        "benchmark": "inference", "alpha": ALPHA, "horizon": horizon, "look_every": 10,
        "planned_horizon": planned,
        "floor": 0.01, "seed": args.seed, "seconds": round(seconds, 1),
        "instances": results,
        "targets": {
            "gap3_right_winner_ge_90pct": None if gap is None else
            gap["rules"]["valid_explore"]["right"]["rate"] >= 0.90,
            "gap3_right_winner": None if gap is None else
            gap["rules"]["valid_explore"]["right"]["rate"],
            "null_wrong_winner_le_alpha": all(
                v["wrong"]["rate"] <= ALPHA for x in null
                for k, v in x["rules"].items() if k.startswith("valid")),
            "null_wrong_winner_max": max(
                (v["wrong"]["rate"] for x in null
                 for k, v in x["rules"].items() if k.startswith("valid")), default=None),
        },
    }
    print(json.dumps(summary, separators=(",", ":")))


def print_tables(results: list[dict[str, Any]], horizon: int, planned: int | None) -> None:
    plan = "" if planned is None else f", planned {planned:,}"
    labels = {"pbest_95_thompson": "P(best) ≥ 95%, Thompson sampling",
              "valid_thompson": f"valid rule{plan}, Thompson sampling",
              "valid_explore": f"valid rule{plan}, explore contenders (ours)",
              "valid_explore_unplanned": "valid rule, no plan, explore contenders",
              "fixed_horizon": f"fixed-horizon test at {horizon:,}, uniform"}
    print("| instance | rule | wrong winner [95% CI] | right winner [95% CI] | "
          "median decisions to right winner |")
    print("| --- | --- | --- | --- | --- |")
    for x in results:
        for key, label in labels.items():
            if key not in x["rules"]:
                continue
            r = x["rules"][key]
            w, g = r["wrong"], r["right"]
            unique = len(set(x["rates"])) > 1 and x["rates"].count(max(x["rates"])) == 1
            right = (f"{pct(g['rate'])} [{pct(g['low'])}–{pct(g['high'])}]" if unique
                     else "–")
            med = r["median_decisions_to_right_winner"]
            print(f"| {x['instance']} ({x['runs']} runs) | {label} | {pct(w['rate'])} "
                  f"[{pct(w['low'])}–{pct(w['high'])}] | {right} | "
                  f"{'–' if med is None else f'{med:,.0f}'} |")
    print()
    print("| instance | data | naive pooled (Wilson) | AIPW, √π weights, Wald | "
          "AIPW, √π weights, score (ours) | anytime sequence at the horizon | "
          "anytime sequence at every decision |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for x in results:
        c = x["coverage"]
        for data in ("thompson", "explore"):
            print(f"| {x['instance']} | {data} | {pct(c[f'naive_{data}'])} | "
                  f"{pct(c[f'wald_{data}'])} | {pct(c[f'score_{data}'])} | "
                  f"{pct(c[f'cs_{data}'])} | {pct(c[f'cs_always_{data}'])} |")


def plot(results: list[dict[str, Any]], folder: str) -> None:
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    names = [x["instance"] for x in results]
    keys = [("pbest_95_thompson", "P(best) ≥ 95% (TS)"), ("valid_thompson", "valid rule (TS)"),
            ("valid_explore", "valid rule + explore (ours)"),
            ("fixed_horizon", "fixed horizon (uniform)")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    y = np.arange(len(names))
    h = 0.2
    for j, (key, label) in enumerate(keys):
        for ax, what in ((axes[0], "wrong"), (axes[1], "right")):
            rates = np.array([x["rules"][key][what]["rate"] for x in results])
            lo = np.array([x["rules"][key][what]["low"] for x in results])
            hi = np.array([x["rules"][key][what]["high"] for x in results])
            ax.barh(y + (j - 1.5) * h, rates, height=h, label=label,
                    xerr=np.vstack([rates - lo, hi - rates]), capsize=2)
    axes[0].axvline(ALPHA, color="k", linestyle="--", linewidth=1)
    axes[0].set_title("wrong winner, ever (look every 10 decisions)", fontsize=10)
    axes[1].set_title("right winner by 10,000 decisions", fontsize=10)
    for ax in axes:
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "inference-error-power.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4))
    kinds = [("naive", "naive pooled"), ("wald", "AIPW Wald"), ("score", "AIPW score (ours)"),
             ("cs_always", "anytime sequence, every decision")]
    for j, (kind, label) in enumerate(kinds):
        vals = [x["coverage"][f"{kind}_thompson"] for x in results]
        ax.bar(np.arange(len(names)) + (j - 1.5) * h, vals, width=h, label=label)
    ax.axhline(0.95, color="k", linestyle="--", linewidth=1)
    ax.set_ylim(0.85, 1.0)
    ax.set_xticks(np.arange(len(names)), names, fontsize=7, rotation=20)
    ax.set_ylabel("coverage of the arms' rates (95% intervals)")
    ax.set_title("Interval coverage on Thompson-sampling data at 10,000 decisions", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "inference-coverage.png", dpi=110)
    plt.close(fig)
    illustrate(out / "inference-one-run.png")


def illustrate(path: Any, rates: tuple[float, ...] = (0.10, 0.12, 0.15), horizon: int = 10_000,
               seed: int = 3) -> None:
    """One experiment run as the service would (explore sampling, a look every 10
    decisions, the rule planned for ``horizon``), with its sequences recomputed from the log
    at 50 looks."""
    import matplotlib.pyplot as plt

    from banditbot.policies import explore_contenders
    from banditbot.sim._inference import normal_best_probabilities_rows
    from banditbot.statistics import SequentialTest, anytime_inference

    rng = np.random.default_rng(seed)
    mu = np.asarray(rates)
    k = mu.shape[0]
    test = SequentialTest(k, alpha=ALPHA, horizon=horizon)  # planned as in the passes
    n, s = np.zeros(k), np.zeros(k)
    arms = np.empty(horizon, dtype=np.intp)
    probs = np.empty((horizon, k))
    rewards = np.empty(horizon)
    p = np.full(k, 1 / k)
    pbest_path = []
    for t in range(horizon):
        if t % 10 == 0:
            best = normal_best_probabilities_rows((s + 1)[None], (n - s + 1)[None])[0]
            pbest_path.append((t, best))
            p = 0.01 + (1 - k * 0.01) * explore_contenders(best, test.contenders)
        arm = int(rng.choice(k, p=p))
        y = float(rng.random() < mu[arm])
        arms[t], probs[t], rewards[t] = arm, p, y
        test.update(arm, p, y)
        n[arm] += 1
        s[arm] += y
    looks = np.unique(np.geomspace(100, horizon, 50).astype(int))
    rows = [anytime_inference(arms[:t], probs[:t], rewards[:t], horizon=horizon)
            for t in looks]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for a in range(k):
        (line,) = axes[0].plot(looks, [r.estimate[a] for r in rows], label=f"arm {a} ({mu[a]})")
        axes[0].fill_between(looks, [r.low[a] for r in rows], [r.high[a] for r in rows],
                             color=line.get_color(), alpha=0.15)
        axes[0].axhline(mu[a], color=line.get_color(), linestyle=":", linewidth=1)
    axes[0].set_ylim(0, 0.35)
    axes[0].set_title("each arm: AIPW estimate and 95% confidence sequence", fontsize=10)
    best = int(mu.argmax())
    axes[1].fill_between(looks, [r.diff_low[best] for r in rows],
                         [r.diff_high[best] for r in rows], alpha=0.3,
                         label=f"μ(arm {best}) − best other: sequence at α/K per side")
    axes[1].axhline(0, color="k", linewidth=1)
    axes[1].axhline(mu[best] - np.sort(mu)[-2], color="k", linestyle=":", linewidth=1)
    if test.declared_at is not None:
        axes[1].axvline(int(test.declared_at), color="tab:green", linestyle="--",
                        label=f"winner declared at {int(test.declared_at):,}")
    twin = axes[1].twinx()
    twin.plot([t for t, _ in pbest_path if t >= 100],
              [b[best] for t, b in pbest_path if t >= 100], color="tab:red",
              linewidth=0.8, label="P(best) (a description)")
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("P(best)", fontsize=8)
    axes[1].set_ylim(-0.15, 0.15)
    axes[1].set_title("the leader's difference to the best other arm", fontsize=10)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("decisions")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7, loc="lower right")
    twin.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
