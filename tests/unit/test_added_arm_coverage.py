"""An arm added to a contextual experiment: do its estimate and intervals hold?

A new-user trial (LinUCB, arms formal/casual/emoji; emoji retired and wave added, 1,200 more
decisions) read wave 0.026 (0.000–0.266) for a population value of 0.28 and suspected the
added arm's scores, propensities or weights. ``benchmarks/coverage_added_arm.py`` repeats
that design through the service (400 runs: wave's one-look interval covers in 96.0%, its
every-look sequence in 100%, bias +0.001 ± 0.005); this is the same check on the statistics
alone, small enough for the suite.
"""

from __future__ import annotations

import numpy as np

from banditbot.statistics import anytime_inference

#: P(reward | context, arm): arms 0-2 from the start, arm 2 retired at T1 and arm 3 added;
#: arm 3 pays in context 1 only (0.75 there, 0.10 in context 0: worth 0.425 over both)
RATE = np.array([[0.30, 0.45, 0.20, 0.10],
                 [0.40, 0.30, 0.25, 0.75]])
VALUE = RATE.mean(axis=0)  # contexts at 1/2 each
T1, T2, FLOOR = 1000, 1200, 0.02


def _runs(runs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``runs`` logs at once of a greedy contextual policy (per-context running means, an
    unseen arm first, every other offered arm at ``FLOOR``): arms 0-2 for ``T1`` decisions,
    then arms 0, 1 and 3 for ``T2`` (probability 0 for an arm not offered, as the service
    logs). Shapes ``(R, T)``, ``(R, T, 4)``, ``(R, T)``."""
    rng = np.random.default_rng(seed)
    t = T1 + T2
    n = np.zeros((runs, 2, 4))
    s = np.zeros((runs, 2, 4))
    arms = np.empty((runs, t), dtype=np.intp)
    probs = np.zeros((runs, t, 4))
    rewards = np.empty((runs, t))
    r = np.arange(runs)
    for i in range(t):
        offered = np.array([True, True, i < T1, i >= T1])
        x = (rng.random(runs) < 0.5).astype(np.intp)
        mean = np.where(n[r, x] > 0, s[r, x] / np.maximum(n[r, x], 1), np.inf)
        mean = np.where(offered, mean + 1e-9 * rng.random((runs, 4)), -np.inf)
        best = mean.argmax(axis=1)
        p = np.where(offered, FLOOR, 0.0)[None].repeat(runs, axis=0)
        p[r, best] = 1.0 - FLOOR * (offered.sum() - 1)
        a = (p.cumsum(axis=1) < rng.random(runs)[:, None]).sum(axis=1)
        y = (rng.random(runs) < RATE[x, a]).astype(float)
        arms[:, i], probs[:, i], rewards[:, i] = a, p, y
        n[r, x, a] += 1.0
        s[r, x, a] += y
    return arms, probs, rewards


def test_an_arm_added_to_a_contextual_experiment_keeps_its_coverage() -> None:
    """200 runs of the design above, read once at the end as a report would
    (``contextual=True``, the floor, arm 2 inactive). Each arm's one-look interval covers
    its value in >= 88% of runs (nominal 95%; if it held at 95%, fewer than 176 of 200 has
    probability < 0.1%; an interval that covered 85% would pass with probability < 3%),
    the added arm's every-look sequence in >= 90%, and the added arm's weighted estimate
    averages within 0.03 of its value (its spread is about 0.1 per run: 4.2 standard
    errors; seen: coverage 93-97%, sequences 100%, mean 0.43 for 0.425). Its raw mean is far
    above its value (the policy plays it where it pays): the estimate is not the raw mean."""
    runs = 200
    arms, probs, rewards = _runs(runs, 5)
    one_look = np.zeros(4)
    every_look = np.zeros(4)
    estimates, raw = [], []
    for k in range(runs):
        inf = anytime_inference(arms[k], probs[k], rewards[k], contextual=True, floor=FLOOR,
                                active=[True, True, False, True])
        one_look += (inf.fixed_low <= VALUE) & (inf.fixed_high >= VALUE)
        every_look += (inf.low <= VALUE) & (inf.high >= VALUE)
        estimates.append(inf.weighted_estimate[3])
        raw.append(rewards[k][arms[k] == 3].mean())
    assert np.all(one_look / runs >= 0.88), one_look / runs
    assert every_look[3] / runs >= 0.90, every_look / runs
    assert abs(float(np.mean(estimates)) - VALUE[3]) < 0.03, np.mean(estimates)
    assert float(np.mean(raw)) > VALUE[3] + 0.15  # what the trial compared it with
