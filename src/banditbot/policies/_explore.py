"""The allocation while no winner is declared: explore the arms still in contention.

Thompson sampling starves the arms that look worse, so their propensity-weighted scores get a
huge variance and a valid stopping rule (:func:`banditbot.statistics.stopping_rule`) barely
ever stops. While the rule has not declared a winner, the allocation is better spent on the
arms the rule has not ruled out — the *contenders* — in the proportions that identify the
best arm fastest: top-two sampling (Russo 2016) restricted to the contenders. Arms ruled out
get nothing from this transform; keep the experiment's exploration floor on so the leader can
still finish its comparisons with them (the benchmark uses 1%).

This is a pure transform of the policy's probability vector: the service logs the vector it
returns (after the floor), so every propensity stays exact.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from .._errors import PolicyError
from .._types import FloatArray

__all__ = ["explore_contenders"]


def explore_contenders(probabilities: npt.ArrayLike, contenders: npt.ArrayLike, *,
                       mode: Literal["top-two", "uniform"] = "top-two",
                       leader_share: float = 0.5, floor: float = 0.0) -> FloatArray:
    """The allocation while no winner is declared.

    Parameters
    ----------
    probabilities
        Shape ``(K,)`` or ``(R, K)``: the policy's vector — for Thompson sampling its
        P(best); any policy's vector serves as the leader's distribution.
    contenders
        Shape like ``probabilities``, boolean: arms the stopping rule has not ruled out
        (:attr:`banditbot.statistics.WinnerDecision.contenders`).
    mode
        ``"top-two"``: the leader (drawn from the policy's vector restricted to the
        contenders) with probability ``leader_share``, else a challenger drawn from the
        same vector conditioned on differing from the leader (uniform over the other
        contenders when the leader is certain). ``"uniform"``: every contender alike.
    leader_share
        In (0, 1); 0.5 is the usual top-two choice.
    floor
        Minimum probability of every arm, applied last (``floor + (1 - K·floor)·p``); 0 when
        the allocation applies its own floor.

    Returns
    -------
    numpy.ndarray
        Same shape as ``probabilities``; rows sum to 1.

    Examples
    --------
    Thompson sampling puts 90% on arm 0; arm 2 was ruled out:

    >>> p = explore_contenders([0.9, 0.08, 0.02], [True, True, False])
    >>> [round(float(x), 3) for x in p]
    [0.5, 0.5, 0.0]
    >>> [round(float(x), 3) for x in explore_contenders([0.5, 0.3, 0.2], [True] * 3,
    ...                                                  mode="uniform", floor=0.01)]
    [0.333, 0.333, 0.333]
    """
    p = np.asarray(probabilities, dtype=np.float64)
    keep = np.asarray(contenders, dtype=bool)
    if keep.shape != p.shape:
        raise PolicyError(f"contenders has shape {keep.shape}, expected {p.shape}",
                          hint="one flag per arm")
    if not 0.0 < leader_share < 1.0:
        raise PolicyError("leader_share must be in (0, 1)", hint="use 0.5")
    k = p.shape[-1]
    if not 0.0 <= floor * k <= 1.0:
        raise PolicyError(f"floor {floor} is too large for {k} arms",
                          hint="floor times the number of arms must be at most 1")
    if mode not in ("top-two", "uniform"):
        raise PolicyError(f"unknown exploration mode {mode!r}", hint="top-two or uniform")
    keep = np.where(keep.any(axis=-1, keepdims=True), keep, True)  # none left: all arms
    n_keep = keep.sum(axis=-1, keepdims=True)
    uniform = keep / n_keep
    if mode == "uniform":
        out = uniform
    else:
        q = np.where(keep, np.maximum(p, 0.0), 0.0)
        total = q.sum(axis=-1, keepdims=True)
        q = np.where(total > 0, q / np.where(total > 0, total, 1.0), uniform)
        challenger = np.zeros_like(q)
        for j in range(k):
            qj = q[..., j:j + 1]
            rest = 1.0 - qj
            others = keep.copy()
            others[..., j] = False
            n_others = others.sum(axis=-1, keepdims=True)
            fallback = np.where(n_others > 0, others / np.maximum(n_others, 1), 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                cond = q / rest
            cond[..., j] = 0.0
            pick = np.where(rest > 1e-12, cond, fallback)
            challenger += qj * pick
        lone = n_keep == 1  # a single contender takes everything
        out = np.where(lone, uniform, leader_share * q + (1.0 - leader_share) * challenger)
    out = out / out.sum(axis=-1, keepdims=True)
    if floor > 0.0:
        out = floor + (1.0 - k * floor) * out
    result: FloatArray = out
    return result
