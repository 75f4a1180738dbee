"""Posteriors over arm means that a Bayesian policy keeps: what its report's interval and
P(best) describe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .._types import BoolArray, FloatArray
from ._best import beta_best_probabilities, normal_best_probabilities
from ._intervals import Z95, beta_interval

__all__ = ["BetaPosterior", "NormalPosterior", "Posterior"]


@dataclass(frozen=True, slots=True)
class BetaPosterior:
    """Independent ``Beta(a_i, b_i)`` posteriors of arm means on [0, 1]; shapes ``(K,)``.

    Examples
    --------
    >>> import numpy as np
    >>> p = BetaPosterior(np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    >>> [round(float(x), 3) for x in p.interval()[0]]
    [0.025, 0.025]
    """

    a: FloatArray
    b: FloatArray
    name: ClassVar[str] = "Beta posterior"
    bounded: ClassVar[bool] = True

    def mean(self) -> FloatArray:
        """Posterior means."""
        out: FloatArray = self.a / (self.a + self.b)
        return out

    def interval(self, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
        """Equal-tailed credible interval per arm."""
        return beta_interval(self.a, self.b, level)

    def best_probabilities(self) -> FloatArray:
        """P(arm i has the highest mean), per arm."""
        return beta_best_probabilities(self.a, self.b)

    def subset(self, mask: BoolArray) -> BetaPosterior:
        """The posteriors of the arms selected by a boolean mask."""
        return BetaPosterior(self.a[mask], self.b[mask])


@dataclass(frozen=True, slots=True)
class NormalPosterior:
    """Independent normal posteriors ``N(mean_i, sd_i²)`` of arm means; shapes ``(K,)``."""

    mean_: FloatArray
    sd: FloatArray
    name: ClassVar[str] = "normal posterior"
    bounded: ClassVar[bool] = False

    def mean(self) -> FloatArray:
        """Posterior means."""
        return self.mean_

    def interval(self, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
        """Central credible interval per arm (``level`` 0.95 only: ±1.96 sd)."""
        if level != 0.95:
            from scipy.special import ndtri

            z = float(ndtri(0.5 + level / 2.0))
        else:
            z = Z95
        return self.mean_ - z * self.sd, self.mean_ + z * self.sd

    def best_probabilities(self) -> FloatArray:
        """P(arm i has the highest mean), per arm."""
        return normal_best_probabilities(self.mean_, self.sd)

    def subset(self, mask: BoolArray) -> NormalPosterior:
        """The posteriors of the arms selected by a boolean mask."""
        return NormalPosterior(self.mean_[mask], self.sd[mask])


Posterior = BetaPosterior | NormalPosterior
