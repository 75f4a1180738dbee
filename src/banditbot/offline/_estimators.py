"""Off-policy estimators with one API (dataclasses that validate their inputs).

Every estimator writes its value as ``mean(a) + Σb / Σc`` over per-round terms ``a``, ``b``,
``c`` (each optional), so the point estimate, the effective sample size and a bootstrap over
rounds all come from the same vectors:

=============  =====================================  ==========================
estimator      terms                                  reference
=============  =====================================  ==========================
replay         b = 1[π(x) = a]·r, c = 1[π(x) = a]     Li et al. 2011
IPS            a = w·r (w = π(a|x)/p, optionally ≤ λ)  Horvitz–Thompson
SNIPS          b = w·r, c = w                         Swaminathan & Joachims 2015
DM             a = Σ_a' π(a'|x)·q̂(x, a')              —
DR             a = DM + w·(r - q̂(x, a))               Dudík et al. 2011
SNDR           a = DM, b = w·(r - q̂(x, a)), c = w     —
Switch-DR      a = DM + 1[w ≤ τ]·w·(r - q̂(x, a))       Wang et al. 2017
=============  =====================================  ==========================

Shapes: ``reward``, ``action``, ``pscore`` are ``(n,)``; ``action_dist`` (the evaluation
policy's probabilities) and ``estimated_rewards`` (a reward model's predictions ``q̂``) are
``(n, K)``.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._errors import PayloadError
from .._types import FloatArray

__all__ = [
    "ESTIMATORS",
    "DirectMethod",
    "DoublyRobust",
    "Estimate",
    "Estimator",
    "InverseProbabilityWeighting",
    "ReplayMethod",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedIPW",
    "SwitchDoublyRobust",
    "estimate_all",
    "make_estimator",
]

IntArray = npt.NDArray[np.intp]
Terms = tuple[FloatArray | None, FloatArray | None, FloatArray | None]

#: Warn when the largest importance weight exceeds this (the bootstrap under-covers: at a
#: largest weight of 49.5, IPS's 95% interval covered 89–90% of repetitions).
LARGE_WEIGHT = 20.0
#: Warn when the effective sample size is below this share of the rounds ...
LOW_ESS_SHARE = 0.10
#: ... or below this many rounds (at n = 200, IPS covered 81% and SNIPS 79%).
LOW_ESS = 200.0
#: Warn when one round carries more than this share of the total weight.
HEAVY_ROUND_SHARE = 0.05
#: Warn when the importance weights' mean is this many standard errors from what the
#: logging policy's propensities give ...
MEAN_WEIGHT_Z = 4.0
#: ... and at least this far from it (a healthy sample only: see :func:`mean_weight_warning`)
MEAN_WEIGHT_GAP = 0.05
#: Estimators with an anytime-valid betting interval (for the policy's value).
ANYTIME = ("ips", "snips")
MODEL_BIAS = ("model-based: the interval ignores the reward model's bias (in a simulation "
              "with a regularized model, 95% intervals covered only 76% of the time; see "
              "docs/offline.md)")
NO_OVERLAP = ("no overlap: no logged round took an action the evaluated policy takes, so "
              "the log says nothing about it")
#: Warn when the evaluated policy puts more than this share of its choices on actions that
#: no logged round took
UNSEEN_SHARE = 0.01


def unseen_warning(action: IntArray, action_dist: FloatArray) -> str | None:
    """A warning when the evaluated policy chooses, in a noticeable share of rounds, actions
    that the log never took: nothing in the log says what they pay (IPS counts them as 0,
    SNIPS leaves them out, DM extrapolates), so the estimators disagree and none is
    right."""
    seen = np.zeros(action_dist.shape[1], dtype=bool)
    seen[np.unique(action)] = True
    share = float(action_dist[:, ~seen].sum(axis=1).mean()) if not seen.all() else 0.0
    if share <= UNSEEN_SHARE:
        return None
    return (f"{share:.0%} of the evaluated policy's choices are actions the log never took: "
            "the log says nothing about them (IPS counts them as 0, SNIPS leaves them out)")


def nonuniform_warning(pscore: FloatArray, n_actions: int) -> str | None:
    """A warning when a log's actions were not drawn uniformly at random (the propensities
    are not all ``1 / n_actions``): replay (and online replay) is unbiased only on such a
    log."""
    lo, hi = float(np.min(pscore)), float(np.max(pscore))
    if hi - lo <= 1e-9 and abs(hi - 1.0 / n_actions) <= 1e-9:
        return None
    return (f"the log's actions were not uniformly random (propensities {lo:.3g}–{hi:.3g}): "
            "replay is biased here; compare ips, snips or dr")


#: Warn when the evaluated policy puts more than this share of its choices, averaged over
#: the rounds, on actions the logging policy gave probability 0 in that round
ZERO_SUPPORT_SHARE = 0.01


def zero_support_warning(logging_dist: FloatArray, action_dist: FloatArray) -> str | None:
    """A warning when the evaluated policy chooses, in a noticeable share of rounds, actions
    the logging policy could not choose in that round (probability 0 in the logged vector:
    an arm added later, or retired): no weight can reach them, so IPS counts them as 0,
    SNIPS leaves them out and the DR family takes the reward model's uncorrected guess for
    them (the whole-log check, :func:`unseen_warning`, misses an arm that ran in other
    rounds)."""
    mu = np.asarray(logging_dist, dtype=np.float64)
    if mu.shape != action_dist.shape:
        raise PayloadError(f"logging_dist has shape {mu.shape}, expected {action_dist.shape}")
    share = float(np.where(mu <= 0.0, action_dist, 0.0).sum(axis=1).mean())
    if share <= ZERO_SUPPORT_SHARE:
        return None
    return (f"{share:.0%} of the evaluated policy's choices fall on arms the logging policy "
            "could not choose in that round (probability 0, e.g. added or retired arms): "
            "IPS counts them as 0, SNIPS leaves them out and DR takes the reward model's "
            "uncorrected guess for them — the estimates lean toward the arms that were "
            "running (DR toward the model); evaluate a log of rounds in which every "
            "arm could run (cut the file to those rows)")


@dataclass(frozen=True)
class Estimate:
    """One estimator's answer.

    Attributes
    ----------
    estimator
        The estimator's name.
    value, low, high
        The estimate and its percentile-bootstrap interval; NaN when undefined (``overlap``
        false: say "no overlap", see :meth:`value_text`).
    ess
        Kish's effective sample size ``(Σw)² / Σw²`` of the importance weights (the rounds
        for estimators without weights).
    n_rounds
        Rounds in the log.
    warnings
        Why the interval may mislead: few effective rounds, large weights, one round
        carrying much of the weight, a model-based estimator's bias, no overlap.
    max_weight
        The largest importance weight (NaN for estimators without weights).
    cs_low, cs_high
        An anytime-valid betting interval for the policy's value (IPS and SNIPS; rewards in
        [0, 1] or with known bounds): it holds whatever the weights, at every round of the
        log; NaN where not computed, or where it is empty (its ends crossed: the warnings
        say so, and why).
    overlap
        Whether any logged round took an action the evaluated policy takes.
    """

    estimator: str
    value: float
    low: float
    high: float
    ess: float
    n_rounds: int
    warnings: tuple[str, ...] = ()
    max_weight: float = math.nan
    cs_low: float = math.nan
    cs_high: float = math.nan
    overlap: bool = True

    def value_text(self, digits: int = 5) -> str:
        """The estimate for a table: ``"no overlap"`` when undefined."""
        return _digits(self.value, digits) if self.overlap else "no overlap"

    def interval_text(self, digits: int = 5) -> str:
        """The bootstrap interval for a table (``"–"`` when undefined)."""
        if not self.overlap or math.isnan(self.low):
            return "–"
        return f"{_digits(self.low, digits)} – {_digits(self.high, digits)}"

    def anytime_text(self, digits: int = 5) -> str:
        """The anytime-valid interval for a table (``"–"`` when not computed)."""
        if math.isnan(self.cs_low):
            return "–"
        return f"{_digits(self.cs_low, digits)} – {_digits(self.cs_high, digits)}"


def _digits(x: float, digits: int) -> str:
    """``x`` to ``digits`` significant digits, trailing zeros kept so a column lines up
    (``0.35130`` beside ``0.45059``), in decimals down to 1e-8."""
    if 1e-8 <= abs(x) < 1e-4:  # a rate as a decimal (``0.000032000``, not ``3.2000e-05``)
        return f"{x:.{digits - 1 - math.floor(math.log10(abs(x)))}f}"
    text = f"{x:#.{digits}g}"
    return text[:-1] if text.endswith(".") else text


def check_inputs(reward: Any, action: Any, pscore: Any, action_dist: Any,
                 estimated_rewards: Any = None, *,
                 needs_model: bool = False) -> tuple[FloatArray, IntArray, FloatArray,
                                                      FloatArray, FloatArray | None]:
    """Validate and convert estimator inputs; :class:`PayloadError` names what is wrong."""
    try:
        r = np.asarray(reward, dtype=np.float64)
        p = np.asarray(pscore, dtype=np.float64)
        dist = np.asarray(action_dist, dtype=np.float64)
        a_raw = np.asarray(action)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"inputs must be numeric arrays ({exc})") from None
    if r.ndim != 1:
        raise PayloadError("reward must have shape (n,)")
    n = r.shape[0]
    if n == 0:
        raise PayloadError("no rounds given")
    for name, arr in (("action", a_raw), ("pscore", p)):
        if arr.shape != (n,):
            raise PayloadError(f"{name} has shape {arr.shape}, expected ({n},) like reward",
                               hint="give one value per round")
    if dist.ndim != 2 or dist.shape[0] != n:
        raise PayloadError(f"action_dist has shape {dist.shape}, expected ({n}, n_actions)")
    k = dist.shape[1]
    as_float = a_raw.astype(float)
    if not np.issubdtype(a_raw.dtype, np.integer) and (
            not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float))):
        raise PayloadError("action must hold integer action indices")
    act = a_raw.astype(np.intp)
    if act.min() < 0 or act.max() >= k:
        raise PayloadError(f"action index {int(act.max()) if act.max() >= k else int(act.min())}"
                           f" is outside 0..{k - 1}",
                           hint="action_dist needs a column for every logged action")
    if not np.all(np.isfinite(r)):
        raise PayloadError("reward holds NaN or infinite values")
    if not np.all((p > 0) & (p <= 1)):
        bad = p[~((p > 0) & (p <= 1))][0]
        raise PayloadError(f"pscore {bad!r} is outside (0, 1]",
                           hint="propensities must be positive probabilities")
    if np.any(dist < 0) or not np.allclose(dist.sum(axis=1), 1.0, atol=1e-6):
        raise PayloadError("each row of action_dist must be a probability distribution")
    q = None
    if estimated_rewards is not None:
        q = np.asarray(estimated_rewards, dtype=np.float64)
        if q.shape != dist.shape:
            raise PayloadError(f"estimated_rewards has shape {q.shape}, expected {dist.shape}")
    elif needs_model:
        raise PayloadError("this estimator needs estimated_rewards from a reward model",
                           hint="fit one with RewardModel")
    return r, act, p, dist, q


def _dot(counts: FloatArray, terms: FloatArray) -> float:
    """``Σ counts·terms`` without BLAS: the bootstrap's threads would queue on (and, on a
    busy machine, wait for) BLAS's own thread pool; NumPy's einsum releases the GIL."""
    return float(np.einsum("i,i->", counts, terms))


class Estimator:
    """Base class: subclasses define :meth:`terms`."""

    name: ClassVar[str] = ""
    needs_model: ClassVar[bool] = False
    uses_weights: ClassVar[bool] = True

    def terms(self, r: FloatArray, a: IntArray, p: FloatArray, dist: FloatArray,
              q: FloatArray | None) -> Terms:
        """Per-round terms ``(a, b, c)`` with value ``mean(a) + Σb / Σc``."""
        raise NotImplementedError

    def _weights(self, a: IntArray, p: FloatArray, dist: FloatArray) -> FloatArray:
        w: FloatArray = dist[np.arange(a.shape[0]), a] / p
        clip = getattr(self, "lambda_", math.inf)
        return np.minimum(w, clip) if math.isfinite(clip) else w

    @staticmethod
    def _combine(terms: Terms, counts: FloatArray | None = None) -> float:
        a, b, c = terms
        value = 0.0
        if a is not None:
            value += float(a.mean() if counts is None else _dot(counts, a) / counts.sum())
        if b is not None and c is not None:
            num = float(b.sum() if counts is None else _dot(counts, b))
            den = float(c.sum() if counts is None else _dot(counts, c))
            value += num / den if den > 0 else math.nan
        return value

    def estimate_policy_value(self, *, reward: Any, action: Any, pscore: Any,
                              action_dist: Any, estimated_rewards: Any = None) -> float:
        """Point estimate of the evaluation policy's expected reward.

        Raises
        ------
        PayloadError
            "no overlap" when the estimate is undefined (a self-normalized estimator on a
            log where no round took an action the evaluated policy takes).
        """
        args = check_inputs(reward, action, pscore, action_dist, estimated_rewards,
                            needs_model=self.needs_model)
        value = self._combine(self.terms(*args))
        if math.isnan(value):
            raise PayloadError(NO_OVERLAP, hint="evaluate a policy that takes logged actions, "
                                                "or use IPS (0 without overlap) or DM")
        return value

    def estimate_interval(self, *, reward: Any, action: Any, pscore: Any, action_dist: Any,
                          estimated_rewards: Any = None, alpha: float = 0.05,
                          n_bootstrap: int = 1000, rng: np.random.Generator | None = None,
                          refit: Callable[[IntArray], FloatArray] | None = None,
                          n_jobs: int | None = None) -> tuple[float, float]:
        """Percentile bootstrap ``(1 - alpha)`` interval, resampling rounds.

        ``refit`` (given the resampled round indices, returns ``estimated_rewards`` for the
        original rounds) re-fits the reward model inside each replicate, so the interval
        includes the model's own uncertainty (needed for DM). ``n_jobs`` threads share the
        replicates (``None``: every core this process may use); the interval depends on
        ``rng`` only, not on ``n_jobs`` (see :func:`estimate_all`).

        Returns
        -------
        tuple of float
            ``(low, high)``: the ``1 - alpha`` percentile bootstrap interval over rounds (a
            replicate without overlap counted at the reward's lowest value for ``low``, its
            highest for ``high``) — the ``low``, ``high`` of :meth:`estimate` for the same
            ``rng``; not the anytime-valid interval (``Estimate.cs_low``, ``cs_high``).
        """
        if not 0 < alpha < 1 or n_bootstrap < 10:
            raise PayloadError("alpha must be in (0, 1) and n_bootstrap at least 10")
        r, a, p, dist, q = check_inputs(reward, action, pscore, action_dist, estimated_rewards,
                                        needs_model=self.needs_model)
        rng = rng if rng is not None else np.random.default_rng()
        terms = self.terms(r, a, p, dist, q)
        if math.isnan(self._combine(terms)):
            raise PayloadError(NO_OVERLAP, hint="evaluate a policy that takes logged actions, "
                                                "or use IPS (0 without overlap) or DM")
        values = bootstrap_values([self], [terms], r, a, p, dist, n_bootstrap=n_bootstrap,
                                  rng=rng, refit=refit, n_jobs=n_jobs)
        low, high, _ = percentile_interval(values[:, 0], alpha, float(r.min()),
                                           float(r.max()))
        return low, high

    def effective_sample_size(self, *, action: Any, pscore: Any, action_dist: Any) -> float:
        """Kish's effective sample size ``(Σw)² / Σw²`` of the importance weights."""
        a = np.asarray(action, dtype=np.intp)
        w = self._weights(a, np.asarray(pscore, float), np.asarray(action_dist, float))
        total = float(w.sum())
        return total * total / float((w * w).sum()) if total > 0 else 0.0

    def estimate(self, *, reward: Any, action: Any, pscore: Any, action_dist: Any,
                 estimated_rewards: Any = None, alpha: float = 0.05, n_bootstrap: int = 1000,
                 rng: np.random.Generator | None = None,
                 refit: Callable[[IntArray], FloatArray] | None = None,
                 reward_bounds: tuple[float, float] | None = None,
                 n_jobs: int | None = None) -> Estimate:
        """Value, intervals, effective sample size and warnings in one call (see
        :func:`estimate_all`)."""
        return estimate_all([self], reward=reward, action=action, pscore=pscore,
                            action_dist=action_dist, estimated_rewards=estimated_rewards,
                            alpha=alpha, n_bootstrap=n_bootstrap, rng=rng, refit=refit,
                            reward_bounds=reward_bounds, n_jobs=n_jobs)[0]

    def diagnose(self, *, action: Any, pscore: Any, action_dist: Any) -> list[str]:
        """Why this estimator's bootstrap interval may mislead on these inputs."""
        if not self.uses_weights:
            return []
        a = np.asarray(action, dtype=np.intp)
        dist = np.asarray(action_dist, float)
        w = dist[np.arange(a.shape[0]), a] / np.asarray(pscore, float)
        return weight_warnings(w, self.name)


@dataclass(frozen=True)
class ReplayMethod(Estimator):
    """Replay (Li et al. 2011) for a deterministic evaluation policy: the mean reward of the
    rounds where the logged action is the one the policy would take (unbiased when the
    logging policy was uniformly random)."""

    name: ClassVar[str] = "replay"
    uses_weights: ClassVar[bool] = False

    def terms(self, r: FloatArray, a: IntArray, p: FloatArray, dist: FloatArray,
              q: FloatArray | None) -> Terms:
        match = (dist.argmax(axis=1) == a).astype(np.float64)
        return None, match * r, match

    def diagnose(self, *, action: Any, pscore: Any, action_dist: Any) -> list[str]:
        dist = np.asarray(action_dist, float)
        out = []
        top = dist.max(axis=1, keepdims=True)
        tied = float(((dist >= top - 1e-12).sum(axis=1) > 1).mean())
        if tied > 0:
            out.append(f"not meaningful for this policy: at {tied:.0%} of rounds it has no "
                       "single most likely action (replay took the first of the tied ones); "
                       "replay is for deterministic policies")
        elif np.any(top < 1 - 1e-9):
            out.append("replay assumes a deterministic policy; used its most likely action")
        biased = nonuniform_warning(np.asarray(pscore, float), dist.shape[1])
        if biased is not None:
            out.append(biased)
        matched = int((dist.argmax(axis=1) == np.asarray(action)).sum())
        if matched < LOW_ESS:  # (its effective sample: as the weighted estimators warn)
            out.append(f"only {matched:,} of {dist.shape[0]:,} rounds matched the policy's "
                       f"action: below {LOW_ESS:,.0f}, the bootstrap interval may be too "
                       "narrow")
        return out

    def effective_sample_size(self, *, action: Any, pscore: Any, action_dist: Any) -> float:
        dist = np.asarray(action_dist, float)
        return float((dist.argmax(axis=1) == np.asarray(action)).sum())


@dataclass(frozen=True)
class InverseProbabilityWeighting(Estimator):
    """IPS: ``mean(w·r)`` with ``w = π(a|x) / p``, optionally clipped at ``lambda_``.

    Examples
    --------
    >>> est = InverseProbabilityWeighting()
    >>> est.estimate_policy_value(reward=[1, 0], action=[0, 1], pscore=[0.5, 0.5],
    ...                           action_dist=[[1, 0], [1, 0]])
    1.0
    """

    name: ClassVar[str] = "ips"
    lambda_: float = math.inf

    def __post_init__(self) -> None:
        if not self.lambda_ > 0:
            raise PayloadError("lambda_ (the clipping threshold) must be > 0")

    def terms(self, r: FloatArray, a: IntArray, p: FloatArray, dist: FloatArray,
              q: FloatArray | None) -> Terms:
        return self._weights(a, p, dist) * r, None, None


@dataclass(frozen=True)
class SelfNormalizedIPW(Estimator):
    """SNIPS: ``Σ w·r / Σ w`` — a little biased, much less variable than IPS."""

    name: ClassVar[str] = "snips"

    def terms(self, r: FloatArray, a: IntArray, p: FloatArray, dist: FloatArray,
              q: FloatArray | None) -> Terms:
        w = self._weights(a, p, dist)
        return None, w * r, w


@dataclass(frozen=True)
class DirectMethod(Estimator):
    """DM: the reward model's prediction averaged under the evaluation policy."""

    name: ClassVar[str] = "dm"
    needs_model: ClassVar[bool] = True
    uses_weights: ClassVar[bool] = False

    def effective_sample_size(self, *, action: Any, pscore: Any, action_dist: Any) -> float:
        return float(np.asarray(action).shape[0])  # no weights: every round counts

    def diagnose(self, *, action: Any, pscore: Any, action_dist: Any) -> list[str]:
        return [MODEL_BIAS]

    def terms(self, r: FloatArray, a: IntArray, p: FloatArray, dist: FloatArray,
              q: FloatArray | None) -> Terms:
        assert q is not None
        return (dist * q).sum(axis=1), None, None


def _residual(r: FloatArray, a: IntArray, q: FloatArray) -> FloatArray:
    out: FloatArray = r - q[np.arange(a.shape[0]), a]
    return out


@dataclass(frozen=True)
class DoublyRobust(Estimator):
    """DR: DM plus the importance-weighted residual of the reward model (unbiased if either
    the propensities or the model are right)."""

    name: ClassVar[str] = "dr"
    needs_model: ClassVar[bool] = True
    lambda_: float = math.inf

    def terms(self, r: FloatArray, a: IntArray, p: FloatArray, dist: FloatArray,
              q: FloatArray | None) -> Terms:
        assert q is not None
        w = self._weights(a, p, dist)
        return (dist * q).sum(axis=1) + w * _residual(r, a, q), None, None


@dataclass(frozen=True)
class SelfNormalizedDoublyRobust(Estimator):
    """SNDR: DM plus the self-normalized weighted residual."""

    name: ClassVar[str] = "sndr"
    needs_model: ClassVar[bool] = True

    def terms(self, r: FloatArray, a: IntArray, p: FloatArray, dist: FloatArray,
              q: FloatArray | None) -> Terms:
        assert q is not None
        w = self._weights(a, p, dist)
        return (dist * q).sum(axis=1), w * _residual(r, a, q), w


@dataclass(frozen=True)
class SwitchDoublyRobust(Estimator):
    """Switch-DR (Wang et al. 2017): the DR correction only where the weight is at most
    ``tau``; the reward model alone elsewhere."""

    name: ClassVar[str] = "switch-dr"
    needs_model: ClassVar[bool] = True
    tau: float = 10.0

    def __post_init__(self) -> None:
        if not self.tau > 0:
            raise PayloadError("tau (the switching threshold) must be > 0")

    def terms(self, r: FloatArray, a: IntArray, p: FloatArray, dist: FloatArray,
              q: FloatArray | None) -> Terms:
        assert q is not None
        w = self._weights(a, p, dist)
        correction = np.where(w <= self.tau, w * _residual(r, a, q), 0.0)
        return (dist * q).sum(axis=1) + correction, None, None

    def diagnose(self, *, action: Any, pscore: Any, action_dist: Any) -> list[str]:
        out = super().diagnose(action=action, pscore=pscore, action_dist=action_dist)
        a = np.asarray(action, dtype=np.intp)
        w = np.asarray(action_dist, float)[np.arange(a.shape[0]), a] / np.asarray(pscore,
                                                                                float)
        if np.any(w > self.tau):
            out.append(MODEL_BIAS)
        return out


def weight_warnings(w: FloatArray, estimator: str = "ips") -> list[str]:
    """Warnings from importance weights ``w`` (shape ``(n,)``) for ``estimator``'s
    bootstrap interval: a small effective sample, a large weight, one round carrying much
    of the total weight."""
    out: list[str] = []
    n = w.shape[0]
    total = float(w.sum())
    if total <= 0:
        return [NO_OVERLAP]
    ess = total * total / float((w * w).sum())
    top = float(w.max())
    if ess < LOW_ESS_SHARE * n:
        out.append(f"effective sample {ess:,.0f} of {n:,} rounds ({ess / n:.1%}): the "
                   "bootstrap interval may be too narrow")
    elif ess < LOW_ESS:  # a healthy share of a short log: the bootstrap itself is short
        out.append(f"effective sample {ess:,.0f} of {n:,} rounds: below {LOW_ESS:,.0f}, the "
                   "bootstrap interval may be too narrow")
    if top > LARGE_WEIGHT:
        out.append(f"extreme weights (up to {top:,.1f}): the interval may be too narrow"
                   + ("; SNIPS and DR are less sensitive to them" if estimator == "ips"
                      else ""))
    if top / total > HEAVY_ROUND_SHARE:
        out.append(f"one round carries {top / total:.0%} of the weight")
    return out


def mean_weight_warning(w: FloatArray, expected: float) -> str | None:
    """A warning when the importance weights ``w`` of a healthy sample average far from
    ``expected``: what any policy's weights average under the propensities of the policy
    that logged the rounds (1, less the share of its choices that policy could not make).
    Far means :data:`MEAN_WEIGHT_Z` standard errors and :data:`MEAN_WEIGHT_GAP`; a sample
    with a small effective size is left to :func:`weight_warnings` (its mean is not yet
    known well enough to tell). Under the right propensities, the normal approximation
    puts a false warning at 6e-5 per evaluation; simulated, none in 300 logs."""
    n = w.shape[0]
    total = float(w.sum())
    if n < 2 or total <= 0:
        return None
    ess = total * total / float((w * w).sum())
    if ess < LOW_ESS_SHARE * n or ess < LOW_ESS:
        return None
    mean = total / n
    se = float(w.std(ddof=1)) / math.sqrt(n)
    if abs(mean - expected) <= max(MEAN_WEIGHT_Z * se, MEAN_WEIGHT_GAP):
        return None
    return (f"the importance weights average {mean:.2f} where the logging policy's "
            f"propensities give {expected:.2f} (±{2 * se:.1g}): the logged propensities are "
            "not those of the policy that logged these rounds (a logging policy rebuilt at "
            "the nearest time, as behavior: does for a log without its vectors?)")


#: What :func:`mean_weight_warning` adds on IPS's row
IPS_OFF = "; IPS is off by about that factor, SNIPS divides it out"


def percentile_interval(values: FloatArray, alpha: float, lowest: float, highest: float
                        ) -> tuple[float, float, float]:
    """Percentile interval of bootstrap replicates; a replicate where the estimate is
    undefined (no overlap in the resample) counts as ``lowest`` for the lower end and as
    ``highest`` for the upper end — it could be anything — instead of being dropped, which
    would condition the interval on overlap. Returns ``(low, high, share undefined)``."""
    bad = ~np.isfinite(values)
    low = float(np.quantile(np.where(bad, lowest, values), alpha / 2))
    high = float(np.quantile(np.where(bad, highest, values), 1 - alpha / 2))
    return low, high, float(bad.mean())


#: Below this much work (rounds × replicates) the bootstrap runs in the calling thread: on
#: small logs threads cost more than they save.
PARALLEL_MIN_WORK = 2_000_000


def default_jobs() -> int:
    """The cores this process may use (its CPU affinity where the platform reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def replicate_seeds(rng: np.random.Generator, n_bootstrap: int
                    ) -> list[np.random.SeedSequence]:
    """One independent random stream per bootstrap replicate, spawned
    (:meth:`numpy.random.SeedSequence.spawn`) from entropy drawn from ``rng``: a replicate
    is the same whichever thread runs it, so the interval depends on ``rng`` only."""
    entropy = [int(x) for x in rng.integers(0, 2**63, size=4)]
    return np.random.SeedSequence(entropy).spawn(n_bootstrap)


def bootstrap_values(estimators: Sequence[Estimator], base_terms: Sequence[Terms],
                     r: FloatArray, a: IntArray, p: FloatArray, dist: FloatArray, *,
                     n_bootstrap: int, rng: np.random.Generator,
                     refit: Callable[[IntArray], FloatArray] | None = None,
                     n_jobs: int | None = None,
                     progress: Callable[[int], Any] | None = None) -> FloatArray:
    """Bootstrap replicates of several estimators, shape ``(n_bootstrap, len(estimators))``.

    Each replicate resamples the ``n`` rounds with replacement once — as multinomial counts
    (``np.bincount`` of ``n`` uniform round indices), so an estimator's sums are weighted
    sums of its per-round terms (``base_terms``), all of them in one pass over the stacked
    terms instead of gathering ``n`` values per term — and, with ``refit``, re-fits the reward
    model once for the model-based estimators. Replicates run on ``n_jobs`` threads (NumPy
    releases the GIL while it draws, counts and multiplies; ``None``: every core), each with
    its own stream from :func:`replicate_seeds`, so the values do not depend on ``n_jobs``.
    ``progress`` is called in the calling thread with the number of replicates done.
    """
    if n_jobs is not None and n_jobs < 1:
        raise PayloadError("n_jobs must be at least 1 (or None for every core)")
    n = r.shape[0]
    seeds = replicate_seeds(rng, n_bootstrap)
    refitted = [j for j, e in enumerate(estimators) if e.needs_model] if refit is not None \
        else []
    rows: list[FloatArray] = []
    slots: list[tuple[int, int, int]] = []  # where each estimator's a, b, c sit in rows
    for j, terms in enumerate(base_terms):
        slot = [-1, -1, -1]
        for k, term in enumerate(terms):
            if term is not None and j not in refitted:
                slot[k] = len(rows)
                rows.append(term)
        slots.append((slot[0], slot[1], slot[2]))
    stacked = np.stack(rows) if rows else np.zeros((0, n))  # (m, n)
    sums = np.empty((n_bootstrap, stacked.shape[0]))
    refit_values = np.empty((n_bootstrap, len(estimators)))

    stop = threading.Event()  # (set by a Ctrl+C: the running blocks end at their replicate)

    def run(lo: int, hi: int) -> int:
        for i in range(lo, hi):
            if stop.is_set():
                return i - lo
            stream = np.random.default_rng(seeds[i])
            picks: IntArray = np.asarray(stream.integers(0, n, size=n), dtype=np.intp)
            counts = np.bincount(picks, minlength=n).astype(np.float64)
            sums[i] = np.einsum("ij,j->i", stacked, counts)  # no BLAS: see _dot
            if refitted:
                assert refit is not None
                q_i = refit(picks)
                for j in refitted:
                    est = estimators[j]
                    refit_values[i, j] = est._combine(est.terms(r, a, p, dist, q_i), counts)
        return hi - lo

    jobs = default_jobs() if n_jobs is None else n_jobs
    jobs = min(jobs, n_bootstrap) if n * n_bootstrap >= PARALLEL_MIN_WORK else 1
    step = max(1, min(25, -(-n_bootstrap // (4 * jobs))))
    blocks = [(lo, min(lo + step, n_bootstrap)) for lo in range(0, n_bootstrap, step)]
    done = 0
    if jobs == 1:
        for lo, hi in blocks:
            done += run(lo, hi)
            if progress is not None:
                progress(done)
    else:
        with ThreadPoolExecutor(jobs, thread_name_prefix="bootstrap") as pool:
            futures = [pool.submit(run, lo, hi) for lo, hi in blocks]
            try:
                for future in as_completed(futures):
                    done += future.result()
                    if progress is not None:
                        progress(done)
            except BaseException:
                stop.set()  # a running block ends at its current replicate, not its last
                for future in futures:
                    future.cancel()
                raise
    values = np.empty((n_bootstrap, len(estimators)))
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, (ia, ib, ic) in enumerate(slots):
            if j in refitted:
                values[:, j] = refit_values[:, j]
                continue
            col = np.zeros(n_bootstrap) if ia < 0 else sums[:, ia] / n
            if ib >= 0 and ic >= 0:
                col = col + np.where(sums[:, ic] > 0, sums[:, ib] / sums[:, ic], np.nan)
            values[:, j] = col
    return values


def estimate_all(estimators: Sequence[Estimator], *, reward: Any, action: Any, pscore: Any,
                 action_dist: Any, estimated_rewards: Any = None, alpha: float = 0.05,
                 n_bootstrap: int = 1000, rng: np.random.Generator | None = None,
                 refit: Callable[[IntArray], FloatArray] | None = None,
                 reward_bounds: tuple[float, float] | None = None,
                 behavior_dist: Any = None, n_jobs: int | None = None,
                 progress: Callable[[int], Any] | None = None,
                 support: Any = None) -> list[Estimate]:
    """Several estimators on the same data with one shared bootstrap: each replicate
    resamples the rounds once (and re-fits the reward model once, if ``refit`` is given) and
    evaluates every estimator on it.

    When the rewards lie in ``reward_bounds``, so does the policy's value: each bootstrap
    interval is cut to that range (unless the estimate itself lies outside it, which its
    warnings say: cut, its interval would shrink to a point), and IPS and SNIPS also get an
    anytime-valid betting interval for the value
    (:func:`banditbot.statistics.ips_confidence_sequence`). An estimator that is undefined
    on the log (no overlap) gives a row that says so instead of failing.

    Parameters
    ----------
    estimators
        The estimators to run (e.g. from :func:`make_estimator`); one row each, in order.
    reward
        Shape ``(n,)``: the reward of each logged round.
    action
        Shape ``(n,)``: the logged action of each round, an integer index into the columns
        of ``action_dist``.
    pscore
        Shape ``(n,)``: the probability, in (0, 1], with which the logging policy took the
        logged action.
    action_dist
        Shape ``(n, K)``: the evaluated policy's probability of each action at each round
        (each row sums to 1).
    estimated_rewards
        Shape ``(n, K)``: a reward model's prediction for each action at each round;
        needed when an estimator uses a model (DM, DR, SNDR, Switch-DR).
    alpha
        The intervals are ``1 - alpha`` intervals, in (0, 1).
    n_bootstrap
        Bootstrap replicates (at least 10).
    rng
        Draws the replicates; the same state gives the same intervals (default: a fresh
        unseeded generator).
    refit
        Given a replicate's resampled round indices, returns ``estimated_rewards`` for the
        original rounds: the reward model re-fitted in each replicate, so the intervals
        include its own uncertainty (needed for DM). ``None``: the model is fitted once.
    reward_bounds
        The rewards' ``(low, high)`` range (default ``(0, 1)``), which bounds the value,
        its intervals and the betting interval.
    behavior_dist
        Shape ``(n, K)``: the logging policy's whole distribution at each round (which
        banditbot logs). It gives the upper end of the betting interval another
        construction, from each round's largest possible weight: much narrower when
        rewards are rare and weights large, but not always narrower (on the demo's log
        0.50349 with it, 0.48233 without, for Thompson sampling). It is also the default
        of ``support``.
    n_jobs
        Threads that run the replicates (``None``: every core this process may use; small
        logs run in the calling thread). Each replicate draws from its own stream spawned
        from ``rng`` (:func:`replicate_seeds`), so the intervals do not depend on
        ``n_jobs``.
    progress
        Called with the number of replicates done (in the calling thread); ``None``: not
        called.
    support
        Shape ``(n, K)``: the logged probability vectors the overlap warning reads
        (default ``behavior_dist``). Given, the warning is about the arms the logging
        policy could not choose in a round (:func:`zero_support_warning`, on the
        estimators with weights); without it (or with another shape), about the actions
        the log never took (:func:`unseen_warning`).

    Returns
    -------
    list of Estimate
        One per estimator, in the order of ``estimators``.

    Raises
    ------
    PayloadError
        An input has the wrong shape or values, an estimator needs ``estimated_rewards``
        and none is given, ``alpha`` is outside (0, 1), ``n_bootstrap`` is below 10, or
        ``behavior_dist``'s shape differs from ``action_dist``'s (where IPS or SNIPS reads
        it: rewards within ``reward_bounds``).
    """
    needs_model = any(e.needs_model for e in estimators)
    r, a, p, dist, q = check_inputs(reward, action, pscore, action_dist, estimated_rewards,
                                    needs_model=needs_model)
    if not 0 < alpha < 1 or n_bootstrap < 10:
        raise PayloadError("alpha must be in (0, 1) and n_bootstrap at least 10")
    rng = rng if rng is not None else np.random.default_rng()
    n = r.shape[0]
    base = [e.terms(r, a, p, dist, q if e.needs_model else None) for e in estimators]
    values = bootstrap_values(estimators, base, r, a, p, dist, n_bootstrap=n_bootstrap,
                              rng=rng, refit=refit if needs_model else None, n_jobs=n_jobs,
                              progress=progress)
    raw_w = dist[np.arange(n), a] / p
    lo_r, hi_r = reward_bounds if reward_bounds is not None else (0.0, 1.0)
    scaled = (r - lo_r) / (hi_r - lo_r) if hi_r > lo_r else np.full(n, np.nan)
    anytime: tuple[float, float] | None = None
    crossed = ""  # why the betting interval is not shown, when it is empty
    bounded = bool(np.all((scaled >= 0) & (scaled <= 1)))
    if any(e.name in ANYTIME for e in estimators) and bounded:
        from ..statistics._betting import ips_confidence_sequence

        caps = None
        if behavior_dist is not None:
            mu = np.asarray(behavior_dist, dtype=np.float64)
            if mu.shape != dist.shape:
                raise PayloadError(f"behavior_dist has shape {mu.shape}, expected {dist.shape}")
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(dist > 0, dist / np.where(mu > 0, mu, 0.0), 0.0)
            caps = np.maximum(ratio.max(axis=1), raw_w)  # inf where an action has μ = 0
            if not np.all(np.isfinite(caps)):
                caps = None  # the logging policy never takes an action π takes: no bound
        cs = ips_confidence_sequence(raw_w, scaled, alpha=alpha, max_weights=caps)
        if cs[1] >= cs[0]:
            anytime = (lo_r + (hi_r - lo_r) * cs[0], lo_r + (hi_r - lo_r) * cs[1])
        else:  # empty: no value fits; said below, and no interval shown
            crossed = (f"the every-look interval is empty (no constant value fits these "
                       f"weights and rewards at {1 - alpha:.0%}): the logged propensities "
                       f"are likely off (the weights average {float(raw_w.mean()):.3f}, "
                       "where a policy the logger covers averages 1), or the value changed "
                       "over the log")
    out = []
    lowest, highest = float(r.min()), float(r.max())
    # where the logging policy could not go: its logged vectors say, per round (an arm
    # with probability 0.25 in every round is no unknown because the log never took it);
    # a log without them: the actions it never took
    known = support if support is not None else behavior_dist
    # a reward model extrapolates to the actions the log never took, vectors or not
    never_taken = unseen_warning(a, dist)
    if known is not None and np.shape(known) == dist.shape:
        cannot = np.asarray(known, dtype=np.float64) <= 0.0
        unseen, unseen_on_all = zero_support_warning(known, dist), False
    else:
        cannot = np.broadcast_to(~np.isin(np.arange(dist.shape[1]), a), dist.shape)
        unseen, unseen_on_all = never_taken, True
    # what the weights average under the right propensities: 1, less what the evaluated
    # policy puts where the logging policy could not go
    expected = 1.0 - float(np.where(cannot, dist, 0.0).sum(axis=1).mean())
    off = mean_weight_warning(raw_w, expected)  # (the raw weights: one test for every row)
    for j, est in enumerate(estimators):
        value = est._combine(base[j])
        warnings = est.diagnose(action=a, pscore=p, action_dist=dist)
        if unseen is not None and (unseen_on_all or est.uses_weights):
            warnings.insert(0, unseen)
        if not unseen_on_all and est.needs_model and never_taken is not None:
            warnings.insert(0, never_taken)  # (a review: DM and DR lost it with vectors)
        ess = est.effective_sample_size(action=a, pscore=p, action_dist=dist)
        top = float(est._weights(a, p, dist).max()) if est.uses_weights else math.nan
        cs_low, cs_high = anytime if (anytime is not None and est.name in ANYTIME) else \
            (math.nan, math.nan)
        if crossed and est.name in ANYTIME:
            warnings.append(crossed)
        elif off is not None and est.uses_weights:  # (an empty interval says the same)
            warnings.append(off + (IPS_OFF if est.name == "ips" else ""))
        if math.isnan(value):
            out.append(Estimate(est.name, math.nan, math.nan, math.nan, ess, n,
                                tuple(dict.fromkeys([NO_OVERLAP, *warnings])), top, cs_low,
                                cs_high, overlap=False))
            continue
        low, high, undefined = percentile_interval(values[:, j], alpha, lowest, highest)
        if undefined > 0:
            warnings.append(f"{undefined:.1%} of bootstrap resamples had no overlap (counted "
                            "at the reward's extremes)")
        if high - low <= 1e-12 * max(1.0, abs(value)):
            # every resample gave the same value (70 matched rounds and no click gave
            # 0.0000 - 0.0000): an interval of no width says nothing about the uncertainty
            warnings.append("every bootstrap resample gave the same value (the rewards that "
                            "count are all alike): the interval has no width, not no "
                            "uncertainty" + (" (few rounds count here)" if ess < LOW_ESS
                                             else ""))
        if bounded and not lo_r <= value <= hi_r:  # the interval is left as it came
            warnings.append(f"the estimate lies outside the rewards' range [{lo_r:g}, "
                            f"{hi_r:g}]: too few rounds weigh in for it to mean much")
        elif bounded:  # the value lies in the rewards' range: so does its interval (DR's
            # resamples went below 0 on a click rate: -0.0053 - 0.0050 on the OBD sample)
            low, high = min(max(low, lo_r), hi_r), min(max(high, lo_r), hi_r)
        out.append(Estimate(est.name, value, low, high, ess, n, tuple(warnings), top,
                            cs_low, cs_high))
    return out


ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls for cls in (ReplayMethod, InverseProbabilityWeighting, SelfNormalizedIPW,
                              DirectMethod, DoublyRobust, SelfNormalizedDoublyRobust,
                              SwitchDoublyRobust)
}


def make_estimator(name: str, **params: Any) -> Estimator:
    """An estimator by name: replay, ips, snips, dm, dr, sndr, switch-dr.

    Parameters
    ----------
    name
        One of :data:`ESTIMATORS`' names (any case; ``_`` for ``-``).
    **params
        The estimator's own parameters: ``lambda_`` (weight clipping) for ips and dr,
        ``tau`` for switch-dr.

    Raises
    ------
    PayloadError
        An unknown name, or a parameter the estimator does not take or a value it
        refuses.
    """
    key = name.strip().lower().replace("_", "-")
    if key not in ESTIMATORS:
        raise PayloadError(f"unknown estimator {name!r}",
                           hint=f"use one of: {', '.join(ESTIMATORS)}")
    try:
        return ESTIMATORS[key](**params)
    except TypeError as exc:
        raise PayloadError(f"{key}: {exc}") from None
