"""The policy contract: statistics in, chosen arm and full probability vector out.

A policy is an immutable, validated specification (a frozen dataclass) with one pure method,
:meth:`Policy.probabilities`, that maps the arm statistics to the probability with which the
policy would pick each arm *right now*. Choosing is sampling from that vector with the
generator the caller passes in, so the logged propensity is exactly the probability that was
used to pick the arm (for Thompson sampling the vector is computed numerically; see
:mod:`banditbot.statistics._best`).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt

from .._errors import PolicyError
from .._types import FloatArray
from ..statistics import Posterior
from ._scalar import (
    MethodRule,
    ScalarDraws,
    ScalarRule,
    draw_cumulative,
    draw_index,
    means_of,
    share_top,
)

__all__ = ["SMALL", "UNIT_SLACK", "ArmStats", "Choice", "Extra", "Policy", "ScalarDraws",
           "draw_cumulative", "draw_index", "fits_unit_interval", "means_of", "pick_arm",
           "pooled_moments", "pseudo_lists", "rule_of", "sample_arm", "sample_rows",
           "share_top", "small", "squares_with_priors"]


_NO_EXTRA: Mapping[str, FloatArray] = MappingProxyType({})


#: How a non-stationary policy weighs past rewards (see :meth:`Policy.time_weighting`)
TimeWeighting = tuple[str, float]

class Extra(enum.StrEnum):
    """Additive statistics beyond the core counters that a policy may need; the store keeps
    them for an experiment whose capabilities ask for them, and the caller maps them into
    :attr:`ArmStats.extra`.

    * ``IPS``: importance-weighted reward sums, ``extra["ips_total"]`` (EXP3);
    * ``TIME``: time-bucketed sums weighted by the policy's :meth:`time_weighting`,
      ``extra["tw_n"]``, ``["tw_sums"]``, ``["tw_sums_sq"]`` (non-stationary policies);
    * ``LINEAR``: per-arm ridge-regression sums, ``extra["A"]`` ``(K, d, d)`` and ``["b"]``
      ``(K, d)`` (contextual policies).
    """

    IPS = "ips_total"
    TIME = "time"
    LINEAR = "linear"


class ArmStats(NamedTuple):
    """Sufficient statistics of the arms, on the policy's reward scale (immutable).

    Arrays have the arms on their last axis: shape ``(K,)`` for one bandit, ``(R, K)`` for
    ``R`` simulated runs at once (every policy works on both).

    Bounded rewards (👍/👎, a rating scale) are mapped to [0, 1] before they reach a policy;
    continuous rewards are passed as they are.

    Attributes
    ----------
    n
        Shape ``(K,)``: observed rewards per arm (may be fractional for weighted history).
    sums
        Shape ``(K,)``: sum of the observed rewards per arm.
    sums_sq
        Shape ``(K,)``: sum of the squared rewards per arm.
    prior_alpha, prior_beta
        Shape ``(K,)``: per-arm prior pseudo-successes and pseudo-failures set by an
        operator; ``0`` where the arm has no prior of its own (the policy default applies).
        ``None`` when no arm has one.
    pulls
        Shape ``(K,)``: how often each arm was chosen (decisions, rewarded or not).
    extra
        Additive, policy-specific statistics by name (time-bucketed sums, linear-model
        matrices); each array's first axis is the arm.
    context
        Shape ``(d,)``: the feature vector of the current decision, for contextual policies.
    """

    n: FloatArray
    sums: FloatArray
    sums_sq: FloatArray
    prior_alpha: FloatArray | None
    prior_beta: FloatArray | None
    pulls: FloatArray
    extra: Mapping[str, FloatArray] = _NO_EXTRA
    context: FloatArray | None = None

    @property
    def n_arms(self) -> int:
        """Number of arms ``K``."""
        return int(self.n.shape[-1])

    @classmethod
    def from_counts(
        cls,
        n: npt.ArrayLike,
        sums: npt.ArrayLike,
        sums_sq: npt.ArrayLike | None = None,
        *,
        prior_alpha: npt.ArrayLike | None = None,
        prior_beta: npt.ArrayLike | None = None,
        pulls: npt.ArrayLike | None = None,
    ) -> ArmStats:
        """Build statistics from counts, e.g. ``ArmStats.from_counts([10, 10], [3, 7])``.

        ``sums_sq`` defaults to ``sums`` (right for 0/1 rewards); priors default to none;
        ``pulls`` defaults to ``n``.

        Examples
        --------
        >>> s = ArmStats.from_counts([10, 10], [3, 7])
        >>> s.n_arms, float(s.means()[1])
        (2, 0.7)
        """
        n_ = np.asarray(n, dtype=np.float64)
        sums_ = np.asarray(sums, dtype=np.float64)
        has_prior = prior_alpha is not None or prior_beta is not None
        zeros = np.zeros_like(n_)
        return cls(
            n=n_,
            sums=sums_,
            sums_sq=sums_ if sums_sq is None else np.asarray(sums_sq, dtype=np.float64),
            prior_alpha=(zeros if prior_alpha is None else np.asarray(prior_alpha, np.float64))
            if has_prior else None,
            prior_beta=(zeros if prior_beta is None else np.asarray(prior_beta, np.float64))
            if has_prior else None,
            pulls=n_ if pulls is None else np.asarray(pulls, dtype=np.float64),
        )

    def with_pseudo_counts(self) -> tuple[FloatArray, FloatArray]:
        """Return ``(n, sums)`` with operator priors added as pseudo-observations."""
        if self.prior_alpha is None or self.prior_beta is None:
            return self.n, self.sums
        return self.n + self.prior_alpha + self.prior_beta, self.sums + self.prior_alpha

    def subset(self, mask: npt.NDArray[np.bool_]) -> ArmStats:
        """The statistics of the arms selected by a boolean mask (one bandit)."""
        keep = np.flatnonzero(mask)
        axis = self.n.ndim - 1
        return ArmStats(
            self.n[..., keep], self.sums[..., keep], self.sums_sq[..., keep],
            None if self.prior_alpha is None else self.prior_alpha[..., keep],
            None if self.prior_beta is None else self.prior_beta[..., keep],
            self.pulls[..., keep], {k: np.take(v, keep, axis=axis)
                                    for k, v in self.extra.items()}, self.context)

    def means(self, default: float = 0.0) -> FloatArray:
        """Mean reward per arm (priors included as pseudo-observations); ``default`` if none."""
        n, sums = self.with_pseudo_counts()
        out: FloatArray = np.divide(sums, n, out=np.full(n.shape, default), where=n > 0)
        return out


class Choice(NamedTuple):
    """A policy's pick: the arm index and the full probability vector it was drawn from.

    Attributes
    ----------
    arm
        Index of the chosen arm.
    probabilities
        Shape ``(K,)``: probability of each arm at this moment; sums to 1.
    """

    arm: int
    probabilities: FloatArray

    @property
    def propensity(self) -> float:
        """Probability with which the chosen arm was picked, in (0, 1]."""
        return float(self.probabilities[self.arm])


def sample_arm(probabilities: FloatArray, rng: np.random.Generator) -> int:
    """Draw an arm index from ``probabilities``; arms with probability 0 are never drawn."""
    return pick_arm(probabilities, rng.random())


def pick_arm(probabilities: FloatArray, u: float) -> int:
    """The arm that the uniform draw ``u`` in [0, 1) picks from ``probabilities`` (arms
    with probability 0 are never picked): :func:`draw_index` for an array."""
    if probabilities.shape[0] <= SMALL:  # a short Python scan beats three numpy calls
        return draw_index(probabilities.tolist(), u)
    # the array methods, not np.cumsum / np.searchsorted: their Python wrappers cost more
    # than the work on a few dozen arms
    cumulative = probabilities.cumsum()
    arm = int(cumulative.searchsorted(u * cumulative[-1], side="right"))
    if arm >= probabilities.shape[0] or probabilities[arm] <= 0.0:  # rounding at the top end
        arm = int(np.flatnonzero(probabilities > 0.0)[-1])
    return arm


def sample_rows(probabilities: FloatArray, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """Draw one arm per row of an ``(R, K)`` probability matrix; zero-probability arms are
    never drawn."""
    cumulative: FloatArray = np.cumsum(probabilities, axis=-1)
    draws: FloatArray = rng.random((probabilities.shape[0],))
    u = draws[:, None] * cumulative[:, -1:]
    arms: npt.NDArray[np.intp] = np.minimum((cumulative <= u).sum(axis=-1),
                                            probabilities.shape[-1] - 1)
    return arms


class Policy:
    """Base class of all policies.

    Subclasses are frozen dataclasses registered by name (see
    :func:`banditbot.policies.make_policy`). They validate their parameters in
    ``__post_init__`` and implement :meth:`probabilities`; :meth:`choose` samples from it.
    """

    #: Registered name, e.g. ``"thompson"``.
    name: ClassVar[str] = ""
    #: Whether the policy reads a context vector.
    contextual: ClassVar[bool] = False
    #: Extra additive statistics the policy needs (see :class:`Extra`).
    needs_extra: ClassVar[frozenset[Extra]] = frozenset()
    #: Whether rewards must lie in [0, 1] (Beta posteriors, Bernoulli KL).
    needs_bounded: ClassVar[bool] = False
    #: Whether the vector depends on counts and reward totals alone and has a
    #: :meth:`scalar_probabilities` form (and a :meth:`scalar_rule`).
    scalar: ClassVar[bool] = False
    #: Whether each decision goes to the arm with the highest index (an upper bound, the
    #: UCB family): it explores by turns, not by shares, so most decisions can go to an arm
    #: that does not lead.
    index_policy: ClassVar[bool] = False

    def time_weighting(self) -> TimeWeighting | None:
        """How a non-stationary policy weighs past rewards: ``("discount", half_life)`` or
        ``("window", width)`` (seconds in the service, steps in the simulator); ``None``
        for a policy that weighs every reward alike (it assumes constant rates)."""
        return None

    @property
    def scalar_unbounded(self) -> bool:
        """Whether :meth:`scalar_probabilities` (counts and totals alone) also decides
        unbounded rewards as :meth:`probabilities` does (a policy whose bonus reads the
        arms' variances there says no: the service then decides on its statistics)."""
        return True

    def probabilities(self, stats: ArmStats) -> FloatArray:
        """Probability of choosing each arm given ``stats``; shape ``(K,)``, sums to 1."""
        raise NotImplementedError

    def scalar_probabilities(self, counts: list[float], totals: list[float]
                             ) -> Sequence[float]:
        """:meth:`probabilities` of one bandit on Python floats, for a policy whose
        :attr:`scalar` is true: ``counts`` and reward ``totals`` per arm with the operator
        priors already added as pseudo-observations (see :func:`pseudo_lists`). numpy's
        per-call cost is most of the work up to a few dozen arms, so the decision path of
        such a bandit stays on floats (the service's lane: up to 64 arms)."""
        raise NotImplementedError(f"{self.name or type(self).__name__} has no scalar form")

    def scalar_rule(self) -> ScalarRule:
        """:meth:`scalar_probabilities` as an object the caller keeps, for a policy whose
        :attr:`scalar` is true: what the service's decision path calls.

        Returns
        -------
        ScalarRule
            banditbot's policies hand out rules of :mod:`banditbot.policies._scalar`
            (compiled in the compiled build, where a Python class cannot subclass them:
            return a :class:`~banditbot.policies._scalar.MethodRule` of a function of your
            own); by default, a ``MethodRule`` that calls :meth:`scalar_probabilities`. The
            service asks :func:`rule_of`, which also follows a subclass that overrides only
            ``scalar_probabilities``.

        Raises
        ------
        NotImplementedError
            The policy defines neither method."""
        if type(self).scalar_probabilities is Policy.scalar_probabilities:
            raise NotImplementedError(f"{self.name or type(self).__name__} has no scalar "
                                      "form: define scalar_rule or scalar_probabilities")
        return MethodRule(self.scalar_probabilities)

    def posterior(self, stats: ArmStats) -> Posterior | None:
        """The posterior of each arm's mean that this policy keeps, on its reward scale
        (what its report's credible interval and P(best) describe); ``None`` for a policy
        without one (reports then show a confidence interval)."""
        return None

    def choose(self, stats: ArmStats, rng: np.random.Generator) -> Choice:
        """Choose an arm: sample from :meth:`probabilities` with ``rng``."""
        p = self.probabilities(stats)
        return Choice(sample_arm(p, rng), p)

    def sample_batch(self, stats: ArmStats, rng: np.random.Generator
                     ) -> npt.NDArray[np.intp]:
        """Choose one arm for each of ``R`` runs (``stats`` arrays of shape ``(R, K)``), with
        the same distribution as :meth:`choose`. Posterior-sampling policies override this
        with a direct draw from the posterior (cheaper than the probability vector)."""
        return sample_rows(self.probabilities(stats), rng)

    def params(self) -> dict[str, Any]:
        """The policy's parameters as a plain dict (what is logged with each decision)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def describe(self) -> str:
        """Short human-readable form, e.g. ``epsilon-greedy(epsilon=0.1)``."""
        inner = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in self.params().items() if v is not None)
        return f"{self.name}({inner})"


def rule_of(policy: Policy) -> ScalarRule:
    """The rule of ``policy`` that decides as its :meth:`~Policy.scalar_probabilities`
    does: :meth:`~Policy.scalar_rule`, unless a subclass overrides
    ``scalar_probabilities`` below the class whose ``scalar_rule`` it inherits (a policy
    of its own built on ε-greedy's, say): then a rule that calls that method."""
    mro = type(policy).__mro__
    rule_at = next(i for i, c in enumerate(mro) if "scalar_rule" in c.__dict__)
    method_at = next(i for i, c in enumerate(mro) if "scalar_probabilities" in c.__dict__)
    if method_at < rule_at:
        return MethodRule(policy.scalar_probabilities)
    return policy.scalar_rule()


def check(condition: bool, policy: str, message: str, hint: str) -> None:
    """Raise :class:`PolicyError` unless ``condition`` holds."""
    if not condition:
        raise PolicyError(f"{policy}: {message}", hint=hint)


#: Up to this many arms, a single bandit's vector is computed on Python floats: numpy's
#: per-call overhead is most of the cost of an operation on a handful of elements.
SMALL = 16


def small(stats: ArmStats) -> bool:
    """Whether ``stats`` is one bandit with few enough arms for the scalar path."""
    return stats.n.ndim == 1 and stats.n.shape[0] <= SMALL


def pseudo_lists(stats: ArmStats) -> tuple[list[float], list[float]]:
    """``(counts, totals)`` of one bandit with the operator priors added (see
    :meth:`ArmStats.with_pseudo_counts`), as Python floats."""
    n, sums = stats.with_pseudo_counts()
    return n.tolist(), sums.tolist()


def argmax_ties(values: FloatArray) -> FloatArray:
    """Uniform distribution over the maximizers of ``values`` along the last axis (random
    tie-break)."""
    best = values == values.max(axis=-1, keepdims=True)
    out: FloatArray = best / best.sum(axis=-1, keepdims=True)
    return out


def squares_with_priors(stats: ArmStats) -> FloatArray:
    """The sums of squared rewards with the operator priors added as pseudo-observations
    (a pseudo-success is a reward of 1: its square is 1), matching
    :meth:`ArmStats.with_pseudo_counts`."""
    return stats.sums_sq if stats.prior_alpha is None else stats.sums_sq + stats.prior_alpha


def pooled_moments(n: FloatArray, sums: FloatArray, sums_sq: FloatArray
                   ) -> tuple[FloatArray, FloatArray]:
    """Mean and standard deviation of every reward observed in a bandit, all arms pooled
    (shapes broadcastable against ``n``: the last axis is kept with length 1).

    The empirical-Bayes prior of the policies for rewards of unknown scale: it moves with
    the rewards (shift and scale them, and it shifts and scales alike), so a policy built on
    it decides the same on any scale. A bandit without observations gets mean 0 and sd 1
    (every arm alike, so the choice is uniform); identical rewards so far give sd 0.

    Parameters
    ----------
    n, sums, sums_sq
        Shape ``(K,)`` or ``(R, K)``: counts, reward sums and sums of squares per arm.

    Returns
    -------
    tuple of numpy.ndarray
        ``(mean, sd)``, each of shape ``(1,)`` or ``(R, 1)``.

    Examples
    --------
    >>> m, s = pooled_moments(np.array([2.0, 2.0]), np.array([2.0, 6.0]),
    ...                       np.array([2.0, 18.0]))
    >>> float(m[0]), float(s[0])
    (2.0, 1.0)
    """
    total = n.sum(axis=-1, keepdims=True)
    seen = total > 0.0
    safe = np.where(seen, total, 1.0)
    mean = np.where(seen, sums.sum(axis=-1, keepdims=True) / safe, 0.0)
    second = np.where(seen, sums_sq.sum(axis=-1, keepdims=True) / safe, 1.0)
    sd: FloatArray = np.sqrt(np.maximum(second - mean * mean, 0.0))
    out: FloatArray = mean
    return out, sd


#: Slack of the test "every reward lies in [0, 1]" on sums (rounding of mapped rewards).
UNIT_SLACK = 1e-9


def fits_unit_interval(n: FloatArray, sums: FloatArray, sums_sq: FloatArray | None = None
                       ) -> npt.NDArray[np.bool_]:
    """Per bandit (last axis reduced): whether the statistics can come from rewards in
    [0, 1] — every arm's total between 0 and its count and, given the squares, its sum of
    squares at most its total (``x² <= x`` on [0, 1]). Bounded rewards always pass (they
    reach a policy mapped to [0, 1]); a reward seen outside [0, 1] fails it for good.

    Examples
    --------
    >>> fits_unit_interval(np.array([2.0, 2.0]), np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    array(True)
    >>> bool(fits_unit_interval(np.array([2.0]), np.array([210.0]), None))
    False
    """
    slack = UNIT_SLACK * np.maximum(n, 1.0)
    ok = (sums >= -slack) & (sums <= n + slack)
    if sums_sq is not None:
        ok &= sums_sq <= sums + slack
    out: npt.NDArray[np.bool_] = np.asarray(ok.all(axis=-1))
    return out
