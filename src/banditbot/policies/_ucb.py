"""Upper-confidence-bound policies: UCB1, UCB1-Tuned, KL-UCB and Bayes-UCB.

All are deterministic given the statistics (ties broken uniformly at random), so every
propensity is exact."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._types import FloatArray
from ..statistics import BetaPosterior, bernoulli_kl
from ._base import (
    UNIT_SLACK,
    ArmStats,
    Policy,
    argmax_ties,
    check,
    fits_unit_interval,
    pooled_moments,
    pseudo_lists,
    share_top,
    small,
    squares_with_priors,
)
from ._registry import register
from ._scalar import UpperBoundRule, upper_bound_vector
from ._thompson import beta_posterior

__all__ = [
    "KLUCB",
    "UCB1",
    "BayesUCB",
    "UCB1Tuned",
    "arm_variances",
    "kl_ucb_bound",
    "log_total",
    "ucb_index",
]


def log_total(n: FloatArray) -> FloatArray:
    """``log(sum of n)`` per bandit (broadcastable against ``n``), at least 0."""
    out: FloatArray = np.log(np.maximum(n.sum(axis=-1, keepdims=True), 1.0))
    return out


def ucb_index(n: FloatArray, sums: FloatArray, bonus: FloatArray) -> FloatArray:
    """``mean + bonus``, and +inf for arms never observed (they are tried first)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        index = sums / n + bonus
    out: FloatArray = np.where(n > 0, index, np.inf)
    return out


def _fits_unit_lists(counts: list[float], totals: list[float],
                     squares: list[float] | None) -> bool:
    """:func:`fits_unit_interval` of one bandit on Python floats."""
    for i, (c, t) in enumerate(zip(counts, totals, strict=True)):
        slack = UNIT_SLACK * max(c, 1.0)
        if not -slack <= t <= c + slack or (squares is not None and squares[i] > t + slack):
            return False
    return True


def arm_variances(n: FloatArray, sums: FloatArray, sums_sq: FloatArray) -> FloatArray:
    """Each arm's reward variance, moderated toward the bandit's: the Normal–Gamma
    posterior estimate of :func:`~banditbot.policies.normal_posterior` with one
    pseudo-observation at the pooled mean with the pooled spread (Smyth 2004, "Linear models
    and empirical Bayes methods for assessing differential expression", moderated
    variances). An arm with one reward (sample variance 0) or none gets the bandit's spread,
    not a certainty; with many, its own sample variance. Shape of ``n``, in squared reward
    units."""
    mu0, sd0 = pooled_moments(n, sums, sums_sq)
    n_eff = n + 1.0
    mean = (sums + mu0) / n_eff
    spread = sums_sq + sd0 * sd0 + mu0 * mu0 - n_eff * mean * mean
    out: FloatArray = np.maximum(spread / n_eff, 1e-12 * (sd0 * sd0 + mu0 * mu0) + 1e-300)
    return out


def _arm_variances_lists(counts: list[float], totals: list[float],
                         squares: list[float]) -> list[float]:
    """:func:`arm_variances` of one bandit on Python floats (the same operations)."""
    total = sum(counts)
    if total > 0.0:
        mu0 = sum(totals) / total
        var0 = max(sum(squares) / total - mu0 * mu0, 0.0)
    else:
        mu0, var0 = 0.0, 1.0
    sd0 = math.sqrt(var0)
    floor = 1e-12 * (sd0 * sd0 + mu0 * mu0) + 1e-300
    out = []
    for n, s, q in zip(counts, totals, squares, strict=True):
        n_eff = n + 1.0
        mean = (s + mu0) / n_eff
        out.append(max((q + sd0 * sd0 + mu0 * mu0 - n_eff * mean * mean) / n_eff, floor))
    return out


@register("ucb")
@dataclass(frozen=True, slots=True)
class UCB1(Policy):
    """UCB1 (Auer et al. 2002): the arm with the highest ``mean + c·scale·sqrt(2 ln t / n)``.

    Every arm is tried once first (uniformly among the untried ones); ties at the top are
    broken at random, so the probability vector is uniform over the maximizers.

    The bonus needs the rewards' scale. For rewards in [0, 1] (a bounded reward reaches the
    policy mapped there) it is 1, the textbook UCB1. Once a reward outside [0, 1] is seen
    (revenue, time: an unbounded reward in its own units), ``scale`` is each arm's
    estimated standard deviation, moderated toward the bandit's pooled spread
    (:func:`arm_variances`): the index ``mean + c·s·sqrt(2 ln t / n)`` of UCB for
    σ-sub-Gaussian rewards (Lattimore & Szepesvári 2020, *Bandit Algorithms*, §7–8) with
    σ estimated as in UCB1-Normal (Auer et al. 2002, §4), so the policy decides alike on
    any scale of the rewards.

    Parameters
    ----------
    c
        Exploration scale (1 is the textbook UCB1 for rewards in [0, 1]).
    scale
        The rewards' scale in the policy's reward units (> 0), e.g. their range: the bonus
        is then ``c·scale·sqrt(2 ln t / n)`` always (``scale=1``: textbook UCB1 on any
        data). ``None`` (default): 1 while every reward lies in [0, 1], else each arm's
        estimated standard deviation.

    Examples
    --------
    >>> [float(x) for x in UCB1().probabilities(ArmStats.from_counts([3, 0, 0], [1, 0, 0]))]
    [0.0, 0.5, 0.5]
    >>> revenue = ArmStats.from_counts([40, 40], [4000, 4400], [4.4e5, 5.3e5])
    >>> [float(x) for x in UCB1().probabilities(revenue)]  # 100 vs 110, sd ~33
    [0.0, 1.0]
    """

    name: ClassVar[str] = "ucb1"
    index_policy: ClassVar[bool] = True
    scalar: ClassVar[bool] = True

    c: float = 1.0
    scale: float | None = None

    def __post_init__(self) -> None:
        check(self.c >= 0.0, self.name, f"c must be >= 0, got {self.c}", "use c = 1")
        check(self.scale is None or self.scale > 0.0, self.name,
              f"scale must be > 0, got {self.scale}",
              "leave scale out (estimated from the rewards), or give the rewards' range")

    @property
    def scalar_unbounded(self) -> bool:
        """Unbounded rewards' bonus reads the sums of squares (unless ``scale`` is set)."""
        return self.scale is not None

    def probabilities(self, stats: ArmStats) -> FloatArray:
        if small(stats):  # one bandit with few arms: on Python floats
            counts, totals = pseudo_lists(stats)
            return np.array(self.scalar_probabilities(
                counts, totals, None if self.scale is not None
                else squares_with_priors(stats).tolist()))
        n, sums = stats.with_pseudo_counts()
        untried = n <= 0.0
        scale = self._scale(n, sums, stats)
        if n.ndim == 1:  # one bandit: the fast path
            if untried.any():
                p: FloatArray = untried / untried.sum()
                return p
            return argmax_ties(sums / n + self.c * scale *
                               np.sqrt(2.0 * math.log(n.sum()) / n))
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = self.c * scale * np.sqrt(2.0 * log_total(n) / n)
        return argmax_ties(ucb_index(n, sums, bonus))

    def _scale(self, n: FloatArray, sums: FloatArray, stats: ArmStats) -> FloatArray | float:
        """The bonus's scale per arm: ``scale``, 1 on [0, 1], or the arms' sds."""
        if self.scale is not None:
            return self.scale
        sums_sq = squares_with_priors(stats)
        unit = fits_unit_interval(n, sums, sums_sq)
        if unit.all():
            return 1.0
        sd = np.sqrt(arm_variances(n, sums, sums_sq))
        out: FloatArray = np.where(unit[..., None], 1.0, sd) if n.ndim > 1 else sd
        return out

    def scalar_probabilities(self, counts: list[float], totals: list[float],
                             squares: list[float] | None = None) -> Sequence[float]:
        """:meth:`probabilities` of one bandit on Python floats. ``squares`` (the sums of
        squared rewards, priors added) give the arms' variances when :attr:`scale` is
        ``None`` and a reward lies outside [0, 1]; without them the bonus keeps the scale
        1 of [0, 1] rewards (the textbook UCB1), so a caller deciding unbounded rewards
        must pass them."""
        if self.scale is None and squares is not None and min(counts) > 0.0 and \
                not _fits_unit_lists(counts, totals, squares):
            log_t, c = math.log(max(sum(counts), 1.0)), self.c
            variances = _arm_variances_lists(counts, totals, squares)
            return share_top([s / n + c * math.sqrt(v) * math.sqrt(2.0 * log_t / n)
                              for n, s, v in zip(counts, totals, variances, strict=True)],
                             1.0, 0.0)
        return upper_bound_vector(counts, totals, self._width())

    def _width(self) -> float:
        """The bonus's factor: ``c`` times :attr:`scale`, or 1 (rewards on [0, 1])."""
        return self.c * (1.0 if self.scale is None else self.scale)

    def scalar_rule(self) -> UpperBoundRule:
        """The bonus's scale is :attr:`scale`, or 1 (rewards on [0, 1])."""
        return UpperBoundRule(self._width())


def kl_ucb_bound(mean: FloatArray, budget: FloatArray, iterations: int = 32) -> FloatArray:
    """Largest ``q >= mean`` with ``KL(mean, q) <= budget``, by bisection (elementwise)."""
    lo = np.clip(mean, 0.0, 1.0)
    hi = np.ones_like(lo)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        too_far = bernoulli_kl(mean, mid) > budget
        hi = np.where(too_far, mid, hi)
        lo = np.where(too_far, lo, mid)
    return lo


@register("klucb", "kl-ucb-bernoulli")
@dataclass(frozen=True, slots=True)
class KLUCB(Policy):
    """KL-UCB for rewards in [0, 1] (Garivier & Cappé 2011).

    Index: the largest ``q`` with ``n·KL(mean, q) <= budget``. The default ``plus`` variant
    uses ``budget = log(t / n)`` (KL-UCB+, asymptotically optimal as well — Kaufmann 2018 —
    and markedly better at practical horizons); ``classic`` uses ``log t + c·log log t``.
    Both meet the Lai–Robbins bound for Bernoulli rewards.

    Parameters
    ----------
    c
        Weight of the ``log log t`` term (0 is the usual practical choice; 3 in the proof).
    variant
        ``plus`` or ``classic``.

    Examples
    --------
    >>> p = KLUCB().probabilities(ArmStats.from_counts([100, 100], [10, 30]))
    >>> [float(x) for x in p]
    [0.0, 1.0]
    """

    name: ClassVar[str] = "kl-ucb"
    index_policy: ClassVar[bool] = True
    needs_bounded: ClassVar[bool] = True

    c: float = 0.0
    variant: str = "plus"

    def __post_init__(self) -> None:
        check(self.c >= 0, self.name, f"c must be >= 0, got {self.c}", "use c = 0")
        check(self.variant in ("plus", "classic"), self.name,
              f"variant must be plus or classic, got {self.variant!r}", "use plus")

    def probabilities(self, stats: ArmStats) -> FloatArray:
        n, sums = stats.with_pseudo_counts()
        safe_n = np.maximum(n, 1e-12)
        if self.variant == "plus":
            total = np.maximum(n.sum(axis=-1, keepdims=True), 1.0)
            log_t = np.log(np.maximum(total / safe_n, 1.0))
        else:
            log_t = log_total(n)
        budget = (log_t + self.c * np.log(np.maximum(log_t, 1.0))) / safe_n
        mean = np.divide(sums, n, out=np.zeros_like(sums), where=n > 0)
        index = np.where(n > 0, kl_ucb_bound(mean, budget), np.inf)
        return argmax_ties(index)


@register("ucb-tuned", "ucb1tuned")
@dataclass(frozen=True, slots=True)
class UCB1Tuned(Policy):
    """UCB1-Tuned (Auer et al. 2002): UCB1 with the bonus scaled by the arm's variance,
    ``sqrt(log t / n · min(1/4, V))`` with ``V = s² + sqrt(2 log t / n)``.

    Examples
    --------
    >>> p = UCB1Tuned().probabilities(ArmStats.from_counts([50, 50], [10, 40]))
    >>> [float(x) for x in p]
    [0.0, 1.0]
    """

    name: ClassVar[str] = "ucb1-tuned"
    index_policy: ClassVar[bool] = True

    def probabilities(self, stats: ArmStats) -> FloatArray:
        n, sums = stats.with_pseudo_counts()
        sums_sq = stats.sums_sq if stats.prior_alpha is None else \
            stats.sums_sq + stats.prior_alpha
        log_t = log_total(n)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = sums / n
            variance = np.maximum(sums_sq / n - mean * mean, 0.0) + np.sqrt(2 * log_t / n)
            bonus = np.sqrt(log_t / n * np.minimum(0.25, variance))
        return argmax_ties(ucb_index(n, sums, bonus))


@register("bayesucb")
@dataclass(frozen=True, slots=True)
class BayesUCB(Policy):
    """Bayes-UCB (Kaufmann, Cappé & Garivier 2012): the arm whose Beta posterior has the
    highest ``1 - 1/(t·(log T)^c)`` quantile.

    Parameters
    ----------
    alpha, beta
        Beta prior (as for Thompson sampling).
    c
        Exponent of the ``log`` term (0 works best in practice).
    horizon
        ``T`` in the formula (only used when ``c > 0``).

    Examples
    --------
    >>> p = BayesUCB().probabilities(ArmStats.from_counts([40, 40], [8, 20]))
    >>> [float(x) for x in p]
    [0.0, 1.0]
    """

    name: ClassVar[str] = "bayes-ucb"
    index_policy: ClassVar[bool] = True
    needs_bounded: ClassVar[bool] = True

    alpha: float = 1.0
    beta: float = 1.0
    c: float = 0.0
    horizon: float = 10_000.0

    def __post_init__(self) -> None:
        check(self.alpha > 0 and self.beta > 0, self.name, "alpha and beta must be > 0",
              "use alpha = beta = 1")
        check(self.c >= 0 and self.horizon > 1, self.name, "c >= 0 and horizon > 1 needed",
              "use c = 0")

    def posterior(self, stats: ArmStats) -> BetaPosterior:
        """The Beta posterior of each arm's mean."""
        return BetaPosterior(*beta_posterior(stats, self.alpha, self.beta))

    def probabilities(self, stats: ArmStats) -> FloatArray:
        from scipy.special import betaincinv

        a, b = beta_posterior(stats, self.alpha, self.beta)
        t = np.maximum(stats.n.sum(axis=-1, keepdims=True), 1.0) + 1.0
        level = 1.0 - 1.0 / (t * np.log(self.horizon) ** self.c)
        return argmax_ties(betaincinv(a, b, level))
