"""Policies' arithmetic on Python floats for one bandit with few arms: the draws made ahead,
the shares of the leading arms, a draw from a vector and the rules a decision's lean path
calls (see :class:`ScalarRule`).

numpy's per-call cost is most of a decision's work up to a few dozen arms, so a bandit that
small decides on floats. This module holds only plain functions and classes of floats and
lists, so the compiled build (``BANDITBOT_COMPILE=1``, see ``setup.py``) compiles it with
the service: there, each call here from the service is a C call, and the loops below run
without the interpreter.
"""

from __future__ import annotations

import bisect
import functools
import math
import types
from collections.abc import Callable, Sequence
from typing import ClassVar, Final

import numpy as np

__all__ = [
    "FLOAT_ARMS",
    "EpsilonRule",
    "MethodRule",
    "ScalarDraws",
    "ScalarRule",
    "SoftmaxRule",
    "UpperBoundRule",
    "beta_argmax",
    "beta_pick",
    "draw_cumulative",
    "draw_index",
    "epsilon_vector",
    "least",
    "means_of",
    "share_top",
    "softmax_vector",
    "upper_bound_vector",
]

#: draws per block of :class:`ScalarDraws` (numpy's call and ``tolist``: 23 ns a draw in
#: blocks of 64, 16 in blocks of 256; kept at 64: a seed's draws stay what they were)
_BLOCK: Final = 64
#: builtins and the bisection bound once (compiled, a name of the module is read from its
#: dict at each use; a ``Final`` one is a C variable)
_bisect_right: Final = bisect.bisect_right
_max: Final = max
_min: Final = min
_sum: Final = sum


def _compiled() -> bool:
    """Whether this module runs compiled (the compiled build: its functions are not
    Python functions)."""
    return not isinstance(_compiled, types.FunctionType)


#: whether this module runs compiled: a few loops below then run on floats in C, where
#: interpreted the builtins' C loops are the cheaper way (``max``, ``min``, ``sum``)
_COMPILED: Final = _compiled()
#: the most arms whose Thompson sampling posterior and draw a decision works on Python
#: floats (more: on numpy arrays). Interpreted, numpy's per-call cost outweighs the loops
#: up to 16 arms; compiled, these loops are cheaper than numpy's calls up to the service's
#: lane of 64 arms (one Gamma draw per shape: 100 of them ~9 µs here, numpy's draw of an
#: array of 100 and its argmax 14 µs)
FLOAT_ARMS: Final = 64 if _COMPILED else 16


class ScalarDraws:
    """One draw at a time from a numpy generator, drawn ahead in blocks: a numpy call for a
    single number costs more than a decision's arithmetic (``rng.random()`` ~1 µs,
    ``rng.standard_gamma`` of six shapes ~14 µs here). The same seed gives the same draws;
    ``list.pop`` and rebinding a block are atomic, so threads need no lock (two threads
    that find the block empty at once each draw a block: nothing is drawn twice).

    Parameters
    ----------
    rng
        The generator the draws come from (kept as :attr:`rng` for array draws).

    Examples
    --------
    >>> draws = ScalarDraws(np.random.default_rng(0))
    >>> 0.0 <= draws.random() < 1.0, draws.standard_gamma(2.5) > 0.0
    (True, True)
    """

    __slots__ = ("_normals", "_uniforms", "rng")

    #: draws per block
    BLOCK: ClassVar[int] = _BLOCK

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._uniforms: list[float] = []
        self._normals: list[float] = []

    def random(self) -> float:
        """A uniform draw on [0, 1)."""
        if self._uniforms:  # (no exception for an empty block: compiled, a raise is dear)
            try:
                return self._uniforms.pop()
            except IndexError:  # (another thread took the last one)
                pass
        # (this thread's draw comes from the block before it is shared)
        block: list[float] = self.rng.random(self.BLOCK).tolist()
        mine = block.pop()
        self._uniforms = block
        return mine

    def normal(self) -> float:
        """A standard normal draw."""
        if self._normals:
            try:
                return self._normals.pop()
            except IndexError:
                pass
        block: list[float] = self.rng.standard_normal(self.BLOCK).tolist()
        mine = block.pop()
        self._normals = block
        return mine

    def standard_gamma(self, shape: float) -> float:
        """A ``Gamma(shape, 1)`` draw (``shape >= 0``; 0 gives 0, as numpy's does): exact,
        by Marsaglia and Tsang's rejection method (ACM TOMS 26(3), 2000) on a normal and a
        uniform, with ``Gamma(a + 1) · U^(1/a)`` for ``a < 1``.

        Raises
        ------
        ValueError
            ``shape`` is negative or NaN (as numpy's ``standard_gamma``)."""
        if not shape >= 0.0:
            raise ValueError(f"a Gamma shape is >= 0, got {shape}")
        if shape < 1.0:
            if shape == 0.0:
                return 0.0
            return self.standard_gamma(shape + 1.0) * math.pow(self.random(), 1.0 / shape)
        d = shape - 1.0 / 3.0
        c = 1.0 / math.sqrt(9.0 * d)
        while True:
            x = self.normal()
            v = 1.0 + c * x
            if v <= 0.0:
                continue
            v = v * v * v
            u = 1.0 - self.random()  # (0, 1]: its log is finite
            x2 = x * x
            if u < 1.0 - 0.0331 * x2 * x2 or \
                    math.log(u) < 0.5 * x2 + d * (1.0 - v + math.log(v)):
                return d * v


def beta_argmax(shapes: list[float], draws: ScalarDraws, optimistic: bool = False) -> int:
    """The argmax of one ``Beta(a, b)`` draw per arm, ``shapes`` = ``[a_1 … a_K, b_1 …
    b_K]``: Thompson sampling's pick on floats (:func:`beta_pick` of one Gamma draw per
    shape; see :meth:`~banditbot.policies.ThompsonSampling.draw`)."""
    # (the method called by name: compiled, a direct call; a bound method is a Python one)
    return beta_pick([draws.standard_gamma(x) for x in shapes], shapes, optimistic,
                     draws.random)


def beta_pick(gammas: list[float], shapes: list[float], optimistic: bool,
              random: Callable[[], float]) -> int:
    """The argmax of the Beta draws ``G_a / (G_a + G_b)`` made of ``gammas`` (one
    ``Gamma(x, 1)`` draw per shape ``x`` of ``shapes``, ``[a…, b…]``; optimistic: at least
    the posterior mean ``a / (a + b)``), ties broken by the uniform draw ``random()``."""
    k = len(shapes) // 2
    if not shapes or len(shapes) % 2 or len(gammas) != len(shapes):
        raise ValueError(f"shapes are [a…, b…] of one arm or more, with a Gamma draw each: "
                         f"got {len(shapes)} shapes and {len(gammas)} draws")
    # (one pass on floats, indexed: compiled, a loop in C with no list of pairs)
    score: list[float] = []
    top, ties = -1.0, 0
    for i in range(k):
        x, y = gammas[i], gammas[k + i]
        s = x / (x + y) if x + y else 1.0
        if optimistic:
            a, b = shapes[i], shapes[k + i]
            s = max(s, a / (a + b))
        score.append(s)
        if s > top:
            top, ties = s, 1
        elif s == top:
            ties += 1
    if ties == 1:
        return score.index(top)
    tied = [i for i in range(k) if score[i] == top]
    return tied[int(random() * len(tied))]


def least(values: list[float]) -> float:
    """The smallest of ``values``, as ``min`` gives it (a NaN first stays; one later is
    passed over): a loop on floats, which compiled is a loop in C where ``min`` compares
    objects.

    Raises
    ------
    ValueError
        ``values`` is empty."""
    if not values:
        raise ValueError("least() of no values")
    low = values[0]
    for x in values:
        if x < low:
            low = x
    return low


def draw_index(p: Sequence[float], u: float) -> int:
    """The arm that the uniform draw ``u`` in [0, 1) picks from the probabilities ``p`` (a
    scan; arms with probability 0 are never picked).

    Examples
    --------
    >>> draw_index([0.2, 0.0, 0.8], 0.1), draw_index([0.2, 0.0, 0.8], 0.5)
    (0, 2)
    """
    u *= sum(p, 0.0)
    last = 0
    for i, pi in enumerate(p):
        if pi > 0.0:
            if u < pi:
                return i
            u -= pi
            last = i
    return last  # rounding at the top end


def draw_cumulative(cumulative: list[float], u: float) -> int:
    """:func:`draw_index` by bisection of the running sums ``cumulative`` of the
    probabilities (``itertools.accumulate``; arms with probability 0 are never picked).

    Examples
    --------
    >>> draw_cumulative([0.2, 0.2, 1.0], 0.1), draw_cumulative([0.2, 0.2, 1.0], 0.5)
    (0, 2)
    """
    i: int = _bisect_right(cumulative, u * cumulative[-1])
    if i < len(cumulative):
        return i
    i -= 1  # rounding at the top end: the last arm with a share
    while i > 0 and cumulative[i - 1] >= cumulative[i]:
        i -= 1
    return i


def means_of(counts: list[float], totals: list[float], default: float) -> list[float]:
    """Mean reward per arm, ``default`` for an arm without observations.

    Raises
    ------
    ValueError
        ``counts`` and ``totals`` differ in length."""
    if len(counts) != len(totals):
        raise ValueError(f"{len(counts)} counts and {len(totals)} totals")
    # (zip without strict, its lengths checked: compiled, a loop in C; strict is a call)
    return [s / c if c > 0.0 else default for c, s in zip(counts, totals)]  # noqa: B905


def share_top(values: list[float], mass: float, rest: float,
              kept: dict[int, tuple[float, ...]] | None = None) -> tuple[float, ...]:
    """``rest`` for every entry, plus ``mass`` split evenly among the maximal ones (a
    uniform tie-break). The same maximal entries give the same tuple object (a cache of
    recent ones): a caller may keep what it derives from a vector by its identity.
    ``kept``: the caller's own dict of the vectors of one leading entry, for one ``mass``
    and ``rest`` per number of entries (a rule's: found by an int, where the cache hashes
    every argument).

    Examples
    --------
    >>> share_top([0.2, 0.5, 0.5], 0.9, 0.1 / 3) == (0.1 / 3, 0.45 + 0.1 / 3, 0.45 + 0.1 / 3)
    True
    >>> share_top([0.2, 0.5], 1.0, 0.0) is share_top([0.4, 0.7], 1.0, 0.0)
    True
    """
    k = len(values)
    if _COMPILED:  # (one pass in C: the top, where it first is, how many share it)
        if not values:
            raise ValueError("share_top() of no values")
        top, at, ties = values[0], 0, 1
        for i in range(1, k):
            v = values[i]
            if v > top:
                top, at, ties = v, i, 1
            elif v == top:
                ties += 1
    else:  # (max's answer: a NaN first stays, one later is passed over)
        top = _max(values)
        ties = values.count(top)
        at = values.index(top) if ties == 1 else 0
    if top != top:  # (a NaN at the top: no entry equals it)
        return (rest,) * k
    if ties > 1:
        return _top_shares(k, tuple(i for i, v in enumerate(values) if v == top), mass, rest)
    if kept is None:
        return _top_shares(k, at, mass, rest)
    key = k << 32 | at
    hit = kept.get(key)
    if hit is None:
        hit = kept[key] = _top_shares(k, at, mass, rest)
    return hit


@functools.lru_cache(maxsize=1024)
def _top_shares(k: int, tops: int | tuple[int, ...], mass: float, rest: float
                ) -> tuple[float, ...]:
    """:func:`share_top`'s vector for the maximal entries ``tops`` (one index, or several)
    of ``k``."""
    if isinstance(tops, int):
        tops = (tops,)
    hit = mass / len(tops) + rest
    p = [rest] * k
    for i in tops:
        p[i] = hit
    return tuple(p)


class ScalarRule:
    """A policy's probability vector for one bandit from its counts and reward totals as
    Python floats, operator priors added (a policy's
    :meth:`~banditbot.policies.Policy.scalar_probabilities` without unbounded rewards'
    squares). A policy hands out its rule (:meth:`~banditbot.policies.Policy.scalar_rule`)
    and the service's decision path calls it: one call, compiled in the compiled build."""

    def __init__(self) -> None:
        #: the vectors of one leading arm handed out (see :func:`share_top`)
        self.kept: dict[int, tuple[float, ...]] = {}

    def vector(self, counts: list[float], totals: list[float]) -> Sequence[float]:
        """The probability of choosing each arm."""
        raise NotImplementedError


class MethodRule(ScalarRule):
    """The rule of a policy that defines only
    :meth:`~banditbot.policies.Policy.scalar_probabilities` (one of a user's own): it
    calls that method."""

    def __init__(self, method: Callable[[list[float], list[float]], Sequence[float]]) -> None:
        super().__init__()
        self.method = method

    def vector(self, counts: list[float], totals: list[float]) -> Sequence[float]:
        return self.method(counts, totals)


def epsilon_vector(counts: list[float], totals: list[float], epsilon: float, default: float,
                   kept: dict[int, tuple[float, ...]] | None = None) -> tuple[float, ...]:
    """ε-greedy's vector: ``1 - epsilon`` shared by the arms of the highest mean,
    ``epsilon`` spread over all (an arm without observations has mean ``default``);
    ``kept``: see :func:`share_top`."""
    return share_top(means_of(counts, totals, default), 1.0 - epsilon, epsilon / len(counts),
                     kept)


def softmax_vector(counts: list[float], totals: list[float], temperature: float,
                   default: float) -> list[float]:
    """Softmax's vector: ``P(i) ∝ exp(mean_i / temperature)``."""
    values = means_of(counts, totals, default)
    top = _max(values)
    w = [math.exp((v - top) / temperature) for v in values]
    total = _sum(w, 0.0)
    return [x / total for x in w]


def upper_bound_vector(counts: list[float], totals: list[float], width: float,
                       kept: dict[int, tuple[float, ...]] | None = None) -> tuple[float, ...]:
    """UCB1's vector with a known scale: the untried arms first, then the arms of the
    highest ``mean + width · sqrt(2 ln t / n)``; ``kept``: see :func:`share_top`.

    Raises
    ------
    ValueError
        ``counts`` and ``totals`` differ in length."""
    if len(counts) != len(totals):
        raise ValueError(f"{len(counts)} counts and {len(totals)} totals")
    # (the two branches agree on finite counts, which the service passes; a NaN first is
    # passed over by min, not by the loop; on Python 3.12+ sum compensates its rounding)
    if _COMPILED:  # (one pass in C: the total, and whether an arm is untried)
        total, untried = 0.0, False
        for c in counts:
            total += c
            if c <= 0.0:
                untried = True
    else:
        untried, total = _min(counts) <= 0.0, _sum(counts, 0.0)
    if untried:  # the untried arms first
        return share_top([1.0 if c <= 0.0 else 0.0 for c in counts], 1.0, 0.0, kept)
    # (the products that do not depend on the arm taken once: the same floats as
    # ``c * scale * sqrt(2 log_t / n)`` per arm, 16% less time at 50 arms)
    budget = 2.0 * math.log(max(total, 1.0))
    return share_top([s / n + width * math.sqrt(budget / n)
                      for n, s in zip(counts, totals)], 1.0, 0.0, kept)  # noqa: B905


class EpsilonRule(ScalarRule):
    """:func:`epsilon_vector` with its parameters, keeping the vectors it hands out."""

    def __init__(self, epsilon: float, default: float) -> None:
        super().__init__()
        self.epsilon = epsilon
        self.default = default

    def vector(self, counts: list[float], totals: list[float]) -> Sequence[float]:
        return epsilon_vector(counts, totals, self.epsilon, self.default, self.kept)


class SoftmaxRule(ScalarRule):
    """:func:`softmax_vector` with its parameters."""

    def __init__(self, temperature: float, default: float) -> None:
        super().__init__()
        self.temperature = temperature
        self.default = default

    def vector(self, counts: list[float], totals: list[float]) -> Sequence[float]:
        return softmax_vector(counts, totals, self.temperature, self.default)


class UpperBoundRule(ScalarRule):
    """:func:`upper_bound_vector` with its width, keeping the vectors it hands out."""

    def __init__(self, width: float) -> None:
        super().__init__()
        self.width = width

    def vector(self, counts: list[float], totals: list[float]) -> Sequence[float]:
        return upper_bound_vector(counts, totals, self.width, self.kept)
