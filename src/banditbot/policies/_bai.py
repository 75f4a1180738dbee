"""Best-arm identification: top-two Thompson sampling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .._types import FloatArray
from ..statistics import BetaPosterior, beta_best_probabilities
from ._base import ArmStats, Policy, check
from ._registry import register
from ._thompson import beta_posterior

__all__ = ["TopTwoThompsonSampling", "top_two_probabilities"]


def top_two_probabilities(best: FloatArray, leader_share: float,
                          means: FloatArray) -> FloatArray:
    """Top-two allocation from P(best): the leader (a TS draw) with probability
    ``leader_share``, else the challenger — the TS draw conditioned on differing from the
    leader, ``P(i | not j) = P_i / (1 - P_j)``. When the leader is certain (``P_j = 1``) the
    challenger is the runner-up by posterior mean."""
    k = best.shape[-1]
    out = leader_share * best
    for j in range(k):
        pj = best[j]
        if pj <= 0.0:
            continue
        rest = 1.0 - pj
        if rest > 1e-12:
            challenger = best / rest
            challenger[j] = 0.0
        else:
            others = np.where(np.arange(k) == j, -np.inf, means)
            top = others == others.max()
            challenger = top / top.sum()
        out = out + (1.0 - leader_share) * pj * challenger
    result: FloatArray = out / out.sum()
    return result


@register("ttts", "top-two-ts", "top-two-thompson-sampling")
@dataclass(frozen=True, slots=True)
class TopTwoThompsonSampling(Policy):
    """Top-two Thompson sampling (Russo 2016) for finding the best arm quickly.

    With probability ``leader_share`` play the Thompson draw (the leader); otherwise draw
    again until another arm comes out on top (the challenger). It spends more traffic on
    the close contenders than Thompson sampling does, which identifies the best arm with
    fewer samples — at a higher regret.

    Parameters
    ----------
    leader_share
        Probability of playing the leader (0.5 is the usual choice).
    alpha, beta
        Beta prior.

    Examples
    --------
    >>> s = ArmStats.from_counts([500, 500, 500], [50, 60, 250])
    >>> p = TopTwoThompsonSampling().probabilities(s)
    >>> round(float(p[2]), 3), bool(p[1] > p[0])
    (0.5, True)
    """

    name: ClassVar[str] = "top-two-thompson"
    needs_bounded: ClassVar[bool] = True

    leader_share: float = 0.5
    alpha: float = 1.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        check(0 < self.leader_share < 1, self.name, "leader_share must be in (0, 1)",
              "use 0.5")
        check(self.alpha > 0 and self.beta > 0, self.name, "alpha and beta must be > 0",
              "use alpha = beta = 1")

    def posterior(self, stats: ArmStats) -> BetaPosterior:
        """The Beta posterior of each arm's mean."""
        return BetaPosterior(*beta_posterior(stats, self.alpha, self.beta))

    def probabilities(self, stats: ArmStats) -> FloatArray:
        a, b = beta_posterior(stats, self.alpha, self.beta)
        if a.ndim > 1:
            return np.stack([self.probabilities(_row(stats, i)) for i in range(a.shape[0])])
        return top_two_probabilities(beta_best_probabilities(a, b), self.leader_share,
                                     a / (a + b))

    def sample_batch(self, stats: ArmStats, rng: np.random.Generator
                     ) -> npt.NDArray[np.intp]:
        a, b = beta_posterior(stats, self.alpha, self.beta)
        leader = rng.beta(a, b).argmax(axis=-1)
        challenge = rng.random(leader.shape[0]) >= self.leader_share
        pick = leader.copy()
        pending = challenge.copy()
        for _ in range(100):
            if not pending.any():
                break
            draw = rng.beta(a[pending], b[pending]).argmax(axis=-1)
            differs = draw != leader[pending]
            idx = np.flatnonzero(pending)
            pick[idx[differs]] = draw[differs]
            pending[idx[differs]] = False
        if pending.any():  # leader (almost) certain: the runner-up by posterior mean
            means = a[pending] / (a[pending] + b[pending])
            means[np.arange(means.shape[0]), leader[pending]] = -np.inf
            pick[pending] = means.argmax(axis=-1)
        out: npt.NDArray[np.intp] = pick
        return out


def _row(stats: ArmStats, i: int) -> ArmStats:
    return ArmStats(stats.n[i], stats.sums[i], stats.sums_sq[i],
                    None if stats.prior_alpha is None else stats.prior_alpha[i],
                    None if stats.prior_beta is None else stats.prior_beta[i],
                    stats.pulls[i], {k: v[i] for k, v in stats.extra.items()},
                    None if stats.context is None else stats.context[i])
