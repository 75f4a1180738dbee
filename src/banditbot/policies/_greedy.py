"""Greedy policies: ε-greedy and softmax (Boltzmann) exploration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._types import FloatArray
from ._base import (
    ArmStats,
    Policy,
    argmax_ties,
    check,
    pseudo_lists,
    small,
)
from ._registry import register
from ._scalar import EpsilonRule, SoftmaxRule, epsilon_vector, softmax_vector

__all__ = [
    "EpsilonGreedy",
    "Softmax",
]


@register("egreedy", "e-greedy", "epsilon_greedy", "greedy")
@dataclass(frozen=True, slots=True)
class EpsilonGreedy(Policy):
    """ε-greedy: the best-looking arm with probability 1 - ε, a uniform arm otherwise.

    Ties for the best mean are broken at random; exploration draws uniformly from *all* arms,
    so the best arm gets ``(1 - ε) / #ties + ε / K``. Arms without observations are valued
    at ``initial_value``.

    Parameters
    ----------
    epsilon
        Exploration rate in [0, 1].
    initial_value
        Value of an arm that has no observations yet.

    Examples
    --------
    >>> p = EpsilonGreedy(epsilon=0.5).probabilities(ArmStats.from_counts([10, 10], [2, 5]))
    >>> [float(x) for x in p]
    [0.25, 0.75]
    """

    name: ClassVar[str] = "epsilon-greedy"
    scalar: ClassVar[bool] = True

    epsilon: float = 0.1
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check(0.0 <= self.epsilon <= 1.0, self.name, f"epsilon must be in [0, 1], got "
              f"{self.epsilon}", "set epsilon to e.g. 0.1")

    def probabilities(self, stats: ArmStats) -> FloatArray:
        if small(stats):
            return np.array(self.scalar_probabilities(*pseudo_lists(stats)))
        best_arms = argmax_ties(stats.means(self.initial_value))
        p: FloatArray = best_arms * (1.0 - self.epsilon) + self.epsilon / best_arms.shape[-1]
        return p

    def scalar_probabilities(self, counts: list[float], totals: list[float]
                             ) -> tuple[float, ...]:
        return epsilon_vector(counts, totals, self.epsilon, self.initial_value)

    def scalar_rule(self) -> EpsilonRule:
        return EpsilonRule(self.epsilon, self.initial_value)


@register("boltzmann", "softmax-boltzmann")
@dataclass(frozen=True, slots=True)
class Softmax(Policy):
    """Softmax (Boltzmann) exploration: ``P(i) ∝ exp(mean_i / temperature)``.

    Parameters
    ----------
    temperature
        > 0; small values act greedily, large values uniformly.
    initial_value
        Value of an arm without observations.

    Examples
    --------
    >>> p = Softmax(temperature=1.0).probabilities(ArmStats.from_counts([1, 1], [0, 1]))
    >>> round(float(p[1]), 4)  # e / (1 + e)
    0.7311
    """

    name: ClassVar[str] = "softmax"
    scalar: ClassVar[bool] = True

    temperature: float = 0.1
    initial_value: float = 0.0

    def __post_init__(self) -> None:
        check(self.temperature > 0, self.name,
              f"temperature must be > 0, got {self.temperature}", "use e.g. temperature = 0.1")

    def probabilities(self, stats: ArmStats) -> FloatArray:
        if small(stats):
            return np.array(self.scalar_probabilities(*pseudo_lists(stats)))
        means = stats.means(self.initial_value)
        weights = np.exp((means - means.max(axis=-1, keepdims=True)) / self.temperature)
        p: FloatArray = weights / weights.sum(axis=-1, keepdims=True)
        return p

    def scalar_probabilities(self, counts: list[float], totals: list[float]) -> list[float]:
        return softmax_vector(counts, totals, self.temperature, self.initial_value)

    def scalar_rule(self) -> SoftmaxRule:
        return SoftmaxRule(self.temperature, self.initial_value)
