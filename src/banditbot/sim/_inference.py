"""Simulate the stopping rules and intervals on bandit-collected data, vectorized over runs.

One pass runs ``R`` Bernoulli bandits for ``T`` decisions at once. The allocation is
recomputed at every look (every ``look_every`` decisions, the report's cadence) and every
arm keeps an exploration floor; each decision is drawn from the allocation, and the
probability vector is what the valid rule reads as propensities (as the service logs it).

Two samplings:

* ``"thompson"`` — Thompson sampling: the allocation is P(best) under Beta(1 + successes,
  1 + failures) posteriors (computed with a normal approximation of each Beta and 16-point
  Gauss–Hermite quadrature, vectorized over runs; the service computes it exactly).
* ``"explore"`` — while a run's valid rule has declared no winner, top-two sampling over
  the arms it has not ruled out (:func:`banditbot.policies.explore_contenders` applied to
  the same P(best)).

Three rules are read at every look of the same pass: banditbot's valid rule
(:class:`banditbot.statistics.SequentialTest`), and "P(best) ≥ 95%" on the same posteriors
(the hosted platforms' rule). A fixed-horizon test (uniform allocation, one two-proportion
z-test per pair at the horizon, Bonferroni over the ``K`` events as for the valid rule) is
simulated apart by :func:`fixed_horizon_test`. Interval coverage at the horizon is measured
for each arm: the naive pooled Wilson interval, the adaptively weighted AIPW interval, and the
anytime-valid sequence (at the horizon, and at every decision).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from .._types import FloatArray, IntArray
from ..policies._base import sample_rows
from ..policies._explore import explore_contenders
from ..statistics._intervals import Z95, wilson_interval
from ..statistics._sequential import (
    _PRIOR_COUNT,
    _PRIOR_MEAN,
    DEFAULT_EFFECTS,
    SequentialTest,
    _bets,
    _scores_from,
    score_interval,
)

__all__ = ["InferenceRun", "fixed_horizon_test", "normal_best_probabilities_rows",
           "simulate_inference"]

_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(16)
_NODES = _NODES * math.sqrt(2.0)
_WEIGHTS = _WEIGHTS / math.sqrt(math.pi)


def normal_best_probabilities_rows(a: FloatArray, b: FloatArray) -> FloatArray:
    """P(best) for ``R`` bandits at once, shape ``(R, K)``, under Beta(a, b) posteriors
    approximated by normals (Gauss–Hermite quadrature, 16 nodes)."""
    from scipy.special import ndtr

    s = a + b
    mean = a / s
    sd = np.sqrt(a * b / (s * s * (s + 1.0)))
    k = mean.shape[-1]
    if k == 1:
        return np.ones_like(mean)
    if k == 2:
        z = (mean[:, 0] - mean[:, 1]) / np.sqrt(sd[:, 0] ** 2 + sd[:, 1] ** 2)
        p0 = ndtr(z)
        out2: FloatArray = np.stack([p0, 1.0 - p0], axis=1)
        return out2
    x = mean[:, :, None] + sd[:, :, None] * _NODES  # (R, i, G)
    cdf = ndtr((x[:, :, None, :] - mean[:, None, :, None]) / sd[:, None, :, None])
    idx = np.arange(k)
    cdf[:, idx, idx, :] = 1.0
    p = (cdf.prod(axis=2) * _WEIGHTS).sum(axis=-1)
    out: FloatArray = p / p.sum(axis=-1, keepdims=True)
    return out


@dataclass(frozen=True)
class InferenceRun:
    """What one pass measured, per run.

    Attributes
    ----------
    rates
        Shape ``(K,)``: the true rates.
    sampling
        ``"thompson"`` or ``"explore"``.
    valid_winner, valid_at
        Shape ``(R,)``: the valid rule's winner (-1: none by the horizon) and the decision
        count at which it was declared.
    pbest_winner, pbest_at
        Shape ``(R,)``: the same for "P(best) ≥ 95%" read at every look.
    covered_naive, covered_wald, covered_score, covered_cs, covered_cs_always
        Shape ``(R, K)``: whether each arm's 95% interval at the horizon covers its rate —
        naive pooled Wilson; adaptively weighted AIPW with a normal (Wald) interval; the same
        estimate with the score-type interval banditbot reports; the anytime sequence — and
        whether the sequence covered at every decision.
    pulls
        Shape ``(R, K)``: decisions per arm.
    """

    rates: FloatArray
    sampling: str
    runs: int
    horizon: int
    look_every: int
    alpha: float
    valid_winner: IntArray
    valid_at: npt.NDArray[np.int64]
    pbest_winner: IntArray
    pbest_at: npt.NDArray[np.int64]
    covered_naive: npt.NDArray[np.bool_]
    covered_wald: npt.NDArray[np.bool_]
    covered_score: npt.NDArray[np.bool_]
    covered_cs: npt.NDArray[np.bool_]
    covered_cs_always: npt.NDArray[np.bool_]
    pulls: FloatArray


def simulate_inference(rates: npt.ArrayLike, *, runs: int = 1000, horizon: int = 10_000,
                       look_every: int = 10, sampling: Literal["thompson", "explore"] =
                       "thompson", floor: float = 0.01, alpha: float = 0.05,
                       pbest_threshold: float = 0.95, seed: int = 0,
                       planned_horizon: int | None = None) -> InferenceRun:
    """Run ``runs`` Bernoulli bandits and read every rule at every look.

    Parameters
    ----------
    rates
        Shape ``(K,)``: true success rates.
    runs, horizon
        ``R`` bandits of ``T`` decisions.
    look_every
        Decisions between looks (and allocation updates).
    sampling
        ``"thompson"`` or ``"explore"`` (see the module notes).
    floor
        Exploration floor of every arm.
    alpha
        The valid rule's error rate (its intervals are at ``1 - alpha``).
    pbest_threshold
        The P(best) rule's threshold.
    seed
        Seed of the pass.
    planned_horizon
        The valid rule's planned horizon (``horizon`` of
        :class:`banditbot.statistics.SequentialTest`; the experiment's ``winner.horizon``),
        or ``None``.

    Returns
    -------
    InferenceRun

    Examples
    --------
    >>> r = simulate_inference([0.1, 0.3], runs=50, horizon=1000, sampling="explore", seed=1)
    >>> float((r.valid_winner == 1).mean()) > 0.5
    True
    """
    mu = np.asarray(rates, dtype=np.float64)
    k = mu.shape[0]
    rng = np.random.default_rng(seed)
    test = SequentialTest(k, alpha=alpha, runs=runs, horizon=planned_horizon)
    n = np.zeros((runs, k))
    s = np.zeros((runs, k))
    pb_winner = np.full(runs, -1, dtype=np.intp)
    pb_at = np.full(runs, -1, dtype=np.int64)
    grid = np.asarray(DEFAULT_EFFECTS)
    # coverage: the arm sequences' e-processes at the true rates, both sides
    cs_scale = np.zeros((runs, k, 2))  # wealth = exp(scale) * relative wealth
    cs_wealth = np.ones((runs, k, 2, grid.shape[0]))
    cs_max = np.full((runs, k, 2), -np.inf)
    log_c_arm = math.log(2.0 / alpha)
    h_sum = np.zeros((runs, k))
    h_score = np.zeros((runs, k))
    h2 = np.zeros((runs, k))
    h2_score = np.zeros((runs, k))
    h2_score2 = np.zeros((runs, k))
    q_c2 = np.zeros((runs, k))  # score-type (Wilson-like) interval: sums of (1 - π) m^j
    q_c1 = np.zeros((runs, k))
    q_c0 = np.zeros((runs, k))
    rows = np.arange(runs)
    p = np.full((runs, k), 1.0 / k)
    for t in range(horizon):
        if t % look_every == 0:
            best = normal_best_probabilities_rows(s + 1.0, n - s + 1.0)
            if t > 0:
                hit = (best.max(axis=1) >= pbest_threshold) & (pb_winner < 0)
                pb_winner[hit] = best.argmax(axis=1)[hit]
                pb_at[hit] = t
            alloc = best
            if sampling == "explore":
                alloc = explore_contenders(best, test.contenders)
            p = floor + (1.0 - k * floor) * alloc
        arms = sample_rows(p, rng)
        y = (rng.random(runs) < mu[arms]).astype(np.float64)
        m = (s + _PRIOR_MEAN * _PRIOR_COUNT) / (n + _PRIOR_COUNT)
        sc = _scores_from(m, arms, p, y, rows)
        # the arm sequences at the true rates
        x = np.stack([sc.scores - mu, mu - sc.scores], axis=2)  # (R, K, 2)
        low = np.stack([sc.lower, -sc.upper], axis=2)
        var = np.stack([sc.variance, sc.variance], axis=2)
        lam = _bets(var, low, np.array([1.0, 0.0]), grid)
        cs_wealth *= 1.0 + lam * x[..., None]
        np.maximum(cs_max, cs_scale + np.log(cs_wealth.mean(axis=-1)), out=cs_max)
        if t % 16 == 15:
            top = cs_wealth.max(axis=-1)
            cs_wealth /= top[..., None]
            cs_scale += np.log(top)
        h = np.sqrt(p)
        h_sum += h
        h_score += h * sc.scores
        h2 += h * h
        h2_score += h * h * sc.scores
        h2_score2 += h * h * sc.scores ** 2
        q_c2 += 1.0 - p
        q_c1 += (1.0 - p) * m
        q_c0 += (1.0 - p) * m * m
        test.update(arms, p, y)
        n[rows, arms] += 1.0
        s[rows, arms] += y
    best = normal_best_probabilities_rows(s + 1.0, n - s + 1.0)
    hit = (best.max(axis=1) >= pbest_threshold) & (pb_winner < 0)
    pb_winner[hit] = best.argmax(axis=1)[hit]
    pb_at[hit] = horizon
    lo_n, hi_n = wilson_interval(s, n)
    covered_naive = (lo_n <= mu) & (mu <= hi_n)
    est = h_score / h_sum
    var_w = (h2_score2 - 2.0 * est * h2_score + est * est * h2) / (h_sum * h_sum)
    half = Z95 * np.sqrt(np.maximum(var_w, 0.0))
    covered_w = (est - half <= mu) & (mu <= est + half)
    lo_s, hi_s = score_interval(h_score, h_sum, float(horizon), q_c2, q_c1, q_c0)
    covered_s = (lo_s <= mu) & (mu <= hi_s)
    final = cs_scale + np.log(cs_wealth.mean(axis=-1))
    covered_cs = np.asarray((final < log_c_arm).all(axis=2), dtype=bool)
    covered_always = np.asarray((cs_max < log_c_arm).all(axis=2), dtype=bool)
    winner = np.asarray(test.winner, dtype=np.intp)
    at = np.asarray(test.declared_at, dtype=np.int64)
    return InferenceRun(mu, sampling, runs, horizon, look_every, alpha, winner, at,
                        pb_winner, pb_at, covered_naive, covered_w, covered_s, covered_cs,
                        covered_always, n)


def fixed_horizon_test(rates: npt.ArrayLike, *, runs: int = 1000, horizon: int = 10_000,
                       alpha: float = 0.05, seed: int = 0) -> IntArray:
    """The classic A/B/n test: uniform allocation for ``horizon`` decisions, then one
    one-sided two-proportion z-test per ordered pair at level ``alpha / K``; arm ``b`` wins
    when it beats every other arm (the same ``K``-event error budget as the valid rule).

    Returns
    -------
    numpy.ndarray
        Shape ``(R,)``: the winner of each run, -1 when none.

    Examples
    --------
    >>> w = fixed_horizon_test([0.1, 0.2], runs=200, horizon=2000, seed=0)
    >>> float((w == 1).mean()) > 0.9
    True
    """
    from scipy.special import ndtri

    mu = np.asarray(rates, dtype=np.float64)
    k = mu.shape[0]
    rng = np.random.default_rng(seed)
    n = rng.multinomial(horizon, np.full(k, 1.0 / k), size=runs).astype(np.float64)
    s = rng.binomial(n.astype(np.int64), mu).astype(np.float64)
    rate = s / np.maximum(n, 1.0)
    diff = rate[:, :, None] - rate[:, None, :]
    pooled = (s[:, :, None] + s[:, None, :]) / np.maximum(n[:, :, None] + n[:, None, :], 1)
    se = np.sqrt(pooled * (1 - pooled) * (1 / np.maximum(n[:, :, None], 1)
                                          + 1 / np.maximum(n[:, None, :], 1)))
    z_crit = float(ndtri(1.0 - alpha / k))
    with np.errstate(divide="ignore", invalid="ignore"):
        beats = diff / se > z_crit
    idx = np.arange(k)
    beats[:, idx, idx] = True
    wins = np.asarray(beats.all(axis=2), dtype=bool)
    out: IntArray = np.where(np.any(wins, axis=1), wins.argmax(axis=1), -1)
    return out
