"""An experiment as it runs now: its config merged with the store's meta (admin overrides).

:class:`ExperimentView` is immutable and cached per meta version; it carries everything the
hot path needs precomputed (active arms in order, contents, the built policy and its JSON,
prior arrays, the reward scale) and maps store counters to the policy's statistics.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from .._config import ExperimentConfig
from .._features import Featurizer, linear_arrays
from .._types import FloatArray
from ..policies import ArmStats, Policy, ThompsonSampling, make_policy
from ..policies._base import TimeWeighting, rule_of
from ..policies._scalar import ScalarRule
from ..stores import ExperimentMeta, StatsTable
from ._decay import time_weighted_sums

__all__ = ["ExperimentView", "LaneVector", "build_view", "priors_arrays"]

_NO_EXTRA: Mapping[str, FloatArray] = MappingProxyType({})
#: Up to this many arms, a policy of counts and totals decides on Python floats (the scalar
#: lane). Counted with callgrind per decide -> reward against the numpy path: 29% fewer
#: instructions at 50 arms (epsilon-greedy); at 120 arms the two are even (UCB1: numpy 6%
#: fewer), so the lane stops well before that.
LANE_ARMS = 64
log = logging.getLogger("banditbot")


class LaneVector(NamedTuple):
    """A scalar-lane allocation (see :func:`~banditbot.service._allocation.lane_vector`):
    the policy's vector, the one decisions sample from, the same as a read-only array (the
    decision records share it) and its running sums (a draw is a bisection)."""

    policy: Sequence[float]
    floats: Sequence[float]
    array: FloatArray
    cumulative: list[float]


@dataclass(frozen=True, slots=True)
class ExperimentView:
    """An experiment as it runs now (config ⊕ meta)."""

    config: ExperimentConfig
    meta: ExperimentMeta
    arms: tuple[str, ...]  # active arms, in order
    all_arms: tuple[str, ...]  # active + retired (for reports)
    contents: Mapping[str, str]
    policy: Policy
    policy_json: str
    prior_alpha: FloatArray | None  # aligned to ``arms``; None: no arm has a prior
    prior_beta: FloatArray | None
    lo: float  # reward bounds for normalization; span 0 means "not normalized"
    span: float
    featurizer: Featurizer | None
    # the shaping the hot path applies (see banditbot.service._allocation), fixed per view
    served: int | None  # the active arm that gets every decision (winner / stopped), or None
    floor: float  # the probability every active arm keeps
    holdout: float  # the control's fixed share (0: no holdout applies)
    control_index: int | None  # the control among the active arms (None: not active)
    # what every decision asks, answered once per view
    every_decision: bool  # the allocation is recomputed before each decision
    burn_in: bool  # the experiment has a burn-in
    needs_extra: bool  # the policy reads extra statistics (time buckets, linear sums, …)
    # the scalar lane: at most LANE_ARMS arms and a policy of counts and totals alone,
    # computed on Python floats (see DecisionsMixin._lane); with the priors as floats, or None
    lane: bool
    prior_lists: tuple[list[float], list[float]] | None
    # propensity: deferred (a Beta Thompson sampling decision drawn from its posterior): the
    # uniform share mixed in for the floor; None: every decision logs its exact vector
    deferred: float | None = None
    # the decision reads the counters as Python floats (Store.read_counts) past burn-in: the
    # scalar lane, exact or deferred Thompson sampling, without an arm served to everyone
    float_read: bool = False
    # exact Beta Thompson sampling with at most LANE_ARMS arms: its posterior from the
    # counters read as floats, its vector from them (see DecisionsMixin._lane)
    posterior_lane: bool = False
    # the lean path (see DecisionsMixin._plan): the scalar lane with nothing but the floor
    # to apply: every decision, no winner, no holdout, no operator priors, rewards on the
    # policy's scale as stored (no rescaling), not deferred
    lean: bool = False
    # the policy's vector on the lane (Policy.scalar_rule), for the scalar lane; else None
    rule: ScalarRule | None = field(default=None, compare=False, repr=False)
    # the config's fields every decision reads (compiled, native fields; the config's own
    # are looked up by name): its id, one bandit for everyone, implicit rewards
    id: str = ""
    shared: bool = True
    implicit: bool = False
    # the last time-weighted sums computed (table, time, sums): a decision checks them on a
    # read without buckets and then decides on them (one slot, replaced whole: threads
    # that share the view at worst compute them again)
    _time_memo: list[tuple[StatsTable, float, FloatArray | None]] = field(
        default_factory=lambda: [(StatsTable.zeros(()), float("nan"), None)], compare=False,
        repr=False)

    # the lane's shaped vectors by the policy vector they came from (by identity: the
    # policies of the UCB family and ε-greedy hand out one tuple per set of leading arms)
    lane_memo: dict[int, LaneVector] = field(default_factory=dict, compare=False, repr=False)

    def scale(self, n: FloatArray, total: FloatArray, total_sq: FloatArray | None = None
              ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """Affine map of summed rewards (reward units) to the policy's scale ([0, 1] for
        bounded rewards)."""
        if not self.span or (self.lo == 0.0 and self.span == 1.0):
            return n, total, total_sq
        lo, span = self.lo, self.span
        if total_sq is not None:
            total_sq = (total_sq - 2.0 * lo * total + n * lo * lo) / (span * span)
        return n, (total - n * lo) / span, total_sq

    def policy_stats(self, table: StatsTable, context: Mapping[str, Any] | None = None, *,
                     now: float = 0.0) -> ArmStats:
        """Map store counters to the policy's statistics, with the extra statistics the
        policy needs. An arm whose counters are not finite (a value from before rewards were
        bounded, a corrupted row) counts as observed nothing, so one bad value cannot break
        every later decision and report."""
        table = finite_table(table, self.config.id)
        n, total, total_sq = self.scale(table.n, table.total, table.total_sq)
        assert total_sq is not None
        if self.prior_alpha is None:
            alpha = beta = None
        elif table.arms is self.arms or table.arms == self.arms:
            alpha, beta = self.prior_alpha, self.prior_beta
        else:
            alpha, beta = priors_arrays(self.meta, table.arms)
        extra: Mapping[str, FloatArray] = _NO_EXTRA
        vector = None
        if self.policy.needs_extra:
            extra = {name: _finite_rows(array, self.config.id, name)
                     for name, array in self._extra_arrays(table, now).items()}
        if self.policy.contextual and self.featurizer is not None:
            vector = self.featurizer.encode(context)
        return ArmStats(n, total, total_sq, alpha, beta, table.pulls, extra, vector)

    def _extra_arrays(self, table: StatsTable, now: float) -> dict[str, FloatArray]:
        needs = self.policy.needs_extra
        arms = table.arms
        fields = table.extra
        out: dict[str, FloatArray] = {}
        if "ips_total" in needs:
            ips_n = np.array([fields.get(a, {}).get("ips.n", 0.0) for a in arms])
            ips_s = np.array([fields.get(a, {}).get("ips.s", 0.0) for a in arms])
            out["ips_total"] = self.scale(ips_n, ips_s)[1]
        if "time" in needs:
            weighting = self.policy.time_weighting()
            assert weighting is not None  # (a policy that needs time buckets weighs them)
            tw = self._time_weighted(table, now, weighting)
            assert tw is not None  # (read with the buckets it needs)
            tw_n, tw_s, tw_q = self.scale(tw[0], tw[1], tw[2])
            assert tw_q is not None
            out["tw_n"], out["tw_sums"], out["tw_sums_sq"] = tw_n, tw_s, tw_q
        if "linear" in needs and self.featurizer is not None:
            a, b = linear_arrays(fields, arms, self.featurizer.dim)
            if self.span and (self.lo != 0.0 or self.span != 1.0):
                b = (b - self.lo * a[:, 0, :]) / self.span  # row 0 of A is Σx (intercept)
            out["A"], out["b"] = a, b
        return out

    def discount_half_life(self) -> float | None:
        """The half-life of the policy's discount of past rewards (from time buckets);
        None for a policy that does not discount them."""
        weighting = self.policy.time_weighting() if self.needs_extra else None
        return float(weighting[1]) if weighting is not None and weighting[0] == "discount" \
            and self.config.time_bucket_seconds else None

    def weighs_without_buckets(self, table: StatsTable, now: float) -> bool:
        """Whether the discount's statistics at ``now`` come from ``table`` read without its
        time buckets (its epochs hold every reward that still weighs; see
        :mod:`banditbot.service._decay`). The caller checked :meth:`discount_half_life`."""
        half_life = self.discount_half_life()
        return half_life is not None and self._time_weighted(
            table, now, ("discount", half_life), buckets=False) is not None

    def _time_weighted(self, table: StatsTable, now: float, weighting: TimeWeighting, *,
                       buckets: bool = True) -> FloatArray | None:
        last_table, last_now, last = self._time_memo[0]
        if last_table is table and last_now == now and last is not None:
            return last
        tw = time_weighted_sums(table, now, float(self.config.time_bucket_seconds or 1.0),
                                weighting, buckets=buckets)
        self._time_memo[0] = (table, now, tw)
        return tw

    def normalize(self, value: float) -> float:
        """A reward in reward units → the policy's scale."""
        return (value - self.lo) / self.span if self.span else value

    def denormalize(self, value: FloatArray) -> FloatArray:
        """The policy's scale → reward units."""
        return self.lo + self.span * value if self.span else value


def finite_table(table: StatsTable, experiment: str) -> StatsTable:
    """``table`` with the counters of every arm that has a non-finite one set to zero (and
    one warning in the log)."""
    # the usual case in one cheap test: a sum is non-finite when a term is; a sum that
    # overflows from finite counters only takes the careful path below, which then changes
    # nothing. Few arms: Python sums (numpy's per-call cost is most of the work); many: two
    # dot products (a product x*y is non-finite when either factor is: inf*0 is nan)
    if table.pulls.shape[0] <= 16:
        fast = sum(table.pulls.tolist(), 0.0) + sum(table.n.tolist(), 0.0) + \
            sum(table.total.tolist(), 0.0) + sum(table.total_sq.tolist(), 0.0)
    else:
        with np.errstate(all="ignore"):
            fast = float(np.dot(table.pulls, table.total)) + \
                float(np.dot(table.n, table.total_sq))
    if math.isfinite(fast):
        return table
    bad = ~(np.isfinite(table.pulls) & np.isfinite(table.n) & np.isfinite(table.total)
            & np.isfinite(table.total_sq))
    if not bad.any():
        return table
    log.warning("non-finite statistics ignored", extra={
        "experiment": experiment, "arms": [a for a, b in zip(table.arms, bad, strict=True) if b]})
    keep = ~bad
    return table._replace(pulls=np.where(np.isfinite(table.pulls), table.pulls, 0.0),
                          n=np.where(keep, table.n, 0.0), total=np.where(keep, table.total, 0.0),
                          total_sq=np.where(keep, table.total_sq, 0.0),
                          extra={a: f for a, f in table.extra.items()
                                 if a not in set(np.asarray(table.arms)[bad])})


def _finite_rows(array: FloatArray, experiment: str, name: str) -> FloatArray:
    """``array`` with every arm's row that holds a non-finite value set to zero."""
    finite = np.isfinite(array)
    if finite.all():
        return array
    log.warning("non-finite statistics ignored", extra={"experiment": experiment,
                                                        "field": name})
    rows = finite.reshape(array.shape[0], -1).all(axis=1)
    out: FloatArray = np.where(rows.reshape((-1,) + (1,) * (array.ndim - 1)), array, 0.0)
    return out


def priors_arrays(meta: ExperimentMeta, arms: Sequence[str]) -> tuple[FloatArray, FloatArray]:
    """Operator priors ``(alpha, beta)`` aligned to ``arms`` (0 where an arm has none)."""
    pri = meta.priors
    return (np.array([pri.get(a, (0.0, 0.0))[0] for a in arms], dtype=np.float64),
            np.array([pri.get(a, (0.0, 0.0))[1] for a in arms], dtype=np.float64))


def build_view(exp: ExperimentConfig, meta: ExperimentMeta, featurizer: Featurizer | None,
               lane_arms: int = LANE_ARMS) -> ExperimentView:
    """The view of ``exp`` under ``meta``; decisions on Python floats up to ``lane_arms``
    arms."""
    contents = {a.id: a.content for a in exp.arms}
    contents.update(meta.added_arms)
    all_arms = tuple(contents)
    arms = tuple(a for a in all_arms if a not in meta.retired_arms)
    if meta.policy:
        policy = make_policy(str(meta.policy["name"]), meta.policy.get("params", {}))
    else:
        policy = exp.policy.build()
    policy_json = json.dumps({"name": policy.name, "params": policy.params()},
                             sort_keys=True, separators=(",", ":"))
    lo, hi = exp.reward.bounds
    span = (hi - lo) if lo is not None and hi is not None else 0.0
    alpha, beta = priors_arrays(meta, arms) if meta.priors else (None, None)
    # a winner is one bandit's: with one per chat or user, none serves every scope (an older
    # version recorded one from a scoped or summed report)
    serve = meta.stopped or (meta.winner is not None and exp.scope == "shared"
                             and exp.winner.on_winner in ("send-all-to-winner", "stop"))
    target = (meta.winner or exp.control) if serve else None
    served = arms.index(target) if target is not None and target in arms else None
    control = arms.index(exp.control) if exp.control is not None and exp.control in arms \
        else None
    holdout = exp.holdout if exp.holdout > 0.0 and control is not None and served is None \
        else 0.0
    # the floor is what every active arm keeps after the holdout took its share, so the
    # bandit's part is floored at f / (1 - h)
    floor = min(exp.floor / (1.0 - holdout), 0.5 / len(arms)) if len(arms) > 1 else 0.0
    lane = policy.scalar and not policy.needs_extra and not policy.contextual \
        and 0 < len(arms) <= lane_arms and (bool(span) or policy.scalar_unbounded)
    deferred = None
    if exp.propensity == "deferred" and isinstance(policy, ThompsonSampling) \
            and exp.update.every == "decision" and holdout == 0.0 and served is None:
        deferred = min(len(arms) * floor, 1.0)  # λ / K = floor for every arm
    posterior_lane = type(policy) is ThompsonSampling and deferred is None \
        and 0 < len(arms) <= lane_arms
    lo_value = lo if span and lo is not None else 0.0
    lean = lane and served is None and holdout == 0.0 and alpha is None \
        and deferred is None and not posterior_lane and exp.update.every == "decision" \
        and (not span or (lo_value == 0.0 and span == 1.0))
    return ExperimentView(exp, meta, arms, all_arms, contents, policy, policy_json, alpha,
                          beta, lo_value, span, featurizer,
                          served, floor, holdout, control, exp.update.every == "decision",
                          exp.burn_in.enabled, bool(policy.needs_extra), lane,
                          None if alpha is None or beta is None
                          else (alpha.tolist(), beta.tolist()), deferred,
                          (lane or deferred is not None or posterior_lane) and served is None,
                          posterior_lane, lean, rule_of(policy) if lane else None,
                          exp.id, exp.scope == "shared", exp.reward_mode == "implicit")
