"""Do the per-segment estimates and intervals (``banditbot report EXP --by FEATURE``) hold?

A contextual experiment (LinUCB; features ``is_premium`` categorical true/false and
``language`` categorical en/de; arms formal/casual/emoji) whose best arm differs by segment:
``formal`` for premium users, ``casual`` for the rest. The script runs it through
``BanditService`` on a ``MemoryStore`` with a fake clock and fixed seeds, reads
``segment_report(by="is_premium")`` at the end, and measures per segment and arm:

- **one-look coverage**: the segment's interval at this look (the adaptively weighted AIPW
  estimate's, on the segment's decisions alone) at the final look contains the arm's value
  in the segment;
- **every-look coverage**: the arm's confidence sequence on the segment contains that value
  at *every* decision of the segment (checked exactly: the e-process at the true value never
  reaches ``2/α`` on either side, the bets the report's sequence uses, as in
  ``coverage_added_arm.py``);
- **bias** of the weighted estimate;
- **leaders**: how often the segment names the best arm, and how often any other arm (a
  wrong leader, at any look: the rule's decision at the end is its first crossing).

The estimand. ``μ_v(a) = E[P(Y = 1 | X, a) | is_premium = v]``: the arm's mean reward if it
were sent to every decision of the segment, over the segment's mix of languages (drawn
independently of ``is_premium``: en 0.6, de 0.4), with contexts i.i.d. over time.

Scenarios (``--scenarios``):

- ``split``: the experiment's default floor (0.01), 2,000 decisions, premium 30% of users;
- ``split-floor10``: the same with a floor of 0.10 (the floor keeps the scores bounded);
- ``tie``: premium users find formal and casual equally good (0.35): any leader named in
  that segment is a wrong one.

Usage::

    python benchmarks/coverage_segments.py --runs 400 --workers 2 [--seed 11]

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
from banditbot.service import scan_arrays, segment_arms
from banditbot.statistics import aipw_scores

ARMS = ("formal", "casual", "emoji")
LANGS = ("en", "de")
LANG_P = np.array([0.6, 0.4])
ALPHA = 0.05
SEGMENTS = ("true", "false")
#: P(Y = 1 | is_premium, language, arm): [premium][language][arm]
SPLIT = {"true": ((0.50, 0.25, 0.20), (0.40, 0.30, 0.15)),
         "false": ((0.15, 0.40, 0.20), (0.20, 0.35, 0.30))}
TIE = {"true": ((0.35, 0.35, 0.20), (0.35, 0.35, 0.15)), "false": SPLIT["false"]}


@dataclass(frozen=True)
class Scenario:
    name: str
    rates: dict[str, tuple[tuple[float, ...], ...]]
    floor: float = 0.01
    decisions: int = 2000
    premium: float = 0.3


SCENARIOS = {
    "split": Scenario("split", SPLIT),
    "split-floor10": Scenario("split-floor10", SPLIT, floor=0.10),
    "tie": Scenario("tie", TIE),
}


def values(sc: Scenario) -> dict[str, np.ndarray]:
    """``μ_v(a)`` per segment: the language mix's average (independent of the segment)."""
    return {v: LANG_P @ np.array(sc.rates[v]) for v in SEGMENTS}


def best(sc: Scenario, v: str) -> int | None:
    """The segment's unique best arm, or ``None`` for a tie at the top."""
    mu = values(sc)[v]
    top = np.flatnonzero(np.isclose(mu, mu.max()))
    return int(top[0]) if top.size == 1 else None


def _config(sc: Scenario) -> Any:
    return parse_config({"experiments": [{
        "id": "g", "policy": "linucb", "floor": sc.floor,
        "arms": [{"id": a, "content": a} for a in ARMS],
        "features": [{"name": "is_premium", "type": "categorical", "values": [True, False]},
                     {"name": "language", "type": "categorical", "values": list(LANGS)}]}]})


def run(args: tuple[str, int]) -> dict[str, Any]:
    """One experiment of ``scenario`` with seed ``seed``: each segment's numbers."""
    name, seed = args
    sc = SCENARIOS[name]
    env = np.random.default_rng([seed, 1])
    premium = env.random(sc.decisions) < sc.premium
    lang = env.choice(2, size=sc.decisions, p=LANG_P)
    u = env.random(sc.decisions)
    now = [1_700_000_000.0]
    svc = BanditService(_config(sc), MemoryStore(), rng=np.random.default_rng([seed, 2]),
                        clock=lambda: now[0])
    for t in range(sc.decisions):
        now[0] += 30.0
        v = "true" if premium[t] else "false"
        d = svc.decide("g", f"u{t}", {"is_premium": bool(premium[t]),
                                      "language": LANGS[lang[t]]})
        rate = sc.rates[v][lang[t]][ARMS.index(d.arm)]
        svc.reward(d.id, int(u[t] < rate), f"u{t}")
    report = svc.segment_report("g", by="is_premium")
    view = svc.view("g")
    floor = min(sc.floor, 0.5 / len(ARMS))
    records = list(svc.decisions("g"))
    out: dict[str, Any] = {}
    truth = values(sc)
    for seg in report.segments:
        assert seg.value in SEGMENTS, seg.value
        mine = [r for r in records if r.context and
                (r.context["is_premium"] is True) == (seg.value == "true")]
        chosen, probs, rewards = scan_arrays(
            ((r.arm, r.arms, r.probabilities, r.reward) for r in mine), ARMS, view.lo,
            view.span)
        est, low, high, any_low, any_high, leader = segment_arms(
            chosen, probs, rewards, active=[True] * 3, confidence=1 - ALPHA,
            contextual=True, floor=floor, segments=len(report.segments))
        scores = aipw_scores(chosen, probs, rewards, contextual=True, floor=floor)
        arms = {}
        for i, a in enumerate(ARMS):
            row = seg.arms[i]
            # the report shows exactly these numbers (a check that this is what it shows)
            assert row.low is not None and abs(row.low - low[i]) < 1e-9, (a, row.low)
            assert row.high is not None and abs(row.high - high[i]) < 1e-9, (a, row.high)
            mu = float(truth[seg.value][i])
            outside = _isolate.ever_outside(scores, i, mu, math.log(2.0 / ALPHA))
            assert outside or any_low[i] - 1e-9 <= mu <= any_high[i] + 1e-9, (a, "path")
            arms[a] = {"mu": mu, "answered": row.answered, "est": float(est[i]),
                       "low": float(low[i]), "high": float(high[i]),
                       "every_look": not outside}
        out[seg.value] = {"arms": arms, "leader": leader, "decisions": seg.decisions,
                          "shown_leader": seg.leader}
    return out


def summarize(name: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    sc = SCENARIOS[name]
    segments: dict[str, Any] = {}
    for v in SEGMENTS:
        top = best(sc, v)
        rows: dict[str, Any] = {}
        for a in ARMS:
            cells = [r[v]["arms"][a] for r in results]
            mu = cells[0]["mu"]
            cover = sum(c["low"] <= mu <= c["high"] for c in cells)
            ev = sum(c["every_look"] for c in cells)
            est = np.array([c["est"] for c in cells])
            rows[a] = {"mu": round(mu, 4), "one_look": cover / n,
                       "one_look_ci": _isolate.binom(cover, n), "every_look": ev / n,
                       "every_look_ci": _isolate.binom(ev, n),
                       "bias": float(np.nanmean(est) - mu),
                       "bias_se": float(np.nanstd(est, ddof=1) / math.sqrt(n)),
                       "width": float(np.mean([c["high"] - c["low"] for c in cells])),
                       "answered": float(np.mean([c["answered"] for c in cells]))}
        named = [r[v]["leader"] for r in results]
        wrong = sum(x is not None and x != top for x in named)
        right = sum(x is not None and x == top for x in named)
        segments[v] = {"best": None if top is None else ARMS[top],
                       "decisions": float(np.mean([r[v]["decisions"] for r in results])),
                       "arms": rows, "wrong_leader": wrong / n,
                       "wrong_leader_ci": _isolate.binom(wrong, n), "right_leader": right / n}
    wrong_any = sum(any(r[v]["leader"] is not None and r[v]["leader"] != best(sc, v)
                        for v in SEGMENTS) for r in results)
    return {"scenario": name, "runs": n, "floor": sc.floor, "decisions": sc.decisions,
            "alpha": ALPHA, "segments": segments, "wrong_leader_any": wrong_any / n,
            "wrong_leader_any_ci": _isolate.binom(wrong_any, n)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    for name in [s for s in args.scenarios.split(",") if s]:
        start = time.perf_counter()
        jobs = [(name, args.seed * 1_000_003 + r) for r in range(args.runs)]
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(run, jobs, chunksize=4))
        summary = summarize(name, results)
        summary["seconds"] = round(time.perf_counter() - start, 1)
        print(f"\n{name}: {args.runs} runs, floor {summary['floor']} ({summary['seconds']} s)")
        for v, seg in summary["segments"].items():
            print(f"  is_premium={v} (best {seg['best']}, {seg['decisions']:.0f} decisions): "
                  f"right leader {seg['right_leader']:.1%}, wrong leader "
                  f"{seg['wrong_leader']:.1%} {_pct(seg['wrong_leader_ci'])}")
            for a, r in seg["arms"].items():
                print(f"    {a:7} mu {r['mu']:.3f} answered {r['answered']:6.0f} one-look "
                      f"{r['one_look']:6.1%} {_pct(r['one_look_ci'])} every-look "
                      f"{r['every_look']:6.1%} {_pct(r['every_look_ci'])} bias "
                      f"{r['bias']:+.4f} ±{r['bias_se']:.4f} width {r['width']:.3f}")
        print(f"  a wrong leader in any segment: {summary['wrong_leader_any']:.1%} "
              f"{_pct(summary['wrong_leader_any_ci'])}")
        print(json.dumps(summary))


def _pct(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.1%}-{ci[1]:.1%}]"


if __name__ == "__main__":
    main()
