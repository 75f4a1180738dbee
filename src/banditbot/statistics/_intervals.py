"""Posterior summaries and intervals for reports (pure functions; scipy imported on use)."""

from __future__ import annotations

import math

import numpy as np

from .._types import FloatArray

__all__ = ["Z95", "bernoulli_kl", "beta_interval", "normal_interval", "wilson_interval"]

Z95 = 1.959963984540054


def beta_interval(a: FloatArray, b: FloatArray, level: float = 0.95) -> tuple[FloatArray,
                                                                                 FloatArray]:
    """Equal-tailed credible interval of ``Beta(a, b)`` per arm.

    Examples
    --------
    >>> lo, hi = beta_interval(np.array([1.0]), np.array([1.0]))
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.025, 0.975)
    """
    from scipy.special import betaincinv

    tail = (1.0 - level) / 2.0
    return betaincinv(a, b, tail), betaincinv(a, b, 1.0 - tail)


def wilson_interval(successes: FloatArray, n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Wilson score 95% interval for a proportion; NaN where ``n == 0``.

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([5.0]), np.array([10.0]))
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.237, 0.763)
    """
    z2 = Z95 * Z95
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        center = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)


def normal_interval(total: FloatArray, total_sq: FloatArray,
                    n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Normal-approximation 95% confidence interval of a mean; NaN where ``n < 2``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        var = np.maximum(total_sq - n * mean * mean, 0.0) / (n - 1)
        half = Z95 * np.sqrt(var / n)
    bad = n < 2
    return np.where(bad, math.nan, mean - half), np.where(bad, math.nan, mean + half)


def bernoulli_kl(p: FloatArray, q: FloatArray) -> FloatArray:
    """KL divergence between Bernoulli(p) and Bernoulli(q), elementwise (clipped away from
    0 and 1)."""
    eps = 1e-15
    p = np.clip(p, eps, 1 - eps)
    q = np.clip(q, eps, 1 - eps)
    out: FloatArray = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    return out
