"""Simulation environments: what the simulated world pays for each arm.

Every environment works on ``R`` runs at once: ``means(t, contexts)`` gives the expected
reward of every arm in every run, shape ``(R, K)``, and ``draw`` samples the rewards of the
chosen arms. Regret is measured against the means (pseudo-regret), which removes the reward
noise from the comparison of policies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .._config import ExperimentConfig
from .._errors import ConfigError
from .._text import closest
from .._types import FloatArray
from .._values import MAX_REWARD

__all__ = [
    "MAX_ARMS",
    "MAX_FEATURES",
    "AbruptDriftEnv",
    "BernoulliEnv",
    "Environment",
    "GaussianEnv",
    "GradualDriftEnv",
    "LinearContextualEnv",
    "LogisticContextualEnv",
    "RatingEnv",
    "experiment_env",
    "parse_env",
]

IntArray = npt.NDArray[np.intp]

#: The most arms a simulated environment has: every step of every run updates and scores
#: all of them (a million arms took the whole memory, or days).
MAX_ARMS = 10_000
#: The most context features of a contextual environment: a linear policy keeps a d × d
#: matrix per arm and run (100,000 features asked for 75 GiB in one array).
MAX_FEATURES = 100


def _check_arms(arms: int, what: str) -> None:
    """Refuse more than :data:`MAX_ARMS` arms (before anything of their size is built)."""
    if arms > MAX_ARMS:
        raise ConfigError(f"{what} has {arms:,} arms; the simulator takes at most "
                          f"{MAX_ARMS:,}", hint="simulate a sample of the arms")


def _rates(values: Sequence[float], what: str) -> FloatArray:
    _check_arms(len(values), what)
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2:
        raise ConfigError(f"{what} needs at least two arms", hint="e.g. 0.1,0.12,0.15")
    if not np.all(np.isfinite(arr)):  # (parse_env refuses them; the classes are public)
        raise ConfigError(f"{what}'s values must be finite numbers")
    return arr


@dataclass(frozen=True)
class Environment:
    """Base class. ``bounds`` is the reward range (policies see rewards mapped to [0, 1]).

    ``binary`` environments pay only 0 or 1 (so a run's sum of squared rewards is its sum).
    """

    binary: ClassVar[bool] = False
    arm_names: tuple[str, ...] = ()

    @property
    def n_arms(self) -> int:
        """Number of arms."""
        raise NotImplementedError

    @property
    def context_dim(self) -> int:
        """Context dimension (0: not contextual)."""
        return 0

    @property
    def bounds(self) -> tuple[float, float] | None:
        """Reward range, or ``None`` if unbounded."""
        return (0.0, 1.0)

    @property
    def change_at(self) -> int | None:
        """Step at which the environment changes abruptly (for after-change regret)."""
        return None

    def contexts(self, rng: np.random.Generator, t: int, runs: int) -> FloatArray | None:
        """Contexts of step ``t`` (shape ``(R, d)``), or ``None``."""
        return None

    def means(self, t: int, contexts: FloatArray | None, runs: int) -> FloatArray:
        """Expected reward of every arm, shape ``(R, K)``."""
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, means: FloatArray, arms: IntArray) -> FloatArray:
        """Rewards of the chosen arms, shape ``(R,)``."""
        raise NotImplementedError

    def bernoulli_rates(self) -> FloatArray | None:
        """The constant rates, if this is a stationary Bernoulli instance (for Lai–Robbins)."""
        return None

    def names(self) -> tuple[str, ...]:
        """Arm names."""
        return self.arm_names or tuple(f"arm{i}" for i in range(self.n_arms))

    def describe(self) -> str:
        """Short description."""
        return type(self).__name__

    def _values(self, values: Sequence[float]) -> str:
        """Each arm's value for :meth:`describe`: ``0.2,0.3``, or with the arms' names
        (an experiment's) ``hello=0.2, hey=0.3`` (a chart titled by its rates alone did not
        say which arm had which)."""
        if len(self.arm_names) == len(values):
            return ", ".join(f"{name}={v:g}"
                             for name, v in zip(self.arm_names, values, strict=True))
        return ",".join(f"{v:g}" for v in values)


def _chosen(means: FloatArray, arms: IntArray) -> FloatArray:
    """Each run's mean of its chosen arm (one lookup when all runs share the means)."""
    if means.strides[0] == 0:  # broadcast rows: a stationary environment
        same: FloatArray = means[0][arms]
        return same
    out: FloatArray = means[np.arange(arms.shape[0]), arms]
    return out


def _bernoulli(rng: np.random.Generator, means: FloatArray, arms: IntArray) -> FloatArray:
    p = _chosen(means, arms)
    out: FloatArray = (rng.random(arms.shape[0]) < p).astype(np.float64)
    return out


def _gaussian(rng: np.random.Generator, means: FloatArray, arms: IntArray,
              sd: float) -> FloatArray:
    out: FloatArray = _chosen(means, arms) + sd * rng.standard_normal(arms.shape[0])
    return out


def _unit_rates(values: Sequence[float], what: str) -> FloatArray:
    """``values`` as Bernoulli rates: at least two, each in [0, 1]."""
    rates = _rates(values, what)
    if np.any((rates < 0) | (rates > 1)):
        raise ConfigError(f"{what}'s rates must be in [0, 1]", hint="e.g. 0.1,0.12,0.15")
    return rates


def _drift_rates(before: Sequence[float], after: Sequence[float], what: str) -> None:
    """Rates before and after a drift: Bernoulli rates, as many after as before."""
    if _unit_rates(before, what).size != _unit_rates(after, what).size:
        raise ConfigError(f"{what} needs the same number of arms before and after",
                          hint="e.g. 0.2,0.1/0.1,0.2")


@dataclass(frozen=True)
class BernoulliEnv(Environment):
    """Each arm pays 1 with a fixed rate, else 0 (👍/👎)."""

    binary: ClassVar[bool] = True

    rates: Sequence[float] = (0.1, 0.12, 0.15)

    def __post_init__(self) -> None:
        _unit_rates(self.rates, "a Bernoulli environment")

    @property
    def n_arms(self) -> int:
        return len(self.rates)

    def means(self, t: int, contexts: FloatArray | None, runs: int) -> FloatArray:
        return np.broadcast_to(np.asarray(self.rates, dtype=np.float64), (runs, self.n_arms))

    def draw(self, rng: np.random.Generator, means: FloatArray, arms: IntArray) -> FloatArray:
        return _bernoulli(rng, means, arms)

    def bernoulli_rates(self) -> FloatArray | None:
        return np.asarray(self.rates, dtype=np.float64)

    def describe(self) -> str:
        return "bernoulli " + self._values(self.rates)


@dataclass(frozen=True)
class GaussianEnv(Environment):
    """Each arm pays a normal reward around its mean (continuous rewards)."""

    means_: Sequence[float] = (0.0, 0.5, 1.0)
    sd: float = 1.0

    def __post_init__(self) -> None:
        means = _rates(self.means_, "a gaussian environment")
        if not (math.isfinite(self.sd) and self.sd > 0):
            raise ConfigError(f"a gaussian environment's sd is > 0, got {self.sd:g}",
                              hint="e.g. gaussian:0,0.5,1;sd=1")
        # a reward's bound, as an experiment has it (1e300 overflowed to inf in the policies'
        # sums, and the run ended in a traceback after a table of inf)
        if max(float(np.abs(means).max()), self.sd) > MAX_REWARD:
            raise ConfigError(f"a gaussian environment's means and sd are at most "
                              f"{MAX_REWARD:g} in size",
                              hint="rescale the rewards, e.g. to units of 1,000")

    @property
    def n_arms(self) -> int:
        return len(self.means_)

    @property
    def bounds(self) -> tuple[float, float] | None:
        return None

    def means(self, t: int, contexts: FloatArray | None, runs: int) -> FloatArray:
        return np.broadcast_to(np.asarray(self.means_, dtype=np.float64), (runs, self.n_arms))

    def draw(self, rng: np.random.Generator, means: FloatArray, arms: IntArray) -> FloatArray:
        return _gaussian(rng, means, arms, self.sd)

    def describe(self) -> str:
        return f"gaussian {self._values(self.means_)} sd={self.sd:g}"


@dataclass(frozen=True)
class RatingEnv(Environment):
    """Ratings on a scale (default 1–5): a normal around the arm's center, rounded and
    clipped to the scale. The arm's true mean is that of the discretized distribution."""

    centers: Sequence[float] = (3.0, 3.5, 4.0)
    sd: float = 1.0
    low: int = 1
    high: int = 5
    _true: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _rates(self.centers, "a rating environment")
        if not all(self.low <= c <= self.high for c in self.centers) or not self.sd > 0:
            raise ConfigError(f"a rating environment's centers are on its {self.low}-"
                              f"{self.high} scale and its sd is > 0",
                              hint="e.g. rating:3,3.5,4")
        from scipy.special import ndtr

        levels = np.arange(self.low, self.high + 1, dtype=np.float64)
        edges = np.concatenate([[-np.inf], levels[:-1] + 0.5, [np.inf]])
        c = np.asarray(self.centers, dtype=np.float64)[:, None]
        probs = ndtr((edges[None, 1:] - c) / self.sd) - ndtr((edges[None, :-1] - c) / self.sd)
        object.__setattr__(self, "_true", probs @ levels)

    @property
    def n_arms(self) -> int:
        return len(self.centers)

    @property
    def bounds(self) -> tuple[float, float] | None:
        return (float(self.low), float(self.high))

    def means(self, t: int, contexts: FloatArray | None, runs: int) -> FloatArray:
        return np.broadcast_to(self._true, (runs, self.n_arms))

    def draw(self, rng: np.random.Generator, means: FloatArray, arms: IntArray) -> FloatArray:
        c = np.asarray(self.centers, dtype=np.float64)[arms]
        out: FloatArray = np.clip(np.round(c + self.sd * rng.standard_normal(arms.shape[0])),
                                  self.low, self.high)
        return out

    def describe(self) -> str:
        return f"rating {self.low}-{self.high} around {self._values(self.centers)}"


@dataclass(frozen=True)
class AbruptDriftEnv(Environment):
    """Bernoulli rates that switch from ``before`` to ``after`` at step ``at``."""

    binary: ClassVar[bool] = True

    before: Sequence[float] = (0.2, 0.1)
    after: Sequence[float] = (0.1, 0.2)
    at: int = 5000

    def __post_init__(self) -> None:
        _drift_rates(self.before, self.after, "an abrupt drift")
        if not self.at >= 1:
            raise ConfigError(f"an abrupt drift's change point is a step >= 1, got {self.at}")

    @property
    def n_arms(self) -> int:
        return len(self.before)

    @property
    def change_at(self) -> int | None:
        return self.at

    def means(self, t: int, contexts: FloatArray | None, runs: int) -> FloatArray:
        rates = self.before if t < self.at else self.after
        return np.broadcast_to(np.asarray(rates, dtype=np.float64), (runs, self.n_arms))

    def draw(self, rng: np.random.Generator, means: FloatArray, arms: IntArray) -> FloatArray:
        return _bernoulli(rng, means, arms)

    def describe(self) -> str:
        return (f"abrupt drift {','.join(f'{r:g}' for r in self.before)} → "
                f"{','.join(f'{r:g}' for r in self.after)} at step {self.at}")


@dataclass(frozen=True)
class GradualDriftEnv(Environment):
    """Bernoulli rates that move linearly from ``start`` to ``end`` over ``horizon`` steps."""

    binary: ClassVar[bool] = True

    start: Sequence[float] = (0.2, 0.1)
    end: Sequence[float] = (0.1, 0.2)
    horizon: int = 10_000

    def __post_init__(self) -> None:
        _drift_rates(self.start, self.end, "a gradual drift")

    @property
    def n_arms(self) -> int:
        return len(self.start)

    def means(self, t: int, contexts: FloatArray | None, runs: int) -> FloatArray:
        w = min(max(t / max(self.horizon - 1, 1), 0.0), 1.0)
        rates = (1 - w) * np.asarray(self.start) + w * np.asarray(self.end)
        return np.broadcast_to(rates.astype(np.float64), (runs, self.n_arms))

    def draw(self, rng: np.random.Generator, means: FloatArray, arms: IntArray) -> FloatArray:
        return _bernoulli(rng, means, arms)

    def describe(self) -> str:
        return (f"gradual drift {','.join(f'{r:g}' for r in self.start)} → "
                f"{','.join(f'{r:g}' for r in self.end)}")


@dataclass(frozen=True)
class LinearContextualEnv(Environment):
    """Rewards linear in the context: ``x·θ_k + noise``, with ``x = (1, z)``,
    ``z ~ N(0, I)``; ``θ`` drawn once from ``seed``."""

    arms_: int = 5
    dim: int = 5
    noise: float = 0.1
    seed: int = 0
    theta: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.arms_ < 2 or self.dim < 1 or not self.noise >= 0:
            raise ConfigError(f"a contextual environment needs at least 2 arms and 1 feature, "
                              f"got {self.arms_} arms and {self.dim} features",
                              hint="e.g. linear:5,5 (arms, features)")
        _check_arms(self.arms_, "a contextual environment")
        if self.dim > MAX_FEATURES:
            raise ConfigError(f"a contextual environment has {self.dim:,} features; the "
                              f"simulator takes at most {MAX_FEATURES}",
                              hint="e.g. linear:5,5 (arms, features)")
        rng = np.random.default_rng(self.seed)
        theta = rng.normal(0.0, 0.5, size=(self.arms_, self.dim))
        theta[:, 0] = 0.5  # same intercept: the context decides which arm is best
        object.__setattr__(self, "theta", theta)

    @property
    def n_arms(self) -> int:
        return self.arms_

    @property
    def context_dim(self) -> int:
        return self.dim

    @property
    def bounds(self) -> tuple[float, float] | None:
        return None

    def contexts(self, rng: np.random.Generator, t: int, runs: int) -> FloatArray | None:
        x = rng.standard_normal((runs, self.dim))
        x[:, 0] = 1.0
        return x

    def means(self, t: int, contexts: FloatArray | None, runs: int) -> FloatArray:
        assert contexts is not None
        out: FloatArray = contexts @ self.theta.T
        return out

    def draw(self, rng: np.random.Generator, means: FloatArray, arms: IntArray) -> FloatArray:
        return _gaussian(rng, means, arms, self.noise)

    def describe(self) -> str:
        return f"linear contextual, {self.arms_} arms, {self.dim} features"


@dataclass(frozen=True)
class LogisticContextualEnv(LinearContextualEnv):
    """Bernoulli rewards with rate ``sigmoid(x·θ_k)``."""

    binary: ClassVar[bool] = True

    @property
    def bounds(self) -> tuple[float, float] | None:
        return (0.0, 1.0)

    def means(self, t: int, contexts: FloatArray | None, runs: int) -> FloatArray:
        out: FloatArray = 1.0 / (1.0 + np.exp(-super().means(t, contexts, runs)))
        return out

    def draw(self, rng: np.random.Generator, means: FloatArray, arms: IntArray) -> FloatArray:
        return _bernoulli(rng, means, arms)

    def describe(self) -> str:
        return f"logistic contextual, {self.arms_} arms, {self.dim} features"


def experiment_env(exp: ExperimentConfig, truth: Mapping[str, float]) -> Environment:
    """Replay a configured experiment with assumed true rates (👍/👎) or mean ratings."""
    names = tuple(a.id for a in exp.arms)
    missing = [a for a in names if a not in truth]
    if missing:
        raise ConfigError(f"no assumed truth for arm(s) {', '.join(missing)}",
                          hint="give --rate EXP.ARM=VALUE for every arm")
    values = [truth[a] for a in names]
    if exp.reward.type == "binary":
        return BernoulliEnv(arm_names=names, rates=tuple(values))
    lo, hi = exp.reward.bounds
    if exp.reward.type == "rating" and lo is not None and hi is not None:
        return RatingEnv(arm_names=names, centers=tuple(values), low=int(lo), high=int(hi))
    return GaussianEnv(arm_names=names, means_=tuple(values), sd=1.0)


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{text!r} is not a list of numbers", hint="e.g. 0.1,0.12,0.15") \
            from None
    if not all(math.isfinite(v) for v in values):  # nan ran to a table of "nan ± nan"
        raise ConfigError(f"{text!r}: every value must be a finite number")
    return values


#: The kinds of spec and the options each takes after ``;`` (``gaussian:0,1;sd=2``);
#: :func:`parse_env` refuses any other option (``foo=1`` was ignored without a word).
_OPTIONS: dict[str, tuple[str, ...]] = {
    "bernoulli": (), "gaussian": ("sd",), "rating": ("sd",), "abrupt": (), "gradual": (),
    "linear": ("seed",), "logistic": ("seed",),
}


def _option(kind: str, key: str, value: str) -> float | int:
    """One ``key=value`` option of a ``kind:…`` spec, as a number."""
    if key == "seed":
        try:
            seed = int(value)
        except ValueError:
            seed = -1
        if seed < 0:  # numpy's traceback ("expected non-negative integer") before
            raise ConfigError(f"{kind}:…;seed={value}: the seed is a whole number >= 0",
                              hint=f"e.g. {kind}:5,5;seed=1")
        return seed
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(f"{kind}:…;{key}={value}: {key} must be a finite number",
                          hint=f"e.g. {kind}:0,0.5,1;{key}=1")
    return number


def _options(kind: str, text: str) -> dict[str, float | int]:
    """The ``;key=value`` options of a ``kind:…`` spec (``text`` without the first ``;``)."""
    known = _OPTIONS[kind]
    options: dict[str, float | int] = {}
    for item in text.split(";"):
        key, eq, value = (part.strip() for part in item.partition("="))
        if key not in known:
            raise ConfigError(f"{kind}:… has no option {key!r}",
                              hint=(f"its options: {', '.join(known)}" if known else
                                    "it takes no options") + "; see banditbot simulate --help")
        if not eq or key in options:
            raise ConfigError(f"{kind}:…;{key}: give {key}=VALUE once")
        options[key] = _option(kind, key, value)
    return options


def _whole(text: str, what: str) -> int:
    """A whole number in a spec (``linear:2.7,3.9`` ran as 2 arms and 3 features before)."""
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number.is_integer()):
        raise ConfigError(f"{what}: {text.strip()!r} is not a whole number")
    return int(number)


def parse_env(spec: str, *, horizon: int = 10_000) -> Environment:
    """An environment from a short spec.

    ``bernoulli:0.1,0.12,0.15`` · ``gaussian:0,0.5,1[;sd=1]`` · ``rating:3,3.5,4[;sd=1]`` ·
    ``abrupt:0.2,0.1/0.1,0.2[@STEP]`` (the rates switch at ``STEP``, ``0 < STEP <
    horizon``; default: half-way) · ``gradual:0.2,0.1/0.1,0.2`` (the rates move over the
    horizon) · ``linear:K[,d][;seed=0]`` (``K`` arms, ``d`` features, default 5) ·
    ``logistic:K[,d][;seed=0]``. Anything else (an unknown option, a change point outside
    the horizon, arms that are not a whole number) is refused with :class:`ConfigError`.

    Parameters
    ----------
    spec
        The spec, as ``banditbot simulate --env`` takes it.
    horizon
        Steps per run: where ``abrupt``'s change falls by default, and the span ``gradual``
        moves over.

    Examples
    --------
    >>> parse_env("bernoulli:0.1,0.2").describe()
    'bernoulli 0.1,0.2'
    >>> parse_env("abrupt:0.2,0.1/0.1,0.2@300", horizon=1000).change_at
    300
    """
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in _OPTIONS:
        meant = closest(kind, _OPTIONS)
        raise ConfigError(f"unknown environment {spec!r}",
                          hint=(f"did you mean {meant}:{rest}? " if meant else "") +
                               "bernoulli:…, gaussian:…, rating:…, abrupt:…/…, gradual:…/…, "
                               "linear:K,d, logistic:K,d, or --experiment EXP")
    rest, semicolon, opts = rest.partition(";")
    options = _options(kind, opts) if semicolon else {}
    if kind == "bernoulli":
        return BernoulliEnv(rates=tuple(_floats(rest)))
    if kind == "gaussian":
        return GaussianEnv(means_=tuple(_floats(rest)), sd=float(options.get("sd", 1.0)))
    if kind == "rating":
        return RatingEnv(centers=tuple(_floats(rest)), sd=float(options.get("sd", 1.0)))
    if kind in ("abrupt", "gradual"):
        rest, at_sign, at_text = rest.partition("@")
        before, slash, after = rest.partition("/")
        if not slash:
            raise ConfigError(f"{kind} needs BEFORE/AFTER rates", hint=f"{kind}:0.2,0.1/0.1,0.2")
        if kind == "gradual":
            if at_sign:  # @STEP was read and ignored
                raise ConfigError("gradual:… has no change point (@STEP): its rates move "
                                  "over the whole horizon", hint="abrupt:…/…@STEP switches")
            return GradualDriftEnv(start=tuple(_floats(before)), end=tuple(_floats(after)),
                                   horizon=horizon)
        at = _whole(at_text, f"abrupt:…@{at_text.strip()}") if at_sign else horizon // 2
        if not 0 < at < horizon:  # @50000 in 200 steps ran with no change at all
            raise ConfigError(f"abrupt:…@{at} is outside the horizon: the change point is a "
                              f"step with 0 < STEP < --horizon ({horizon})" if at_sign else
                              f"abrupt:… needs a horizon of at least 2 steps, got {horizon}",
                              hint="choose a step below --horizon, or leave @STEP out for "
                                   "half-way")
        return AbruptDriftEnv(before=tuple(_floats(before)), after=tuple(_floats(after)),
                              at=at)
    fields = rest.split(",") if rest.strip() else []
    if len(fields) > 2:  # linear:5,5,7 dropped the 7
        raise ConfigError(f"{kind}:{rest} has {len(fields)} numbers; it takes ARMS[,FEATURES]",
                          hint=f"e.g. {kind}:5,5")
    arms, dim = [_whole(x, f"{kind}:{rest} (arms, features)") for x in fields] + \
        [5, 5][len(fields):]
    cls = LinearContextualEnv if kind == "linear" else LogisticContextualEnv
    return cls(arms_=arms, dim=dim, seed=int(options.get("seed", 0)))


def lai_robbins(rates: FloatArray, horizon_steps: FloatArray) -> FloatArray:
    """Lai–Robbins asymptotic lower bound on Bernoulli regret at each step count:
    ``Σ_{i suboptimal} Δ_i / KL(μ_i, μ*) · log t``."""
    out: FloatArray = _lai_robbins_constant(rates) * np.log(np.maximum(horizon_steps, 1.0))
    return out


def _lai_robbins_constant(rates: FloatArray) -> float:
    """``Σ_{i suboptimal} Δ_i / KL(μ_i, μ*)``: the asymptote's factor of ``log t``."""
    from ..statistics import bernoulli_kl

    best = rates.max()
    gaps = best - rates
    sub = gaps > 0
    if not sub.any():
        return 0.0
    return float((gaps[sub] / bernoulli_kl(rates[sub], np.full(sub.sum(), best))).sum())


def lai_robbins_reach(rates: FloatArray) -> int:
    """The first step from which the Lai–Robbins asymptote stays at most the regret of
    always playing the worst arm (``max gap · t``), the most regret any policy can have.

    Before it the asymptote is beyond every policy's reach, so a run's regret says nothing
    against it: with close rates its constant is large (``0.10,0.11,0.12,0.13``: 39.9, and
    the asymptote exceeds ``0.03 · t`` up to step 12,563).

    Examples
    --------
    >>> lai_robbins_reach(np.array([0.1, 0.11, 0.12, 0.13]))
    12564
    >>> lai_robbins_reach(np.array([0.1, 0.9]))
    1
    """
    constant, gap = _lai_robbins_constant(rates), float(rates.max() - rates.min())
    if gap <= 0.0:
        return 1

    def beyond(t: float) -> bool:
        return constant * math.log(t) > gap * t

    peak = max(constant / gap, 1.0)  # where log t's lead over the line is largest
    if not beyond(peak):
        return 1
    low, high = math.ceil(peak), math.ceil(peak) * 2
    while beyond(high):
        low, high = high, high * 2
    while high - low > 1:  # beyond(low), not beyond(high)
        mid = (low + high) // 2
        low, high = (mid, high) if beyond(mid) else (low, mid)
    return high

