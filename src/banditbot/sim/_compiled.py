"""A compiled kernel for the simulator's common case: Beta–Bernoulli Thompson sampling in a
stationary Bernoulli environment (the ``fast`` extra: ``pip install 'banditbot[fast]'``,
which brings numba).

numpy's vectorized step spends most of its time in ``Generator.standard_gamma`` on the
``(2, R, K)`` posterior (a call per step, a function call and the Marsaglia–Tsang constants
per element) and the rest in a dozen passes over ``(R, K)`` arrays. Here one loop over runs
and arms draws each Gamma variate by Marsaglia and Tsang's method (2000) from the
generator's normals and uniforms, compares the odds ``G_a / G_b`` as it goes, draws the
reward and adds it to ``(a, b)`` in place: no temporary arrays; about twice numpy's step
per core (docs/performance.md).
The variates are exact Gamma(shape) draws (Marsaglia–Tsang is a rejection sampler, exact in
exact arithmetic; shapes below 1 by ``Gamma(a + 1) · U^(1/a)``), so the decisions have the
distribution of numpy's path; the stream a seed gives differs from it.

This module imports numba: the simulator imports it only when it runs the kernel
(``_engine._kernel``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

from .._types import FloatArray

__all__ = ["advance", "constants", "warm"]

F = TypeVar("F", bound=Callable[..., Any])


def _jit(**options: Any) -> Callable[[F], F]:
    """numba's ``njit`` with its on-disk cache (``__pycache__`` beside this file, else the
    user's cache folder), or without it where no such folder is writable (numba refuses
    ``cache=True`` there when the module is imported): compiled again by each process.
    Division follows numpy's rules (no ZeroDivisionError check per division)."""
    options = {"nogil": True, "error_model": "numpy", **options}

    def decorate(function: F) -> F:
        try:
            return cast(F, numba.njit(cache=True, **options)(function))
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return cast(F, numba.njit(**options)(function))
    return decorate


def constants(ab: FloatArray) -> FloatArray:
    """Marsaglia–Tsang's constants of each shape in ``ab``, stacked ``(d, c, boost)``, shape
    ``(3, *ab.shape)``: ``d = a' - 1/3`` and ``c = 1 / sqrt(9 d)`` for ``a' = max(a, a + 1 if
    a < 1)``, and ``1 / a`` where ``a < 1`` (a Gamma(a + 1) variate times ``U^(1/a)``) else 0.
    The kernel keeps them current as it adds to ``ab``."""
    shape = np.where(ab < 1.0, ab + 1.0, ab)
    d = shape - 1.0 / 3.0
    return np.stack([d, 1.0 / np.sqrt(9.0 * d), np.where(ab < 1.0, 1.0 / ab, 0.0)])


@_jit(inline="always")  # inlined into the kernel's loop: a call cost a third of its time
def _gamma(rng: Any, d: float, c: float, boost: float) -> float:  # pragma: no cover
    """One Gamma variate from Marsaglia–Tsang's constants ``d``, ``c`` (see
    :func:`constants`), times ``U^boost`` when ``boost`` is set (shapes below 1)."""
    while True:
        x: float = rng.standard_normal()
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u: float = rng.random()
        x2 = x * x
        # the squeeze accepts ~98% of candidates without a logarithm
        if u < 1.0 - 0.0331 * x2 * x2 or \
                math.log(u) < 0.5 * x2 + d * (1.0 - v + math.log(v)):
            break
    if boost:
        u = rng.random()
        return d * v * math.pow(u, boost)
    return d * v


@_jit()
def advance(rng: Any, ab: Any, mt: Any, rates: Any, optimistic: bool,
            steps: int) -> None:  # pragma: no cover - compiled
    """Run ``steps`` steps of every run on ``ab`` (shape ``(2, R, K)``: the Beta posterior's
    ``(a, b)``, updated in place, with ``mt = constants(ab)`` beside it) with success rates
    ``rates``.

    Each run draws ``G_a / G_b`` per arm (the Beta draw's odds: the same order as the draw)
    and takes the largest; ``optimistic`` takes the larger of the draw and the posterior odds
    ``a / b`` per arm and breaks ties uniformly at random (a reservoir of one), as
    :meth:`ThompsonSampling.sample_batch` does."""
    runs, arms = ab.shape[1], ab.shape[2]
    for _ in range(steps):
        for r in range(runs):
            best, pick, tied = -1.0, 0, 1
            for k in range(arms):
                g_a = _gamma(rng, mt[0, 0, r, k], mt[1, 0, r, k], mt[2, 0, r, k])
                g_b = _gamma(rng, mt[0, 1, r, k], mt[1, 1, r, k], mt[2, 1, r, k])
                # G_b underflows to 0 below shape 1 (U^(1/b) with a tiny b): a Beta draw
                # of 1, infinite odds, as numpy's path has it
                score = g_a / g_b if g_b > 0.0 else math.inf
                if optimistic:
                    odds = ab[0, r, k] / ab[1, r, k]
                    if odds > score:
                        score = odds
                if score > best:
                    best, pick, tied = score, k, 1
                elif optimistic and score == best:
                    tied += 1
                    if rng.random() * tied < 1.0:
                        pick = k
            side = 0 if rng.random() < rates[pick] else 1
            a = ab[side, r, pick] + 1.0
            ab[side, r, pick] = a
            d = a - 1.0 / 3.0  # a >= 1 now: no boost
            mt[0, side, r, pick] = d
            mt[1, side, r, pick] = 1.0 / math.sqrt(9.0 * d)
            mt[2, side, r, pick] = 0.0


def warm() -> None:
    """Compile (or load from numba's cache) the kernel for float64 arrays and a numpy
    generator, on a tiny input."""
    rng = np.random.Generator(np.random.SFC64(0))
    ab = np.full((2, 1, 2), 0.5)
    advance(rng, ab, constants(ab), np.array([0.5, 0.5]), True, 1)
