"""Reports: what an experiment has learned and how it is going.

Per arm: decisions, answers, the named interval, P(best), the allocation the next decision
samples from, the estimate the report leads with (period-weighted across allocation periods),
uplift against the control, chance to beat it and expected loss. Per experiment: status
(burn-in, running, winner, stopped), start and duration, burn-in progress, the sample-ratio
check. The winner rule is evaluated here, and ``on_winner`` applied (audited).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .._config import PolicySpec
from .._errors import BanditBotError
from .._text import count_text
from .._types import FloatArray
from ..policies import ArmStats, Policy, beta_posterior, make_policy, normal_posterior
from ..statistics import (
    Z95,
    BetaPosterior,
    NormalPosterior,
    Posterior,
    beta_best_probabilities,
    normal_best_probabilities,
    normal_interval,
    wilson_interval,
)
from ..stores import (
    TRAFFIC,
    AllocationRecord,
    DecisionRecord,
    PeriodCounts,
    StatsTable,
    Store,
    close_scan,
)
from ._allocation import burn_in_progress, retired_control_note
from ._core import VectorKeeper, added_key, check_scope
from ._decisions import DecisionsMixin
from ._inference import context_dependent
from ._view import ExperimentView, finite_table

if TYPE_CHECKING:  # the report types and the sequences load with the first report
    from .._report import AdminChange, ArmReport, Report, SampleRatioCheck, Timeline, Uplift
    from .._series import DecisionSeries
    from ..statistics import AnytimeInference
    from ._kept_series import SeriesCache

__all__ = ["ReportsMixin", "period_weighted", "sample_ratio_check"]

log = logging.getLogger("banditbot")

SRM_ALPHA = 0.001  # a sample ratio mismatch is flagged below this p-value
_DRAWS = 20_000  # posterior draws for chance to beat control and expected loss
#: the admin actions the report's history line shows, and how many of the latest it reads
_HISTORY_ACTIONS = frozenset({"policy", "arm-add", "arm-retire"})
_HISTORY_LIMIT = 1000


class ReportsMixin(DecisionsMixin):
    """Report, its chart's series, timeline, allocation history, warm-up."""


    def warm_up(self) -> None:
        """Compute every experiment's current allocation once, writing nothing.

        Policies load what they need on first use (Thompson sampling: SciPy's special
        functions and a quadrature table, about 0.2 s); a server calls this at startup so
        that its first requests do not wait for that. Experiments that cannot be computed
        yet (no active arm, or a contextual policy that needs a context) are skipped.
        """
        for exp in self.config.experiments:
            try:
                view = self.view(exp.id)
                now = self.clock()
                table = self._read_table(view, "", now)
                view.policy.probabilities(view.policy_stats(table, now=now))
            except (BanditBotError, ValueError):
                log.debug("warm-up skipped %s", exp.id)

    def allocation_history(self, experiment: str, *,
                           scope: str | None = None) -> list[AllocationRecord]:
        """The allocation periods of the current generation, oldest first (empty when the
        experiment updates its allocation every decision)."""
        view = self.view(experiment)
        check_scope(view.config, scope)
        return self.store.allocations(view.config.id, view.meta.generation, scope)

    def sample_ratio(self, experiment: str) -> SampleRatioCheck | None:
        """The sample-ratio check: over the experiment's allocation periods, or, when it
        updates every decision, over its decisions against their logged vectors (read with
        the report's inference: a bounded reward's; ``None`` when nothing can be tested)."""
        view = self.view(experiment)
        gen = view.meta.generation
        if view.config.update.every == "decision":
            table = finite_table(self._read_table(view, None, self.clock(), view.all_arms),
                                 view.config.id)
            self._read_inference(view, None, table)  # (the read keeps the log's test)
            return _logged_check(self._inference.sample_ratio(view, None))
        return sample_ratio_check(self.store.allocations(view.config.id, gen),
                                  self.store.period_counts(view.config.id, gen))

    def _read_inference(self, view: ExperimentView, scope: str | None, table: StatsTable
                        ) -> AnytimeInference | None:
        """The log's inference for ``scope`` (kept while the log has not changed), the
        vectors it computed for deferred decisions kept for the next read."""
        keeper = VectorKeeper(self)
        inference = self._inference.get(self.store, view, scope, float(table.pulls.sum()),
                                        float(table.n.sum()), computed=keeper.add)
        keeper.flush()
        return inference

    def report(self, experiment: str, *, scope: str | None = None) -> Report:
        """What the experiment has learned and how it is going; ``scope=None`` sums over all
        scopes, else one chat's or subject's bandit (see :meth:`scope_of`)."""
        from .._report import ArmReport, Report

        view = self.view(experiment)
        exp = view.config
        check_scope(exp, scope)
        now = self.clock()
        if exp.reward_mode == "implicit":
            self._settle(view, now)
        arms = view.all_arms
        table = finite_table(self._read_table(view, scope, now, arms), exp.id)
        stats = view.policy_stats(table, now=now)
        active = np.array([a in view.arms for a in arms])
        summary = _summary(view, stats, table, active)
        # the posterior behind P(best), operator priors included (for a policy without a
        # posterior of its own, the flat one: its column showed the pooled mean instead);
        # taken before a contextual experiment's summary replaces it with the estimates
        posterior_mean = view.denormalize(np.asarray(summary.posterior.mean(), dtype=float))
        current = self._allocation_now(view, scope, table.select(view.arms), now)
        allocation = np.zeros(len(arms))
        allocation[active] = current
        burn_in = burn_in_progress(view, table.select(view.arms)) if view.arms else None
        batched = exp.update.every != "decision"
        periods = self.store.allocations(exp.id, view.meta.generation, scope) if batched \
            else []
        counts = self.store.period_counts(exp.id, view.meta.generation, scope) \
            if batched else []
        inference = self._read_inference(view, scope, table)
        srm = sample_ratio_check(periods, counts) if batched else \
            _logged_check(self._inference.sample_ratio(view, scope))
        depends = context_dependent(view)
        contextual = inference is not None and depends
        if contextual and inference is not None:
            summary = _contextual_summary(view, summary, inference, active)
        summed = exp.scope != "shared" and scope is None  # many bandits, each its own vector
        if (contextual or summed) and view.arms:
            # no one vector is "the allocation now": the average of the logged ones (or the
            # decisions' shares without bounded rewards)
            mean = inference.mean_allocation if inference is not None else None
            shares = np.where(active, mean if mean is not None else table.pulls, 0.0)
            if shares.sum() > 0:
                allocation = shares / shares.sum()
        # the estimate is from real answers alone: an operator's prior moves the policy
        # (and the posterior columns), not the estimate (what `prior` tells the operator)
        plain = summary if stats.prior_alpha is None or contextual else \
            _summary(view, stats._replace(prior_alpha=None, prior_beta=None), table, active)
        estimates, estimate_kind, rests = _estimates(view, table, plain, counts, inference)
        anytime_kind = ""
        if inference is not None:
            estimate_kind, anytime_kind = self._inference_kinds(view, scope, table,
                                                                estimate_kind)
        anytime = _anytime(view, inference)
        draws = _posterior_draws(summary.posterior, active)
        winner = None
        if exp.scope == "shared":  # one bandit: one winner (a chat's report names none for all)
            # a recorded winner that was retired since is no one's (an older version kept
            # it through the retirement): the rule looks among the active arms again
            recorded = view.meta.winner if view.meta.winner in view.arms else None
            winner = recorded or self._apply_winner_rule(view, summary, active, burn_in,
                                                         table, inference)
        control = exp.control if exp.control in arms else None
        # the columns read off the posterior of every arm (expected loss) or of two (the
        # chance to beat the control) wait for the burn-in and for MIN_ANSWERS answers of
        # each arm they read, as the estimate does: on a vague posterior they are noise
        # (an unbounded reward's expected loss read 12,630 after one answer)
        basis = rests if contextual else np.asarray(table.n, dtype=float)
        settled = burn_in is None or burn_in.done
        enough = settled & (basis >= MIN_ANSWERS)
        failures = self.store.read_counters(f"send-failures:{exp.id}")
        history = self._admin_changes(view)
        position = _arm_positions(view, history)
        added = self.store.read_counters(added_key(exp.id, view.meta.generation, scope))
        rows = []
        for i, a in enumerate(arms):
            uplift = chance = None
            if control is not None and a != control:
                uplift = _uplift(estimates[i], estimates[arms.index(control)]) \
                    if inference is None else _anytime_uplift(view, inference, i,
                                                              arms.index(control)) \
                    if min(rests[i], rests[arms.index(control)]) >= MIN_ANSWERS else None
                chance = _chance_to_beat(summary.posterior, i, arms.index(control)) \
                    if active[i] and active[arms.index(control)] and enough[i] \
                    and enough[arms.index(control)] else None
            loss = float((draws.max(axis=1) - draws[:, i]).mean()) * (view.span or 1.0) \
                if draws is not None and active[i] and enough[active].all() else None
            rows.append(ArmReport(
                arm=a, content=view.contents[a],
                pulls=max(int(table.pulls[i]) - int(added.get(a, 0.0)), 0),
                answered=float(table.n[i]), reward_sum=float(table.total[i]),
                mean=_opt(summary.mean[i]), low=_opt(summary.low[i]),
                high=_opt(summary.high[i]),
                p_best=float(summary.p_best[i]) if active[i] else 0.0,
                allocation=float(allocation[i]), active=bool(active[i]),
                prior=view.meta.priors.get(a),
                posterior_mean=_opt(posterior_mean[i])
                if table.n[i] > 0 or a in view.meta.priors else None,
                estimate=_opt(estimates[i][0]),
                estimate_low=_opt(estimates[i][1]), estimate_high=_opt(estimates[i][2]),
                anytime_low=_opt(anytime[i][0]), anytime_high=_opt(anytime[i][1]),
                uplift=uplift, chance_to_beat_control=chance, expected_loss=loss,
                send_failures=int(failures.get(a, 0)), added=int(added.get(a, 0.0)),
                # (_estimates' rule, for an arm still served that has few answers at all:
                # beside 1,000 added by hand, or on a retired arm, "yet" misleads)
                too_few_answers=bool(active[i] and rests[i] < MIN_ANSWERS
                                     and table.n[i] < MIN_ANSWERS),
                position=position[a]))
        # an arm retired in an earlier generation, with nothing in this one, is not part of
        # it (after a reset, ten such arms were ten rows of 0 decisions and 0.000-1.000)
        empty = {r.arm for r in rows if not (r.active or r.pulls or r.answered or r.added
                                             or r.prior is not None or r.arm == control)}
        if empty:
            empty -= self._retired_since_reset(exp.id)
            rows = [r for r in rows if r.arm not in empty]
        bandit = _bandit_vs_holdout(view, inference) if inference is not None else None
        # stopped: every decision goes to one arm (a stop whose arm was retired since
        # serves none: the policy decides again)
        stopped = (view.meta.stopped and view.served is not None) or \
            (winner is not None and exp.winner.on_winner == "stop")
        status = "stopped" if stopped else "winner" if winner else \
            "burn-in" if burn_in is not None and not burn_in.done else "running"
        # one read: the generation's first decision (when it began, and by which policy)
        first = _first_decision(self.store, exp.id, view.meta.generation)
        started = (None if first is None else first.created_at) if scope is None else \
            _started_in_scope(self.store, exp.id, view.meta.generation, scope)
        moving = view.policy.time_weighting()
        return Report(
            experiment=exp.id, description=exp.description, policy=view.policy.describe(),
            reward_type=exp.reward.type, reward_mode=exp.reward_mode,
            interval_kind=summary.kind, generation=view.meta.generation, arms=tuple(rows),
            notes={**_notes(view, "estimates" if contextual else
                            "raw" if depends and not view.span else "",
                            summed, self._inference.read_left_out(
                                self.store, view, scope, float(table.pulls.sum()),
                                float(table.n.sum())), rows),
                   **_started_by_another_policy(view, first)},
            scope=scope, generated_at=now, per=exp.scope,
            status=status, winner=winner, started_at=started,
            burn_in=None if burn_in is None or burn_in.done else {
                "done": burn_in.decisions, "needed": burn_in.decisions_needed,
                "answers": burn_in.answers, "answers_needed": burn_in.answers_needed},
            srm=srm, control=control, estimate_kind=estimate_kind,
            anytime_kind=anytime_kind,
            winner_rule=_describe_rule(exp.winner.rule, exp.confidence, bool(view.span))
            if exp.scope == "shared" and moving is None else
            f"none is named: {view.policy.name} assumes the best arm can change, and the "
            "winner rule that it cannot" if moving is not None else
            f"none is named: each {'chat' if exp.scope == 'chat' else 'user'} has a bandit of "
            "its own, and a winner would be one bandit's",
            contenders=() if inference is None else tuple(
                a for a, c in zip(arms, inference.decision.contenders, strict=True) if c),
            update=exp.update.describe(), periods=len(periods),
            propensity="deferred" if view.deferred is not None else "exact",
            floor=min(exp.floor, 0.5 / len(view.arms)) if len(view.arms) > 1 else 0.0,
            holdout=exp.holdout, time_zone=self.config.time_zone, bandit_vs_holdout=bandit,
            history=history, initial_policy=_policy_text(exp.policy),
            rule=exp.winner.rule if exp.scope == "shared" and moving is None else "",
            confidence=exp.confidence, reward_bounds=exp.reward.bounds,
            reward_label=next((b.label for b in exp.reward.buttons if b.value == 1.0), "👍")
            if exp.reward.type == "binary" else "👍")

    def _retired_since_reset(self, experiment: str) -> set[str]:
        """The arms retired in this generation (since the last reset), from the audit log."""
        retired: set[str] = set()
        for record in self.store.admin_log(experiment, limit=_HISTORY_LIMIT,
                                           actions={"arm-retire", "reset"}):
            if record.action == "reset":  # (newest first: what came before is older)
                break
            retired.add(record.details.removeprefix("arm="))
        return retired

    def _admin_changes(self, view: ExperimentView) -> tuple[AdminChange, ...]:
        """The policy switches and arm changes in the audit log, oldest first (no read when
        the meta shows that no admin changed the policy or the arms)."""
        from .._report import AdminChange

        meta = view.meta
        if meta.policy is None and not meta.added_arms and not meta.retired_arms:
            return ()
        found = []
        for record in self.store.admin_log(view.config.id, limit=_HISTORY_LIMIT,
                                           actions=_HISTORY_ACTIONS):
            if record.action == "policy":
                found.append(AdminChange(record.at, record.action, record.details))
            elif record.action in ("arm-add", "arm-retire"):
                found.append(AdminChange(record.at, record.action,
                                         record.details.removeprefix("arm=")))
        return tuple(reversed(found))

    def _inference_kinds(self, view: ExperimentView, scope: str | None, table: StatsTable,
                         estimate_kind: str) -> tuple[str, str]:
        """The names of the adaptive estimate and of the sequences, with what they leave
        out (answers outside the policy's draws) and, on a long log, the look they show."""
        as_of, answers_then, policy_answered = self._inference.basis(view, scope)
        outside = answers_then - policy_answered  # both counted at the same look
        if outside >= 0.5:
            # (a store whose decisions expire counts them in its statistics after the log
            # lost them: docs/dynamodb.md, "Expiring decisions")
            expired = ", imported or expired from the log" \
                if getattr(self.store, "ttl_days", None) else ", imported or no longer in the log"
            estimate_kind += f"; {count_text(outside, 'answer')} outside the policy's draws " \
                             f"(sticky, added by hand{expired}) are not in it"
        anytime_kind = f"each arm's {view.config.confidence:.0%} confidence sequence (valid " \
                       "at every look; betting on AIPW scores)"
        if (as_of, answers_then) != (float(table.pulls.sum()), float(table.n.sum())):
            stale = f" · as of decision {as_of:,.0f} and {answers_then:,.0f} answers (a long " \
                    f"log is re-read as it grows by {self._inference.stale_share:.1%})"
            estimate_kind += stale
            anytime_kind += stale
        return estimate_kind, anytime_kind

    def _allocation_now(self, view: ExperimentView, scope: str | None, table: StatsTable,
                        now: float) -> FloatArray:
        """What the next decision of ``scope`` samples from, over the active arms (a report
        starts no period: without a current one, the allocation one would get)."""
        if not view.arms:
            return np.zeros(0)
        if (view.config.update.every != "decision" and scope is not None) or \
                (view.config.update.every != "decision" and view.config.scope == "shared"):
            current = self.store.current_allocation(view.config.id, view.meta.generation,
                                                    scope or "")
            if current is not None and current.arms == view.arms and \
                    current.meta_version == view.meta.version:
                return current.probabilities
        return self._shaped(view, table, None, now).probabilities

    def _apply_winner_rule(self, view: ExperimentView, summary: _Summary,
                           active: npt.NDArray[np.bool_], burn_in: object,
                           table: StatsTable, inference: AnytimeInference | None
                           ) -> str | None:
        """Evaluate the winner rule; on a winner, record it in the meta (and stop, if so
        configured) and audit it. Returns the winner or ``None``."""
        spec = view.config.winner
        if view.policy.time_weighting() is not None:  # the best arm may change: no winner
            return None
        if (burn_in is not None and not getattr(burn_in, "done", True)) or \
                float(table.pulls.sum()) < spec.min_decisions or not active.any():
            return None
        winner = None
        if spec.rule == "sequence" and inference is not None:
            found = inference.decision.winner
            if found is not None and active[int(found)]:
                winner = view.all_arms[int(found)]
        elif spec.rule == "p-best":
            best = int(np.argmax(np.where(active, summary.p_best, -1.0)))
            if summary.p_best[best] >= spec.threshold and table.n[best] > 0:
                winner = view.all_arms[best]
        if winner is None:
            return None
        stop = spec.on_winner == "stop"
        self._update_meta(view.config.id,
                          lambda m: m if m.winner and m.winner not in m.retired_arms
                          else replace(m, winner=winner, stopped=stop))
        self.audit("rule", view.config.id, "winner",
                   f"arm={winner} rule={spec.rule} on_winner={spec.on_winner}")
        return winner

    def timeline(self, experiment: str, *, bins: int = 30,
                 scope: str | None = None) -> Timeline:
        """Allocation along the decision log: decisions per arm in ``bins`` bins of equal
        numbers of decisions (of one scope's bandit, or of all; see :meth:`scope_of`), with
        where allocation periods start."""
        from .._report import Timeline

        view = self.view(experiment)
        check_scope(view.config, scope)
        times: list[float] = []
        arms: list[str] = []
        rewards: list[float | None] = []
        period_of: list[str | None] = []
        for at, arm, reward, period in self.store.iter_fields(
                view.config.id, ("created_at", "arm", "reward", "allocation_id"),
                generation=view.meta.generation, kinds=TRAFFIC, scope=scope):
            times.append(at)
            arms.append(arm)
            rewards.append(reward)
            period_of.append(period)
        return Timeline.build(view.all_arms, np.array(times), arms, bins, rewards, period_of)


    def report_series(self, experiment: str, *, points: int = 60,
                      scope: str | None = None) -> DecisionSeries:
        """The current generation by decision count, for charts: per bin of equal decision
        count, each arm's allocation (the mean probability the policy logged), share of
        decisions and cumulative reward, with the admins' changes marked (see
        :class:`~banditbot.DecisionSeries`).

        Reads only the decision fields the series needs; deferred decisions' vectors are
        computed from their logged posteriors (and kept, as :meth:`decisions` keeps them).
        A log of fewer than 20,000 decisions plus answers is read at every change; a longer
        one is kept — in this process and in the store, for the next process — until it
        has grown by 0.5% (the report's inference does the same), and the series then says
        how far behind the log it is (:attr:`~banditbot.DecisionSeries.behind`).

        Parameters
        ----------
        experiment
            The experiment's id.
        points
            Bins of equal size (a bin is split where an admin's change falls inside it).
        scope
            One bandit of an experiment with scope chat or subject (``None``: all of them).

        Returns
        -------
        DecisionSeries
            With the report's arms (retired ones too), in its order.
        """
        from .._series import SERIES_FIELDS, DecisionSeries
        from ..stores import resolve_fields

        view = self.view(experiment)
        check_scope(view.config, scope)
        table = self.store.read_stats(view.config.id, view.meta.generation, scope,
                                      view.all_arms, with_extra=False)
        counts = (float(table.pulls.sum()), float(table.n.sum()), float(table.total.sum()))

        def read() -> DecisionSeries:
            # a deferred decision's vector from its logged posterior; with its id (read only
            # where the experiment defers: 1M ids cost a second of a scan) to keep it
            fields = (*SERIES_FIELDS, "posterior", *(("id",) if view.deferred is not None
                                                     else ()))
            keeper = VectorKeeper(self)
            rows = self.store.iter_fields(view.config.id, fields,
                                          generation=view.meta.generation, kinds=TRAFFIC,
                                          scope=scope)
            series = DecisionSeries.from_fields(
                view.all_arms, (row[:len(SERIES_FIELDS)] for row in resolve_fields(
                    rows, fields, computed=keeper.add)), points=points)
            keeper.flush()
            return series

        return self._series_cache().get(self.store, view, scope, points=points,
                                         counts=counts, read=read)

    def _series_cache(self) -> SeriesCache:
        """This service's kept series (made with the first chart)."""
        from ._kept_series import SeriesCache

        if self._kept_series is None:
            self._kept_series = SeriesCache()
        return self._kept_series


class _Summary:
    """The interval, point estimate and P(best) of each arm, and the posterior behind them."""

    __slots__ = ("high", "kind", "low", "mean", "p_best", "posterior")

    def __init__(self, mean: FloatArray, low: FloatArray, high: FloatArray,
                 p_best: FloatArray, kind: str, posterior: Posterior) -> None:
        self.mean, self.low, self.high = mean, low, high
        self.p_best, self.kind, self.posterior = p_best, kind, posterior


def _summary(view: ExperimentView, stats: ArmStats, table: StatsTable,
             active: npt.NDArray[np.bool_]) -> _Summary:
    """Per arm: the point estimate and interval the report shows, P(best), the interval's
    name, and the posterior they come from.

    A policy with a posterior (:meth:`Policy.posterior`) is described by it: its mean, its
    credible interval, its P(best). Otherwise the point is the sample mean, the interval a
    confidence interval (Wilson for 👍/👎, normal otherwise) and P(best) comes from a flat
    Beta posterior (bounded rewards) or, for unbounded rewards, a normal one with one
    pseudo-observation at the pooled rewards' mean and spread (an arm of one answer keeps
    the bandit's spread). Either way the point lies inside its interval.
    """
    posterior = view.policy.posterior(stats)
    if posterior is not None:
        lo, hi = posterior.interval()
        mean = posterior.mean()
        if view.span:  # a bounded reward's mean cannot leave its bounds
            lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
        p_best = _masked(active, lambda m: posterior.subset(m).best_probabilities())
        return _Summary(view.denormalize(mean), view.denormalize(lo), view.denormalize(hi),
                        p_best, f"95% credible interval ({posterior.name})", posterior)
    weighting = view.policy.time_weighting()
    of = ""
    n, total, total_sq = table.n, table.total, table.total_sq
    if weighting is not None:  # what the policy decides on: the recent answers, weighted
        from ..policies._nonstationary import recent_stats  # (loaded with the policy)

        stats = recent_stats(stats)
        n = stats.n
        total, total_sq = (view.lo * n + view.span * stats.sums,
                           view.lo ** 2 * n + 2 * view.lo * view.span * stats.sums
                           + view.span ** 2 * stats.sums_sq) if view.span else \
            (stats.sums, stats.sums_sq)
        of = f" of the recent answers ({_weighting_text(weighting)})"
    # unbounded rewards: the empirical-Bayes prior of one pseudo-observation at the pooled
    # rewards' mean and spread (a vague prior left an arm of one answer with no spread: P(best)
    # 99.6% after one reward of 19.99 against two of -5 and 12.5)
    flat: Posterior = BetaPosterior(*beta_posterior(stats, 1.0, 1.0)) if view.span else \
        NormalPosterior(*normal_posterior(stats, None, None, 1.0))
    p_best = _masked(active, lambda m: flat.subset(m).best_probabilities())
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 1e-9, total / n, np.nan)
    if view.config.reward.type == "binary":
        lo, hi = wilson_interval(total, n)
        return _Summary(mean, lo, hi, p_best, f"95% confidence interval (Wilson){of}", flat)
    lo, hi = normal_interval(total, total_sq, n)
    return _Summary(mean, lo, hi, p_best, f"95% confidence interval (normal){of}", flat)


def _weighting_text(weighting: tuple[str, float]) -> str:
    """``half-life 60 s`` or ``window 300 s``."""
    kind, width = weighting
    return f"{'half-life' if kind == 'discount' else 'window'} {width:g} s"


Estimate = tuple[float, float, float, float]  # point, low, high, variance


def _first_decision(store: Store, experiment: str, generation: int) -> DecisionRecord | None:
    """The generation's first decision (``None``: none yet), its scan closed."""
    records = store.iter_decisions(experiment, generation=generation, limit=1)
    try:
        return next(iter(records), None)
    finally:
        close_scan(records)


def _started_in_scope(store: Store, experiment: str, generation: int, scope: str
                      ) -> float | None:
    """When one scope's bandit made its first decision of the generation (one chat's or
    user's report: not the experiment's first)."""
    rows = store.iter_fields(experiment, ("created_at",), generation=generation, scope=scope)
    try:
        row = next(iter(rows), None)
    finally:
        close_scan(rows)
    return None if row is None else float(row[0])


def _started_by_another_policy(view: ExperimentView, first: DecisionRecord | None
                               ) -> dict[str, str]:
    """A ``policy_changed`` note when the generation's ``first`` decision was made by
    another policy than the experiments file names now and no admin switched it (a trial
    edited the file's policy: the report named the new one, its history empty, for
    decisions all made by the old one)."""
    if view.meta.policy is not None:  # a switch: the report's history says it
        return {}
    if first is None or not first.policy or first.policy == view.policy_json \
            or first.kind not in TRAFFIC:  # (history learned or added by hand: no policy's)
        return {}
    try:
        spec = json.loads(first.policy)
        then = make_policy(str(spec["name"]), spec.get("params") or {}).describe()
    except (ValueError, KeyError, TypeError, BanditBotError):
        then = first.policy
    if then == view.policy.describe():
        return {}
    return {"policy_changed": (
        f"this generation's first decisions were made by {then}; the experiments file "
        f"names {view.policy.describe()} now, whose allocation and P(best) this report "
        "shows (the estimates weigh each decision by the probabilities it was logged "
        f"with); to start over with it: banditbot reset {view.config.id}")}


def _outside_the_range(view: ExperimentView, rows: Sequence[ArmReport]) -> str:
    """What to say of arms whose mean answer lies outside the reward's range: answers given
    under another reward (a trial changed 👍/👎 to a 1–5 rating with answers in the log:
    its 0s and 1s were read as ratings, an interval cut at 1, without a word)."""
    lo, hi = view.config.reward.bounds
    if lo is None or hi is None:
        return ""
    slack = 1e-9 * max(1.0, abs(lo), abs(hi))
    off = [r.arm for r in rows if r.answered > 0 and not
           lo - slack <= r.reward_sum / r.answered <= hi + slack]
    if not off:
        return ""
    return (f"{', '.join(off[:10])}{' and more' if len(off) > 10 else ''}: the mean answer "
            f"lies outside the reward's range ({view.config.reward.describe()}), so this "
            "experiment's answers were given under another reward (its type or range changed "
            "in the experiments file since), every arm's alike, and are read on this one's "
            f"scale; to start over: banditbot reset {view.config.id}")


def _notes(view: ExperimentView, contextual: str = "", summed: bool = False,
           left_out: tuple[tuple[str, int], ...] = (),
           rows: Sequence[ArmReport] = ()) -> dict[str, str]:
    """The experiment's notes, what a retired control turned off, how a contextual
    experiment's columns are read, the arms of the log the config no longer has, and the
    arms whose chance to beat the control and uplift point opposite ways."""
    notes = dict(view.meta.notes)
    crossed = [r.arm for r in rows if r.anytime_low is not None
               and r.anytime_high is not None and r.anytime_low > r.anytime_high]
    # the every-look interval holds the rate at every look at once: the estimate of all the
    # answers outside it says the later answers disagree with the earlier ones
    outside = [r.arm for r in rows if r.arm not in crossed and r.estimate is not None
               and r.anytime_low is not None and r.anytime_high is not None
               and not r.anytime_low - 1e-9 <= r.estimate <= r.anytime_high + 1e-9]
    if crossed or outside:
        said = [f"{', '.join(crossed)}: the every-look interval is empty (its ends crossed)"] \
            if crossed else []
        said += [f"{', '.join(outside)}: the estimate lies outside the every-look interval"] \
            if outside else []
        notes["drift"] = (f"{'; '.join(said)}: the answers contradict a constant rate, so "
                          "the rate has likely changed over time; the intervals and the winner "
                          "rule assume it has not (see docs/inference.md, Drift)")
    weighting = view.policy.time_weighting()
    if weighting is not None:
        # a table shows the estimates' intervals where there are estimates (of every
        # answer), else the mean's (of the recent answers)
        estimated = any(r.estimate is not None for r in rows)
        recent = "the allocation, P(best) and the leader" if estimated else \
            "the allocation, P(best), the leader and the mean's interval"
        lagging = "the estimates and their intervals (at this look and at every look)" \
            if estimated else "the estimates"
        described = "its posterior" if type(view.policy).posterior is not Policy.posterior \
            else "the recent answers"
        notes["recent"] = (
            f"{view.policy.name} weighs recent answers ({_weighting_text(weighting)}): "
            f"{recent} describe {described}, what it believes now; {lagging} are of every "
            "answer since the start, so after a change they lag behind it")
    split = _split_verdicts(rows)
    if split:
        notes["beat_control"] = split
    gap = _answer_gap(rows) if view.config.reward_mode == "explicit" else None
    if gap:
        notes["answered"] = gap
    # (a contextual or a summed experiment's allocation is the average of its vectors: no
    # one arm is "the next decision's")
    exploring = "" if contextual or summed else _exploring(view, rows)
    if exploring:
        notes["exploring"] = exploring
    if left_out:  # an arm taken out of the experiments file: its rows vanished unsaid
        arms = ", ".join(f"{arm} ({n:,} decisions)" for arm, n in left_out[:10])
        more = f" and {len(left_out) - 10} more" if len(left_out) > 10 else ""
        notes["not_in_config"] = (
            f"{arms}{more}: in the log of this generation but not in the experiments file, "
            "so not in this report (the export has them; to stop an arm and keep it in "
            "the report, retire it instead: banditbot arms retire)")
    off_scale = _outside_the_range(view, rows)
    if off_scale:
        notes["range"] = off_scale
    if view.control_index is None and view.config.control in view.all_arms:  # retired
        notes["control"] = retired_control_note(view.config, labelled=True)
    if summed:
        who = "chat" if view.config.scope == "chat" else "user"
        notes["allocation"] = (f"the average over every {who}'s decisions: each {who}'s "
                               f"bandit has its own (report one: --scope {view.config.scope}"
                               f":ID); the every-look intervals over all {who}s allow for "
                               f"each {who}'s bandit following its own answers: they hold, "
                               "but stay wide while the bandits explore little (the "
                               "exploration floor)")
    if not view.span and not contextual and view.config.update.every == "decision" \
            and any(r.answered for r in rows):
        # (a statistician's trial: in A/A tests of a lognormal reward under Thompson
        # sampling, the interval against the control excluded 0 in 43 of 100 runs)
        notes["unbounded"] = (
            "this reward has no min and max, so its estimates, their intervals and the "
            "comparison with the control are a fixed sample's: not corrected for the "
            "adaptive allocation (an arm the bandit starved after unlucky answers keeps its "
            "low mean) and not valid across looks; with skewed rewards (revenue, time) a 95% "
            "interval can miss far more often than 1 time in 20. Give the reward a min and "
            "max (cap the values) for estimates and intervals that hold")
    if view.holdout > 0 and view.control_index is not None and not view.span:
        notes["holdout"] = ("the bandit against the holdout needs the reward's bounds (its "
                            "interval comes from the confidence sequences): compare the "
                            "control's row with the others meanwhile")
    if contextual == "raw":
        notes["context"] = (
            "the means, P(best) and the allocation are of the raw counts: a contextual "
            "policy sends each arm where it does well, so they flatter it; give the reward "
            "bounds for estimates that correct for it")
    elif contextual:
        notes["context"] = (
            "each arm's value if sent to every context, over the decisions that offered it "
            "(an arm added later: since it was added; not a whole day's or week's value when "
            "the mix of contexts changed meanwhile): P(best), the chance to beat the control "
            "and the expected loss come from the estimates (a normal approximation), not "
            "from the raw counts (a contextual policy sends each arm where it does well, so "
            "its raw mean flatters it); the allocation is the average of the logged "
            "vectors, since each decision's depends on its context")
    return notes


def _exploring(view: ExperimentView, rows: Sequence[ArmReport]) -> str:
    """Why an index policy (the UCB family) sends most decisions to an arm that does not
    lead (a trial read "A leads (P(best) >99%)" beside an allocation of A 1%, B 98%, and
    took it for a contradiction): its next decision goes to the highest upper bound."""
    if not view.policy.index_policy:
        return ""
    active = [r for r in rows if r.active]
    if len(active) < 2:
        return ""
    sent = max(active, key=lambda r: r.allocation)
    leader = max(active, key=lambda r: r.p_best)
    if sent.arm == leader.arm or sent.allocation < 0.5 or not (leader.answered or leader.prior):
        return ""
    return (f"{view.policy.name} sends each decision to the arm with the highest upper "
            f"bound: now {sent.arm}, still uncertain enough to be tried, not the leader "
            f"{leader.arm} (an index policy explores by turns, not by shares)")


#: an arm answered at most this share of the rate of the others, beyond chance (below
#: :data:`SRM_ALPHA`, Bonferroni over the arms), is named in the report's notes
_ANSWER_GAP = 0.5
#: fewest decisions of an arm whose answer rate is compared
_ANSWER_GAP_MIN = 30


def _answer_gap(rows: Sequence[ArmReport]) -> str:
    """The arms answered far less often than the others (their decisions, not the rewards
    added by hand): a reward that does not arrive for one arm (buttons that fail on its
    text, a message not delivered) or an arm its users do not answer. Either way its
    estimate reads only the decisions that were answered. Each arm against the others by
    Fisher's exact test (one-sided: answered less; the others' rate is estimated too),
    Bonferroni over the arms tested; named when below :data:`SRM_ALPHA` and at most
    :data:`_ANSWER_GAP` of the others' rate (a gap a reader would act on, not one a long log
    makes significant)."""
    from ..statistics import fisher_less_p_value

    counts = [(r.arm, r.pulls, round(max(r.answered - r.added, 0.0))) for r in rows
              if r.pulls >= _ANSWER_GAP_MIN]
    if len(counts) < 2:
        return ""
    decisions = sum(n for _, n, _ in counts)
    answered = sum(a for _, _, a in counts)
    named = []
    for arm, n, a in counts:
        rest = (answered - a) / (decisions - n)
        if rest <= 0.0 or a / n > _ANSWER_GAP * rest:
            continue
        if fisher_less_p_value(a, n, answered, decisions) * len(counts) < SRM_ALPHA:
            named.append(f"{arm} for {a / n:.0%} of its {n:,} decisions")
    if not named:
        return ""
    return (f"{'; '.join(named)} (all arms: {answered / decisions:.0%}): its "
            "rewards may be lost (buttons that fail on its text, a message not delivered) "
            "or its users do not answer it; its estimate reads only the decisions that were "
            "answered (the latest decisions count as unanswered until their answers come)")


#: a chance to beat the control this far from even, beside an uplift of the other sign, is
#: named in the report's notes (the two read the same data two ways)
_SPLIT_CHANCE = 0.9


def _split_verdicts(rows: Sequence[ArmReport]) -> str:
    """A note for the arms whose chance to beat the control (a posterior of the pooled
    counts, an operator prior included) is at least :data:`_SPLIT_CHANCE` one way while
    their uplift (the estimate that holds under adaptive allocation) points the other
    way; ``""`` when there is none."""
    split = []
    for a in rows:
        chance, uplift = a.chance_to_beat_control, a.uplift
        if chance is None or uplift is None:
            continue
        if (chance >= _SPLIT_CHANCE and uplift.diff < 0) or \
                (chance <= 1 - _SPLIT_CHANCE and uplift.diff > 0):
            split.append(f"{a.arm} (P(beat control) {chance:.0%}, uplift "
                         f"{uplift.diff:+.3g} [{uplift.low:+.3g}, {uplift.high:+.3g}])")
    if not split:
        return ""
    return (f"{', '.join(split)}: the chance to beat the control comes from the pooled "
            "counts (and any prior), which adaptive allocation biases; the uplift is the "
            "estimate that holds under it: go by the uplift")


def _contextual_summary(view: ExperimentView, summary: _Summary,
                        inference: AnytimeInference, active: npt.NDArray[np.bool_]
                        ) -> _Summary:
    """For a contextual experiment: P(best) and the posterior behind the chance to beat the
    control and the expected loss from the weighted AIPW estimates and their fixed-look
    intervals (a normal approximation on the [0, 1] scale), keeping the pooled means."""
    from scipy.special import ndtri

    z = float(ndtri(0.5 + inference.confidence / 2.0))
    mean = np.asarray(inference.weighted_estimate, dtype=np.float64)
    sd = (np.asarray(inference.fixed_high) - np.asarray(inference.fixed_low)) / (2.0 * z)
    known = np.isfinite(mean) & np.isfinite(sd)
    mean = np.where(known, mean, 0.0)
    sd = np.where(known, np.maximum(sd, 1e-9), 1e-9)
    posterior = NormalPosterior(mean, sd)
    usable = active & known
    if not usable.any():  # no estimate yet (a few answers): the counts' own summary, not
        return summary    # P(best) 0% for every arm
    p_best = _masked(usable, lambda m: posterior.subset(m).best_probabilities())
    return _Summary(summary.mean, summary.low, summary.high, p_best, summary.kind,
                    posterior)


def _arm_positions(view: ExperimentView, history: Sequence[AdminChange]) -> dict[str, int]:
    """Each arm's place in the experiment's arm list (:attr:`ArmReport.position`, which
    charts colour an arm by): the configured arms in the configuration's order, then the
    arms added at run time in the order the audit log's ``history`` added them first, then
    any it no longer holds. Neither a reset nor a retirement moves an arm (the report's rows
    leave out an arm retired before the reset), nor does an arm added later (a store keeps
    the added arms by id: ``aa`` added after ``yo`` came before it in ``view.all_arms``)."""
    arms = set(view.all_arms)
    added = [c.detail for c in history if c.action == "arm-add" and c.detail in arms]
    order = dict.fromkeys([*(a.id for a in view.config.arms if a.id in arms), *added,
                           *view.all_arms])
    return {a: i for i, a in enumerate(order)}


#: Answers an arm needs before the report shows its adaptively weighted estimate (and its
#: difference to the control): fewer make the point swing with the order of the answers.
MIN_ANSWERS = 10


def _estimates(view: ExperimentView, table: StatsTable, summary: _Summary,
               counts: Sequence[PeriodCounts], inference: AnytimeInference | None
               ) -> tuple[list[Estimate], str, FloatArray]:
    """The estimate each arm's line leads with, its name, and the answers it rests on per
    arm: the adaptively weighted AIPW estimate for a bounded reward (it survives any
    allocation, periods or not; it rests on the policy's answered decisions, not on rewards
    added by hand, imported or sticky), period-weighted means when the allocation was
    updated in periods (the allocated decisions' answers), else the summary's point and
    interval (every answer). Below :data:`MIN_ANSWERS` of those answers an arm has an
    interval and no point."""
    found, kind, rests = _unchecked_estimates(view, table, summary, counts, inference)
    # below MIN_ANSWERS the point swings with the order of the answers (one 👍 and one
    # 👎: 0.875 or 0.125; one rating of -12.5 read "-12.500"): no point yet, the interval
    # says what is known. The answers counted are those the estimate rests on (4 real ones
    # and 4,000 added by hand showed a point that the same report said left them out)
    return [(e[0] if rests[i] >= MIN_ANSWERS else math.nan, e[1], e[2], e[3])
            for i, e in enumerate(found)], kind, rests


def _unchecked_estimates(view: ExperimentView, table: StatsTable, summary: _Summary,
                         counts: Sequence[PeriodCounts], inference: AnytimeInference | None
                         ) -> tuple[list[Estimate], str, FloatArray]:
    """:func:`_estimates` with every point, however few answers it rests on."""
    arms = view.all_arms
    if inference is not None:
        rests = np.asarray(table.n, dtype=float) if inference.answered is None else \
            np.asarray(inference.answered, dtype=float)
        est = view.denormalize(inference.weighted_estimate)
        low = view.denormalize(inference.fixed_low)
        high = view.denormalize(inference.fixed_high)
        if view.span:  # the point within its interval, as the interval is within the
            # reward's range: on a few answers the weighted AIPW estimate leaves both (1.30
            # for a 👍 rate beside 0.55–0.995); inside [0, 1] it is always inside its interval
            with np.errstate(invalid="ignore"):
                est = np.clip(np.clip(est, view.lo, view.lo + view.span), low, high)
        return [(float(est[i]), float(low[i]), float(high[i]),
                 (float((high[i] - low[i]) / (2 * Z95))) ** 2) for i in range(len(arms))], \
            _aipw_kind(view), rests
    if view.span:
        # a bounded reward's estimate is the AIPW one, and without inference the policy has
        # no answered decision yet: no estimate, whatever was added by hand or imported
        # (20,000 rewards added by hand showed "1.000 (1.000–1.000)" as the estimate, the
        # posterior of the rows the estimate's caption says it leaves out)
        outside = float(table.n.sum())
        return [(math.nan,) * 4] * len(arms), _aipw_kind(view) + (
            f"; no answered decision of the policy yet ({count_text(outside, 'answer')} "
            "added by hand or imported are not in it)" if outside >= 0.5 else ""), \
            np.zeros(len(arms))
    periods = {c.allocation_id for c in counts}
    if len(periods) > 1:  # (an unbounded reward's variance has no floor: unknown)
        found = period_weighted(counts, arms)
        answered = dict.fromkeys(arms, 0.0)
        for c in counts:
            if c.arm in answered:
                answered[c.arm] += c.answered
        return [found.get(a, (math.nan,) * 4) for a in arms], \
            "period-weighted mean (95% confidence, normal)", \
            np.array([answered[a] for a in arms], dtype=float)
    out: list[Estimate] = []
    for i in range(len(arms)):
        n = float(table.n[i])
        if n <= 0:  # no answer, no estimate (a posterior's mean would be its prior's)
            out.append((math.nan,) * 4)
            continue
        m = float(table.total[i]) / n
        var = max(float(table.total_sq[i]) / n - m * m, 0.0) / n
        out.append((float(summary.mean[i]), float(summary.low[i]), float(summary.high[i]),
                    var))
    return out, summary.kind, np.asarray(table.n, dtype=float)


def _aipw_kind(view: ExperimentView) -> str:
    """The adaptively weighted estimate's caption."""
    # the interval's variance is a 0/1 reward's at the mean: exact for 👍/👎, the largest a
    # reward in the range can have otherwise (the sequences use the spread seen, so on
    # ratings they can be the narrower: said, not left to look like an error)
    wide = "" if view.config.reward.type == "binary" else \
        "; the interval allows the widest spread a reward in the range can have"
    return f"adaptively weighted AIPW estimate ({view.config.confidence:.0%} at this look" \
        f"{wide})"


def period_weighted(counts: Sequence[PeriodCounts], arms: Sequence[str], *,
                    min_variance: float = 0.0) -> dict[str, Estimate]:
    """Each arm's mean as a fixed-weight average of its per-period means (a period's weight:
    the answers it received across arms), with a normal 95% interval.

    Within a period the allocation is fixed, so each period's mean is an ordinary sample
    mean; weighting periods by fixed weights (GrowthBook's ``weight_by_period``, Optimizely's
    epochs) removes the bias a pooled mean has when both the allocation and the rewards
    change over time (Simpson's paradox). Periods in which an arm has no answer are left out
    of that arm's average. A period mean's variance uses the arm's variance over all its
    periods (at least ``min_variance``), so a period with one or two answers does not
    pretend to be exact.
    """
    weight: dict[str | None, float] = {}
    for c in counts:
        weight[c.allocation_id] = weight.get(c.allocation_id, 0.0) + c.answered
    out: dict[str, Estimate] = {}
    for arm in arms:
        cells = [c for c in counts if c.arm == arm and c.answered > 0]
        n = sum((c.answered for c in cells), 0.0)
        total = sum((weight[c.allocation_id] for c in cells), 0.0)
        if not cells or total <= 0:
            continue
        s = sum((c.reward_sum for c in cells), 0.0)
        spread = sum((c.reward_sum_sq for c in cells), 0.0) - s * s / n
        variance = max(spread / max(n - 1.0, 1.0), min_variance) if n > 1 else \
            max(min_variance, 0.0)
        mean = sum((weight[c.allocation_id] * c.reward_sum / c.answered for c in cells),
                   0.0) / total
        var = sum((weight[c.allocation_id] ** 2 * variance / c.answered for c in cells),
                  0.0) / (total * total)
        half = Z95 * math.sqrt(var)
        out[arm] = (mean, mean - half, mean + half, var)
    return out


def sample_ratio_check(periods: Sequence[AllocationRecord],
                       counts: Sequence[PeriodCounts]) -> SampleRatioCheck | None:
    """Whether the decisions per arm follow the allocations they were drawn from; ``None``
    when nothing can be tested.

    Two tests, each at half of :data:`SRM_ALPHA`, both valid however often the report is
    read: the decisions of **all periods** against what their allocations expect
    (:func:`_pooled_srm_p_value`: a loss that runs through every period, as a client that
    drops one arm's decisions, adds up there), and **each period that has ended** on its
    own (:func:`_srm_p_value`: exact, arm by arm), the ``r``-th to end at level
    ``α/2 · 6/(π² r²)`` (the levels sum to ``α/2``; a period is tested once it is over, so
    its verdict never changes). The reported p-value is the check's own, corrected for
    both (flagged below :data:`SRM_ALPHA`, however many periods an experiment runs and
    however often it is read: the worst of 400 periods at p < 0.001 flagged a fair router
    in 5 of 16 runs; with the running period in it and a Bonferroni correction its p-value
    swung between reads)."""
    from .._report import SampleRatioCheck

    observed: dict[str | None, dict[str, int]] = {}
    for c in counts:
        observed.setdefault(c.allocation_id, {})[c.arm] = c.decisions
    latest: dict[str, AllocationRecord] = {}
    ended: dict[str, float] = {}  # a period's id -> when the next one of its scope began
    for period in sorted(periods, key=lambda r: (r.scope, r.period)):
        before = latest.get(period.scope)
        if before is not None:
            ended[before.id] = period.created_at
        latest[period.scope] = period
    worst: tuple[float, str] | None = None
    for rank, period in enumerate(sorted((r for r in periods if r.id in ended),
                                         key=lambda r: (ended[r.id], r.scope, r.period)), 1):
        got = observed.get(period.id)
        if not got:
            continue
        p = period.probabilities
        keep = p > 0
        expected = sum(got.values()) * p[keep]
        seen = np.array([got.get(a, 0) for a, k in zip(period.arms, keep, strict=True) if k],
                        dtype=float)
        p_value = _srm_p_value(seen, expected)
        if p_value is not None:  # its share of α/2: 6/(π² rank²)
            spent = 2.0 * p_value * math.pi ** 2 * rank ** 2 / 6.0
            if worst is None or spent < worst[0]:
                worst = (spent, str(period.period))
    tested = [(period, observed[period.id]) for period in periods if observed.get(period.id)]
    pooled = _pooled_srm_p_value(tested, ended)
    candidates = []
    if pooled is not None:
        candidates.append((min(1.0, 2.0 * pooled), ""))
    if worst is not None:
        candidates.append((min(1.0, worst[0]), worst[1]))
    if not candidates:
        return None
    p_value, where = min(candidates)
    return SampleRatioCheck(p_value, p_value < SRM_ALPHA, where, len(tested))


def _logged_check(found: tuple[float, int] | None) -> SampleRatioCheck | None:
    """The check of an experiment without periods from its log's test (see
    :meth:`~banditbot.service._inference.InferenceCache.sample_ratio`)."""
    from .._report import SampleRatioCheck

    if found is None:
        return None
    p_value, decisions = found
    return SampleRatioCheck(p_value, p_value < SRM_ALPHA, "", 0, decisions)


def _pooled_srm_p_value(tested: Sequence[tuple[AllocationRecord, dict[str, int]]],
                        ended: Mapping[str, float]) -> float | None:
    """The anytime p-value of all periods' decisions per arm against what their
    allocations expect (:func:`~banditbot.statistics.period_ratio_anytime_p_value`: valid
    however often the report is read; the χ² of all periods pooled, which it replaced, was
    valid at one read); ``ended``: when each period that is over ended (the next one of its
    scope began). ``None`` with fewer than two arms to compare."""
    from ..statistics import period_ratio_anytime_p_value

    arms = sorted({a for period, _ in tested
                   for a, q in zip(period.arms, period.probabilities, strict=True) if q > 0})
    if len(arms) < 2:
        return None
    index = {a: i for i, a in enumerate(arms)}
    ordered = sorted(tested, key=lambda t: (t[0].scope, t[0].period))
    vectors, counts = np.zeros((len(ordered), len(arms))), np.zeros((len(ordered), len(arms)))
    starts = np.array([period.created_at for period, _ in ordered])
    ends = np.array([ended.get(period.id, math.inf) for period, _ in ordered])
    for row, (period, got) in enumerate(ordered):
        for a, q in zip(period.arms, period.probabilities, strict=True):
            vectors[row, index[a]] = max(q, 0.0)
        for a, c in got.items():
            if a in index:
                counts[row, index[a]] += c
    if len({period.scope for period, _ in ordered}) == 1:  # one bandit: periods in a row,
        # read at the end of the last one that ended (the martingale's values at the ends
        # of periods: the p-value never rises between reads; the running period is read
        # once it has ended)
        over = np.isfinite(ends)
        return period_ratio_anytime_p_value(vectors[over], counts[over])
    return period_ratio_anytime_p_value(vectors, counts, starts=starts, ends=ends)


def _srm_p_value(seen: FloatArray, expected: FloatArray) -> float | None:
    """The p-value of one period's decisions per arm against its allocation; ``None`` when
    it cannot be tested: each arm's count against its share by an exact two-sided binomial
    test, the smallest p-value times the number of arms tested (Bonferroni). Exact, so a
    period's p-value is never smaller than chance allows, however few decisions the period
    has: the check multiplies the worst period's by the number of periods, which the χ²
    approximation (on cells expected 5 or more times) did not bear far in its tail, nor an
    arm at a floor-sized share."""
    from scipy.special import bdtr, bdtrc

    n = round(float(seen.sum()))
    total = float(expected.sum())
    if n == 0 or total <= 0.0 or expected.size < 2:
        return None
    tails = []
    for k, e in zip(seen, expected, strict=True):
        share, count = float(e) / total, round(float(k))
        if 1.0 <= share * n <= n - 1.0:  # (an arm expected less than once tells nothing)
            low = float(bdtr(count, n, share))
            high = float(bdtrc(count - 1, n, share)) if count else 1.0
            tails.append(min(1.0, 2.0 * min(low, high)))  # two-sided: twice the smaller tail
    if not tails:
        return None
    return min(1.0, min(tails) * len(tails))


def _anytime(view: ExperimentView, inference: AnytimeInference | None
             ) -> list[tuple[float, float]]:
    """Each arm's confidence sequence on the reward's scale (NaN without inference)."""
    k = len(view.all_arms)
    if inference is None:
        return [(math.nan, math.nan)] * k
    low, high = view.denormalize(inference.low), view.denormalize(inference.high)
    return [(float(low[i]), float(high[i])) for i in range(k)]


def _anytime_uplift(view: ExperimentView, inference: AnytimeInference, arm: int,
                    control: int) -> Uplift | None:
    """An arm against the control over the decisions that offered both, with the stopping
    rule's sequence for it (valid at every look): the point is the mean AIPW score
    difference on those decisions, the quantity the sequence bets on. (The difference of
    the arms' own estimates rests on each arm's own decisions: a retired arm's point moved
    with the control's later decisions, +0.196, +0.191, +0.181, beside an interval that
    stayed.) A state without the paired estimate (an older version's) falls back to it."""
    from .._report import Uplift

    span = view.span or 1.0
    est = inference.weighted_estimate
    paired = inference.pair_estimate
    shared = inference.pair_decisions
    share = inference.pair_control_share
    diff = float(paired[arm] if paired is not None else est[arm] - est[control]) * span
    low, high = float(inference.diff_low[arm]) * span, float(inference.diff_high[arm]) * span
    if not all(math.isfinite(x) for x in (diff, low, high)):
        return None
    # relative to the control's estimate the table shows, whose interval is checked (the
    # control's mean over the paired decisions alone, a few after an arm was added, had
    # made +0.374 a "+230%")
    base = float(view.denormalize(est[control:control + 1])[0])
    base_low = float(view.denormalize(inference.fixed_low[control:control + 1])[0])
    lo, hi = min(low, diff), max(high, diff)
    return Uplift(diff, lo, hi, _relative(diff, base, base_low, hi - lo),
                  None, None, "confidence sequence (valid at every look)",
                  decisions=None if shared is None else int(shared[arm]),
                  control_share=None if share is None or not math.isfinite(float(share[arm]))
                  else float(share[arm]))


def _bandit_vs_holdout(view: ExperimentView, inference: AnytimeInference) -> Uplift | None:
    """The bandit against the holdout ("what we had"), on the reward's scale
    (:meth:`~banditbot.statistics.AnytimeInference.against_holdout`)."""
    from .._report import Uplift

    found = inference.against_holdout(view.holdout) if view.control_index is not None \
        else None
    if found is None or inference.control is None:
        return None
    span = view.span or 1.0
    diff, low, high, joint = found[0] * span, found[1] * span, found[2] * span, found[3]
    c = inference.control
    base = float(view.denormalize(inference.weighted_estimate[c:c + 1])[0])
    base_low = float(view.denormalize(inference.fixed_low[c:c + 1])[0])
    return Uplift(diff, low, high, _relative(diff, base, base_low, high - low), None, None,
                  f"confidence sequence (valid at every look, jointly with the arms' at "
                  f">= {joint:.0%})")


def _policy_text(spec: PolicySpec) -> str:
    """``epsilon-greedy(epsilon=0.2, initial_value=0)``: the experiments file's policy as it
    describes itself, its defaults included (as a switch records it: the file's
    ``thompson`` and a switch back to it read as two policies)."""
    return spec.build().describe()


def _describe_rule(rule: str, confidence: float, bounded: bool = True) -> str:
    if rule == "sequence" and not bounded:
        return ("confidence sequences, which need the reward's bounds: this reward has none, "
                "so no winner is named (set the reward's min and max, or winner.rule: p-best)")
    if rule == "sequence":
        return (f"the leader's confidence sequences against every other active arm exclude 0 "
                f"(P(a wrong winner) <= {1 - confidence:.0%} while the arms' rates hold "
                "steady, however often the report is read)")
    return (f"P(best) >= the threshold (a description: repeated looks make it name a wrong "
            f"winner far more often than {1 - confidence:.0%})")


def _relative(diff: float, base: float, base_low: float, width: float | None = None
              ) -> float | None:
    """``diff`` relative to the control's estimate ``base``; ``None`` unless the control's
    interval (lower end ``base_low``) lies above half of its estimate (the estimate known
    to within a factor of 2) and the arm's estimate (``base + diff``) is at least 0: a
    control estimate a hair from 0 (every reward 0) made any difference a huge or
    sign-flipped percentage ("+0.002 (+484%)", "+0.004 (-176%)"), and a control of 3
    successes in 126 decisions (interval from near 0) a "+723%" where the truth was +50%.

    ``width``: the width of the difference's interval, for a relative change shown
    without its own interval: ``None`` unless it is at most ``base`` (the change known to
    within ±50 points). A trial's arm added late read "+0.374 (+230.2%)" beside an
    interval of -1.000 to +1.000, where the truth was +67%."""
    if not (base > 0.0 and base_low > 0.5 * base) or base + diff < 0.0 or \
            not math.isfinite(diff / base) or (width is not None and not width <= base):
        return None
    return diff / base


def _uplift(arm: Estimate, control: Estimate) -> Uplift | None:
    """Difference and relative change of an arm's estimate against the control's (normal
    95% intervals from the two arms' intervals, as for a fixed sample)."""
    from .._report import Uplift

    (a, al, ah, va), (c, cl, ch, vc) = arm, control
    if not all(math.isfinite(x) for x in (a, c, va, vc)):
        return None
    # the spreads of the intervals the table shows (a posterior's, prior included), where
    # there are: the sample's variance made the uplift narrower than the two intervals
    # shown beside it, and a control's relative change was given where its shown interval
    # reached below half its estimate (a trial: "+135%" beside 5.8-33.7 around 19.7)
    if all(math.isfinite(x) for x in (al, ah, cl, ch)):
        va, vc = ((ah - al) / (2 * Z95)) ** 2, ((ch - cl) / (2 * Z95)) ** 2
    diff = a - c
    half = Z95 * math.sqrt(va + vc)
    rel = rel_lo = rel_hi = None
    if _relative(diff, c, c - Z95 * math.sqrt(vc)) is not None:
        rel = diff / c
        rel_half = Z95 * math.sqrt(va / c ** 2 + a * a * vc / c ** 4)
        rel_lo, rel_hi = rel - rel_half, rel + rel_half
    return Uplift(diff, diff - half, diff + half, rel, rel_lo, rel_hi,
                  "95% interval (normal, from the two arms' intervals as for a fixed "
                  "sample: not corrected for the adaptive allocation)")


def _chance_to_beat(posterior: Posterior, arm: int, control: int) -> float:
    """P(the arm's mean > the control's) under the posterior, computed exactly (two arms'
    P(best)): sampled, identical arms showed 51% and 50% beside each other."""
    pair = [arm, control]
    if isinstance(posterior, BetaPosterior):
        p = beta_best_probabilities(np.maximum(posterior.a[pair], 1e-9),
                                    np.maximum(posterior.b[pair], 1e-9))
    else:
        p = normal_best_probabilities(posterior.mean_[pair], np.maximum(posterior.sd[pair],
                                                                        1e-12))
    return float(p[0])


def _posterior_draws(posterior: Posterior, active: npt.NDArray[np.bool_]
                     ) -> FloatArray | None:
    """``(draws, K)`` samples of the arm means (a fixed seed: the same report twice gives
    the same numbers); ``None`` without an active arm."""
    if not active.any():
        return None
    rng = np.random.default_rng(0)
    if isinstance(posterior, BetaPosterior):
        a = np.maximum(posterior.a, 1e-9)
        b = np.maximum(posterior.b, 1e-9)
        out: FloatArray = rng.beta(a, b, size=(_DRAWS, a.size))
    else:
        out = posterior.mean_ + posterior.sd * rng.standard_normal((_DRAWS,
                                                                     posterior.mean_.size))
    out[:, ~active] = -np.inf
    return out


def _masked(mask: npt.NDArray[np.bool_], fn: Callable[[npt.NDArray[np.bool_]], FloatArray]
            ) -> FloatArray:
    out = np.zeros(mask.shape[0])
    if mask.any():
        out[mask] = fn(mask)
    return out


def _opt(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)
