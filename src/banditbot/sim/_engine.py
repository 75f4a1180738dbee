"""The simulator: many runs of a policy in an environment, vectorized over runs.

The same policy classes the service uses run here on ``(R, K)`` statistics: closed-form
policies through their probability vector, posterior-sampling policies through a direct draw
from the posterior (:meth:`Policy.sample_batch`, the same distribution). Each block of runs
has its own generator spawned from the seed (numpy's SFC64 bit generator, see
:func:`_block_generator`), so a (seed, workers) pair reproduces a result. Runs are split
across processes: this one simulates the first block while forked children simulate the
others (numpy's samplers hold the GIL, so threads would not help).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._errors import MissingDependencyError, PayloadError, require
from .._types import FloatArray
from ..policies import ArmStats, Policy, ThompsonSampling
from ..policies._base import sample_rows
from ..policies._thompson import optimistic_argmax
from ._env import BernoulliEnv, Environment, lai_robbins, lai_robbins_reach

__all__ = ["MAX_MEMORY", "SimulationResult", "check_memory", "memory_estimate", "simulate"]

IntArray = npt.NDArray[np.intp]
Z95 = 1.959963984540054


@dataclass(frozen=True)
class SimulationResult:
    """Cumulative pseudo-regret of ``runs`` runs at checkpoint steps.

    Attributes
    ----------
    steps
        Shape ``(P,)``: step counts at the checkpoints (the last is the horizon).
    regret
        Shape ``(R, P)``: cumulative regret of each run at each checkpoint.
    reward
        Shape ``(R,)``: total reward of each run.
    lower_bound
        Shape ``(P,)``: the Lai–Robbins asymptote at the checkpoints (stationary Bernoulli
        arms only, else ``None``).
    lower_bound_from
        The first step from which ``lower_bound`` stays within any policy's reach, at most
        the regret of always playing the worst arm (see :func:`lai_robbins_reach`; ``None``
        with no bound). Later than the horizon, the run says nothing against it.
    """

    policy: str
    environment: str
    runs: int
    horizon: int
    steps: IntArray
    regret: FloatArray
    reward: FloatArray
    seconds: float
    change_at: int | None = None
    lower_bound: FloatArray | None = None
    lower_bound_from: int | None = None
    #: ``"numpy"`` (vectorized over runs) or ``"compiled"`` (numba's kernel; see ``simulate``)
    engine: str = "numpy"

    @property
    def mean(self) -> FloatArray:
        """Mean cumulative regret per checkpoint."""
        out: FloatArray = self.regret.mean(axis=0)
        return out

    @property
    def half_width(self) -> FloatArray:
        """Half-width of the 95% confidence band of the mean, per checkpoint; NaN with one
        run (one run has no interval: a width of 0 read as a certain result)."""
        if self.runs < 2:
            return np.full(self.steps.shape[0], np.nan)
        out: FloatArray = Z95 * self.regret.std(axis=0, ddof=1) / math.sqrt(self.runs)
        return out

    @property
    def final(self) -> tuple[float, float]:
        """``(mean, 95% half-width)`` of the regret at the horizon (half-width NaN with one
        run)."""
        return float(self.mean[-1]), float(self.half_width[-1])

    def at(self, step: int) -> FloatArray:
        """Per-run cumulative regret at the checkpoint nearest to ``step``."""
        j = int(np.argmin(np.abs(self.steps - step)))
        out: FloatArray = self.regret[:, j]
        return out

    def after_change(self) -> tuple[float, float]:
        """``(mean, 95% half-width)`` of the regret accumulated after the change point
        (half-width NaN with one run)."""
        if self.change_at is None:
            raise ValueError("this environment has no change point")
        diff = self.regret[:, -1] - self.at(self.change_at)
        if self.runs < 2:
            return float(diff.mean()), math.nan
        return float(diff.mean()), float(Z95 * diff.std(ddof=1) / math.sqrt(self.runs))

    @property
    def bound_in_reach(self) -> bool:
        """Whether the Lai–Robbins asymptote comes within any policy's reach by the horizon
        (``lower_bound_from``): only then does the run's regret compare with it."""
        return self.lower_bound_from is not None and self.lower_bound_from <= self.horizon

    @property
    def decisions_per_second(self) -> float:
        """Simulated decisions per wall-clock second."""
        return self.runs * self.horizon / max(self.seconds, 1e-9)


class _Chunk:
    """State of a block of runs."""

    def __init__(self, policy: Policy, env: Environment, runs: int,
                 rng: np.random.Generator, horizon: int | None = None) -> None:
        self.policy, self.env, self.rng = policy, env, rng
        k = env.n_arms
        if policy.needs_bounded and env.bounds is None:
            raise ValueError(f"{policy.name} needs rewards with known bounds; this environment "
                             "pays unbounded rewards (try gaussian-thompson)")
        self.runs, self.k = runs, k
        self.n = np.zeros((runs, k))
        self.sums = np.zeros((runs, k))
        # 0/1 rewards: the sum of squares is the sum (one array, updated once)
        self.sums_sq = self.sums if env.binary else np.zeros((runs, k))
        self.base = np.arange(runs) * k
        self.extra: dict[str, FloatArray] = {}
        needs = policy.needs_extra
        self.time_kind: str | None = None
        weighting = policy.time_weighting() if "time" in needs else None
        if weighting is not None:
            kind, width = weighting
            self.time_kind = kind
            for name in ("tw_n", "tw_sums", "tw_sums_sq"):
                self.extra[name] = np.zeros((runs, k))
            if kind == "discount":
                self.gamma = 0.5 ** (1.0 / width)
            else:
                self.window = max(int(width), 1)
                # a window longer than the run never drops a reward: a slot per step of the
                # run is enough (slot t % window is t then); window=1e9 asked for 1.6 TB
                slots = self.window if horizon is None else min(self.window, horizon)
                self.ring_arm = np.full((runs, slots), -1, dtype=np.intp)
                self.ring_reward = np.zeros((runs, slots))
        self.ips = "ips_total" in needs
        if self.ips:
            self.extra["ips_total"] = np.zeros((runs, k))
        self.linear = "linear" in needs
        if self.linear:
            d = env.context_dim
            if d == 0:
                raise ValueError(f"{policy.name} needs a contextual environment")
            ridge = float(getattr(policy, "ridge", 1.0))
            self.extra["A_inv"] = np.broadcast_to(np.eye(d) / ridge, (runs, k, d, d)).copy()
            self.extra["b"] = np.zeros((runs, k, d))
        bounds = env.bounds
        self.lo, self.span = (bounds[0], bounds[1] - bounds[0]) if bounds else (0.0, 1.0)
        rates = None if env.context_dim or env.change_at is not None else \
            env.means(0, None, 1)[0]
        stationary = rates is not None and type(env).__name__ in (
            "BernoulliEnv", "GaussianEnv", "RatingEnv")
        self.gaps = (rates.max() - rates) if stationary and rates is not None else None
        self.static_means = env.means(0, None, runs) if self.gaps is not None else None
        self._regret = np.zeros(runs)  # accumulated step by step when the means move
        # flat views for the per-step updates; the statistics of a non-contextual step are
        # the same arrays every time (updated in place), so one ArmStats serves every step
        self.n_flat, self.sums_flat, self.sums_sq_flat = (
            self.n.ravel(), self.sums.ravel(), self.sums_sq.ravel())
        self.stats = ArmStats(self.n, self.sums, self.sums_sq, None, None, self.n, self.extra,
                              None)

    @property
    def regret(self) -> FloatArray:
        """Cumulative pseudo-regret per run; in a stationary environment Σ pulls · gap."""
        if self.gaps is not None:
            out: FloatArray = self.n @ self.gaps
            return out
        return self._regret

    @property
    def reward(self) -> FloatArray:
        """Total reward per run, from the sums (which hold ``(reward - lo) / span``)."""
        out: FloatArray = self.lo * self.n.sum(axis=1) + self.span * self.sums.sum(axis=1)
        return out

    def advance(self, t: int, stop: int) -> None:
        """Steps ``t`` to ``stop - 1``."""
        for step in range(t, stop):
            self.step(step)

    def step(self, t: int) -> None:
        env, rng = self.env, self.rng
        ctx = env.contexts(rng, t, self.runs)
        stats = self.stats if ctx is None else self.stats._replace(context=ctx)
        if self.ips:
            p = self.policy.probabilities(stats)
            arms = sample_rows(p, rng)
            flat = self.base + arms
            propensity = p.ravel()[flat]
        else:
            arms = self.policy.sample_batch(stats, rng)
            flat = self.base + arms
        means = self.static_means if self.static_means is not None else \
            env.means(t, ctx, self.runs)
        rewards = env.draw(rng, means, arms)
        if self.gaps is None:
            self._regret += means.max(axis=1) - means.ravel()[flat]
        r = (rewards - self.lo) / self.span if self.span != 1.0 or self.lo != 0.0 else rewards
        self.n_flat[flat] += 1.0
        self.sums_flat[flat] += r
        if self.sums_sq is not self.sums:
            self.sums_sq_flat[flat] += r * r
        if self.time_kind == "discount":
            for name in ("tw_n", "tw_sums", "tw_sums_sq"):
                self.extra[name] *= self.gamma
            self._add_time(flat, 1.0, r)
        elif self.time_kind == "window":
            slot = t % self.window
            old_arm = self.ring_arm[:, slot]
            live = np.flatnonzero(old_arm >= 0)
            if live.size:
                old_flat = self.base[live] + old_arm[live]
                old_r = self.ring_reward[live, slot]
                self._add_time(old_flat, -1.0, old_r)
            self.ring_arm[:, slot] = arms
            self.ring_reward[:, slot] = r
            self._add_time(flat, 1.0, r)
        if self.ips:
            self.extra["ips_total"].ravel()[flat] += r / propensity
        if self.linear:
            assert ctx is not None
            rows = np.arange(self.runs)
            a_inv = self.extra["A_inv"][rows, arms]  # (R, d, d)
            u = np.einsum("rij,rj->ri", a_inv, ctx)
            denom = 1.0 + np.einsum("ri,ri->r", ctx, u)
            self.extra["A_inv"][rows, arms] = a_inv - np.einsum("ri,rj->rij", u, u) / \
                denom[:, None, None]
            self.extra["b"][rows, arms] += r[:, None] * ctx

    def _add_time(self, flat: IntArray, sign: float, r: FloatArray) -> None:
        np.add.at(self.extra["tw_n"].ravel(), flat, sign)
        np.add.at(self.extra["tw_sums"].ravel(), flat, sign * r)
        np.add.at(self.extra["tw_sums_sq"].ravel(), flat, sign * r * r)


class _BernoulliThompsonChunk(_Chunk):
    """Beta–Bernoulli Thompson sampling in a stationary Bernoulli environment, the
    simulator's common case, on a state of its own: the stacked posterior parameters
    ``(a, b)``, shape ``(2, R, K)``, updated in place (each step adds 1 to one of them per
    run) and drawn from into a preallocated buffer.

    The draw is :meth:`ThompsonSampling.sample_batch`'s (Gamma ratios in double precision,
    argmax on the odds scale; optimistic: the max with the posterior odds ``a / b``, ties at
    random) and the reward :meth:`BernoulliEnv.draw`'s (a uniform below the chosen arm's
    rate), with the uniforms drawn for :attr:`BLOCK` steps at once. Pull and success counts
    are recovered from ``(a, b)`` at the checkpoints.
    """

    BLOCK = 64
    BURST = 3_000_000

    def __init__(self, policy: ThompsonSampling, env: BernoulliEnv, runs: int,
                 rng: np.random.Generator, kernel: Callable[..., None] | None = None) -> None:
        super().__init__(policy, env, runs, rng)
        self.kernel = kernel  # sim._compiled.advance, or None: numpy's step
        self.optimistic = policy.optimistic
        self.prior = np.array([policy.alpha, policy.beta]).reshape(2, 1, 1)
        self.ab = np.empty((2, runs, self.k))
        self.ab[...] = self.prior
        self.ab_flat = self.ab.reshape(-1)
        self.draws = np.empty_like(self.ab)
        self.odds = np.empty((runs, self.k)) if policy.optimistic else None
        self.rates = np.asarray(env.rates, dtype=np.float64)
        self.uniforms = np.empty((self.BLOCK, runs))
        self.base_b = self.base + runs * self.k  # where b's rows start in ab_flat

    def counts(self) -> tuple[FloatArray, FloatArray]:
        """``(n, successes)`` per run and arm, shape ``(R, K)``, exact integers."""
        s, f = np.rint(self.ab - self.prior)
        return s + f, s

    @property
    def regret(self) -> FloatArray:
        assert self.gaps is not None
        out: FloatArray = self.counts()[0] @ self.gaps
        return out

    @property
    def reward(self) -> FloatArray:
        out: FloatArray = self.counts()[1].sum(axis=1)
        return out

    def advance(self, t: int, stop: int) -> None:
        if self.kernel is None:
            # G_b underflows to 0 below shape 1 (tiny priors): odds of inf (a Beta draw of
            # 1), which the argmax takes as it should; not a warning per step
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                super().advance(t, stop)
        else:
            from ._compiled import constants

            mt = constants(self.ab)  # from ab as it is now: kept beside it by the kernel
            # in bursts of about BURST arm draws (~0.1 s): Python answers Ctrl+C only
            # between two calls of the compiled loop
            burst = max(1, self.BURST // (self.runs * self.k))
            for start in range(t, stop, burst):
                self.kernel(self.rng, self.ab, mt, self.rates, self.optimistic,
                            min(burst, stop - start))

    def step(self, t: int) -> None:
        rng = self.rng
        g = rng.standard_gamma(self.ab, out=self.draws)
        score = g[0]
        score /= g[1]  # Beta = G1 / (G1 + G2) orders the arms as G1 / G2 does
        if self.odds is None:
            arms: IntArray = score.argmax(axis=1)
        else:
            np.maximum(score, np.divide(self.ab[0], self.ab[1], out=self.odds), out=score)
            arms = optimistic_argmax(score, rng)
        row = t % self.BLOCK
        if row == 0:
            rng.random(out=self.uniforms)
        win = self.uniforms[row] < self.rates.take(arms)
        arms += np.where(win, self.base, self.base_b)  # a success adds to a, a failure to b
        self.ab_flat[arms] += 1.0


def _make_chunk(policy: Policy, env: Environment, runs: int, rng: np.random.Generator,
                kernel: Callable[..., None] | None = None, horizon: int | None = None
                ) -> _Chunk:
    if _has_kernel(policy, env):
        return _BernoulliThompsonChunk(policy, env, runs, rng,  # type: ignore[arg-type]
                                       kernel)
    return _Chunk(policy, env, runs, rng, horizon)


def _has_kernel(policy: Policy, env: Environment) -> bool:
    """Whether ``policy`` in ``env`` has the Beta–Bernoulli chunk (and its compiled kernel)."""
    return type(policy) is ThompsonSampling and type(env) is BernoulliEnv


#: Below this many decisions (runs × horizon) ``compiled=None`` keeps numpy: loading numba
#: and its cached kernel costs about as much as numpy's step takes for them.
COMPILED_FROM = 5_000_000


def _kernel(policy: Policy, env: Environment, decisions: int,
            compiled: bool | None) -> Callable[..., None] | None:
    """The compiled kernel ``simulate`` runs, or None for numpy's step (see ``compiled``)."""
    if compiled is False or not _has_kernel(policy, env):
        return None
    if compiled is None:
        import importlib.util

        if decisions < COMPILED_FROM or importlib.util.find_spec("numba") is None:
            return None
    else:  # asked for: without numba, the extra to install
        require("numba", "fast")
    try:
        from . import _compiled
    except ImportError as exc:  # e.g. a numba older than this numpy: "Numba needs NumPy …"
        if compiled is None:
            logging.getLogger("banditbot.sim").warning(
                "numba is installed but does not import (%s): simulating on numpy", exc)
            return None
        raise MissingDependencyError(f"numba does not import: {exc}",
                                     hint="pip install -U 'banditbot[fast]'") from exc
    _compiled.warm()  # compiled (or loaded) here, once, before any fork
    return _compiled.advance


def _block_generator(seed: np.random.SeedSequence) -> np.random.Generator:
    """The generator of one block of runs: numpy's SFC64 bit generator seeded from ``seed``.

    The draws are numpy's own samplers (Gamma variates for Thompson sampling, ...), whose time
    is mostly spent making random bits: SFC64 (Chris Doty-Humphrey's Small Fast Chaotic
    generator; period at least 2**64, about 2**255 expected) makes them faster than
    ``default_rng``'s PCG64 (Gamma variates 7-13% faster on the benchmark's shapes, see
    ``benchmarks/simulate_floor.py``). The choice fixes the stream a seed gives, as any
    generator does."""
    return np.random.Generator(np.random.SFC64(seed))


#: Seconds of simulation between two progress reports (the first comes after one step):
#: a time left shows within a second, also where a report per 1% of the horizon took tens
#: of seconds (2,000 runs × 1,000,000 steps of kl-ucb).
REPORT_SECONDS = 0.25


def _run_chunk(policy: Policy, env: Environment, runs: int, seed: np.random.SeedSequence,
               points: IntArray, horizon: int, counter: Any = None,
               kernel: Callable[..., None] | None = None) -> tuple[FloatArray, FloatArray]:
    """Simulate one block of runs; with a ``counter``, report the steps done about every
    :data:`REPORT_SECONDS` (slices of steps sized by the time the last one took: where a
    slice ends does not change a result)."""
    chunk = _make_chunk(policy, env, runs, _block_generator(seed), kernel, horizon)
    regret = np.zeros((runs, points.shape[0]))
    size = 1 if counter is not None else horizon  # steps in the next slice
    j = t = 0
    while t < horizon:  # to the next checkpoint or the slice's end, whichever comes first
        stop = min(int(points[j]), t + size)
        started = time.perf_counter()
        chunk.advance(t, stop)
        if counter is not None:  # at most twice the slice that took this long, at least 1
            took = max(time.perf_counter() - started, 1e-9)
            size = max(1, min(2 * size, int((stop - t) * REPORT_SECONDS / took)))
        t = stop
        if t == points[j]:
            regret[:, j] = chunk.regret
            j += 1
        if counter is not None:
            counter.value = t
    return regret, chunk.reward


#: The most memory a simulation may hold, in bytes (4 GiB): the runs' statistics in every
#: process together and the results. Above it :func:`simulate` refuses before it starts
#: (numpy's allocation failed with a traceback after minutes, or the machine swapped).
MAX_MEMORY = 4 * 2**30

#: Arrays of shape (runs, arms) a step holds at its peak: the statistics, the policy's
#: scores and draws, their temporaries (measured: UCB1 and Thompson sampling peak at 5-9).
_ROW_ARRAYS = 12


def memory_estimate(policy: Policy, env: Environment, *, runs: int, horizon: int,
                    checkpoints: int = 200) -> int:
    """About how many bytes simulating ``policy`` in ``env`` holds at its peak (all
    processes together): the ``(runs, arms)`` state and temporaries, a linear policy's
    ``d × d`` matrix per arm and run (with half as much again for the policy's products
    and the update), a sliding window's ring of the last steps, and the regret curves.
    Measured peaks were 50-100% of it (200 runs: 10,000 Bernoulli arms, 298 MiB of 50 arms ×
    60 features).

    Examples
    --------
    >>> from banditbot import make_policy
    >>> from banditbot.sim import parse_env
    >>> memory_estimate(make_policy("linucb"), parse_env("linear:3,100"), runs=200,
    ...                 horizon=10) // 2**20  # MiB
    69
    """
    k, d = env.n_arms, env.context_dim
    cells = runs * k
    size = _ROW_ARRAYS * cells * 8
    if "linear" in policy.needs_extra:
        size += cells * d * (d + 1) * 12 + 2 * runs * d * 8  # 1.5 × the state (measured)
    weighting = policy.time_weighting()
    if weighting is not None:
        kind, width = weighting
        if kind == "window":
            size += runs * min(max(int(width), 1), horizon) * 16
    size += _curves_bytes(runs, horizon, checkpoints)
    return int(size)


def _curves_bytes(runs: int, horizon: int, checkpoints: int) -> int:
    """One policy's regret curves: each run's checkpoints, sent by its worker and joined."""
    return 3 * runs * (min(checkpoints, horizon) + 1) * 8


def check_memory(policies: list[Policy], env: Environment, *, runs: int, horizon: int,
                 checkpoints: int = 200) -> None:
    """Refuse, with :class:`PayloadError`, a simulation of ``policies`` (one after another:
    the largest one's state, every one's results) that would hold over
    :data:`MAX_MEMORY`."""
    if not policies:
        return
    curves = _curves_bytes(runs, horizon, checkpoints)
    peak = max(memory_estimate(p, env, runs=runs, horizon=horizon, checkpoints=checkpoints)
               for p in policies) + curves * (len(policies) - 1)
    if peak > MAX_MEMORY:
        raise PayloadError(
            f"this simulation would hold about {peak / 2**30:,.1f} GiB in memory "
            f"({runs:,} runs × {env.n_arms:,} arms"
            + (f" × {env.context_dim:,}² features" if env.context_dim else "")
            + f"); the limit is {MAX_MEMORY / 2**30:g} GiB",
            hint="give fewer --runs, arms or features")


def simulate(policy: Policy, env: Environment, *, runs: int = 200, horizon: int = 10_000,
             seed: int = 0, checkpoints: int = 200, workers: int = 2,
             progress: Callable[[int], Any] | None = None,
             compiled: bool | None = None) -> SimulationResult:
    """Run ``policy`` ``runs`` times for ``horizon`` steps in ``env``.

    Parameters
    ----------
    policy
        Any registered policy (see :func:`banditbot.make_policy`).
    env
        An environment (see :func:`banditbot.sim.parse_env`).
    runs, horizon
        Number of independent runs and steps per run.
    seed
        Seed; with the same ``workers`` the result is reproducible.
    checkpoints
        How many points of the regret curve to keep.
    workers
        Processes to split the runs across (forked; 1 runs in this process).
    progress
        Called with the number of steps completed (by this process's block of runs), after
        the first step and then about every :data:`REPORT_SECONDS`.
    compiled
        Bernoulli Thompson sampling (``thompson`` in ``bernoulli:…``) can run on a compiled
        kernel (numba, the ``fast`` extra), about twice as fast per process, with exact
        draws of the same distribution from another random stream. ``None`` (default): the kernel
        when numba is installed and the simulation has at least ``COMPILED_FROM``
        decisions; ``True``: the kernel wherever it applies (without numba:
        :class:`MissingDependencyError`); ``False``: numpy. ``result.engine`` says which
        ran; a seed reproduces a result with the same ``workers`` and engine.

    Returns
    -------
    SimulationResult
    """
    if runs < 1 or horizon < 1:
        raise ValueError("runs and horizon must be positive")
    if policy.needs_bounded and env.bounds is None:  # here, not in a worker's traceback
        raise PayloadError(f"{policy.name} needs rewards with known bounds; "
                           f"{env.describe()} pays unbounded rewards",
                           hint="try gaussian-thompson, ucb1 or epsilon-greedy")
    if "linear" in policy.needs_extra and not env.context_dim:
        raise PayloadError(f"{policy.name} decides from a context; {env.describe()} has none",
                           hint="simulate it in linear:K,d or logistic:K,d")
    if seed < 0:
        raise PayloadError(f"the seed must be >= 0, got {seed}")
    check_memory([policy], env, runs=runs, horizon=horizon, checkpoints=checkpoints)
    workers = max(1, min(workers, runs))
    sizes = [runs // workers + (1 if i < runs % workers else 0) for i in range(workers)]
    seeds = np.random.SeedSequence(seed).spawn(workers)
    points = np.unique(np.linspace(1, horizon, min(checkpoints, horizon)).round().astype(int))
    kernel = _kernel(policy, env, runs * horizon, compiled)  # numba's load: not timed
    start = time.perf_counter()
    context = _fork_context() if workers > 1 else None
    if context is None:
        parts = []
        for size, s in zip(sizes, seeds, strict=True):
            counter = _Counter() if progress is not None else None
            parts.append(_run_chunk(policy, env, size, s, points, horizon,
                                    _Reporter(counter, progress) if counter else None,
                                    kernel))
    else:
        parts = _run_forked(context, policy, env, sizes, seeds, points, horizon, progress,
                            kernel)
    seconds = time.perf_counter() - start
    rates = env.bernoulli_rates()
    return SimulationResult(
        policy=policy.describe(), environment=env.describe(), runs=runs, horizon=horizon,
        steps=points, regret=np.concatenate([p[0] for p in parts]),
        reward=np.concatenate([p[1] for p in parts]), seconds=seconds,
        change_at=env.change_at,
        lower_bound=None if rates is None else lai_robbins(rates, points.astype(float)),
        lower_bound_from=None if rates is None else lai_robbins_reach(rates),
        engine="numpy" if kernel is None else "compiled",
    )


def _run_forked(context: Any, policy: Policy, env: Environment, sizes: list[int],
                seeds: list[np.random.SeedSequence], points: IntArray, horizon: int,
                progress: Callable[[int], Any] | None, kernel: Callable[..., None] | None
                ) -> list[tuple[FloatArray, FloatArray]]:
    """The blocks of runs after the first in forked children (one each), the first in this
    process meanwhile, reporting the progress; the parts in block order.

    A child sends its part (or the exception it raised) through a pipe. Ctrl+C reaches the
    whole process group: the children ignore it (they are started with it blocked, so none
    can take it before ignoring it) and this process stops them on its way out."""
    children: list[tuple[Any, Any]] = []
    finished = False
    try:
        for size, seed in zip(sizes[1:], seeds[1:], strict=True):
            receive, send = context.Pipe(duplex=False)
            # the child closes the read ends it inherits (its own and its elder siblings'):
            # if this process dies, its write then fails instead of waiting for a reader
            child = context.Process(target=_child_block, daemon=True,
                                    args=(send, [receive, *(r for _, r in children)],
                                          policy, env, size, seed, points, horizon, kernel))
            # listed before it starts: a Ctrl+C from here on finds it in the list below
            # (the one blocked meanwhile is raised when unblocked, after the bookkeeping)
            children.append((child, receive))
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                child.start()
                send.close()
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        counter = _Counter() if progress is not None else None
        parts = [_run_chunk(policy, env, sizes[0], seeds[0], points, horizon,
                            _Reporter(counter, progress) if counter else None, kernel)]
        for child, receive in children:
            try:
                failed, part = receive.recv()
            except EOFError:
                child.join()
                raise RuntimeError(f"a simulation process stopped (exit code {child.exitcode}) "
                                   "before sending its runs") from None
            if failed:
                raise part
            parts.append(part)
        finished = True
        if progress is not None:
            progress(horizon)
        return parts
    finally:
        for child, receive in children:
            if child.pid is not None:  # started
                if not finished:  # an error or Ctrl+C: stop the children still simulating
                    child.terminate()
                child.join()
            receive.close()


def _child_block(send: Any, inherited: list[Any], policy: Policy, env: Environment,
                 runs: int, seed: np.random.SeedSequence, points: IntArray,
                 horizon: int, kernel: Callable[..., None] | None) -> None:
    """A forked child's work: one block of runs, sent back as ``(False, part)``, or
    ``(True, exception)`` if simulating it raised. The ``inherited`` read ends are closed
    first: only the parent reads, so a parent that was killed leaves no reader and the
    child's write fails (a broken pipe) instead of blocking forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    for receive in inherited:
        receive.close()
    try:
        message: tuple[bool, Any] = (False, _run_chunk(policy, env, runs, seed, points,
                                                        horizon, kernel=kernel))
    except Exception as exc:  # sent to the parent, which raises it
        message = (True, exc)
    with contextlib.suppress(BrokenPipeError):  # the parent is gone: nobody to tell
        send.send(message)
    send.close()


def _fork_context() -> Any:
    import multiprocessing

    try:
        return multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform: run in this process
        return None


class _Counter:
    value = 0


class _Reporter:
    """Adapts the in-process counter to the progress callback."""

    def __init__(self, counter: _Counter, progress: Callable[[int], Any] | None) -> None:
        self.counter, self.progress = counter, progress

    @property
    def value(self) -> int:
        return self.counter.value

    @value.setter
    def value(self, steps: int) -> None:
        self.counter.value = steps
        if self.progress is not None:
            self.progress(steps)
