"""What bounds the simulator's speed: the random numbers of exact Thompson sampling.

``benchmarks/simulate.py`` compares banditbot's simulator with a plain numpy loop of
textbook Bernoulli Thompson sampling (3 arms, 1,000 runs). Both spend most of a step drawing
the Beta variates, two Gamma variates per arm and run. This script times, per step of
1,000 runs on a posterior from the middle of such a run, the loop's whole step against the
draws alone, each as a share of the loop's step:

- ``loop_beta``: the loop's ``Generator.beta`` (PCG64, ``default_rng``);
- ``gamma_pcg64`` / ``gamma_sfc64``: the simulator's draw, ``standard_gamma`` on the stacked
  ``(a, b)``, with either bit generator (the simulator uses SFC64);
- ``normal_uniform_sfc64``: only the random numbers an exact Marsaglia–Tsang Gamma sampler
  written with numpy arrays needs (a normal and a uniform per Gamma variate), before any
  arithmetic;
- ``uniform_pairs_sfc64``: only two uniforms per Beta variate, what Cheng's BB algorithm
  takes per attempt (it accepts about 88% on these shapes);
- ``step_pcg64`` / ``step_sfc64``: the simulator's whole Bernoulli Thompson step (textbook)
  from the same posterior, with either bit generator, on 1,000 runs, and on 500
  (``*_500``: one of two processes' share, its time doubled to compare per run).

``loop / x`` is then the most a single process can gain over the loop by doing the draws
that way and nothing else, or (for the steps) what it gains per CPU second. Rotating order,
median over repeats; prints one JSON line. The steps are timed through the simulator's
internal ``_make_chunk``.

    python benchmarks/simulate_floor.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from banditbot import make_policy
from banditbot.sim import BernoulliEnv
from banditbot.sim._engine import _make_chunk

RATES = np.array([0.1, 0.12, 0.15])


def posterior(runs: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` after ``steps`` steps of the loop: the shapes the draws see mid-run."""
    rng = np.random.default_rng(seed)
    a, b, rows = np.ones((runs, 3)), np.ones((runs, 3)), np.arange(runs)
    for _ in range(steps):
        arm = rng.beta(a, b).argmax(axis=1)
        win = rng.random(runs) < RATES[arm]
        a[rows, arm] += win
        b[rows, arm] += ~win
    return a, b


def per_step(fn: Callable[[], object], steps: int) -> float:
    start = time.process_time()
    for _ in range(steps):
        fn()
    return (time.process_time() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    runs, steps = 1000, 300
    a0, b0 = posterior(runs, 5000, 0)
    ab = np.stack([a0, b0])
    out = np.empty_like(ab)
    pcg, sfc = np.random.default_rng(1), np.random.Generator(np.random.SFC64(1))
    normals, uniforms = np.empty(ab.size), np.empty(ab.size)
    rows, gaps = np.arange(runs), RATES.max() - RATES

    def loop() -> None:  # benchmarks/simulate.py's straightforward() step, on a copy
        arm = pcg.beta(a, b).argmax(axis=1)
        regret[:] += gaps[arm]
        win = pcg.random(runs) < RATES[arm]
        a[rows, arm] += win
        b[rows, arm] += ~win

    def step(bit_generator: type[np.random.BitGenerator], size: int) -> Callable[[], object]:
        """The simulator's step on ``size`` runs, restarting from the posterior each time the
        case is timed (``size`` < ``runs``: timed twice over, per run as on ``runs``)."""
        chunk = _make_chunk(make_policy("thompson", optimistic=False),
                            BernoulliEnv(rates=tuple(RATES)), size,
                            np.random.Generator(bit_generator(2)))
        state = np.stack([a0[:size], b0[:size]])
        t = [0]

        def one() -> None:
            if t[0] % steps == 0:
                chunk.ab[...] = state
            for _ in range(runs // size):
                chunk.step(t[0])
                t[0] += 1

        return one

    a, b, regret = a0.copy(), b0.copy(), np.zeros(runs)
    cases: dict[str, Callable[[], object]] = {
        "loop": loop,
        "loop_beta": lambda: pcg.beta(a0, b0),
        "gamma_pcg64": lambda: pcg.standard_gamma(ab, out=out),
        "gamma_sfc64": lambda: sfc.standard_gamma(ab, out=out),
        "normal_uniform_sfc64": lambda: (sfc.standard_normal(out=normals),
                                         sfc.random(out=uniforms)),
        "uniform_pairs_sfc64": lambda: sfc.random(out=uniforms),
        "step_pcg64": step(np.random.PCG64, runs),
        "step_sfc64": step(np.random.SFC64, runs),
        "step_pcg64_500": step(np.random.PCG64, runs // 2),
        "step_sfc64_500": step(np.random.SFC64, runs // 2),
    }
    names = list(cases)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for i in range(args.repeats):
        for name in names[i % len(names):] + names[:i % len(names)]:
            a, b = a0.copy(), b0.copy()
            seconds[name].append(per_step(cases[name], steps))
    share = {name: [s / loop_s for s, loop_s in zip(seconds[name], seconds["loop"],
                                                     strict=True)]
             for name in names[1:]}
    print(json.dumps({
        "benchmark": "simulate_floor", "runs": runs, "arms": 3, "repeats": args.repeats,
        "loop_step_us": round(statistics.median(seconds["loop"]) * 1e6, 1),
        **{f"{name}_share_of_loop": round(statistics.median(v), 3) for name, v in share.items()},
        **{f"loop_over_{name}": round(1 / statistics.median(v), 2) for name, v in share.items()},
    }))


if __name__ == "__main__":
    main()
