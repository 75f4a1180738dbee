"""Do the report's estimates and intervals hold for an arm added mid-experiment?

A trial ran a contextual experiment (LinUCB; features ``hour`` cyclic, ``language_code``
categorical, ``past_reward_rate`` numeric; arms formal/casual/emoji), retired ``emoji``,
added ``wave`` and ran 1,200 more decisions; its report gave wave 0.026 (0.000–0.266) for a
population value of 0.28. This script repeats that design through ``BanditService`` on a
``MemoryStore`` with a fake clock and fixed seeds, and measures, per arm:

- **one-look coverage**: the report's interval (the adaptively weighted AIPW estimate's, "at
  this look") at the final look contains the arm's true value;
- **every-look coverage**: the arm's confidence sequence contains the true value at *every*
  decision (checked exactly: the e-process at the true value never reaches ``2/α`` on
  either side, the same bets as the report's sequence);
- **bias** of the weighted estimate (and of the unweighted AIPW mean);
- for the added arm, the one-look interval at early looks (25, 50, 100, 200 decisions after
  it was added, most with fewer than 30 answers): whether the report shows it, whether it
  covers.

The estimand. Each arm's estimate averages its AIPW scores over the decisions that offered
it (docs/inference.md, "Arms added or retired"); a score's conditional mean is the arm's
value over the context distribution of that decision, ``μ(a) = E_X[P(Y = 1 | X, a)]`` —
the value of playing the arm for everyone. With contexts drawn i.i.d. (here) that is the
population value at every decision; the script also reports coverage of the in-sample
value (the mean of ``P(Y = 1 | x_t, a)`` over the decisions that offered the arm, weighted
as the estimate weighs them), which is what the estimate targets when the context mix
drifts over time.

Truth: ``P(Y = 1 | x, a) = base_a[language] + s_a sin(2π hour/24) + c_a cos(2π hour/24)
+ g_a (past_reward_rate − 0.4)`` (never clipped: checked), hour uniform on 0..23, language
en/de/es at 0.5/0.3/0.2, past_reward_rate ~ Beta(2, 3). ``wave`` is worth 0.55 to ``de``
speakers and 0.12–0.18 to the rest (0.285 over everyone), so LinUCB plays it mostly where
it pays and its raw mean is far above its value (as in the trial: 0.52 against 0.28).

Scenarios (``--scenarios``):

- ``contextual-add``: the trial's design: 1,500 decisions, retire emoji, add wave, 1,200 more;
- ``plain-add``: the same with Thompson sampling and no features (no context in the policy;
  the rewards still depend on it);
- ``contextual-add-clock``: the same with the hour read off the clock (a decision every
  30 s from a random hour: the arm added runs for 10 hours, not a whole day), where the
  value over the decisions that offered it is not the day's;
- ``contextual-no-add``: the three first arms for 2,700 decisions;
- ``contextual-wave``: formal, casual and wave from the start, 1,200 decisions (wave's own
  difficulty, without the arm change).

Usage::

    python benchmarks/coverage_added_arm.py --runs 300 --workers 2 [--seed 7]

Prints a table and one JSON line per scenario.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import _isolate  # (first: keeps this folder's http.py off sys.path)
import numpy as np

from banditbot import BanditService, MemoryStore, parse_config
from banditbot.service import log_arrays
from banditbot.statistics import aipw_scores, anytime_inference
from banditbot.statistics._sequential import _ppf, _weighted

LANGS = ("en", "de", "es")
LANG_P = np.array([0.5, 0.3, 0.2])
PRR_MEAN = 0.4  # Beta(2, 3)
#: per arm: base by language (en, de, es), sin and cos of the hour, past_reward_rate slope
TRUTH: dict[str, tuple[tuple[float, float, float], float, float, float]] = {
    "formal": ((0.30, 0.40, 0.25), 0.08, 0.00, 0.20),
    "casual": ((0.45, 0.30, 0.50), 0.00, 0.10, 0.30),
    "emoji": ((0.20, 0.15, 0.45), -0.05, 0.00, 0.10),
    "wave": ((0.18, 0.55, 0.15), 0.04, -0.06, 0.10),
}
ALPHA = 0.05
EARLY = (25, 50, 100, 200)


def population_value(arm: str) -> float:
    """``E_X[P(Y = 1 | X, arm)]``: linear in the context and never clipped, so the value at
    the context's means (sin and cos of a uniform hour average to 0)."""
    base, s, c, g = TRUTH[arm]
    # never clipped: the extremes over every context stay inside (0, 1)
    amp = math.hypot(s, c)
    lo = min(base) - amp - abs(g) * max(PRR_MEAN, 1 - PRR_MEAN)
    hi = max(base) + amp + abs(g) * max(PRR_MEAN, 1 - PRR_MEAN)
    assert lo > 0.0 and hi < 1.0, (arm, lo, hi)
    return float(LANG_P @ np.array(base))


def truth_matrix(hours: np.ndarray, lang: np.ndarray, prr: np.ndarray,
                 arms: tuple[str, ...]) -> np.ndarray:
    """``P(Y = 1 | x_t, a)``, shape ``(T, len(arms))``."""
    angle = 2.0 * math.pi * hours / 24.0
    cols = []
    for a in arms:
        base, s, c, g = TRUTH[a]
        cols.append(np.array(base)[lang] + s * np.sin(angle) + c * np.cos(angle)
                    + g * (prr - PRR_MEAN))
    return np.stack(cols, axis=1)


@dataclass(frozen=True)
class Scenario:
    name: str
    contextual: bool
    first: tuple[str, ...]  # arms at the start
    before: int  # decisions before the change
    after: int  # decisions after it (0: no change)
    retire: str | None = None
    add: str | None = None
    #: the hour is the clock's (a decision every 30 s from a random hour), not drawn
    clock_hours: bool = False


SCENARIOS = {
    "contextual-add": Scenario("contextual-add", True, ("formal", "casual", "emoji"), 1500,
                               1200, "emoji", "wave"),
    "contextual-add-clock": Scenario("contextual-add-clock", True,
                                     ("formal", "casual", "emoji"), 1500, 1200, "emoji",
                                     "wave", clock_hours=True),
    "plain-add": Scenario("plain-add", False, ("formal", "casual", "emoji"), 1500, 1200,
                          "emoji", "wave"),
    "contextual-no-add": Scenario("contextual-no-add", True, ("formal", "casual", "emoji"),
                                  2700, 0),
    "contextual-wave": Scenario("contextual-wave", True, ("formal", "casual", "wave"), 1200,
                                0),
}


def _config(sc: Scenario) -> Any:
    exp: dict[str, Any] = {"id": "g", "arms": [{"id": a, "content": a} for a in sc.first],
                           "control": "casual"}
    if sc.contextual:
        exp["policy"] = "linucb"
        exp["features"] = [
            {"name": "hour", "type": "cyclic"},
            {"name": "language_code", "type": "categorical", "values": list(LANGS)},
            {"name": "past_reward_rate", "center": 0.5}]
    return parse_config({"experiments": [exp]})


def run(args: tuple[str, int]) -> dict[str, Any]:
    """One experiment of ``scenario`` with seed ``seed``: what each arm's numbers were."""
    name, seed = args
    sc = SCENARIOS[name]
    total = sc.before + sc.after
    env = np.random.default_rng([seed, 1])
    hours = env.integers(0, 24, total)
    lang = env.choice(3, size=total, p=LANG_P)
    prr = env.beta(2.0, 3.0, total)
    every = sc.first + ((sc.add,) if sc.add else ())
    truth = truth_matrix(hours, lang, prr, every)
    u = env.random(total)
    if sc.clock_hours:  # 1,200 decisions span 10 hours: the mix of hours is not the day's
        hours = (int(env.integers(0, 24)) + (np.arange(total) + 1) * 30 // 3600) % 24
        truth = truth_matrix(hours, lang, prr, every)
    now = [1_700_000_000.0]
    svc = BanditService(_config(sc), MemoryStore(), rng=np.random.default_rng([seed, 2]),
                        clock=lambda: now[0])
    column = {a: i for i, a in enumerate(every)}
    for t in range(total):
        if sc.after and t == sc.before:
            assert sc.retire and sc.add
            svc.retire_arm("g", sc.retire)
            svc.add_arm("g", sc.add, sc.add)
        now[0] += 30.0
        ctx = {"hour": int(hours[t]), "language_code": LANGS[lang[t]],
               "past_reward_rate": round(float(prr[t]), 4)}
        d = svc.decide("g", f"u{t}", ctx)
        svc.reward(d.id, int(u[t] < truth[t, column[d.arm]]), f"u{t}")
    report = svc.report("g")
    view = svc.view("g")
    arms = view.all_arms
    chosen, probs, rewards = log_arrays(svc.decisions("g"), arms, view.lo, view.span)
    floor = min(view.config.floor, 0.5 / max(len(view.arms), 1))
    contextual = sc.contextual
    inf = anytime_inference(chosen, probs, rewards, confidence=0.95,
                            control=arms.index("casual"), contextual=contextual, floor=floor,
                            active=[a in view.arms for a in arms])
    scores = aipw_scores(chosen, probs, rewards, contextual=contextual, floor=floor)
    sub_truth = truth[:, [column[a] for a in arms]][scores.rows]
    h = np.sqrt(scores.weight_p)
    out: dict[str, Any] = {}
    for i, a in enumerate(arms):
        row = report.arms[i]
        mu = population_value(a)
        offered = scores.weight_p[:, i] > 0
        insample = float((h[:, i] * sub_truth[:, i]).sum() / h[:, i].sum())
        # the report's interval is the inference's (a check that this is what it shows)
        assert row.estimate_low is not None and row.estimate_high is not None
        assert abs(row.estimate_low - inf.fixed_low[i]) < 1e-9, (a, row.estimate_low)
        assert abs(row.estimate_high - inf.fixed_high[i]) < 1e-9, (a, row.estimate_high)
        outside = _isolate.ever_outside(scores, i, mu, math.log(2.0 / ALPHA))
        at_end = not (inf.low[i] <= mu <= inf.high[i])
        assert not at_end or outside, (a, "sequence excludes at the end but not the path")
        taken = chosen[~np.isnan(rewards)] == i
        out[a] = {
            "mu": mu, "insample": insample, "answered": float(inf.answered[i])
            if inf.answered is not None else math.nan,
            "raw": float(rewards[~np.isnan(rewards)][taken].mean()) if taken.any()
            else math.nan,
            "w_est": float(inf.weighted_estimate[i]), "aipw": float(inf.estimate[i]),
            "shown": row.estimate, "low": row.estimate_low, "high": row.estimate_high,
            "seq_low": float(inf.low[i]), "seq_high": float(inf.high[i]),
            "every_look": not outside, "offered": int(offered.sum()),
        }
    if sc.add:  # the added arm at early looks (the one-look interval as the report has it)
        i = arms.index(sc.add)
        early = []
        z = _ppf(1.0 - ALPHA / 2.0)
        for n in EARLY:
            cut = sc.before + n
            part = aipw_scores(chosen[:cut], probs[:cut], rewards[:cut],
                               contextual=contextual, floor=floor)
            est, lo, hi = _weighted(part, z)
            answered = int(np.count_nonzero(chosen[:cut][~np.isnan(rewards[:cut])] == i))
            early.append({"after": n, "answered": answered, "low": float(lo[i]),
                          "high": float(hi[i]), "est": float(est[i])})
        out["early"] = early
    return out


def summarize(name: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    sc = SCENARIOS[name]
    every = sc.first + ((sc.add,) if sc.add else ())
    rows: dict[str, Any] = {}
    for a in every:
        mu = results[0][a]["mu"]
        cover = sum(r[a]["low"] <= mu <= r[a]["high"] for r in results)
        cover_in = sum(r[a]["low"] <= r[a]["insample"] <= r[a]["high"] for r in results)
        above = sum(mu > r[a]["high"] for r in results)  # truth above the interval
        ev = sum(r[a]["every_look"] for r in results)
        w = np.array([r[a]["w_est"] for r in results])
        plain = np.array([r[a]["aipw"] for r in results])
        width = np.array([r[a]["high"] - r[a]["low"] for r in results])
        raw = np.array([r[a]["raw"] for r in results])
        rows[a] = {
            "mu": round(mu, 4), "one_look": cover / n, "one_look_ci": _isolate.binom(cover, n),
            "one_look_insample": cover_in / n, "truth_above": above / n,
            "every_look": ev / n, "every_look_ci": _isolate.binom(ev, n),
            "bias_weighted": float(w.mean() - mu), "bias_se": float(w.std(ddof=1) / math.sqrt(n)),
            "sd_weighted": float(w.std(ddof=1)),
            "bias_aipw": float(plain.mean() - mu),
            "width": float(width.mean()), "raw_mean": float(np.nanmean(raw)),
            "answered": float(np.mean([r[a]["answered"] for r in results])),
        }
    out: dict[str, Any] = {"scenario": name, "runs": n, "arms": rows}
    if sc.add:
        mu = results[0][sc.add]["mu"]
        early = []
        for j, after in enumerate(EARLY):
            e = [r["early"][j] for r in results]
            shown = [x for x in e if math.isfinite(x["low"])]
            few = [x for x in shown if x["answered"] < 30]
            cov = sum(x["low"] <= mu <= x["high"] for x in shown)
            cov_few = sum(x["low"] <= mu <= x["high"] for x in few)
            early.append({"after": after, "shown": len(shown) / n,
                          "answered_median": float(np.median([x["answered"] for x in e])),
                          "one_look": cov / max(len(shown), 1),
                          "one_look_ci": _isolate.binom(cov, len(shown)) if shown else None,
                          "few_runs": len(few),
                          "one_look_few": cov_few / len(few) if few else None,
                          "one_look_few_ci": _isolate.binom(cov_few, len(few)) if few else None,
                          "width": float(np.mean([x["high"] - x["low"] for x in shown]))
                          if shown else None})
        out["early"] = early
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    names = [s for s in args.scenarios.split(",") if s]
    for name in names:
        start = time.perf_counter()
        jobs = [(name, args.seed * 1_000_003 + r) for r in range(args.runs)]
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(run, jobs, chunksize=4))
        summary = summarize(name, results)
        summary["seconds"] = round(time.perf_counter() - start, 1)
        print(f"\n{name}: {args.runs} runs ({summary['seconds']} s)")
        print(f"{'arm':8} {'mu':>6} {'raw':>6} {'answ':>6} {'one-look [95% CI]':>22} "
              f"{'insmp':>6} {'above':>6} {'every-look [95% CI]':>22} {'bias':>8} {'±se':>6} "
              f"{'aipw':>7} {'width':>6}")
        for a, r in summary["arms"].items():
            lo, hi = r["one_look_ci"]
            elo, ehi = r["every_look_ci"]
            print(f"{a:8} {r['mu']:6.3f} {r['raw_mean']:6.3f} {r['answered']:6.0f} "
                  f"{r['one_look']:7.1%} [{lo:5.1%}-{hi:5.1%}] {r['one_look_insample']:6.1%} "
                  f"{r['truth_above']:6.1%} {r['every_look']:7.1%} [{elo:5.1%}-{ehi:5.1%}] "
                  f"{r['bias_weighted']:+8.4f} {r['bias_se']:6.4f} {r['bias_aipw']:+7.4f} "
                  f"{r['width']:6.3f}")
        for e in summary.get("early", []):
            print(f"  added arm, {e['after']} decisions after: shown {e['shown']:.0%}, median "
                  f"{e['answered_median']:.0f} answers, one-look {e['one_look']:.1%} "
                  f"{e['one_look_ci']}, runs < 30 answers {e['few_runs']}: "
                  f"{e['one_look_few']} {e['one_look_few_ci']}, width {e['width']}")
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
