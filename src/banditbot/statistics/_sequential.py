"""Anytime-valid inference on adaptively collected bandit data.

A bandit changes its allocation as it learns, so the usual fixed-sample intervals of each
arm's pooled mean are biased and too narrow, and a report read every day inflates the error
of "stop when it looks won". This module gives intervals and a stopping rule whose
guarantees hold at every look, whatever the allocation did, using only what the decision
log records: for each decision ``t`` the chosen arm ``A_t``, the full probability vector
``π_t`` the arm was drawn from, and the reward ``Y_t`` (scaled to [0, 1]).

Scores
    For arm ``a`` with a *predictable* plug-in mean ``m_t(a)`` (the arm's running mean
    before ``t``, shrunk to 1/2 with one pseudo-observation), the augmented
    inverse-propensity score is ``Γ_t(a) = m_t(a) + 1{A_t = a} (Y_t − m_t(a)) / π_t(a)``;
    ``E[Γ_t(a) | past] = μ(a)`` exactly, whatever the policy did.

E-processes (betting; Waudby-Smith & Ramdas 2024, JRSS-B)
    To test ``E[X_t | past] ≤ θ`` for scores ``X_t`` with a predictable lower bound ``L_t``,
    bet ``λ_t`` on ``X_t − θ``: ``W_t(θ) = Π_s (1 + λ_s (X_s − θ))``. Under the null
    every factor has conditional mean at most 1 and stays above ``1 − κ`` (``λ_s ≤ κ /
    (θ_max − L_s)``), so ``W`` is a nonnegative supermartingale and, by Ville's inequality,
    ``P(∃t: W_t ≥ c) ≤ 1/c``. banditbot mixes (averages) ``G`` such bets, one per *effect
    size* ``δ_j`` on a log grid (1.25 to 10 points on the [0, 1] scale): ``λ_{t,j} = δ_j /
    v_t`` with ``v_t`` the predictable variance of the score implied by the plug-in means and
    the logged propensities — the bet that grows fastest if the effect were ``δ_j``.

A planned horizon (optional, ``horizon=``)
    The stopping rule and the difference sequences can be told how many answered decisions
    the experiment plans for, ``N``. The mixture then puts :data:`HORIZON_SHARE` (90%) of
    its weight on the bet ``λ_t = s_t / v_t`` with ``s_t = √(2 log c / Î_t)``, ``Î_t`` the
    information ``Σ 1/v`` the comparison would have at ``N`` (see :func:`_planned_effect`):
    the constant bet that most often reaches ``c`` by ``N`` (at 2.86 standard errors for
    ``c = 60``, against about 3.3 for a bet learned from the data). ``s_t`` is predictable,
    so the guarantee is the same for any ``N``, right or wrong; only power changes.

Confidence sequences
    ``{θ : W_t(θ) < c}`` inverted on each side; the level holds simultaneously over every
    look (``P(∀t: μ ∈ C_t) ≥ 1 − α``).

The stopping rule
    Arm ``b`` is declared the winner at the first decision where, for every other arm
    ``a``, the e-process for ``μ(b) > μ(a)`` (the score difference ``Γ(b) − Γ(a)`` bet
    against 0) has reached ``K/α`` at some decision so far. A wrong winner (an arm that is
    not the unique best, including any winner of an A/A test) needs one of at most ``K``
    e-processes whose null is true to cross ``K/α`` — ``(K − 1)`` against a best arm ``a*``,
    plus ``a*``'s own against a tied arm — so ``P(ever a wrong winner) ≤ α``, however often
    the report is read. An arm ``a`` is *ruled out* once some arm's e-process against it has
    crossed; the best arm is ruled out with probability at most ``(K − 1)/K · α``.

Where it holds
    Rewards in [0, 1] (binary, or a rating/continuous reward scaled by known bounds);
    ``π_t`` the probability the arm was really drawn with (positive for the chosen arm),
    known before the decision — when it depends on a context seen only then (contextual
    policies), the bets use the arm's earlier propensities and the floor instead
    (``contextual=True``; a bet sized by ``π_t`` itself is large exactly where the context
    makes the arm good, and the sequences would exclude the truth);
    the rewards' conditional means constant over time (with drift the sequences cover the
    running average of the arms' means); unanswered decisions (NaN reward) missing
    independently of the arm's reward. No propensity floor is needed for validity — a
    floor, or :func:`banditbot.policies.explore_contenders`, is what keeps the sequences
    narrow.

Fixed-time intervals
    :func:`anytime_inference` also returns each arm's adaptively weighted AIPW estimate
    (Hadad et al. 2021, PNAS: weights ``√π_t(a)`` stabilise the variance) with a score-type
    (Wilson-like) interval: calibrated at a single, pre-chosen look (asymptotically), not at
    every look.

Examples
--------
Two arms drawn 50/50, the second clearly better:

>>> rng = np.random.default_rng(0)
>>> arms = rng.integers(0, 2, size=4000)
>>> probs = np.full((4000, 2), 0.5)
>>> rewards = (rng.random(4000) < np.where(arms == 1, 0.3, 0.1)).astype(float)
>>> result = stopping_rule(arms, probs, rewards, alpha=0.05)
>>> result.winner, result.declared_at is not None
(1, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._errors import PayloadError
from .._types import BoolArray, FloatArray, IntArray

__all__ = [
    "DEFAULT_EFFECTS",
    "HORIZON_SHARE",
    "AipwScores",
    "AnytimeInference",
    "SequentialTest",
    "WinnerDecision",
    "aipw_scores",
    "anytime_inference",
    "stopping_rule",
]

#: Effect sizes (on the [0, 1] reward scale) the mixture bets on: 1.25 to 10 points, √2 apart.
DEFAULT_EFFECTS: tuple[float, ...] = tuple(float(x) for x in np.geomspace(0.0125, 0.1, 7))
#: With a planned horizon, the mixture's weight on the bet tuned to it (the rest is spread
#: over the effect grid, which still catches a large effect early).
HORIZON_SHARE = 0.9
_KAPPA = 0.5  # every bet keeps at least half of the wealth: 1 + λ (X − θ) ≥ 1 − κ
_PRIOR_MEAN = 0.5
_PRIOR_COUNT = 1.0
_Z95 = 1.959963984540054


class AipwScores:
    """Augmented inverse-propensity scores of every arm at every answered decision.

    Attributes
    ----------
    scores
        Shape ``(n, K)``: ``Γ_t(a)``; its running mean estimates ``μ(a)`` without the
        adaptivity bias.
    lower, upper
        Shape ``(n, K)``: the predictable range of each score (what it would be with reward
        0 or 1 if the arm were drawn).
    variance
        Shape ``(n, K)``: the predictable variance of each score,
        ``m (1 − m) / π`` with ``m`` the plug-in mean.
    plugin
        Shape ``(n, K)``: the plug-in means ``m_t(a)`` (from decisions before ``t``).
    probabilities
        Shape ``(n, K)``: the logged probability vectors of the answered decisions.
    rows
        Shape ``(n,)``: index of each answered decision in the input.
    weight_p
        Shape ``(n, K)``: the propensity the adaptive weights and the variance use — the
        logged one, or, when the vectors depend on a context (see :func:`aipw_scores`), a
        predictable stand-in: the harmonic mean of the arm's earlier propensities.
    """

    __slots__ = ("contextual", "lower", "plugin", "probabilities", "rows", "scores", "upper",
                 "variance", "weight_p")

    def __init__(self, scores: FloatArray, lower: FloatArray, upper: FloatArray,
                 variance: FloatArray, plugin: FloatArray, probabilities: FloatArray,
                 rows: IntArray, weight_p: FloatArray | None = None) -> None:
        self.scores, self.lower, self.upper, self.variance = scores, lower, upper, variance
        self.plugin, self.probabilities, self.rows = plugin, probabilities, rows
        self.weight_p = probabilities if weight_p is None else weight_p
        #: whether the bets and weights use the predictable stand-ins (see aipw_scores)
        self.contextual = weight_p is not None

    @property
    def n_arms(self) -> int:
        """Number of arms ``K``."""
        return int(self.scores.shape[1])

    @property
    def n(self) -> int:
        """Number of answered decisions."""
        return int(self.scores.shape[0])


def _check_log(arms: npt.ArrayLike, probabilities: npt.ArrayLike, rewards: npt.ArrayLike
               ) -> tuple[IntArray, FloatArray, FloatArray]:
    a = np.asarray(arms)
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(rewards, dtype=np.float64)
    if p.ndim != 2:
        raise PayloadError(f"probabilities must have shape (n, K), got {p.shape}")
    n, k = p.shape
    if a.shape != (n,) or y.shape != (n,):
        raise PayloadError(f"arms {a.shape} and rewards {y.shape} need shape ({n},) like the "
                           "rows of probabilities", hint="one entry per decision")
    if n and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= k):
        raise PayloadError(f"arms must be integer indices in 0..{k - 1}")
    idx = a.astype(np.intp)
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1 + 1e-9):
        raise PayloadError("probabilities must be finite and in [0, 1]")
    chosen = p[np.arange(n), idx]
    if np.any(chosen <= 0):
        i = int(np.flatnonzero(chosen <= 0)[0])
        raise PayloadError(f"decision {i}: the chosen arm has probability 0",
                           hint="log the probability the arm was really drawn with")
    seen = ~np.isnan(y)
    if np.any(~np.isfinite(y[seen])) or np.any((y[seen] < -1e-12) | (y[seen] > 1 + 1e-12)):
        raise PayloadError("rewards must be in [0, 1] (or NaN when unanswered)",
                           hint="scale bounded rewards by their bounds first")
    return idx, p, np.clip(y, 0.0, 1.0)


def aipw_scores(arms: npt.ArrayLike, probabilities: npt.ArrayLike, rewards: npt.ArrayLike,
                *, contextual: bool = False, floor: float | None = None) -> AipwScores:
    """Score every arm at every answered decision (the input of every sequence here).

    Parameters
    ----------
    arms
        Shape ``(T,)``: the index of the chosen arm of each decision, oldest first.
    probabilities
        Shape ``(T, K)``: the probability vector each arm was drawn from.
    rewards
        Shape ``(T,)``: the reward on the [0, 1] scale; NaN where unanswered (left out).
    contextual
        The vectors may depend on a context seen only at the decision (LinUCB, linear
        Thompson sampling, any experiment with features). A bet must then not use the
        decision's own propensity: it is correlated with the reward through the context
        (a bet sized by ``π_t`` is large exactly where the arm is good), and the sequences
        lose their guarantee. The bets then use what is known before the decision: the
        harmonic mean of the arm's earlier propensities for the variance, and ``floor`` for
        the range of the score.
    floor
        With ``contextual``: the smallest probability the allocation gives an offered arm
        (the experiment's exploration floor); default, and never more than, the smallest
        positive probability in the log.

    Returns
    -------
    AipwScores

    Examples
    --------
    >>> s = aipw_scores([0, 1], [[0.5, 0.5], [0.25, 0.75]], [1.0, 0.0])
    >>> s.scores.round(3).tolist()  # at t = 1: m = (3/4, 1/2); arm 1 drawn, reward 0
    [[1.5, 0.5], [0.75, -0.167]]
    """
    idx, p, y = _check_log(arms, probabilities, rewards)
    rows = np.flatnonzero(~np.isnan(y))
    idx, p, y = idx[rows], p[rows], y[rows]
    n, k = p.shape
    onehot = np.zeros((n, k))
    onehot[np.arange(n), idx] = 1.0
    # in place (the same bits): on a long log every (n, K) temporary is fresh memory the
    # kernel must map and clear, which costs more than the arithmetic
    counts = np.cumsum(onehot, axis=0)
    counts -= onehot  # before t
    gain = onehot * y[:, None]
    del onehot
    sums = np.cumsum(gain, axis=0)
    sums -= gain
    del gain
    sums += _PRIOR_MEAN * _PRIOR_COUNT
    counts += _PRIOR_COUNT
    m = np.divide(sums, counts, out=sums)
    del counts
    scored = _scores_from(m, idx, p, y, rows)
    return _predictable(scored, floor) if contextual else scored


def _predictable(sc: AipwScores, floor: float | None) -> AipwScores:
    """``sc`` with bets' inputs known before each decision (see :func:`aipw_scores`):
    whether an arm is offered is known (retiring is not a matter of context); its variance
    uses the harmonic mean of its earlier propensities (``K`` — uniform — before any), and
    its score's range the floor."""
    p, m = sc.probabilities, sc.plugin
    k = p.shape[1]
    offered = p > 0
    positive = p[offered]
    smallest = float(positive.min()) if positive.size else 1.0
    f = smallest if floor is None or floor <= 0 else min(float(floor), smallest)
    with np.errstate(divide="ignore"):
        inv = np.where(offered, 1.0 / np.where(offered, p, 1.0), 0.0)
    # earlier rows that offered the arm
    seen: FloatArray = np.cumsum(offered, axis=0, dtype=np.float64) - offered
    total = np.cumsum(inv, axis=0) - inv
    with np.errstate(divide="ignore", invalid="ignore"):
        past = np.where(seen > 0, total / np.maximum(seen, 1), float(k))
    weight_p = np.where(offered, 1.0 / past, 0.0)
    lower = np.where(offered, m - m / f, m)
    upper = np.where(offered, m + (1.0 - m) / f, m)
    variance = np.where(offered, m * (1.0 - m) * past, np.inf)
    return AipwScores(sc.scores, lower, upper, variance, m, p, sc.rows, weight_p)


def _scores_from(m: FloatArray, idx: IntArray, p: FloatArray, y: FloatArray,
                 rows: IntArray) -> AipwScores:
    n = p.shape[0]
    # in place where it can be (the same bits as the expressions in the comments)
    off = p <= 0
    inv = np.where(off, 1.0, p)  # where(p > 0, 1 / p, inf)
    np.divide(1.0, inv, out=inv)
    inv[off] = np.inf
    scores = m.copy()
    r = np.arange(n)
    scores[r, idx] += (y - m[r, idx]) * inv[r, idx]
    lower = np.multiply(m, inv)  # where(p > 0, m − m / p, m)
    np.subtract(m, lower, out=lower)
    np.copyto(lower, m, where=off)
    upper = np.subtract(1.0, m)  # where(p > 0, m + (1 − m) / p, m)
    upper *= inv
    np.add(m, upper, out=upper)
    np.copyto(upper, m, where=off)
    variance = np.subtract(1.0, m)  # where(p > 0, m (1 − m) / p, inf)
    np.multiply(m, variance, out=variance)
    variance *= inv
    variance[off] = np.inf
    return AipwScores(scores, lower, upper, variance, m, p, rows)


def _bets(variance: FloatArray, low: FloatArray, theta_max: float | FloatArray,
          effects: FloatArray) -> FloatArray:
    """``λ_{t,j} = min(δ_j / v_t, κ / (θ_max − L_t))``, shape ``(..., G)``; 0 where the
    variance is infinite (an arm drawn with probability 0 is not bet on)."""
    with np.errstate(divide="ignore"):
        inv = 1.0 / variance
        cap = _KAPPA / np.maximum(theta_max - low, 1e-12)
    out: FloatArray = np.minimum(inv[..., None] * effects, cap[..., None])
    return out


def _logmix(x: FloatArray, weights: FloatArray) -> FloatArray:
    """``log Σ_j w_j exp(x_j)`` over the last axis (the mixture's log wealth)."""
    top = np.max(x, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    out: FloatArray = np.log(np.exp(x - top) @ weights) + top[..., 0]
    return out


def _weights(effects: FloatArray, horizon: int | None) -> FloatArray:
    """The mixture's weights: uniform over the effect grid; with a planned horizon
    :data:`HORIZON_SHARE` on the bet tuned to it (first) and the rest uniform over the grid."""
    g = effects.shape[0]
    if horizon is None:
        return np.full(g, 1.0 / g)
    return np.concatenate([[HORIZON_SHARE], np.full(g, (1.0 - HORIZON_SHARE) / g)])


def _check_horizon(horizon: int | None) -> None:
    if horizon is not None and (isinstance(horizon, bool) or int(horizon) != horizon
                                or horizon < 1):
        raise PayloadError(f"horizon must be a positive number of decisions, got {horizon}",
                           hint="the answered decisions the experiment plans for, or None")


def _planned_effect(inv: FloatArray, info: FloatArray, start: int, horizon: int,
                    log_c: float) -> tuple[FloatArray, FloatArray]:
    """The bet tuned to a planned horizon, as an effect per row: ``s_t = √(2 log c / Î_t)``
    (the bet is ``λ_t = s_t / v_t``), with ``Î_t = I_{t−1} + (horizon − i_t)⁺ / v_t`` the
    information ``Σ 1/v`` the comparison would have at the horizon if the rest of the
    decisions looked like this one (``i_t`` answered decisions before ``t``; ``I_{t−1}`` their
    information). Everything in it is known before the decision — ``v_t`` comes from the
    plug-in means and the logged probabilities — so the bet is predictable.

    Why this bet: with ``λ_t = s / v_t`` the log wealth is about ``s U − s² I / 2`` with
    ``U = Σ X_t / v_t``; it reaches ``log c`` by the horizon when ``U ≥ log c / s + s I_N / 2``,
    a bar lowest at ``s = √(2 log c / I_N)``: ``U / √I_N ≥ √(2 log c)`` — 2.86 standard errors
    for ``c = 60`` — whatever the effect, where a bet learned from the data needs about
    ``√(2 (log c + 1))``.

    ``inv`` (``1 / v_t``, 0 where an arm was not drawable) has shape ``(n, S)``; ``info`` the
    information before the first row, ``(S,)``; ``start`` the answered decisions before it.
    Returns ``s`` of shape ``(n, S)`` and the information after the last row.
    """
    n = inv.shape[0]
    # one running sum carried from block to block: the same bits as over the whole log
    cum = np.cumsum(np.concatenate([info[None], inv], axis=0), axis=0)
    remaining = np.maximum(horizon - (start + np.arange(n)), 0).astype(np.float64)
    planned = cum[:-1] + remaining[:, None] * inv
    out: FloatArray = np.sqrt(2.0 * log_c / np.maximum(planned, 1e-300))
    after: FloatArray = cum[-1]
    return out, after


#: Rows per block when an e-value is summed over a long log (bounds the temporaries).
_ROWS = 16_384
#: The inputs of ``S`` sequences over a slice of rows: ``(x, 1 / v_t, κ / (θ_max − L_t))``,
#: each of shape ``(rows, S)``.
_Inputs = Callable[[slice], tuple[FloatArray, FloatArray, FloatArray]]
#: Cells (rows x sequences x bets) per chunk of a block: every array of a chunk (bets,
#: factors, their logs) is written into buffers allocated once per pass, small enough to
#: stay in cache (fresh temporaries of a 16k-row block cost more in page faults than the
#: arithmetic). The sums carry from chunk to chunk in the order of one sum over the block.
_CHUNK_CELLS = 16_384
#: The same for the stopping rule's paths (fewer, larger chunks: more work per row).
_PATH_CELLS = 65_536


class _Chunks:
    """Buffers for chunks of ``(rows, S, G)`` bets, reused over a pass (no temporaries)."""

    __slots__ = ("dev", "fac", "lam", "logs", "ratio")

    def __init__(self, rows: int, s: int, g: int) -> None:
        self.lam = np.empty((rows, s, g))
        self.fac = np.empty((rows, s, g))
        self.dev = np.empty((rows, s))
        # one spare row in front: the sum so far, so a chunk's sum continues it
        self.logs = np.empty((rows + 1, s, g))
        self.ratio = np.empty((rows + 1, s, g))

    def bets(self, m: int, inv: FloatArray, cap: FloatArray, effects: FloatArray,
             planned: FloatArray | None) -> FloatArray:
        """:func:`_block_bets` of ``m`` rows, in the buffer (the same bits)."""
        lam = self.lam[:m]
        grid = lam[..., 1:] if planned is not None else lam
        np.multiply(inv[..., None], effects, out=grid)
        np.minimum(grid, cap[..., None], out=grid)
        if planned is not None:
            tuned = lam[..., 0]
            np.multiply(inv, planned, out=tuned)
            np.minimum(tuned, cap, out=tuned)
        return lam


def _chunk_rows(n: int, s: int, g: int, cells: int | None = None) -> int:
    """Rows per chunk for ``s`` sequences of ``g`` bets (at most a block, at least 8)."""
    size = _CHUNK_CELLS if cells is None else cells
    return max(1, min(max(8, size // max(s * g, 1)), _ROWS, n))


def _log_evalue(x: FloatArray, inv: FloatArray, cap: FloatArray, effects: FloatArray,
                theta: FloatArray, planned: FloatArray | None = None
                ) -> tuple[FloatArray, FloatArray]:
    """Log of the mixture e-value at the last decision and its derivative in ``θ``.

    ``x``, ``inv`` (``1 / v_t``), ``cap`` (``κ / (θ_max − L_t)``) and ``planned`` (the
    horizon bet's effect per row, or ``None``) have shape ``(n, S)``, ``theta`` ``(S,)``; the
    bets ``λ_{t,j} = min(inv_t δ_j, cap_t)`` are formed chunk by chunk in buffers reused
    over the pass, so no ``(n, S, G)`` array exists at once. Each block of :data:`_ROWS`
    rows is summed in row order, then added to the total.
    """
    n, s = x.shape
    weights = _weights(effects, None if planned is None else 1)
    g = weights.shape[0]
    logw = np.zeros((s, g))
    slope = np.zeros((s, g))  # d logw / d theta
    step = _chunk_rows(n, s, g)
    buf = _Chunks(step, s, g)
    part_log = np.empty((s, g))
    part_ratio = np.empty((s, g))
    for start in range(0, n, _ROWS):  # sums by blocks: bounded memory
        stop = min(start + _ROWS, n)
        for head in range(start, stop, step):
            rows = slice(head, min(head + step, stop))
            m = rows.stop - head
            lam = buf.bets(m, inv[rows], cap[rows], effects,
                           None if planned is None else planned[rows])
            dev = np.subtract(x[rows], theta, out=buf.dev[:m])
            fac = np.multiply(lam, dev[..., None], out=buf.fac[:m])
            np.add(fac, 1.0, out=fac)
            # the block's sum continued: row 0 holds the sum of its earlier chunks
            lead = 0 if head == start else 1
            logs, ratio = buf.logs[1 - lead:m + 1], buf.ratio[1 - lead:m + 1]
            if lead:
                logs[0], ratio[0] = part_log, part_ratio
            np.log(fac, out=logs[lead:])
            np.divide(lam, fac, out=ratio[lead:])
            np.sum(logs, axis=0, out=part_log)
            np.sum(ratio, axis=0, out=part_ratio)
        logw += part_log
        slope -= part_ratio
    value = _logmix(logw, weights)
    weight = np.exp(logw - value[:, None]) * weights
    return value, (weight * slope).sum(axis=1)


def _block_bets(inv: FloatArray, cap: FloatArray, effects: FloatArray,
                planned: FloatArray | None = None) -> FloatArray:
    """The bets of every mixture component, shape ``(..., G)`` (``G + 1`` with ``planned``,
    the horizon bet's effect, first)."""
    out: FloatArray = np.minimum(inv[..., None] * effects, cap[..., None])
    if planned is not None:
        tuned = np.minimum(inv * planned, cap)
        out = np.concatenate([tuned[..., None], out], axis=-1)
    return out


def _bet_parts(variance: FloatArray, low: FloatArray, theta_max: float | FloatArray
               ) -> tuple[FloatArray, FloatArray]:
    """``(1 / v_t, κ / (θ_max − L_t))``: what :func:`_bets` combines with the effects."""
    with np.errstate(divide="ignore"):  # in place: a long log's temporaries are costly
        inv: FloatArray = np.divide(1.0, variance)
        room: FloatArray = np.subtract(theta_max, low)
        np.maximum(room, 1e-12, out=room)
        cap = np.divide(_KAPPA, room, out=room)
    return inv, cap


#: The margin the ends keep from the root, as Newton's method stops within it: the end is
#: moved this far to the wide side (the stopping tolerance of :func:`_newton_bound`).
_TOL = 1e-8
#: How close above the root an end proven from the power sums must be (see
#: :func:`_lower_bound`): it lies in ``(root − _TOL − _TIGHT, root]``.
_TIGHT = 1e-12


def _lower_bound(inputs: _Inputs, n: int, s: int, effects: FloatArray, log_c: float,
                 lo: float, hi: float, horizon: int | None = None) -> FloatArray:
    """The smallest ``θ`` in ``[lo, hi]`` not rejected: the root of ``log W(θ) = log c``
    (``log W`` decreases in ``θ``), moved :data:`_TOL` to the wide side; ``lo`` when nothing
    is rejected, ``hi`` when everything is.

    One pass over the log at ``θ₀`` (the normal approximation's end) gives, per bet, the
    log wealth ``F`` and the power sums ``M_k = Σ_t u_t^k`` (``k ≤ 4``) of ``u_t = λ_t / (1 +
    λ_t (x_t − θ₀))``. Since ``log(1 + λ (x − θ)) = log(1 + λ (x − θ₀)) + log(1 − u d)``
    with ``d = θ − θ₀``, the log wealth at any ``θ`` near ``θ₀`` is ``F − d M₁ − d² M₂ / 2 −
    d³ M₃ / 3 − d⁴ M₄ / 4`` up to a remainder whose sign and size the series bounds
    (:func:`_series_bounds`). The root of that polynomial, ``θ₁``, is then checked with
    those bounds, not trusted: the end ``θ₁ − _TOL`` is kept only if its log e-value is
    proven to reach ``log c`` (so it is rejected: it lies on or below the root, the wide
    side) and ``θ₁ + _TIGHT`` proven not to (the root lies below it: the end is no wider
    than Newton's). A sequence where either proof fails (a start far from the root, an end
    at the edge of the range) falls back to Newton's method (:func:`_newton_bound`),
    started at ``θ₁``. On a long log nearly every end takes the single pass, where Newton's
    method took three.

    ``inputs(rows)`` gives ``(x, 1 / v_t, κ / (θ_max − L_t))`` of ``S`` sequences for a
    slice of the ``n`` rows (computed chunk by chunk: no ``(n, S)`` array exists unless
    Newton's method needs one); with ``horizon``, the pairs' bet tuned to it is added as
    :func:`_planned_effect` forms it.
    """
    start = _normal_start(inputs, n, s, log_c)
    theta0 = np.clip(np.where(np.isfinite(start), start, 0.5 * (lo + hi)), lo, hi)
    sums, umax = _power_sums(inputs, n, s, effects, theta0, horizon, log_c)
    weights = _weights(effects, horizon)
    out = np.full(s, np.nan)
    done = np.zeros(s, dtype=bool)
    theta1 = theta0.copy()
    if np.all(np.isfinite(sums)) and math.isfinite(umax) and umax >= 0.0:
        reach = 0.5 / umax if umax > 0.0 else math.inf  # |u d| <= 1/2 for every row
        d_lo = np.maximum(lo - theta0, -reach)
        d_hi = np.minimum(hi - theta0, reach)
        d1 = _model_root(sums, weights, log_c, d_lo, d_hi)
        theta1 = theta0 + d1
        end = theta1 - _TOL
        low_at_end, _ = _series_bounds(sums, weights, end - theta0, umax)
        _, high_above = _series_bounds(sums, weights, theta1 + _TIGHT - theta0, umax)
        done = ((end > lo) & (theta1 + _TIGHT < hi) & (end - theta0 >= d_lo)
                & (theta1 + _TIGHT - theta0 <= d_hi)
                & (low_at_end >= log_c) & (high_above < log_c))
        out = np.where(done, end, np.nan)
    if not done.all():
        rest = np.flatnonzero(~done)
        chunks = [tuple(arr[:, rest] for arr in inputs(rows)) for rows in _spans(n, _ROWS)]
        x, inv, cap = (np.concatenate([chunk[i] for chunk in chunks]) for i in range(3))
        del chunks
        planned = None
        if horizon is not None:
            planned, _ = _planned_effect(inv, np.zeros(rest.size), 0, horizon, log_c)
        again = np.where(np.isfinite(theta1[rest]), theta1[rest], start[rest])
        out[rest] = _newton_bound(x, inv, cap, effects, log_c, lo, hi, again, planned)
    return out


def _spans(n: int, step: int) -> list[slice]:
    """Consecutive slices of ``step`` rows covering ``n``."""
    return [slice(head, min(head + step, n)) for head in range(0, n, step)]


def _normal_start(inputs: _Inputs, n: int, s: int, log_c: float) -> FloatArray:
    """Where the root search starts: the lower end a normal approximation would give (the
    betting bound is close to it, a little further out); mean and variance merged chunk by
    chunk."""
    mean = np.zeros(s)
    square = np.zeros(s)  # Σ (x − mean)²
    seen = 0
    for rows in _spans(n, _ROWS):
        x = inputs(rows)[0]
        m = x.shape[0]
        part = x.mean(axis=0)
        dev = x - part
        delta = part - mean
        square += np.einsum("ij,ij->j", dev, dev) + delta * delta * seen * m / (seen + m)
        mean += delta * m / (seen + m)
        seen += m
    out: FloatArray = mean - np.sqrt(2.0 * log_c * (square / n) / n)
    return out


def _power_sums(inputs: _Inputs, n: int, s: int, effects: FloatArray, theta: FloatArray,
                horizon: int | None, log_c: float) -> tuple[FloatArray, float]:
    """One pass over the log at ``theta`` (shape ``(S,)``): per sequence and bet, ``Σ log(1 +
    λ_t (x_t − θ))`` and ``M_k = Σ u_t^k`` for ``k = 1..4``, ``u_t = λ_t / (1 + λ_t (x_t −
    θ))`` (shape ``(5, S, G)``), and the largest ``u_t`` (a scalar). Chunks of rows in
    buffers reused over the pass, each summed by one matrix-vector product."""
    g = effects.shape[0] + (horizon is not None)
    step = _chunk_rows(n, s, g)
    buf = _Chunks(step, s, g)
    powers = np.empty((5, step, s * g))
    ones = np.ones(step)
    part = np.empty((5, s * g))
    total = np.zeros((5, s * g))
    info = np.zeros(s)
    umax = 0.0
    for rows in _spans(n, step):
        x, inv, cap = inputs(rows)
        m = x.shape[0]
        planned = None
        if horizon is not None:
            planned, info = _planned_effect(inv, info, rows.start, horizon, log_c)
        lam = buf.bets(m, inv, cap, effects, planned)
        dev = np.subtract(x, theta, out=buf.dev[:m])
        fac = np.multiply(lam, dev[..., None], out=buf.fac[:m])
        np.add(fac, 1.0, out=fac)
        p = powers[:, :m]
        log_fac, u, u2, u3, u4 = (p[i].reshape(m, s, g) for i in range(5))
        np.log(fac, out=log_fac)
        np.divide(lam, fac, out=u)
        np.multiply(u, u, out=u2)
        np.multiply(u2, u, out=u3)
        np.multiply(u2, u2, out=u4)
        umax = max(umax, float(np.max(u)))  # a factor <= 0: the sums are not finite
        np.matmul(ones[:m], p, out=part)
        total += part
    return total.reshape(5, s, g), umax


def _series(sums: FloatArray, d: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The log wealth's series at ``θ₀ + d`` per bet: ``F − d M₁ − d² M₂/2 − d³ M₃/3 −
    d⁴ M₄/4``, its derivative in ``d`` and the last term's size ``d⁴ M₄ / 4``."""
    f, m1, m2, m3, m4 = sums
    e = d[:, None]
    value = f - e * (m1 + e * (m2 / 2.0 + e * (m3 / 3.0 + e * (m4 / 4.0))))
    slope = -(m1 + e * (m2 + e * (m3 + e * m4)))
    return value, slope, e ** 4 * m4 / 4.0


def _series_bounds(sums: FloatArray, weights: FloatArray, d: FloatArray, umax: float
                   ) -> tuple[FloatArray, FloatArray]:
    """Proven lower and upper bounds of the mixture's log e-value at ``θ₀ + d`` (``|d|
    umax <= 1/2``). Per row, with ``y = u d``: for ``d > 0``, ``log(1 − y) = −Σ_k y^k / k``
    lies between the series to ``k = 4`` and that minus ``y⁴/4 · y/(1 − y)``; for ``d < 0``,
    ``log(1 + z)`` (``z = −y``) lies between the series to ``z⁴`` and to ``z³`` (Taylor's
    remainders of ``log(1 + z)`` have fixed signs for ``z >= 0``). The mixture's log
    e-value increases in every bet's, so bounds of each bound it."""
    value, _, last = _series(sums, d)
    y = np.maximum(d, 0.0)[:, None] * umax
    with np.errstate(divide="ignore", invalid="ignore"):
        low = value - np.where(d[:, None] > 0.0, last * y / (1.0 - y), 0.0)
    high = value + np.where(d[:, None] < 0.0, last, 0.0)
    return _logmix(low, weights), _logmix(high, weights)


def _model_root(sums: FloatArray, weights: FloatArray, log_c: float, d_lo: FloatArray,
                d_hi: FloatArray) -> FloatArray:
    """The ``d`` in ``[d_lo, d_hi]`` where the series' mixture crosses ``log c`` (Newton's
    method kept inside a bracket; no pass over the log)."""
    a, b = d_lo.copy(), d_hi.copy()
    d = np.clip(np.zeros_like(d_lo), a, b)
    for _ in range(60):
        value, slope, _ = _series(sums, d)
        f = _logmix(value, weights)
        weight = np.exp(value - f[:, None]) * weights
        df = (weight * slope).sum(axis=1)
        f = f - log_c
        rejected = f >= 0.0
        a = np.where(rejected, d, a)
        b = np.where(rejected, b, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = d - f / df
        inside = np.isfinite(step) & (step >= a) & (step <= b)
        new = np.where(inside, step, 0.5 * (a + b))
        if np.all(np.abs(new - d) <= 1e-16 + 1e-15 * np.abs(d)):
            return new
        d = new
    return d


def _newton_bound(x: FloatArray, inv: FloatArray, cap: FloatArray, effects: FloatArray,
                  log_c: float, lo: float, hi: float, start: FloatArray,
                  planned: FloatArray | None = None) -> FloatArray:
    """:func:`_lower_bound` by Newton's method kept inside a bracket, one pass over the log
    per step (each end moved :data:`_TOL` to the wide side once the step is below it)."""
    s = x.shape[1]
    a = np.full(s, lo)  # root >= a
    b = np.full(s, hi)  # root <= b
    out = np.full(s, np.nan)
    todo = np.ones(s, dtype=bool)
    theta = np.clip(np.where(np.isfinite(start), start, 0.5 * (lo + hi)), lo, hi)
    for _ in range(60):
        where = np.flatnonzero(todo)
        if where.size == 0:
            break
        t = theta[where]
        if where.size == s:  # no copies while every sequence is still open
            f, df = _log_evalue(x, inv, cap, effects, t, planned)
        else:
            f, df = _log_evalue(x[:, where], inv[:, where], cap[:, where], effects, t,
                                None if planned is None else planned[:, where])
        f = f - log_c
        rejected = f >= 0
        edge = np.where(rejected, t >= hi, t <= lo)  # the root lies beyond the range
        a_t = np.where(rejected, t, a[where])
        b_t = np.where(rejected, b[where], t)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = t - f / df
        inside = np.isfinite(step) & (step >= a_t) & (step <= b_t)
        new = np.where(inside, step, 0.5 * (a_t + b_t))
        done = edge | (np.abs(new - t) < _TOL) | (b_t - a_t < _TOL)
        # converged: step back by the tolerance, so the bound errs on the wide side
        out[where] = np.where(edge, np.where(rejected, hi, lo), np.maximum(new - _TOL, lo))
        a[where], b[where], theta[where] = a_t, b_t, new
        todo[where[done]] = False
    return np.where(todo, a, out)  # not converged: the rejected end (conservative)


@dataclass(frozen=True)
class WinnerDecision:
    """What the stopping rule says.

    Attributes
    ----------
    winner
        Index of the declared winner, or ``None``.
    declared_at
        How many decisions (rows of the log, answered or not) had been made when the winner
        was declared.
    alpha
        The rule's error rate: ``P(a wrong winner is ever declared) ≤ alpha``.
    threshold
        ``K / alpha``: the evidence an e-process must reach.
    log_evidence
        Shape ``(K, K)``: entry ``[b, a]`` is the largest log e-value so far for
        ``μ(b) > μ(a)`` (``-inf`` on the diagonal).
    contenders
        Shape ``(K,)``: arms that can still win: arms that can still be chosen (all, unless
        ``active`` said otherwise) that no other such arm's e-process has crossed against.
    n_answered
        Answered decisions used.
    """

    winner: int | None
    declared_at: int | None
    alpha: float
    threshold: float
    log_evidence: FloatArray
    contenders: BoolArray
    n_answered: int


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise PayloadError(f"alpha must be in (0, 1), got {alpha}", hint="e.g. 0.05")


def _pair_evidence(sc: AipwScores, effects: FloatArray, log_c: float,
                   horizon: int | None = None) -> tuple[FloatArray, IntArray]:
    """For ``μ(b) > μ(a)`` against 0, every ordered pair ``(b, a)``, ``a != b`` (``b`` first,
    then ``a``, ascending): the largest log e-value along the path and the first answered
    decision where it reached ``log_c`` (``-1``: never), shapes ``(K (K − 1),)``. The path
    ``log W`` is a running sum over chunks of rows that carries its last row into the next
    chunk (the same sums, in the same order, as one cumulative sum over the whole log), so
    no ``(n, K², G)`` array exists at once; every chunk's arrays are written into buffers
    reused over the log."""
    k = sc.n_arms
    weights = _weights(effects, horizon)
    g = weights.shape[0]
    pairs = [(b, a) for b in range(k) for a in range(k) if a != b]
    s = len(pairs)
    b = np.array([pair[0] for pair in pairs], dtype=np.intp)
    a = np.array([pair[1] for pair in pairs], dtype=np.intp)
    best = np.full(s, -np.inf)
    first = np.full(s, -1, dtype=np.int64)
    info = np.zeros(s)
    step = _chunk_rows(sc.n, s, g, _PATH_CELLS)
    buf = _Chunks(step, s, g)
    terms = buf.logs  # row 0: the path's last row so far (log W = 0 before any decision)
    paths = buf.ratio
    terms[0] = 0.0
    top = np.empty((step, s))
    flat = np.empty((step, s, g))
    # the mixture's products, laid out (row, b, a) with a = b left at 0, as the products
    # were taken one (row, b) at a time before: a row's last bit depends on its place in
    # OpenBLAS's matrix-vector product (with 8 bets, another layout changed some by an ulp)
    square = np.zeros((step, k, k, g))
    mix = np.zeros((step, k, k))
    spans = []  # (pairs, b, arms a): b's pairs with a < b, then with a > b
    for b_arm in range(k):
        base = b_arm * (k - 1)
        if b_arm > 0:
            spans.append((slice(base, base + b_arm), b_arm, slice(0, b_arm)))
        if b_arm < k - 1:
            spans.append((slice(base + b_arm, base + k - 1), b_arm, slice(b_arm + 1, k)))
    for start in range(0, sc.n, step):
        rows = slice(start, start + step)
        x, inv, cap = _pair_inputs(sc, b, a, rows)
        m = x.shape[0]
        planned = None
        if horizon is not None:
            planned, info = _planned_effect(inv, info, start, horizon, log_c)
        lam = buf.bets(m, inv, cap, effects, planned)
        step_log = np.multiply(lam, x[..., None], out=terms[1:m + 1])
        np.log1p(step_log, out=step_log)
        logw = np.cumsum(terms[:m + 1], axis=0, out=paths[:m + 1])[1:]
        path = _logmix_pairs(logw, weights, spans, top[:m], flat[:m], square[:m],
                             mix[:m])
        terms[0] = logw[-1]
        np.maximum(best, path.max(axis=0), out=best)
        hit = path >= log_c
        fresh = (first < 0) & hit.any(axis=0)
        first[fresh] = start + hit.argmax(axis=0)[fresh]
    return best, first


def _logmix_pairs(x: FloatArray, weights: FloatArray, spans: list[tuple[slice, int, slice]],
                  top: FloatArray, flat: FloatArray, square: FloatArray, mix: FloatArray
                  ) -> FloatArray:
    """:func:`_logmix` of ``x`` (shape ``(m, P, G)``, the ordered pairs ``(b, a)`` as in
    :func:`_pair_evidence`; ``spans`` maps each run of them to ``b`` and its run of ``a``),
    with buffers ``top`` ``(m, P)``, ``flat`` ``(m, P, G)``, ``square`` ``(m, K, K, G)``
    and ``mix`` ``(m, K, K)``; the result is written into ``top``. The mixture is one
    ``(K, G) @ (G,)`` product per row and ``b``, as :func:`_logmix` took it over an
    ``(m, K, G)`` array of ``b``'s differences (the same bits)."""
    m, _, g = x.shape
    k = square.shape[1]
    np.copyto(top, x[..., 0])
    for j in range(1, g):  # the maximum over a short last axis, as elementwise maxima
        np.maximum(top, x[..., j], out=top)  # (a reduction over it is slow)
    np.copyto(top, 0.0, where=~np.isfinite(top))
    np.subtract(x, top[..., None], out=flat)
    np.exp(flat, out=flat)
    for cols, b, arms in spans:
        square[:, b, arms] = flat[:, cols]
    np.matmul(square.reshape(m * k, k, g), weights, out=mix.reshape(m * k, k))
    logs = flat[..., 0]
    for cols, b, arms in spans:
        logs[:, cols] = mix[:, b, arms]
    np.log(logs, out=logs)
    np.add(logs, top, out=top)
    return top


def stopping_rule(arms: npt.ArrayLike, probabilities: npt.ArrayLike, rewards: npt.ArrayLike,
                  *, alpha: float = 0.05, effects: Sequence[float] = DEFAULT_EFFECTS,
                  horizon: int | None = None, contextual: bool = False,
                  floor: float | None = None,
                  active: npt.ArrayLike | None = None) -> WinnerDecision:
    """Declare a winner only when the evidence guarantees ``P(wrong winner) ≤ alpha``.

    Arm ``b`` wins at the first decision where, for every other arm ``a``, the betting
    e-process for ``μ(b) > μ(a)`` on the AIPW score differences has reached ``K / alpha``
    at some decision so far. Valid at every look, for any allocation that logged its
    probabilities (see the module notes for where it holds).

    Parameters
    ----------
    arms, probabilities, rewards
        The decision log as for :func:`aipw_scores` (shapes ``(T,)``, ``(T, K)``,
        ``(T,)``; rewards in [0, 1], NaN when unanswered).
    alpha
        The error rate, e.g. ``1 - confidence``.
    effects
        Effect sizes the mixture bets on (default :data:`DEFAULT_EFFECTS`).
    horizon
        The number of answered decisions the experiment plans for, or ``None`` (no plan).
        With a horizon the mixture puts :data:`HORIZON_SHARE` of its weight on the bet
        that reaches ``K / alpha`` by then most often (:func:`_planned_effect`), the rest on
        the effect grid: more winners named by the horizon, at the same error rate (any
        horizon keeps the guarantee; it only changes how the evidence is gathered).
    contextual, floor
        Vectors that depend on a context seen at the decision: see :func:`aipw_scores`.
    active
        Shape ``(K,)``, booleans: the arms that can still be chosen (default: all). A
        retired arm can neither win nor keep another arm from winning: the winner is the
        active arm whose e-processes against every other *active* arm have crossed (a
        retired arm and an arm added after it never shared a decision, so no e-process
        could ever compare them). The threshold stays ``K / alpha`` over every arm.

    Returns
    -------
    WinnerDecision
    """
    _check_alpha(alpha)
    _check_horizon(horizon)
    sc = aipw_scores(arms, probabilities, rewards, contextual=contextual, floor=floor)
    return _decide(sc, alpha, np.asarray(effects, dtype=np.float64), horizon,
                   _active(active, sc.n_arms))


def _active(active: npt.ArrayLike | None, k: int) -> BoolArray:
    """The arms that can still be chosen, as a ``(K,)`` boolean array (all by default)."""
    if active is None:
        return np.ones(k, dtype=bool)
    out: BoolArray = np.asarray(active, dtype=bool)
    if out.shape != (k,):
        raise PayloadError(f"active must have one entry per arm ({k}), got shape {out.shape}")
    return out


def _decide(sc: AipwScores, alpha: float, grid: FloatArray,
            horizon: int | None = None, active: BoolArray | None = None) -> WinnerDecision:
    """:func:`stopping_rule` on scores already computed."""
    k = sc.n_arms
    live = np.ones(k, dtype=bool) if active is None else active
    log_c = math.log(k / alpha)
    evidence = np.full((k, k), -np.inf)
    first = np.full((k, k), np.iinfo(np.int64).max)
    if sc.n and k >= 2:
        pairs = [(b, a) for b in range(k) for a in range(k) if a != b]
        best, hit_at = _pair_evidence(sc, grid, log_c, horizon)
        for (b, a), value, at in zip(pairs, best.tolist(), hit_at.tolist(), strict=True):
            evidence[b, a] = value
            if at >= 0:
                first[b, a] = at
    np.fill_diagonal(first, -1)
    # decision by which b has beaten every other arm that can still be chosen
    when = np.where(live[None, :], first, -1).max(axis=1)
    ready = (when < np.iinfo(np.int64).max) & live
    winner: int | None = None
    declared: int | None = None
    if k >= 2 and live.sum() >= 2 and ready.any():
        cands = np.flatnonzero(ready)
        winner = int(cands[np.argmin(when[cands])])
        declared = int(sc.rows[when[winner]]) + 1
    beaten = (evidence[live] >= log_c).any(axis=0)  # by an arm that can still be chosen
    contenders: BoolArray = np.asarray(live & ~beaten, dtype=bool)
    return WinnerDecision(winner, declared, alpha, k / alpha, evidence, contenders, sc.n)


class SequentialTest:
    """The stopping rule, updated one decision at a time (for one bandit or many at once).

    Arrays have the arms on their last axis: ``(K,)`` for one bandit, ``(R, K)`` for ``R``
    simulated runs. Feeding a log decision by decision gives the same evidence as
    :func:`stopping_rule` on the whole log.

    Parameters
    ----------
    n_arms
        ``K``.
    alpha
        The error rate.
    runs
        ``None`` for one bandit, else the number of runs ``R``.
    effects
        Effect sizes of the mixture.
    horizon
        The number of answered decisions the experiment plans for, or ``None`` (see
        :func:`stopping_rule`).

    Examples
    --------
    >>> test = SequentialTest(2, alpha=0.05)
    >>> test.update(1, np.array([0.5, 0.5]), 1.0)
    >>> test.winner is None, test.contenders.tolist()
    (True, [True, True])
    """

    def __init__(self, n_arms: int, *, alpha: float = 0.05, runs: int | None = None,
                 effects: Sequence[float] = DEFAULT_EFFECTS, horizon: int | None = None
                 ) -> None:
        _check_alpha(alpha)
        _check_horizon(horizon)
        if n_arms < 1:
            raise PayloadError("a test needs at least one arm")
        self.k, self.alpha, self.horizon = n_arms, alpha, horizon
        self.log_c = math.log(n_arms / alpha)
        self.effects = np.asarray(effects, dtype=np.float64)
        self.weights = _weights(self.effects, horizon)
        lead: tuple[int, ...] = () if runs is None else (runs,)
        self._one = runs is None
        self.n = np.zeros((*lead, n_arms))
        self.sums = np.zeros((*lead, n_arms))
        self.info = np.zeros((*lead, n_arms, n_arms))  # Σ 1/v of each comparison so far
        # wealth of each bet as exp(scale) * wealth (rescaled now and then: no overflow)
        self.scale = np.zeros((*lead, n_arms, n_arms))
        self.wealth = np.ones((*lead, n_arms, n_arms, self.weights.shape[0]))
        self.evidence = np.full((*lead, n_arms, n_arms), -np.inf)
        self.beaten = np.zeros((*lead, n_arms, n_arms), dtype=bool)
        self.beaten[..., np.arange(n_arms), np.arange(n_arms)] = True
        self._winner = np.full(lead, -1, dtype=np.intp)
        self._declared_at = np.full(lead, -1, dtype=np.int64)
        self.steps = np.zeros(lead, dtype=np.int64)

    @property
    def winner(self) -> int | npt.NDArray[np.intp] | None:
        """The declared winner (``None``/``-1`` while none)."""
        if self._one:
            w = int(self._winner)
            return None if w < 0 else w
        return self._winner

    @property
    def declared_at(self) -> int | npt.NDArray[np.int64] | None:
        """How many decisions had been fed when the winner was declared."""
        if self._one:
            d = int(self._declared_at)
            return None if d < 0 else d
        return self._declared_at

    @property
    def contenders(self) -> BoolArray:
        """Arms not ruled out, shape ``(K,)`` or ``(R, K)``."""
        beaten = self.beaten.copy()
        idx = np.arange(self.k)
        beaten[..., idx, idx] = False
        out: BoolArray = np.logical_not(beaten.any(axis=-2))
        return out

    def update(self, arm: Any, probabilities: FloatArray, reward: Any) -> None:
        """Feed one decision (per run): the chosen arm, its probability vector, the reward
        in [0, 1] (NaN: unanswered, skipped)."""
        a = np.asarray(arm, dtype=np.intp).reshape(self._winner.shape)
        p = np.asarray(probabilities, dtype=np.float64)
        y = np.asarray(reward, dtype=np.float64).reshape(self._winner.shape)
        self.steps += 1
        live = ~np.isnan(y)
        k = self.k
        m = (self.sums + _PRIOR_MEAN * _PRIOR_COUNT) / (self.n + _PRIOR_COUNT)
        if self._one:
            if not live:
                return
            m2, p2, a2, y2 = m[None], p[None], a[None], y[None]
        else:
            m2, p2, a2, y2 = m, p, a, np.where(live, y, 0.0)
        sc = _scores_from(m2, a2, p2, y2, np.arange(a2.shape[0]))
        x = sc.scores[:, :, None] - sc.scores[:, None, :]  # (R, b, a)
        low = np.minimum(sc.lower[:, :, None] - sc.plugin[:, None, :],
                         sc.plugin[:, :, None] - sc.upper[:, None, :])
        var = sc.variance[:, :, None] + sc.variance[:, None, :]
        inv, cap = _bet_parts(var, low, 1.0)
        planned = None
        if self.horizon is not None:
            info = self.info[None] if self._one else self.info
            done = self.n.sum(axis=-1).reshape(-1)  # answered decisions before this one
            remaining = np.maximum(self.horizon - done, 0.0)[:, None, None]
            planned = np.sqrt(2.0 * self.log_c / np.maximum(info + remaining * inv, 1e-300))
            gained = inv if self._one else np.where(live[:, None, None], inv, 0.0)
            self.info += gained[0] if self._one else gained
        lam = _block_bets(inv, cap, self.effects, planned)
        factor = 1.0 + lam * x[..., None]
        if self._one:
            self.wealth *= factor[0]
        else:
            self.wealth *= np.where(live[:, None, None, None], factor, 1.0)
        mix = self.wealth @ self.weights
        with np.errstate(divide="ignore"):
            ev = self.scale + np.log(mix)
        if int(self.steps.flat[0]) % 16 == 0:  # factors lie in [1 - κ, 1 + κ·range]
            top = np.maximum(self.wealth.max(axis=-1), 1e-300)
            self.wealth /= top[..., None]
            self.scale += np.log(top)
        idx = np.arange(k)
        ev[..., idx, idx] = -np.inf
        np.maximum(self.evidence, ev, out=self.evidence)
        self.beaten |= ev >= self.log_c
        rows = np.arange(a2.shape[0])
        if self._one:
            self.n[a] += 1.0
            self.sums[a] += y
        else:
            self.n[rows[live], a[live]] += 1.0
            self.sums[rows[live], a[live]] += y[live]
        won = self.beaten.all(axis=-1) & (self._winner[..., None] < 0)
        if won.any():
            first = np.where(won.any(axis=-1), np.argmax(won, axis=-1), -1)
            fresh = first >= 0
            self._winner = np.where(fresh, first, self._winner)
            self._declared_at = np.where(fresh, self.steps, self._declared_at)


@dataclass(frozen=True)
class AnytimeInference:
    """Per-arm estimates and intervals from a decision log (see :func:`anytime_inference`).

    Attributes
    ----------
    estimate
        Shape ``(K,)``: the mean AIPW score of each arm (unbiased under adaptivity).
    low, high
        Shape ``(K,)``: each arm's anytime-valid confidence sequence at this look, at the
        requested confidence (each arm on its own).
    weighted_estimate, fixed_low, fixed_high
        Shape ``(K,)``: the adaptively weighted AIPW estimate (weights ``√π``) and its
        score-type interval at the requested confidence — calibrated at one pre-chosen look
        (asymptotically), not at every look.
    diff_low, diff_high
        Shape ``(K,)``: anytime-valid sequence of ``μ(arm) − μ(reference)`` where the
        reference is the control if one is given, else the best *other* arm; each side at
        level ``alpha / K``, the stopping rule's level (NaN for the control itself).
    decision
        The stopping rule's answer (:class:`WinnerDecision`).
    confidence
        The requested confidence level.
    control
        Index of the control arm, or ``None``.
    mean_allocation
        Shape ``(K,)``: the logged probability vectors averaged over the decisions — the
        traffic each arm was given in expectation (``None`` for a state kept by an older
        version).
    pair_estimate
        Shape ``(K,)``: with a control, ``μ(arm) − μ(control)`` estimated over the answered
        decisions that offered both (the difference of the two arms' adaptively weighted
        mean AIPW scores over them, weights ``√π`` as :attr:`weighted_estimate`'s): the
        quantity ``diff_low``–``diff_high`` is about, since the pair's e-process bets on those
        decisions alone. When every decision offered both, it is the difference of the
        arms' :attr:`weighted_estimate` (what a table shows). A retired arm's stays as it was
        at its retirement, as its interval does (the difference of the arms' own estimates
        moved with the control's later decisions, away from a frozen interval). NaN for the
        control, without a control, or for a pair never offered together.
    pair_base
        Shape ``(K,)``: the control's adaptively weighted mean score over the same decisions
        (a report's relative change is to the control's :attr:`weighted_estimate`, which
        rests on all its decisions: this base of a few paired decisions made +0.374 a
        "+230%").
    pair_decisions
        Shape ``(K,)``: decisions (answered or not) that offered the arm and the control.
    pair_control_share
        Shape ``(K,)``: the control's mean probability over those decisions (its share of
        them in expectation; NaN when there are none).
    answered
        Shape ``(K,)``: the answered decisions of each arm in the log: the answers its
        estimate rests on (``None`` for a state kept by an older version).
    """

    estimate: FloatArray
    low: FloatArray
    high: FloatArray
    weighted_estimate: FloatArray
    fixed_low: FloatArray
    fixed_high: FloatArray
    diff_low: FloatArray
    diff_high: FloatArray
    decision: WinnerDecision
    confidence: float
    control: int | None
    mean_allocation: FloatArray | None = None
    pair_estimate: FloatArray | None = None
    pair_base: FloatArray | None = None
    pair_decisions: FloatArray | None = None
    pair_control_share: FloatArray | None = None
    answered: FloatArray | None = None

    def against_holdout(self, holdout: float) -> tuple[float, float, float, float] | None:
        """The bandit against a holdout of share ``holdout`` on the control: ``(difference,
        low, high, joint confidence)`` on the [0, 1] scale, or ``None`` without a control,
        a holdout or a log.

        The difference is the value of the bandit's own allocation so far minus the
        control's, ``Σ π̄(a) (μ(a) − μ(control))``, where ``π̄`` is the traffic the bandit
        gave each arm (:attr:`mean_allocation` without the holdout's share). Its interval is
        ``Σ π̄(a) [diff_low(a), diff_high(a)]``: it holds, at every look, whenever all the
        arms' sequences against the control hold together — at least
        ``1 − 2α(K − 1)/K`` (each side of each is at ``α/K``) — however the weights
        ``π̄`` came from the data."""
        mean, c = self.mean_allocation, self.control
        if not 0.0 < holdout < 1.0 or c is None or mean is None \
                or not np.all(np.isfinite(mean)):
            return None
        shares = mean.copy()
        shares[c] -= holdout
        shares = np.clip(shares, 0.0, None)
        if shares.sum() <= 0.0:
            return None
        shares /= shares.sum()  # the bandit's part sums to 1 (up to rounding)
        shares[c] = 0.0  # its own choices of the control differ from the control by 0
        used = shares > 0.0
        parts = (self.weighted_estimate[used] - self.weighted_estimate[c],
                 self.diff_low[used], self.diff_high[used])
        if not all(np.all(np.isfinite(x)) for x in parts):
            return None
        diff, low, high = (float(shares[used] @ x) for x in parts)
        k = mean.shape[0]
        joint = 1.0 - 2.0 * (1.0 - self.confidence) * (k - 1) / k
        return diff, min(low, diff), max(high, diff), joint


def _arm_bounds(sc: AipwScores, grid: FloatArray, log_c: float) -> tuple[FloatArray,
                                                                         FloatArray]:
    """Two-sided sequence of each arm's mean at the last decision: the lower end bets on
    ``Γ`` against ``θ <= 1``, the upper end on ``−Γ`` (its range from ``−upper``) against
    ``−θ <= 0``."""
    k = sc.n_arms
    if sc.n == 0:
        return np.zeros(k), np.ones(k)

    def lower_side(rows: slice) -> tuple[FloatArray, FloatArray, FloatArray]:
        inv, cap = _bet_parts(sc.variance[rows], sc.lower[rows], 1.0)
        return sc.scores[rows], inv, cap

    def upper_side(rows: slice) -> tuple[FloatArray, FloatArray, FloatArray]:
        inv, cap = _bet_parts(sc.variance[rows], -sc.upper[rows], 0.0)
        return -sc.scores[rows], inv, cap

    low = _lower_bound(lower_side, sc.n, k, grid, log_c, 0.0, 1.0)
    high = -_lower_bound(upper_side, sc.n, k, grid, log_c, -1.0, 0.0)
    return low, high


def _pair_inputs(sc: AipwScores, b: IntArray, a: IntArray, rows: slice
                 ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(x, 1 / v_t, κ / (1 − L_t))`` of ``μ(b) − μ(a)`` for each pair, over ``rows``: the
    score difference, its variance ``v_b + v_a`` and its range ``L = min(L_b − m_a, m_b −
    U_a)``."""
    scores, plugin = sc.scores[rows], sc.plugin[rows]
    x = scores[:, b] - scores[:, a]
    low = np.minimum(sc.lower[rows][:, b] - plugin[:, a], plugin[:, b] - sc.upper[rows][:, a])
    var = sc.variance[rows][:, b] + sc.variance[rows][:, a]
    inv, cap = _bet_parts(var, low, 1.0)
    return x, inv, cap


def _pair_lower(sc: AipwScores, pairs: list[tuple[int, int]], grid: FloatArray,
                log_c: float, horizon: int | None = None) -> FloatArray:
    """Lower sequence of ``μ(b) − μ(a)`` for each ``(b, a)`` at the last decision."""
    if not pairs or sc.n == 0:
        return np.full(len(pairs), -1.0)
    b = np.array([p[0] for p in pairs], dtype=np.intp)
    a = np.array([p[1] for p in pairs], dtype=np.intp)

    def inputs(rows: slice) -> tuple[FloatArray, FloatArray, FloatArray]:
        return _pair_inputs(sc, b, a, rows)

    return _lower_bound(inputs, sc.n, len(pairs), grid, log_c, -1.0, 1.0, horizon)


def anytime_inference(arms: npt.ArrayLike, probabilities: npt.ArrayLike,
                      rewards: npt.ArrayLike, *, confidence: float = 0.95,
                      control: int | None = None,
                      effects: Sequence[float] = DEFAULT_EFFECTS,
                      horizon: int | None = None, contextual: bool = False,
                      floor: float | None = None,
                      active: npt.ArrayLike | None = None,
                      rule_alpha: float | None = None) -> AnytimeInference:
    """Everything a report shows about the arms, from the decision log.

    Parameters
    ----------
    arms, probabilities, rewards
        The decision log as for :func:`aipw_scores`.
    confidence
        The experiment's confidence (``alpha = 1 - confidence``).
    control
        Index of the control arm (differences are then to the control), or ``None``
        (differences to the best other arm).
    effects
        Effect sizes of the mixture.
    horizon
        The number of answered decisions the experiment plans for, or ``None``: tunes the
        stopping rule and the difference sequences (see :func:`stopping_rule`); each arm's
        own interval keeps the effect grid.
    contextual, floor
        Vectors that depend on a context seen at the decision: see :func:`aipw_scores`.
    active
        Shape ``(K,)``, booleans: the arms that can still be chosen (default: all): the
        stopping rule's candidates (see :func:`stopping_rule`) and, without a control, the
        "other arms" of each difference. A retired arm's estimate and intervals rest on the
        decisions that offered it, so they stay as they were at its retirement.
    rule_alpha
        The error rate of the stopping rule's :attr:`~AnytimeInference.decision` (default
        ``1 − confidence``), e.g. split over the segments of a view (the intervals keep
        ``confidence``).

    Returns
    -------
    AnytimeInference

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> arms = rng.integers(0, 2, size=2000)
    >>> rewards = (rng.random(2000) < 0.2).astype(float)
    >>> inf = anytime_inference(arms, np.full((2000, 2), 0.5), rewards)
    >>> bool(np.all(inf.low < 0.2) and np.all(0.2 < inf.high)), inf.decision.winner
    (True, None)
    """
    if not 0.0 < confidence < 1.0:
        raise PayloadError(f"confidence must be in (0, 1), got {confidence}", hint="e.g. 0.95")
    _check_horizon(horizon)
    alpha = 1.0 - confidence
    sc = aipw_scores(arms, probabilities, rewards, contextual=contextual, floor=floor)
    k = sc.n_arms
    if control is not None and not 0 <= control < k:
        raise PayloadError(f"control {control} is not an arm index (0..{k - 1})")
    grid = np.asarray(effects, dtype=np.float64)
    live = _active(active, k)
    decision = _decide(sc, alpha if rule_alpha is None else rule_alpha, grid, horizon, live)
    estimate = _support_mean(sc)
    low, high = _arm_bounds(sc, grid, math.log(2.0 / alpha))
    w_est, f_low, f_high = _weighted(sc, _ppf(1.0 - alpha / 2.0))
    # where the score interval is empty (no θ passes its test: few extreme scores), the
    # one-look interval is the every-look one, which holds at this look too
    empty = np.isnan(f_low) & ~np.isnan(w_est)
    f_low[empty], f_high[empty] = low[empty], high[empty]
    diff_low = np.full(k, np.nan)
    diff_high = np.full(k, np.nan)
    if k >= 2:
        log_c = math.log(k / alpha)
        if control is not None:
            others = [b for b in range(k) if b != control]
            pairs = [(b, control) for b in others] + [(control, b) for b in others]
            lb = _pair_lower(sc, pairs, grid, log_c, horizon)
            diff_low[others] = lb[:len(others)]
            diff_high[others] = -lb[len(others):]
        else:
            # μ(b) − max μ(a) over the other arms that can still be chosen (all, when every
            # arm is active) = min_a (μ(b) − μ(a)): both ends are minima
            rivals = {b: [a for a in range(k) if a != b and live[a]] for b in range(k)}
            ordered = sorted({pair for b in range(k) for a in rivals[b]
                              for pair in ((b, a), (a, b))})
            bound = dict(zip(ordered, _pair_lower(sc, ordered, grid, log_c, horizon).tolist(),
                             strict=True))
            for b in range(k):
                if rivals[b]:
                    diff_low[b] = min(bound[b, a] for a in rivals[b])
                    diff_high[b] = min(-bound[a, b] for a in rivals[b])
    given = np.asarray(probabilities, dtype=np.float64)
    mean_allocation = given.mean(axis=0) if given.shape[0] else np.full(k, np.nan)
    paired, base, shared, share = _paired(sc, given, control)
    if control is not None:  # a pair offered together in every decision: the difference
        # of the estimates the table shows (the plain mean of score differences is far
        # noisier once a policy pushes the control's probability toward 0)
        whole = (shared == given.shape[0]) & (np.arange(k) != control)
        paired[whole] = w_est[whole] - w_est[control]
        base[whole] = w_est[control]
    chosen = np.asarray(arms, dtype=np.intp)
    answered = np.bincount(chosen[~np.isnan(np.asarray(rewards, dtype=np.float64))],
                           minlength=k).astype(np.float64)
    return AnytimeInference(estimate, low, high, w_est, f_low, f_high, diff_low, diff_high,
                            decision, confidence, control, mean_allocation, paired, base,
                            shared, share, answered)


def _paired(sc: AipwScores, given: FloatArray, control: int | None
            ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Each arm against ``control`` over the decisions that offered both (see
    :attr:`AnytimeInference.pair_estimate`): the difference of the two arms' adaptively
    weighted mean scores and the control's over the answered ones, the number of all such
    decisions and the control's mean probability in them; NaN (0 decisions) without a
    control."""
    k = sc.n_arms
    nan = np.full(k, np.nan)
    if control is None:
        return nan, nan.copy(), np.zeros(k), nan.copy()
    both = (sc.probabilities > 0.0) & (sc.probabilities[:, control:control + 1] > 0.0)
    count = both.sum(axis=0)
    # each side adaptively weighted (h = √π, as the table's estimates): over every decision
    # this is their difference, and a retired arm's stays what it was at its retirement
    # (a plain mean of score differences took over at the first decision after it, and
    # moved the point once: a trial's +0.290 → +0.326 beside an unchanged interval)
    h = np.sqrt(sc.weight_p)
    own_h = np.where(both, h, 0.0)
    control_h = np.where(both, h[:, control:control + 1], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_base: FloatArray = np.where(
            count > 0, (control_h * sc.scores[:, control:control + 1]).sum(axis=0)
            / control_h.sum(axis=0), np.nan)
        estimate: FloatArray = np.where(
            count > 0, (own_h * sc.scores).sum(axis=0) / own_h.sum(axis=0) - mean_base,
            np.nan)
        shared = (given > 0.0) & (given[:, control:control + 1] > 0.0)
        decisions = shared.sum(axis=0)
        share: FloatArray = np.where(
            decisions > 0, np.where(shared, given[:, control:control + 1], 0.0).sum(axis=0)
            / decisions, np.nan)
    estimate[control] = mean_base[control] = share[control] = np.nan
    return estimate, mean_base, decisions.astype(np.float64), share


def _support_mean(sc: AipwScores) -> FloatArray:
    """Each arm's mean AIPW score over the decisions that offered it (NaN for an arm never
    offered): where an arm had probability 0 its score is the plug-in mean alone, whose
    expectation is not ``μ(a)``, so a retired arm's estimate stays what it was at its
    retirement instead of drifting toward its pooled mean."""
    offered = sc.weight_p > 0.0
    count = offered.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(count > 0, np.where(offered, sc.scores, 0.0).sum(axis=0)
                                   / np.maximum(count, 1), np.nan)
    return out


def _ppf(q: float) -> float:
    if abs(q - 0.975) < 1e-12:
        return _Z95
    from scipy.special import ndtri

    return float(ndtri(q))


def _weighted(sc: AipwScores, z: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Adaptively weighted AIPW estimate (Hadad et al. 2021, weights ``h_t = √π_t(a)``) and
    its score-type interval: the ``θ`` with ``(Σ h (Γ − θ))² ≤ z² Σ h² Var_θ(Γ)``, where
    ``Var_θ(Γ_t) = (θ(1 − θ) + (θ − m_t)²) / π_t − (θ − m_t)²`` is the score's variance if
    the arm's mean were ``θ`` (exact for 0/1 rewards, an upper bound for other rewards in
    [0, 1]). Like Wilson's interval for a proportion it stays calibrated when an arm was
    drawn rarely."""
    k = sc.n_arms
    if sc.n < 1:  # (from the first answer on: the plug-in means start at the prior's, so
        # one answer gives every arm a wide interval, as the report's docs promise; below
        # two answers it used to give none, and the chart fell back to the posterior's)
        nan = np.full(k, np.nan)
        return nan, nan, nan
    p, m = sc.weight_p, sc.plugin
    # only the decisions that offered the arm: where it had probability 0 (retired, not yet
    # added) its weight is 0, and so is its term's variance; `h² Var` simplified to
    # `θ(1 − θ) + (1 − π)(θ − m)²` holds for π > 0 alone, and summed over every decision
    # the interval of a retired arm widened with each decision after its retirement
    offered = p > 0.0
    h = np.sqrt(p)
    a = (h * sc.scores).sum(axis=0)
    b = h.sum(axis=0)
    n = offered.sum(axis=0).astype(np.float64)
    rest = np.where(offered, 1.0 - p, 0.0)
    c2 = rest.sum(axis=0)
    c1 = (rest * m).sum(axis=0)
    c0 = (rest * m * m).sum(axis=0)
    low, high = score_interval(a, b, n, c2, c1, c0, z)
    with np.errstate(divide="ignore", invalid="ignore"):  # an arm never drawn: NaN
        estimate = a / b
        if sc.contextual:
            # propensities that follow the context make the scores heavy-tailed (a rare
            # draw in the arm's poor context weighs 1/floor): the score interval's model
            # variance, built on the stand-in propensity, undercovers (85-93% simulated);
            # the larger of it and the empirical variance covers 92-96%
            spread = (h * h * (sc.scores - estimate) ** 2).sum(axis=0)
            model = np.where(offered, h * h * ((estimate * (1.0 - estimate)
                                                + (estimate - m) ** 2) / p
                                               - (estimate - m) ** 2), 0.0).sum(axis=0)
            half = z * np.sqrt(np.maximum(spread, model)) / b
            low = np.clip(np.minimum(low, estimate - half), 0.0, 1.0)
            high = np.clip(np.maximum(high, estimate + half), 0.0, 1.0)
        return estimate, low, high


def score_interval(a: FloatArray, b: FloatArray, n: float | FloatArray, c2: FloatArray,
                   c1: FloatArray,
                   c0: FloatArray, z: float = _Z95) -> tuple[FloatArray, FloatArray]:
    """Roots of ``(a − bθ)² = z² V(θ)`` with ``V(θ) = n θ(1 − θ) + c2 θ² − 2 c1 θ + c0``
    (the sums of :func:`_weighted` with ``h = √π``), clipped to [0, 1]; NaN where no ``θ``
    passes (few extreme scores: an arm answered 0 again and again at a small propensity
    puts its weighted mean far below 0 — the interval was then the vertex, one point such
    as 0.13–0.13, beside an estimate of 0)."""
    z2 = z * z
    qa = b * b - z2 * (c2 - n)
    qb = -2.0 * a * b - z2 * (n - 2.0 * c1)
    qc = a * a - z2 * c0
    square = qb * qb - 4.0 * qa * qc
    disc = np.sqrt(np.maximum(square, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):  # an arm without answers: NaN
        low = np.where(square < 0.0, np.nan, (-qb - disc) / (2.0 * qa))
        high = np.where(square < 0.0, np.nan, (-qb + disc) / (2.0 * qa))
    return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
