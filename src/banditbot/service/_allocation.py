"""Allocations: what a decision samples from, and when a new allocation period starts.

The policy gives a probability vector over the active arms; the experiment's hygiene shapes
it, in this order:

1. **winner** — an experiment whose winner rule fired with ``on_winner: send-all-to-winner``
   or ``stop`` (or that an admin stopped) gives the winner every decision;
2. **burn-in** — equal allocation until every active arm has ``min_per_arm`` decisions (and,
   for 👍/👎, ``min_answers`` answers);
3. **floor** — every active arm keeps at least ``f`` (the experiment's ``floor``, at most
   ``0.5 / K``): the vector is mixed with the uniform one, ``(1 - λ)·p + λ/K``, with the
   smallest ``λ`` that lifts the least likely arm to ``f`` (``λ = 0``, the vector unchanged,
   when every arm has ``f`` already); with ``propensity: deferred``, ``λ = K·f`` always (a
   decision drawn from the posterior cannot know the least likely arm's probability);
4. **holdout** — ``h·e_control + (1 - h)·p``: a fixed share on the control, outside the bandit.

The result is exactly what decisions sample from, so the logged propensity is its entry. With
``update: every decision`` it is recomputed before every decision; otherwise it is stored as an
allocation period (:class:`~banditbot.stores.AllocationRecord`) that the store makes current,
and a new period starts at the experiment's cadence, when burn-in ends, on a winner and after
an admin change.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .._config import ExperimentConfig
from .._types import FloatArray
from ..stores import AllocationRecord, StatsTable
from ._view import ExperimentView, LaneVector

__all__ = ["BurnIn", "Shaped", "burn_in_progress", "due_reason", "lane_vector",
           "new_allocation", "retired_control_note", "shape", "shape_floats", "with_floor"]

#: The lane's shaped vectors a view keeps (a policy whose vectors are all new keeps none)
_LANE_MEMO = 256


class BurnIn(NamedTuple):
    """Burn-in progress: the least-served active arm's decisions and answers against what
    burn-in needs."""

    decisions: int
    decisions_needed: int
    answers: int
    answers_needed: int

    @property
    def done(self) -> bool:
        """Whether burn-in is over."""
        return self.decisions >= self.decisions_needed and self.answers >= self.answers_needed


class Shaped(NamedTuple):
    """An allocation over the active arms and why it is what it is."""

    probabilities: FloatArray
    reason: str  # "policy", "burn-in", "winner"


def burn_in_progress(view: ExperimentView, table: StatsTable) -> BurnIn | None:
    """Burn-in progress from the active arms' statistics (``None`` without burn-in)."""
    spec = view.config.burn_in
    if not spec.enabled or not view.arms:
        return None
    answers_needed = spec.min_answers if view.config.reward.type == "binary" else 0
    index = [table.arms.index(a) for a in view.arms]
    pulls = int(min(table.pulls[i] for i in index))
    answers = int(min(table.n[i] for i in index))
    return BurnIn(pulls, spec.min_per_arm, answers, answers_needed)


def shape(view: ExperimentView, policy_vector: FloatArray | None,
          burn_in: BurnIn | None) -> Shaped:
    """The allocation decisions sample from: the policy's vector shaped by winner, burn-in,
    floor and holdout (see the module docstring). ``policy_vector`` may be ``None`` when
    the winner or burn-in decide alone (the policy then need not be computed)."""
    k = len(view.arms)
    if view.served is not None:
        p = np.zeros(k)
        p[view.served] = 1.0
        return Shaped(p, "winner")
    if burn_in is not None and not burn_in.done:
        p, reason = np.full(k, 1.0 / k), "burn-in"
    elif view.deferred:  # propensity: deferred draws with a fixed uniform share (what
        assert policy_vector is not None  # the decisions drawn from a posterior log)
        p, reason = (1.0 - view.deferred) * policy_vector + view.deferred / k, "policy"
    else:
        assert policy_vector is not None
        p, reason = with_floor(policy_vector, view.floor), "policy"
    return Shaped(_with_holdout(view, p) if view.holdout > 0.0 else p, reason)


def with_floor(p: FloatArray, floor: float) -> FloatArray:
    """``(1 - λ)·p + λ/K`` with the smallest ``λ`` in [0, 1] that gives every arm at least
    ``floor`` (``p`` itself when it does already).

    Examples
    --------
    >>> [round(float(x), 3) for x in with_floor(np.array([0.75, 0.25]), 0.01)]
    [0.75, 0.25]
    >>> [round(float(x), 3) for x in with_floor(np.array([0.999, 0.001, 0.0]), 0.01)]
    [0.979, 0.011, 0.01]
    """
    k = p.shape[0]
    if floor <= 0.0 or k < 2:
        return p
    # a few arms: Python's min of the list (numpy's reduction costs ~10× more at K = 3)
    share = _floor_share(min(p.tolist()) if k <= 16 else float(p.min()), floor, k)
    if share is None:
        return p
    out: FloatArray = (1.0 - share) * p + share / k
    return out


def _floor_share(low: float, floor: float, k: int) -> float | None:
    """The uniform share ``λ`` that lifts the least likely arm (``low``) to ``floor``
    (``None``: it is there already)."""
    if low >= floor:
        return None
    return min((floor - low) / (1.0 / k - low), 1.0)


def lane_vector(view: ExperimentView, p: Sequence[float]) -> LaneVector:
    """:func:`shape_floats` of the policy's vector ``p`` with the array and running sums a
    decision needs, kept in the view for a vector the policy hands out again (a tuple: the
    UCB family and ε-greedy give one per set of leading arms), so a decision that changes
    no leader shapes nothing (a 50-arm decide → reward: 15.7 µs, 22.7 before)."""
    memo = view.lane_memo
    hit = memo.get(id(p))
    if hit is not None and hit.policy is p:
        return hit
    floats = shape_floats(view, p)
    array = np.array(floats)
    array.flags.writeable = False  # (shared by the decision records drawn from it)
    lane = LaneVector(p, floats, array, list(itertools.accumulate(floats)))
    if type(p) is tuple:
        if len(memo) >= _LANE_MEMO:
            memo.clear()
        memo[id(p)] = lane  # (it holds ``p``: the id stays its own)
    return lane


def shape_floats(view: ExperimentView, p: Sequence[float]) -> Sequence[float]:
    """:func:`shape` of a policy's vector on Python floats, past burn-in and without a
    winner: the floor, then the holdout (the scalar lane: up to ``LANE_ARMS`` arms)."""
    k = len(p)
    if view.floor > 0.0 and k > 1:
        share = _floor_share(min(p), view.floor, k)
        if share is not None:
            keep, add = 1.0 - share, share / k
            p = [keep * x + add for x in p]
    if view.holdout > 0.0:
        assert view.control_index is not None
        keep = 1.0 - view.holdout
        p = [keep * x for x in p]
        p[view.control_index] += view.holdout
    return p


def _with_holdout(view: ExperimentView, p: FloatArray) -> FloatArray:
    out = (1.0 - view.holdout) * p
    out[view.control_index] += view.holdout
    return out


def due_reason(view: ExperimentView, current: AllocationRecord | None,
               now: float) -> str | None:
    """Why a new allocation period must start now (``None``: the current one stands).
    Burn-in's end is checked by the caller, which has the statistics."""
    if current is None:
        return "start"
    if current.arms != view.arms or current.meta_version != view.meta.version:
        return "winner" if view.served is not None and current.reason != "winner" \
            else "admin"
    update = view.config.update
    if update.every == "rewards" and current.rewards >= float(update.rewards or 0):
        return "cadence"
    if update.every == "time" and now - current.created_at >= float(update.seconds or 0):
        return "cadence"
    return None


def new_allocation(view: ExperimentView, scope: str, shaped: Shaped, reason: str,
                   previous: AllocationRecord | None, now: float) -> AllocationRecord:
    """The next period's record (its id is ``"<period>.<random>"``). It starts no earlier
    than the period it follows: a writer whose clock was read before another writer started
    that period (threads, processes, hosts) must not date its successor before it, or the
    history, oldest first, would list period 7 before period 6."""
    period = previous.period + 1 if previous is not None else 1
    if previous is not None:
        now = max(now, previous.created_at)
    label = "burn-in" if shaped.reason == "burn-in" and reason in ("start", "cadence") \
        else reason
    return AllocationRecord(
        id=f"{period}.{secrets.token_urlsafe(6)}", experiment=view.config.id,
        generation=view.meta.generation, scope=scope, period=period, arms=view.arms,
        probabilities=shaped.probabilities, reason=label, created_at=now,
        meta_version=view.meta.version)


def retired_control_note(exp: ExperimentConfig, *, labelled: bool = False) -> str:
    """What retiring the control arm turns off (said when it is retired and in reports;
    ``labelled``: after a ``control:`` label, which names what it is)."""
    holdout = f"its {exp.holdout:.0%} holdout share goes to the bandit, " if exp.holdout > 0 \
        else ""
    return (f"{'' if labelled else 'the control '}{exp.control} is retired: {holdout}the "
            "other arms are compared with its results up to its retirement (no P(beat "
            "control): the control is out of the draw); add it back to resume")
