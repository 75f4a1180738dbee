"""Non-stationary policies: discounted Thompson sampling, discounted UCB, sliding-window UCB.

They read time-weighted statistics ``tw_n``, ``tw_sums`` (and ``tw_sums_sq``) from
``ArmStats.extra``, which the caller computes for the policy's :meth:`time_weighting`:

* ``("discount", half_life)`` — each past reward weighs ``0.5 ** (age / half_life)``;
* ``("window", width)`` — rewards younger than ``width`` weigh 1, older ones 0.

Why this design keeps every write an atomic increment: the service never stores decayed sums
(a decayed sum must be multiplied down as time passes — a read-modify-write). It stores plain
additive sums per **time bucket** (``bucket = floor(reward_time / time_bucket_seconds)``; one
``ADD`` per reward, like every other counter) and applies the decay or the window *when it
reads*. One set of buckets serves any half-life and any window, so switching between these
policies, or tuning them, loses nothing. The price is resolution: a reward's age is known to
the bucket (the error in its weight is at most a factor ``0.5 ** (bucket / (2·half_life))``),
so buckets should be a small fraction of the half-life or window. Rewards always land in the
current bucket, so old buckets never change again and can be dropped once they are far beyond
any horizon. In the service a discount also reads, where they hold every reward,
exponentially weighted sums per epoch of buckets that are exact in time and few however old
the experiment is (docs/policies.md). The simulator, whose time unit is a step, keeps exact
decayed sums instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .._types import FloatArray
from ..statistics import BetaPosterior, best_rows, beta_best_probabilities
from ._base import ArmStats, Extra, Policy, TimeWeighting, argmax_ties, check
from ._registry import register
from ._thompson import sample_beta_argmax
from ._ucb import log_total, ucb_index

__all__ = ["DiscountedThompsonSampling", "DiscountedUCB", "SlidingWindowUCB",
           "TimeWeighting", "recent_stats"]


def _time_weighted(stats: ArmStats) -> tuple[FloatArray, FloatArray, FloatArray]:
    n = stats.extra.get("tw_n")
    if n is None:
        raise ValueError("time-weighted statistics are missing (tw_n, tw_sums)")
    sums = stats.extra["tw_sums"]
    sums_sq = stats.extra.get("tw_sums_sq", sums)
    return n, sums, sums_sq


def recent_stats(stats: ArmStats) -> ArmStats:
    """``stats`` with the time-weighted counts a non-stationary policy decides on in place of
    every answer's (what its report describes when it has no posterior of its own)."""
    n, sums, sums_sq = _time_weighted(stats)
    return stats._replace(n=n, sums=sums, sums_sq=sums_sq)


def _time_weighted_ucb(stats: ArmStats, c: float) -> FloatArray:
    """UCB on time-weighted counts: ``mean + c·sqrt(2·log N / n)``; arms whose weighted count
    has faded to nothing are tried again first."""
    n, sums, _ = _time_weighted(stats)
    n = np.where(n > 1e-9, n, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bonus = c * np.sqrt(2.0 * log_total(n) / n)
    return argmax_ties(ucb_index(n, sums, bonus))


@register("dts", "discounted-ts", "discounted-thompson-sampling")
@dataclass(frozen=True, slots=True)
class DiscountedThompsonSampling(Policy):
    """Discounted Thompson sampling (Raj & Kalyani 2017) for rates that drift.

    A Beta posterior from discounted counts: ``Beta(alpha + S_γ, beta + N_γ - S_γ)`` where
    each past reward weighs ``0.5 ** (age / half_life)``; old evidence fades, so the policy
    keeps exploring and follows a change.

    Parameters
    ----------
    half_life
        Age (in time units: seconds in the service, steps in the simulator) at which a
        reward counts half.
    alpha, beta
        Beta prior.

    Examples
    --------
    >>> s = ArmStats.from_counts([100, 100], [90, 10])._replace(extra={
    ...     "tw_n": np.array([5.0, 20.0]), "tw_sums": np.array([1.0, 15.0])})
    >>> bool(DiscountedThompsonSampling(half_life=50).probabilities(s)[1] > 0.9)
    True
    """

    name: ClassVar[str] = "discounted-thompson"
    needs_bounded: ClassVar[bool] = True
    needs_extra: ClassVar[frozenset[Extra]] = frozenset({Extra.TIME})

    half_life: float = 1000.0
    alpha: float = 1.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        check(self.half_life > 0, self.name, "half_life must be > 0", "e.g. half_life = 1000")
        check(self.alpha > 0 and self.beta > 0, self.name, "alpha and beta must be > 0",
              "use alpha = beta = 1")

    def time_weighting(self) -> TimeWeighting:
        """How past rewards are weighted."""
        return ("discount", self.half_life)

    def posterior(self, stats: ArmStats) -> BetaPosterior:
        """The Beta posterior of each arm's mean from the discounted counts."""
        return BetaPosterior(*self._posterior(stats))

    def _posterior(self, stats: ArmStats) -> tuple[FloatArray, FloatArray]:
        n, sums, _ = _time_weighted(stats)
        return self.alpha + sums, self.beta + np.maximum(n - sums, 0.0)

    def probabilities(self, stats: ArmStats) -> FloatArray:
        return best_rows(beta_best_probabilities, *self._posterior(stats))

    def sample_batch(self, stats: ArmStats, rng: np.random.Generator
                     ) -> npt.NDArray[np.intp]:
        return sample_beta_argmax(np.stack(self._posterior(stats)), rng)


@register("d-ucb", "discounted-ucb1")
@dataclass(frozen=True, slots=True)
class DiscountedUCB(Policy):
    """Discounted UCB (Garivier & Moulines 2011): UCB on discounted counts,
    ``mean_γ + c·sqrt(2·log N_γ / n_γ)``.

    Parameters
    ----------
    half_life
        Age at which a reward counts half (time units as for discounted TS).
    c
        Exploration scale: 0.3 by default. The paper's 1 never stops exploring (the
        discounted counts stay small) and lost to stationary UCB1 on every instance of
        docs/policies.md; 0.3 beat both (``c=1`` gives the paper's).
    """

    name: ClassVar[str] = "discounted-ucb"
    index_policy: ClassVar[bool] = True
    needs_extra: ClassVar[frozenset[Extra]] = frozenset({Extra.TIME})

    half_life: float = 1000.0
    c: float = 0.3

    def __post_init__(self) -> None:
        check(self.half_life > 0 and self.c >= 0, self.name, "half_life > 0 and c >= 0 needed",
              "e.g. half_life = 1000, c = 0.3")

    def time_weighting(self) -> TimeWeighting:
        """How past rewards are weighted."""
        return ("discount", self.half_life)

    def probabilities(self, stats: ArmStats) -> FloatArray:
        return _time_weighted_ucb(stats, self.c)


@register("sw-ucb", "sliding-window-ucb1")
@dataclass(frozen=True, slots=True)
class SlidingWindowUCB(Policy):
    """Sliding-window UCB (Garivier & Moulines 2011): UCB on the rewards of the last
    ``window`` time units only, ``mean_W + c·sqrt(2·log N_W / n_W)``.

    Parameters
    ----------
    window
        Width of the window (seconds in the service, steps in the simulator).
    c
        Exploration scale: 0.3 by default, as :class:`DiscountedUCB`'s (``c=1`` gives the
        paper's).
    """

    name: ClassVar[str] = "sliding-window-ucb"
    index_policy: ClassVar[bool] = True
    needs_extra: ClassVar[frozenset[Extra]] = frozenset({Extra.TIME})

    window: float = 1000.0
    c: float = 0.3

    def __post_init__(self) -> None:
        check(self.window > 0 and self.c >= 0, self.name, "window > 0 and c >= 0 needed",
              "e.g. window = 1000, c = 0.3")

    def time_weighting(self) -> TimeWeighting:
        """How past rewards are weighted."""
        return ("window", self.window)

    def probabilities(self, stats: ArmStats) -> FloatArray:
        return _time_weighted_ucb(stats, self.c)
