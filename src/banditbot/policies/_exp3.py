"""EXP3: exponential weights for adversarial rewards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._types import FloatArray
from ._base import ArmStats, Extra, Policy, check
from ._registry import register

__all__ = [
    "EXP3",
]


@register("exp-3")
@dataclass(frozen=True, slots=True)
class EXP3(Policy):
    """EXP3 (Auer et al. 2002) for adversarial rewards in [0, 1].

    ``P(i) = (1 - gamma)·softmax(eta·S)_i + gamma / K`` where ``S_i`` is the importance-weighted
    sum of arm ``i``'s rewards (each reward divided by the logged propensity of its decision
    — exact, because every decision logs it), and ``eta = gamma / K``.

    Parameters
    ----------
    gamma
        Exploration share in (0, 1].

    Examples
    --------
    >>> s = ArmStats.from_counts([10, 10], [2, 8])
    >>> s = s._replace(extra={"ips_total": np.array([4.0, 16.0])})
    >>> bool(EXP3(gamma=0.1).probabilities(s)[1] > 0.5)
    True
    """

    name: ClassVar[str] = "exp3"
    needs_bounded: ClassVar[bool] = True
    needs_extra: ClassVar[frozenset[Extra]] = frozenset({Extra.IPS})

    gamma: float = 0.1

    def __post_init__(self) -> None:
        check(0 < self.gamma <= 1, self.name, f"gamma must be in (0, 1], got {self.gamma}",
              "use gamma = 0.1")

    def probabilities(self, stats: ArmStats) -> FloatArray:
        k = stats.n_arms
        s = stats.extra.get("ips_total")
        if s is None:
            s = np.zeros_like(stats.n)
        z = (self.gamma / k) * s
        w = np.exp(z - z.max(axis=-1, keepdims=True))
        p: FloatArray = (1 - self.gamma) * w / w.sum(axis=-1, keepdims=True) + self.gamma / k
        return p
