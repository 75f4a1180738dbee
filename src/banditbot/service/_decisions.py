"""Decisions: choose an arm, log it with its propensity, answer with the content.

The public two-phase form (:meth:`DecisionsMixin.plan_decision` →
:meth:`DecisionsMixin.commit_decision`) lets a caller log the decision when it suits it: the
HTTP server writes many in one group commit; the Telegram bot logs a decision only once
Telegram has taken its message. :meth:`DecisionsMixin.decide` is both in one call.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._config import BLANK_SUBJECT, control_character_problem
from .._errors import ConfigError, KeyReusedError, PayloadError, StoreError, UnknownArmError
from .._features import check_context
from .._types import BoolArray, FloatArray, mypyc_attr, new_tuple
from .._values import blank_text
from ..policies import (
    ArmStats,
    ThompsonSampling,
    beta_posterior,
    draw_cumulative,
    explore_contenders,
    pick_arm,
)
from ..policies._scalar import FLOAT_ARMS, least
from ..stores import (
    NO_VECTOR,
    AllocationRecord,
    CountRows,
    DecisionRecord,
    FiniteCounts,
    KeyedDecision,
    MemoryStore,
    ResolvedVector,
    StatsTable,
    close_scan,
    deferred_vector,
    draw_deferred,
    resolve_propensities,
)
from ._allocation import (
    Shaped,
    burn_in_progress,
    due_reason,
    lane_vector,
    new_allocation,
    shape,
)
from ._core import Subject, VectorKeeper, new_id, subject_text
from ._idempotency import IDEMPOTENCY_SECONDS, RequestKey, request_key
from ._rewards import RewardsMixin
from ._view import ExperimentView, LaneVector

__all__ = ["MAX_SUBJECT", "TELEGRAM_ID_PREFIX", "Decision", "DecisionsMixin", "PlannedDecision",
           "made_by_telegram"]

#: The longest subject id a decision takes
MAX_SUBJECT = 128
#: How the id of a decision the Telegram bot made begins (its origin, kept where the
#: decision is: the HTTP API refuses a decide key's reward of such a decision)
TELEGRAM_ID_PREFIX = "tg-"


def made_by_telegram(decision_id: str) -> bool:
    """Whether the Telegram bot made the decision with this id (its id begins with
    :data:`TELEGRAM_ID_PREFIX`; decisions logged before ids said so do not).

    Parameters
    ----------
    decision_id
        A decision's id, as a caller gave it.

    Returns
    -------
    bool
        ``True`` for the bot's decisions: their reward comes from the user's button (or
        an admin), never from an HTTP client's decide key.

    Examples
    --------
    >>> made_by_telegram("tg-65f0a1b2" + "0" * 24), made_by_telegram("65f0a1b2" + "0" * 24)
    (True, False)
    """
    return decision_id.startswith(TELEGRAM_ID_PREFIX)


class Decision(NamedTuple):
    """A decision returned to the caller: show ``content``, later report the reward.

    ``propensity`` is NaN for a decision whose propensity is computed from its logged
    posterior (``propensity: deferred``); ``probabilities`` computes it when read."""

    id: str
    experiment: str
    arm: str
    content: str
    propensity: float
    probabilities: Mapping[str, float]
    subject: str
    created_at: float
    scope: str = ""
    #: ``policy`` (drawn from the allocation), ``holdout`` (the control's fixed share) or
    #: ``sticky`` (the subject's held arm)
    kind: str = "policy"
    #: whether this is an earlier decision answered again: its idempotency key came before
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data (what the HTTP API and the CLI print). A deferred
        decision's propensity and probabilities are ``None`` (``propensity_from:
        posterior``: the log has them, computed when read — not on the answer's path)."""
        deferred = math.isnan(self.propensity)
        return {"decision_id": self.id, "experiment": self.experiment, "arm": self.arm,
                "content": self.content, "propensity": None if deferred else self.propensity,
                "probabilities": None if deferred else dict(self.probabilities),
                "propensity_from": "posterior" if deferred else "decision",
                "created_at": self.created_at, "kind": self.kind}


class PlannedDecision(NamedTuple):
    """A decision that was made but not yet logged (see :meth:`BanditService.plan_decision`):
    ``decision`` is the answer to give once ``record`` is committed. An idempotency key that
    came before plans its earlier decision again (``decision.replayed``: nothing to commit).
    """

    record: DecisionRecord
    decision: Decision


@mypyc_attr(native_class=False)  # (a named tuple's subclass stays a Python class)
class _KeyedPlan(PlannedDecision):
    """A planned decision whose idempotency key is committed with it (still the pair a
    caller unpacks; commit it as returned: a pair rebuilt from its parts has no key)."""

    key: RequestKey

    def _replace(self, **changes: Any) -> _KeyedPlan:
        plan = super()._replace(**changes)  # (a new tuple: the key is not a field)
        plan.key = self.key
        return plan


def _planned(record: DecisionRecord, decision: Decision,
             key: RequestKey | None) -> PlannedDecision:
    """A planned decision, with its idempotency key if there is one."""
    if key is None:
        return PlannedDecision(record, decision)
    plan = _KeyedPlan(record, decision)
    plan.key = key
    return plan


#: the smallest Beta shape a deferred decision draws from (below it: the exact path)
_DEFER_MIN_SHAPE = 0.1


def _subject_text(subject: object, what: str = "subject",
                  hint: str = "e.g. the user's id in your app") -> str:
    """:func:`subject_text`, refusing what is neither text nor a whole number (``what``:
    the argument's name in the refusal)."""
    text = subject_text(subject)
    if text is None:
        raise PayloadError(f"a {what} is text or a whole number, got "
                           f"{type(subject).__name__}", hint=hint)
    return text


def _chat_text(chat: Subject | None) -> str | None:
    """A chat id as the log keeps it (a Telegram chat's is a whole number), before the
    idempotency key's fingerprint reads it; ``None`` for no chat."""
    return None if chat is None else _subject_text(chat, "chat", "e.g. the chat's id")


def _of_scope(records: Iterator[DecisionRecord], scope: str, limit: int | None
              ) -> Iterator[DecisionRecord]:
    """The decisions of one scope, at most ``limit``; the store's scan is closed when the
    limit is reached (a SQLite scan left open holds its snapshot, and a write that keeps
    vectors after it would wait for nothing)."""
    try:
        yield from itertools.islice((r for r in records if r.scope == scope), limit)
    finally:
        close_scan(records)


def _float_counts(view: ExperimentView, counts: CountRows
                  ) -> tuple[list[float], list[float]] | None:
    """Each arm's answers and reward total on the policy's scale; ``None`` when a counter is
    not finite (the general path sets that arm aside, with a warning)."""
    n, totals = counts.n, counts.total
    if type(counts) is not FiniteCounts and not math.isfinite(
            sum(n, 0.0) + sum(totals, 0.0) + sum(counts.pulls, 0.0)
            + sum(counts.total_sq, 0.0)):
        return None
    if view.span and (view.lo != 0.0 or view.span != 1.0):
        lo, span = view.lo, view.span
        totals = [(t - c * lo) / span for c, t in zip(n, totals, strict=True)]
    return n, totals


class DecisionsMixin(RewardsMixin):
    """Decide, and its two phases."""

    def _setup(self) -> None:
        super()._setup()
        #: how long an idempotency key stands for its decision, in seconds (a day)
        self.idempotency_seconds = IDEMPOTENCY_SECONDS

    def decide(self, experiment: str, subject: Subject,
               context: Mapping[str, Any] | None = None, *, chat: Subject | None = None,
               sticky: bool = False, idempotency_key: str | None = None,
               caller: str | None = None) -> Decision:
        """Choose an arm for ``subject`` and log the decision with its propensity.

        Parameters
        ----------
        experiment
            Experiment id.
        subject
            Who the decision is for (e.g. a Telegram user id; a number is taken as its
            text); only they can reward it.
        context
            Features of this moment (logged; used by contextual policies).
        chat
            Chat id, for experiments with ``scope: chat`` (text, or a whole number as
            Telegram's are: taken as its digits).
        sticky
            Give this subject the same arm again for the experiment's ``sticky_seconds``
            (logged as a ``sticky`` decision with propensity 1, so off-policy evaluation does
            not mistake it for a policy choice).
        idempotency_key
            The client's key for this request (1–255 printable ASCII characters), sent
            again with each retry of it: within :attr:`idempotency_seconds` (a day) the
            same request with the same key is answered with the decision the first one
            made (``replayed``), and nothing is logged again; across processes and hosts
            that share the store, and for concurrent retries too (one decision is logged).
        caller
            Who sends the key (the HTTP API passes its API key's identity): keys of
            different callers never meet. Keys are per experiment too.

        Raises
        ------
        UnknownExperimentError
            No such experiment.
        PayloadError
            ``subject`` is not 1–128 characters of text (a whole number, numpy's too, is
            taken as its text; ``None``, bytes, a float, a bool, blank text, control
            characters, tabs, line feeds and carriage returns are refused, as the HTTP API
            refuses them, in both builds; Unicode's line separator is not one of them), or
            a chat is missing for a ``scope: chat`` experiment, or the idempotency key is
            not 1–255 printable ASCII characters.
        KeyReusedError
            The idempotency key came before with another request (another subject,
            context, chat or sticky flag).
        """
        chat = _chat_text(chat)
        if idempotency_key is not None:
            return self._decide_keyed(experiment, subject, context, chat, sticky,
                                      idempotency_key, caller)
        if sticky:
            return self._sticky(experiment, subject, context, chat)
        record, decision = self._plan(experiment, subject, context, chat)
        self._commit(record)
        return decision

    def plan_decision(self, experiment: str, subject: Subject,
                      context: Mapping[str, Any] | None = None, *,
                      chat: Subject | None = None, idempotency_key: str | None = None,
                      caller: str | None = None, telegram: bool = False) -> PlannedDecision:
        """Everything :meth:`decide` does except logging the decision: the record to write
        with :meth:`commit_decision` and the answer to give once it is written (with an
        ``idempotency_key`` that came before: the earlier decision, nothing to write). A
        plan with a key carries it to :meth:`commit_decision`: commit the plan itself (or
        its ``_replace``), not a pair rebuilt from ``record`` and ``decision``.

        ``telegram``: the Telegram bot's decision. Its id says so (it begins with
        :data:`TELEGRAM_ID_PREFIX`; see :func:`made_by_telegram`), and the HTTP API lets
        only an admin key reward it: the user's own button counts it."""
        chat = _chat_text(chat)
        if idempotency_key is not None:
            key = self._request_key(experiment, subject, context, chat, False,
                                    idempotency_key, caller)
            held = self.store.keyed_decision(key.key)
            if held is not None:
                return self._replay(held, key)
            return _planned(*self._plan(experiment, subject, context, chat, telegram), key)
        return PlannedDecision(*self._plan(experiment, subject, context, chat, telegram))

    def _request_key(self, experiment: str, subject: Subject, context: Mapping[str, Any] | None,
                     chat: str | None, sticky: bool, idempotency_key: str,
                     caller: str | None) -> RequestKey:
        return request_key(idempotency_key, caller=caller,
                           experiment=self.config.experiment(experiment).id,
                           subject=_subject_text(subject),
                           context=context, chat=chat, sticky=sticky)

    def _decide_keyed(self, experiment: str, subject: Subject,
                      context: Mapping[str, Any] | None, chat: str | None, sticky: bool,
                      idempotency_key: str, caller: str | None) -> Decision:
        """:meth:`decide` with an idempotency key."""
        if not sticky:
            return self.commit_decision(self.plan_decision(
                experiment, subject, context, chat=chat, idempotency_key=idempotency_key,
                caller=caller))
        key = self._request_key(experiment, subject, context, chat, True, idempotency_key,
                                caller)
        held = self.store.keyed_decision(key.key)
        if held is not None:
            return self._replay(held, key).decision
        return self._sticky(experiment, subject, context, chat, key)

    def _replay(self, held: KeyedDecision, key: RequestKey) -> PlannedDecision:
        """The decision an idempotency key stands for, answered again (``replayed``)."""
        if held.fingerprint != key.fingerprint:
            raise KeyReusedError("this idempotency key was used for another request (another "
                                 "subject, context, chat or sticky flag)",
                                 hint="send a new key with each new decision request")
        record = self.store.get_decision(held.decision_id)
        if record is None:
            raise StoreError("the decision of this idempotency key is no longer in the log",
                             hint="send the request with a new key")
        probabilities: _ProbabilityMap
        if record.posterior is not None:  # deferred: answered without it, as the first time
            propensity = math.nan
            probabilities = _DeferredMap(record.arms, record.policy, record.posterior)
        else:
            propensity = record.propensity
            probabilities = _ProbabilityMap(record.arms, record.probabilities)
        content = self.view(record.experiment).contents.get(record.arm, "")
        return PlannedDecision(record, Decision(
            record.id, record.experiment, record.arm, content, propensity, probabilities,
            record.subject, record.created_at, record.scope, record.kind, True))

    def _plan(self, experiment: str, subject: Subject, context: Mapping[str, Any] | None,
              chat: str | None, telegram: bool = False) -> tuple[DecisionRecord, Decision]:
        """:meth:`plan_decision` as a plain pair (what :meth:`decide` commits at once)."""
        if telegram:  # (the bot's path, not the HTTP API's: a copy of each costs nothing)
            record, decision = self._plan(experiment, subject, context, chat)
            ident = TELEGRAM_ID_PREFIX + record.id
            return record._replace(id=ident), decision._replace(id=ident)
        if context is not None:
            context = check_context(context)
        view, scope, now = self._prepare_decision(experiment, subject, chat)
        allocation_id = None
        lane = None
        if view.lean and (not view.burn_in or self._burn_in_known_over(view, scope)):
            # the lean path (see ExperimentView.lean): the policy's vector on the counters
            # as read, its shaped lane kept by the vector's identity, a bisection
            store = self.store
            if type(store) is MemoryStore:  # (compiled, a direct call: see MemoryStore)
                rows = store.read_counts(view.id, view.meta.generation, scope, view.arms,
                                         after_meta=True)
            else:
                rows = store.read_counts(view.id, view.meta.generation, scope, view.arms,
                                         after_meta=True)
            rule = view.rule
            if type(rows) is FiniteCounts and rule is not None:
                vector = rule.vector(rows.n, rows.total)
                lane = view.lane_memo.get(id(vector))
                if lane is None or lane.policy is not vector:
                    lane = lane_vector(view, vector)
                p = lane.array
                index, kind = draw_cumulative(lane.cumulative, self.draws.random()), "policy"
        if lane is None:  # the general path
            if view.every_decision:
                counts = self._float_read(view, scope)
                few = _float_counts(view, counts) if counts is not None else None
                if few is not None and view.deferred is not None:
                    posterior, shapes = self._counts_posterior(view, few)
                    planned = self._deferred(view, posterior, shapes, str(subject), context,
                                             scope, now)
                    if planned is not None:
                        return planned
                lane = self._lane(view, few) \
                    if few is not None and (view.lane or view.posterior_lane) else None
                if lane is not None:
                    p = lane.array
                else:  # (the counters already read are the table: no second read)
                    table = StatsTable.of_counts(view.arms, counts) \
                        if counts is not None and not view.needs_extra else \
                        self._read_table(view, scope, now)
                    if view.deferred is not None and few is None \
                            and self._past_burn_in(view, table, scope):
                        planned = self._deferred(view, self._posterior(view, table, context),
                                                 None, str(subject), context, scope, now)
                        if planned is not None:
                            return planned
                    p = self._shaped(view, table, context, now, scope).probabilities
            else:
                allocation = self.current_allocation(view, scope, now)
                p, allocation_id = allocation.probabilities, allocation.id
            index, kind = self._sample(view, p, lane)
        arm = view.arms[index]
        # every field in order (see new_tuple); check_context's result is already the
        # decision's own copy
        record = new_tuple(DecisionRecord, (
            new_id(), view.id, view.meta.generation, scope, arm,
            lane.floats[index] if lane is not None else float(p[index]), view.arms,
            p, view.policy_json, str(subject), now, context or None, kind, None, None, 1.0,
            allocation_id, None))
        return record, new_tuple(Decision, (
            record.id, view.id, arm, view.contents[arm], record.propensity,
            _ProbabilityMap(view.arms, p), record.subject, now, scope, kind, False))

    def _past_burn_in(self, view: ExperimentView, table: StatsTable, scope: str) -> bool:
        """Whether this scope's burn-in is over, from ``table`` when this process has not
        seen it end (a new process, a CLI call: its first decision is not left to the exact
        path for that alone)."""
        if self._burn_in_known_over(view, scope):
            return True
        progress = burn_in_progress(view, table)
        if progress is not None and not progress.done:
            return False
        self._burned_in.add((view.id, view.meta.generation, scope, view.arms))
        return True

    def _burn_in_known_over(self, view: ExperimentView, scope: str) -> bool:
        """Whether this scope has no burn-in or this service has seen it end (no read)."""
        return not view.burn_in or \
            (view.id, view.meta.generation, scope, view.arms) in self._burned_in

    def _float_read(self, view: ExperimentView, scope: str) -> CountRows | None:
        """The counters of a bandit as Python floats, when its decision can be made on them
        (see :func:`_float_counts`): a policy of counts and totals alone (``view.lane``)
        with up to ``LANE_ARMS`` arms, exact Beta Thompson sampling with as many
        (``view.posterior_lane``), or deferred Thompson sampling (a posterior is counts and
        totals, whatever the number of arms), past burn-in (known to this service) and
        without a winner; ``None`` leaves the decision to the general path."""
        if not view.float_read or (view.burn_in and not self._burn_in_known_over(view, scope)):
            return None
        # (the view has just read the meta: one snapshot, one cache check)
        store = self.store
        if type(store) is MemoryStore:  # (compiled, a direct call: see MemoryStore)
            return store.read_counts(view.id, view.meta.generation, scope, view.arms,
                                     after_meta=True)
        return store.read_counts(view.id, view.meta.generation, scope, view.arms,
                                 after_meta=True)

    def _counts_posterior(self, view: ExperimentView, few: tuple[list[float], list[float]]
                          ) -> tuple[FloatArray, list[float] | None]:
        """``[λ, a…, b…]`` of deferred Thompson sampling from the arms' counters
        (:func:`~banditbot.policies.beta_posterior` on Python floats; an operator prior
        replaces the policy's ``(alpha, beta)``), and for a few arms ``[a…, b…]`` as the
        Python floats it was built from (the draw and its check read them, not the array)."""
        assert view.deferred is not None
        a, b = self._counts_ab(view, few)
        if isinstance(a, list):  # a few arms: Python floats, one conversion
            row = [view.deferred, *a, *b]
            # (fromiter: one pass over the floats, where np.array looks at them twice first:
            # 1.5 against 2.2 µs for 50 arms)
            return np.fromiter(row, np.float64, len(row)), row[1:]
        return np.concatenate(((view.deferred,), a, b)), None

    @staticmethod
    def _counts_ab(view: ExperimentView, few: tuple[list[float], list[float]]
                   ) -> tuple[list[float], list[float]] | tuple[FloatArray, FloatArray]:
        """Beta Thompson sampling's ``(a, b)`` per arm from the counters read as floats:
        :func:`~banditbot.policies.beta_posterior`'s arithmetic (an operator prior replaces
        the policy's ``(alpha, beta)``), on Python floats for a few arms, else on arrays."""
        policy = view.policy
        assert isinstance(policy, ThompsonSampling)
        counts, sums = few
        if len(counts) > FLOAT_ARMS:
            n_arms, t_arms = np.array(counts), np.array(sums)
            return beta_posterior(ArmStats(n_arms, t_arms, t_arms, view.prior_alpha,
                                           view.prior_beta, n_arms), policy.alpha, policy.beta)
        k, priors = len(counts), view.prior_lists
        if len(sums) != k or (priors is not None and len(priors[0]) != k):
            raise ValueError(f"{k} counts, {len(sums)} totals and "
                             f"{len(priors[0]) if priors is not None else k} priors: the "
                             "arms' counters differ")
        # (indexed, the policy's prior read once: compiled, a loop in C)
        pa, pb = policy.alpha, policy.beta
        a_list: list[float] = []
        b_list: list[float] = []
        for i in range(k):
            c, t, ra, rb = counts[i], sums[i], pa, pb
            if priors is not None and priors[0][i] + priors[1][i] > 0.0:
                ra, rb = priors[0][i], priors[1][i]
            a_list.append(ra + max(t, 0.0))  # (as beta_posterior: none below 0)
            b_list.append(rb + max(c - t, 0.0))
        return a_list, b_list

    def _posterior(self, view: ExperimentView, table: StatsTable,
                   context: Mapping[str, Any] | None) -> FloatArray:
        """``[λ, a…, b…]`` of deferred Thompson sampling from ``table``."""
        policy = view.policy
        assert isinstance(policy, ThompsonSampling) and view.deferred is not None
        a, b = beta_posterior(view.policy_stats(table, context), policy.alpha, policy.beta)
        return np.concatenate(((view.deferred,), a, b))

    def _deferred(self, view: ExperimentView, posterior: FloatArray,
                  shapes: list[float] | None, subject: str,
                  context: Mapping[str, Any] | None, scope: str, now: float
                  ) -> tuple[DecisionRecord, Decision] | None:
        """A Thompson-sampling decision drawn from its ``posterior`` (``shapes``: its
        ``[a…, b…]`` as Python floats, or ``None``), logging it (``propensity: deferred``;
        see :mod:`banditbot.stores._propensity`). ``None`` leaves the decision to the exact
        path: a posterior with a shape below :data:`_DEFER_MIN_SHAPE` (an operator prior
        ``b = 0``, a tiny ``alpha``), where Gamma draws underflow and would not follow the
        vector computed later."""
        if (least(shapes) if shapes is not None else posterior[1:].min()) < _DEFER_MIN_SHAPE:
            return None
        policy = view.policy
        assert isinstance(policy, ThompsonSampling)
        arm = view.arms[draw_deferred(policy, posterior, self.draws, shapes=shapes)]
        record = new_tuple(DecisionRecord, (  # (every field in order: see new_tuple)
            new_id(), view.id, view.meta.generation, scope, arm, math.nan, view.arms,
            NO_VECTOR, view.policy_json, subject, now, context or None, "policy", None, None,
            1.0, None, posterior))
        return record, new_tuple(Decision, (
            record.id, view.id, arm, view.contents[arm], math.nan,
            _DeferredMap(view.arms, view.policy_json, posterior), subject, now, scope,
            "policy", False))

    def _read_table(self, view: ExperimentView, scope: str | None, now: float,
                    arms: tuple[str, ...] | None = None) -> StatsTable:
        """The statistics a decision (or a report: ``arms``, default the active ones) reads:
        the extra fields only where the policy weighs them, the time buckets only where the
        experiment keeps them, and a discount's without its buckets when its epochs'
        weighted sums hold every reward that still weighs (a handful of fields an arm
        instead of three a bucket; see :mod:`banditbot.service._decay`)."""
        generation, arms = view.meta.generation, view.arms if arms is None else arms
        if view.discount_half_life() is not None:
            table = self.store.read_stats(view.config.id, generation, scope, arms,
                                          time_buckets=False)
            if view.weighs_without_buckets(table, now):
                return table
        return self.store.read_stats(view.config.id, generation, scope, arms,
                                     with_extra=view.needs_extra,
                                     time_buckets=view.config.time_bucket_seconds is not None)

    def _contenders(self, view: ExperimentView, scope: str) -> BoolArray | None:
        """With ``winner.explore``, the active arms the winner rule has not ruled out (from
        the log; ``None`` when exploration is off or there is nothing to go by yet)."""
        if view.config.winner.explore == "none" or view.served is not None:
            return None
        table = self.store.read_stats(view.config.id, view.meta.generation, scope,
                                      view.all_arms, with_extra=False)
        inference = self._inference.get(self.store, view, scope, float(table.pulls.sum()),
                                        float(table.n.sum()))
        if inference is None:
            return None
        alive = dict(zip(view.all_arms, inference.decision.contenders.tolist(), strict=True))
        out = np.array([bool(alive[a]) for a in view.arms])
        return out if out.any() else None

    def _shaped(self, view: ExperimentView, table: StatsTable,
                context: Mapping[str, Any] | None, now: float, scope: str | None = None,
                *, explore: BoolArray | None = None) -> Shaped:
        """The allocation for the statistics in ``table``: the policy's vector shaped by
        winner, burn-in, floor and holdout (the policy is computed only when needed). A
        scope whose burn-in ended is remembered (counts only grow within a generation)."""
        burn_in = None
        if view.burn_in:
            key = (view.config.id, view.meta.generation, scope, view.arms)
            burn_in = None if key in self._burned_in else burn_in_progress(view, table)
            if burn_in is not None and burn_in.done and scope is not None:
                self._burned_in.add(key)
        vector = None
        if view.served is None and (burn_in is None or burn_in.done):
            vector = view.policy.probabilities(view.policy_stats(table, context, now=now))
            if explore is not None:  # top-two over the contenders; the floor comes after
                vector = explore_contenders(vector, explore, mode="top-two")
        return shape(view, vector, burn_in)

    def _lane(self, view: ExperimentView, few: tuple[list[float], list[float]]
              ) -> LaneVector:
        """The allocation of a bandit with up to ``LANE_ARMS`` arms on Python floats (see
        :meth:`_float_read`): what :meth:`_shaped` gives, for a policy of counts and totals
        alone, or for exact Thompson sampling (its vector from the posterior's ``(a, b)``)."""
        if view.posterior_lane:  # exact Thompson sampling: its vector from the posterior
            policy = view.policy
            assert isinstance(policy, ThompsonSampling)
            a, b = self._counts_ab(view, few)
            return lane_vector(view, policy.posterior_probabilities(
                np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)).tolist())
        counts, totals = few
        if view.prior_lists is not None:
            alpha, beta = view.prior_lists
            counts = [c + a + b for c, a, b in zip(counts, alpha, beta, strict=True)]
            totals = [t + a for t, a in zip(totals, alpha, strict=True)]
        assert view.rule is not None  # (the lane's policy has one)
        return lane_vector(view, view.rule.vector(counts, totals))

    def _sample(self, view: ExperimentView, p: FloatArray,
                lane: LaneVector | None = None) -> tuple[int, str]:
        """Draw an arm from the allocation ``p`` (``lane``: the same on Python floats):
        the holdout's share goes to the control (a ``holdout`` decision), the rest to the
        bandit's part of ``p``."""
        h, control = view.holdout, view.control_index
        if h <= 0.0 or control is None:  # (a holdout applies only with an active control)
            if lane is not None:
                return draw_cumulative(lane.cumulative, self.draws.random()), "policy"
            return pick_arm(p, self.draws.random()), "policy"
        if self.draws.random() < h:
            return control, "holdout"
        bandit = p.copy()
        bandit[control] -= h
        return pick_arm(np.maximum(bandit, 0.0), self.draws.random()), "policy"

    def current_allocation(self, view: ExperimentView, scope: str,
                           now: float) -> AllocationRecord:
        """The allocation period decisions of ``scope`` sample from now, starting a new one
        when it is due (cadence, burn-in ended, winner, admin change). The store decides
        which is current, so concurrent servers agree."""
        exp = view.config
        # (a decision: the view has just read the meta, one snapshot, one cache check)
        current = self.store.current_allocation(exp.id, view.meta.generation, scope,
                                                after_meta=True)
        reason = due_reason(view, current, now)
        table = None
        if reason is None and current is not None and current.reason == "burn-in":
            table = self._read_table(view, scope, now)
            progress = burn_in_progress(view, table)
            if progress is None or progress.done:
                reason = "burn-in ended"
        if reason is None:
            assert current is not None
            return current
        if table is None:
            table = self._read_table(view, scope, now)
        shaped = self._shaped(view, table, None, now, scope,
                              explore=self._contenders(view, scope))
        return self.store.start_allocation(
            new_allocation(view, scope, shaped, reason, current, now))

    def commit_decision(self, planned: PlannedDecision) -> Decision:
        """Log a planned decision (and remember it, so its reward skips a read). With an
        idempotency key that another request took meanwhile (a concurrent retry), nothing
        is logged and that request's decision is answered (``replayed``)."""
        if type(planned) is not _KeyedPlan:
            if not planned.decision.replayed:
                self._commit(planned.record)
            return planned.decision
        key = planned.key
        held = self.store.record_keyed_decision(planned.record, key.key, key.fingerprint,
                                                self.idempotency_seconds)
        if held.decision_id != planned.record.id:
            return self._replay(held, key).decision
        self._commit(planned.record, logged=True)
        return planned.decision

    def _prepare_decision(self, experiment: str, subject: Subject, chat: str | None
                          ) -> tuple[ExperimentView, str, float]:
        view = self.view(experiment)
        exp = view.config
        if not view.arms:
            raise UnknownArmError(f"experiment {exp.id!r} has no active arms",
                                  hint="add an arm with: banditbot arms add")
        if type(subject) is not str:
            subject = _subject_text(subject)
        # as the HTTP API has it, for every caller
        if not 0 < len(subject) <= MAX_SUBJECT:
            raise PayloadError(f"a subject is 1–{MAX_SUBJECT} characters, got {len(subject)}",
                               hint="e.g. the user's id in your app")
        if not subject.isprintable():  # (a C test; the exact rule only when it fails)
            problem = control_character_problem(subject, breaks=True)
            if problem is not None:
                raise PayloadError(f"a subject cannot hold {problem}",
                                   hint="e.g. the user's id in your app")
        if blank_text(subject):  # (a trial: "   " and "\u200b" were subjects)
            raise PayloadError(BLANK_SUBJECT, hint="e.g. the user's id in your app")
        now = self.clock()
        if view.implicit:
            self._maybe_settle(view, now)
        return view, "" if view.shared else self._scope(exp, subject, chat), now

    def _sticky(self, experiment: str, subject: Subject, context: Mapping[str, Any] | None,
                chat: str | None, key: RequestKey | None = None) -> Decision:
        """:meth:`decide` with ``sticky``."""
        context = check_context(context)
        view, scope, now = self._prepare_decision(experiment, subject, chat)
        if view.config.sticky_seconds <= 0:
            raise ConfigError(f"experiment {view.config.id!r} has no sticky assignment",
                              hint="set sticky_seconds in its config")
        return self._sticky_decision(view, str(subject), context, scope, now, key)

    def _sticky_decision(self, view: ExperimentView, subject: str,
                         context: Mapping[str, Any] | None, scope: str, now: float,
                         key: RequestKey | None = None) -> Decision:
        """The subject's held arm (a ``sticky`` decision, propensity 1), or a new decision
        whose arm becomes the held one. Two first requests at once cannot split: the hold is
        written under optimistic concurrency before the decision is logged, and the request
        that loses the write takes the winner's arm."""
        exp = view.config
        name = f"sticky:{exp.id}:{view.meta.generation}:{subject}"
        for _ in range(10):
            text, version = self.store.read_document(name)
            held = json.loads(text) if text else None
            if held and held["until"] > now and held["arm"] in view.arms:
                arm = held["arm"]
                probabilities = np.array([1.0 if a == arm else 0.0 for a in view.arms])
                record = DecisionRecord(
                    id=new_id(), experiment=exp.id,
                    generation=view.meta.generation, scope=scope, arm=arm, propensity=1.0,
                    arms=view.arms, probabilities=probabilities, policy=view.policy_json,
                    subject=subject, created_at=now,
                    context=dict(context) if context else None, kind="sticky")
                return self.commit_decision(_planned(record, Decision(
                    record.id, exp.id, arm, view.contents[arm], 1.0,
                    _ProbabilityMap(view.arms, probabilities), subject, now, scope,
                    "sticky"), key))
            planned = self.plan_decision(exp.id, subject, context,
                                         chat=scope.removeprefix("chat:") if scope else None)
            hold = json.dumps({"arm": planned.decision.arm, "until": now + exp.sticky_seconds})
            if self.store.write_document(name, hold, version):
                return self.commit_decision(_planned(*planned, key))
        raise StoreError(f"the sticky arm of {exp.id!r} is being changed concurrently",
                         hint="retry")

    def decisions(self, experiment: str, *, generation: int | None = None,
                  after_id: str | None = None, limit: int | None = None,
                  scope: str | None = None) -> Generator[DecisionRecord, None, None]:
        """The decision log of an experiment, oldest first (``scope``: one bandit's
        decisions only), each decision with its exact propensity (a deferred one's
        computed from its logged posterior, for the decisions returned only)."""
        exp = self.config.experiment(experiment)
        records = self.store.iter_decisions(exp.id, generation=generation, after_id=after_id,
                                            limit=None if scope is not None else limit)
        if scope is not None:  # the limit counts this scope's decisions
            records = _of_scope(records, scope, limit)
        return self._kept(records)

    def _kept(self, records: Iterator[DecisionRecord]
              ) -> Generator[DecisionRecord, None, None]:
        """:func:`~banditbot.stores.resolve_propensities`, the vectors it computes kept in
        the store once the read is over and the store's scan closed (a caller that stops
        early closes this generator and keeps them with :meth:`keep_vectors`)."""
        keeper = VectorKeeper(self)
        try:
            yield from resolve_propensities(records, computed=keeper.add)
        finally:
            close_scan(records)
        keeper.flush()

    def keep_vectors(self, records: Iterable[DecisionRecord]) -> None:
        """Keep in the store the vectors of the deferred decisions among ``records`` (read
        with :meth:`decisions`; a page of the log that did not read it to the end)."""
        keeper = VectorKeeper(self)
        for r in records:
            if r.posterior is not None and r.probabilities.size:
                keeper.add(ResolvedVector(r.id, r.posterior, r.probabilities, r.propensity))
        keeper.flush()


class _ProbabilityMap(Mapping[str, float]):
    """``arm -> probability`` view over the decision's vector (built lazily)."""

    __slots__ = ("_arms", "_p")

    def __init__(self, arms: tuple[str, ...], p: FloatArray | None) -> None:
        self._arms, self._p = arms, p

    def __reduce__(self) -> tuple[Any, ...]:
        # (pickle and deepcopy: a compiled class has no default way to be rebuilt)
        return _ProbabilityMap, (self._arms, self._p)

    def _vector(self) -> FloatArray:
        assert self._p is not None
        return self._p

    def __getitem__(self, key: str) -> float:
        try:
            return float(self._vector()[self._arms.index(key)])
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._arms)

    def __len__(self) -> int:
        return len(self._arms)

    def __repr__(self) -> str:
        return repr(dict(self))


class _DeferredMap(_ProbabilityMap):
    """``arm -> probability`` of a deferred decision: computed from its posterior when
    first read (in process only: the API's answer and the Telegram bot do not read it)."""

    __slots__ = ("_policy", "_posterior")

    def __init__(self, arms: tuple[str, ...], policy_json: str, posterior: FloatArray) -> None:
        super().__init__(arms, None)
        self._policy, self._posterior = policy_json, posterior

    def __reduce__(self) -> tuple[Any, ...]:
        return _DeferredMap, (self._arms, self._policy, self._posterior)

    def _vector(self) -> FloatArray:
        if self._p is None:
            self._p = deferred_vector(self._policy, self._posterior)
        return self._p
