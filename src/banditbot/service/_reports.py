"""Reports: what an experiment has learned (per arm statistics, interval, P(best), current
allocation) and its allocation over time."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .._errors import BanditBotError
from .._report import ArmReport, Report, Timeline
from .._types import FloatArray
from ..policies import ArmStats, beta_posterior, normal_posterior
from ..statistics import (
    BetaPosterior,
    NormalPosterior,
    Posterior,
    normal_interval,
    wilson_interval,
)
from ..stores import StatsTable
from ._core import check_scope
from ._rewards import RewardsMixin
from ._view import ExperimentView, finite_table

__all__ = ["ReportsMixin"]

log = logging.getLogger("banditbot")


class ReportsMixin(RewardsMixin):
    """Report, timeline, warm-up."""

    def warm_up(self) -> None:
        """Compute every experiment's current allocation once, writing nothing.

        Policies load what they need on first use (Thompson sampling: SciPy's special
        functions and a quadrature table, about 0.2 s); a server calls this at startup so
        that its first requests do not wait for that. Experiments that cannot be computed
        yet (no active arm, or a contextual policy that needs a context) are skipped.
        """
        for exp in self.config.experiments:
            try:
                self._allocation(self.view(exp.id), None)
            except (BanditBotError, ValueError):
                log.debug("warm-up skipped %s", exp.id)

    def _allocation(self, view: ExperimentView, scope: str | None
                    ) -> tuple[StatsTable, ArmStats, npt.NDArray[np.bool_], FloatArray]:
        """Statistics of all arms (retired ones too) and the policy's current allocation
        over the active ones: ``(table, stats, active, allocation)``."""
        arms = view.all_arms
        table = finite_table(self.store.read_stats(view.config.id, view.meta.generation,
                                                   scope, arms), view.config.id)
        stats = view.policy_stats(table, now=self.clock())
        active = np.array([a in view.arms for a in arms])
        allocation = np.zeros(len(arms))
        if active.any():
            allocation[active] = view.policy.probabilities(stats.subset(active))
        return table, stats, active, allocation

    def report(self, experiment: str, *, scope: str | None = None) -> Report:
        """What the experiment has learned: per arm pulls, rewards, mean, 95% interval,
        P(best) and the current allocation; ``scope=None`` sums over all scopes, else one
        chat's or subject's bandit (see :meth:`scope_of`)."""
        view = self.view(experiment)
        exp = view.config
        check_scope(exp, scope)
        if exp.reward_mode == "implicit":
            self._settle(view, self.clock())
        arms = view.all_arms
        table, stats, active, allocation = self._allocation(view, scope)
        lo_i, hi_i, p_best, kind = _intervals(view, stats, table)
        mean = np.where(table.n > 0, table.total / np.where(table.n > 0, table.n, 1), np.nan)
        rows = tuple(
            ArmReport(
                arm=a, content=view.contents[a], pulls=int(table.pulls[i]),
                rewards=float(table.n[i]), total=float(table.total[i]),
                mean=_opt(mean[i]), low=_opt(lo_i[i]), high=_opt(hi_i[i]),
                p_best=float(p_best[i]) if active[i] else 0.0,
                allocation=float(allocation[i]), active=bool(active[i]),
                prior=view.meta.priors.get(a),
            )
            for i, a in enumerate(arms)
        )
        return Report(
            experiment=exp.id, description=exp.description, policy=view.policy.describe(),
            reward_type=exp.reward.type, reward_mode=exp.reward_mode, interval_kind=kind,
            generation=view.meta.generation, arms=rows, notes=dict(view.meta.notes),
            scope=scope, generated_at=self.clock(), per=exp.scope,
        )

    def timeline(self, experiment: str, *, bins: int = 30,
                 scope: str | None = None) -> Timeline:
        """Allocation over time: decisions per arm in ``bins`` equal time bins (of one
        scope's bandit, or of all; see :meth:`scope_of`)."""
        view = self.view(experiment)
        check_scope(view.config, scope)
        times: list[float] = []
        arms: list[str] = []
        rewards: list[float | None] = []
        for r in self.store.iter_decisions(view.config.id, generation=view.meta.generation):
            if r.kind in ("policy", "sticky") and (scope is None or r.scope == scope):
                times.append(r.created_at)
                arms.append(r.arm)
                rewards.append(r.reward)
        return Timeline.build(view.all_arms, np.array(times), arms, bins, rewards)


def _intervals(view: ExperimentView, stats: ArmStats,
               table: StatsTable) -> tuple[FloatArray, FloatArray, FloatArray, str]:
    """Per arm: the interval the report shows, P(best), and the interval's name.

    A policy with a posterior (:meth:`Policy.posterior`) is described by it: its credible
    interval and its P(best). Otherwise the interval is a confidence interval (Wilson for
    👍/👎, normal otherwise) and P(best) comes from a flat Beta posterior (bounded rewards) or
    a vague normal one.
    """
    active = np.array([a in view.arms for a in table.arms])
    posterior = view.policy.posterior(stats)
    if posterior is not None:
        lo, hi = posterior.interval()
        if view.span:  # a bounded reward's mean cannot leave its bounds
            lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
        p_best = _masked(active, lambda m: posterior.subset(m).best_probabilities())
        return (view.denormalize(lo), view.denormalize(hi), p_best,
                f"95% credible interval ({posterior.name})")
    flat: Posterior = BetaPosterior(*beta_posterior(stats, 1.0, 1.0)) if view.span else \
        NormalPosterior(*normal_posterior(stats, 0.0, 1.0, 1e-9))
    p_best = _masked(active, lambda m: flat.subset(m).best_probabilities())
    if view.config.reward.type == "binary":
        lo, hi = wilson_interval(table.total, table.n)
        return lo, hi, p_best, "95% confidence interval (Wilson)"
    lo, hi = normal_interval(table.total, table.total_sq, table.n)
    return lo, hi, p_best, "95% confidence interval (normal)"


def _masked(mask: npt.NDArray[np.bool_], fn: Callable[[npt.NDArray[np.bool_]], FloatArray]
            ) -> FloatArray:
    out = np.zeros(mask.shape[0])
    if mask.any():
        out[mask] = fn(mask)
    return out


def _opt(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)
