"""Rewards: applied exactly once to the arm that was decided; implicit rewards for silence.

The public two-phase form (:meth:`RewardsMixin.plan_reward` → :meth:`RewardsMixin.
commit_reward`) lets a caller that batches writes (the HTTP server's group commit) run the
checks first and the write later; :meth:`RewardsMixin.reward` is both in one call.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
from collections import OrderedDict
from typing import Any, NamedTuple, cast

from .._config import ExperimentConfig
from .._errors import InvalidRewardError
from .._features import linear_extra
from .._text import duration_text
from .._types import new_tuple
from .._values import reward_number
from ..stores import ApplyResult, DecisionRecord, MemoryStore, resolve_propensities
from ._core import ServiceCore, Subject, subject_text
from ._decay import DISCOUNT_HALF_LIVES, base_field, reward_time_fields, stale_field
from ._view import ExperimentView

__all__ = ["PlannedReward", "RewardResult", "RewardStatus", "RewardsMixin"]

log = logging.getLogger("banditbot")


class _RewardFacts:
    """What a reward reads of its experiment's config, read once per service (a service's
    config does not change): compiled, native fields, where the config's own are looked up
    by name at each read."""

    __slots__ = ("arm_ids", "exp", "extra", "hi", "history", "id", "kind", "lo",
                 "time_buckets")

    def __init__(self, exp: ExperimentConfig) -> None:
        self.exp = exp
        self.id = exp.id
        self.kind = exp.reward.type  # (and its bounds: reward_number's rule)
        self.lo, self.hi = exp.reward.bounds
        self.extra = bool(exp.extra_stats)  # (the rewards' extra statistics)
        self.time_buckets = bool(exp.time_bucket_seconds)
        # (a feature that reads the subject's past rewards: they are counted too)
        self.history = any(f.name == "past_reward_rate" for f in exp.features)
        self.arm_ids = exp.arm_ids


#: a reward's write as the checks hand it on: the experiment, the decision, the value
_Write = tuple[_RewardFacts, DecisionRecord, float]
_DECISION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: unrewarded decisions a service remembers, so their reward skips a read (a few MB at most)
RECENT_DECISIONS = 4096


class RewardStatus(enum.StrEnum):
    """Outcome of :meth:`BanditService.reward`."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    UNKNOWN = "unknown"
    NOT_YOURS = "not_yours"
    INVALID = "invalid"


class RewardResult(NamedTuple):
    """What happened to a reward, with a short message fit for a program or a person
    (immutable; a named tuple, built on every reward)."""

    status: RewardStatus
    decision_id: str
    message: str
    arm: str | None = None
    value: float | None = None
    experiment: str | None = None
    #: the generation of the decision (a reset starts a new one; an answer to a decision
    #: from before it counts in the earlier results)
    generation: int | None = None

    @property
    def applied(self) -> bool:
        """Whether this call changed the statistics."""
        return self.status is RewardStatus.APPLIED


class PlannedReward(NamedTuple):
    """A reward that passed every check and is ready to be committed
    (see :meth:`BanditService.commit_reward`)."""

    experiment: ExperimentConfig
    record: DecisionRecord
    value: float


class RewardsMixin(ServiceCore):
    """Reward, its two phases, and implicit settlement."""

    def _setup(self) -> None:
        super()._setup()
        self._last_settle: dict[str, float] = {}
        self._settled_until: dict[str, float] = {}
        # decisions this service logged and nobody has rewarded yet through it: a reward
        # that finds its decision here skips reading it back from the store (a DynamoDB
        # round trip in a warm Lambda). Only immutable fields are used; the store's
        # conditional write still decides exactly-once.
        #: how many unrewarded decisions this service remembers (their rewards skip a read)
        self.recent_decisions = RECENT_DECISIONS
        self._unrewarded: OrderedDict[str, DecisionRecord] = OrderedDict()
        #: each experiment's facts a reward reads, by id (see _RewardFacts)
        self._reward_facts: dict[str, _RewardFacts] = {}
        # (experiment, generation, scope, arms) whose burn-in is over
        self._burned_in: set[tuple[str, int, str | None, tuple[str, ...]]] = set()
        # (experiment, generation) -> the time bucket at which old ones were last dropped
        self._buckets_pruned: dict[tuple[str, int], int] = {}

    def _commit(self, record: DecisionRecord, *, logged: bool = False) -> None:
        """Log a decision (``logged``: the store has it already) and remember it, so its
        reward skips a read."""
        store = self.store
        if not logged:
            if type(store) is MemoryStore:  # (compiled, a direct call: see MemoryStore)
                store.record_decision(record)
            else:
                store.record_decision(record)
        # no lock: each OrderedDict operation is atomic (C code, str keys); a race between
        # two threads at the bound only forgets one decision more or less
        recent = self._unrewarded
        recent[record.id] = record
        if len(recent) > self.recent_decisions:  # forget the oldest (O(1): a plain dict
            with contextlib.suppress(KeyError):  # would walk the deleted slots at its front)
                recent.popitem(last=False)

    def reward(self, decision_id: str, value: Any = None, subject: Subject | None = None, *,
               option: int | None = None) -> RewardResult:
        """Apply the reward of a decision, exactly once.

        Parameters
        ----------
        decision_id
            The id returned by :meth:`decide`.
        value
            The reward; must fit the experiment's reward spec.
        subject
            Who is rewarding; must be the decision's subject. ``None`` skips the check
            (trusted callers such as the CLI).
        option
            Instead of ``value``: the index of the feedback button pressed (its value comes
            from the experiment's reward spec). Both given is ``invalid``.

        Returns
        -------
        RewardResult
            ``applied``, ``duplicate`` (already rewarded), ``unknown`` (no such decision),
            ``not_yours`` (someone else's decision) or ``invalid`` (value not allowed). Only
            ``applied`` changed anything.
        """
        checked = self._check_reward(decision_id, value, subject, option)
        if type(checked) is tuple:  # (the write to make; an answer is a RewardResult)
            # (by name, not ``*checked``: compiled, a star call goes through Python's)
            facts, record, number = cast(_Write, checked)
            return self._apply(facts, record, number)
        assert isinstance(checked, RewardResult)
        return checked

    def plan_reward(self, decision_id: str, value: Any = None, subject: Subject | None = None, *,
                    option: int | None = None) -> RewardResult | PlannedReward:
        """The checks of :meth:`reward` (reads only): a final answer, or the write to make
        with :meth:`commit_reward`."""
        checked = self._check_reward(decision_id, value, subject, option)
        if type(checked) is tuple:
            facts, record, number = cast(_Write, checked)
            return PlannedReward(facts.exp, record, number)
        assert isinstance(checked, RewardResult)
        return checked

    def _check_reward(self, decision_id: str, value: Any, subject: Subject | None,
                      option: int | None
                      ) -> RewardResult | _Write:
        """:meth:`plan_reward` with the write to make as a plain triple."""
        # a decision this service logged has a well-formed id: only others are checked
        record = self._unrewarded.get(decision_id) if type(decision_id) is str else None
        if record is None:
            if not isinstance(decision_id, str) or not _DECISION_ID.match(decision_id):
                return RewardResult(RewardStatus.UNKNOWN, str(decision_id)[:64],
                                    "no decision has that id")
            record = self.store.get_decision(decision_id)
            if record is None:
                return RewardResult(RewardStatus.UNKNOWN, decision_id,
                                    "no decision has that id")
        # (as the log keeps it: text, or a whole number's digits; a float, bytes or a bool
        # is no one's, as decide refuses them, and "4.2" is not 4.2)
        if subject is not None and (subject != record.subject if type(subject) is str
                                    else subject_text(subject) != record.subject):
            return RewardResult(RewardStatus.NOT_YOURS, decision_id,
                                "the decision belongs to another subject",
                                experiment=record.experiment)
        facts = self._reward_facts.get(record.experiment)
        if facts is None:
            exp = self.config.by_id.get(record.experiment)
            if exp is None:  # (the caller named no experiment: say whose it is)
                return RewardResult(
                    RewardStatus.INVALID, decision_id, f"this decision's experiment "
                    f"{record.experiment!r} is no longer in the experiments file: the reward "
                    "was not recorded", experiment=record.experiment)
            facts = self._reward_facts[exp.id] = _RewardFacts(exp)
        try:
            if option is not None:
                if value is not None:  # (which one was meant: neither is guessed)
                    raise InvalidRewardError("give a value or a button's option, not both")
                buttons = facts.exp.reward.buttons
                if not 0 <= option < len(buttons):
                    raise InvalidRewardError("that button is no longer valid")
                value = buttons[option].value
            number = reward_number(facts.kind, facts.lo, facts.hi, value)
            if number is None:  # (not allowed: the spec says why)
                number = facts.exp.reward.validate_value(value)
        except InvalidRewardError as exc:
            return RewardResult(RewardStatus.INVALID, decision_id, str(exc),
                                experiment=record.experiment)
        if record.reward is not None:
            return _duplicate(record, facts.exp, number)
        return facts, record, number

    def commit_reward(self, planned: PlannedReward) -> RewardResult:
        """Apply a planned reward (exactly once: the store decides) and say what happened."""
        exp = planned.experiment
        facts = self._reward_facts.get(exp.id)
        if facts is None or facts.exp is not exp:  # (a plan's own experiment: not kept, so
            facts = _RewardFacts(exp)  # the checks of later rewards read this file's)
        return self._apply(facts, planned.record, planned.value)

    def _apply(self, facts: _RewardFacts, record: DecisionRecord, number: float
               ) -> RewardResult:
        exp = facts.exp
        store, now = self.store, self.clock()
        extra = self._extra(exp, record, number) if facts.extra else None
        if type(store) is MemoryStore:  # (compiled, a direct call: see MemoryStore)
            result = store.apply_reward(record.id, number, now, extra, known=record)
        else:
            result = store.apply_reward(record.id, number, now, extra, known=record)
        self._unrewarded.pop(record.id, None)
        if result is ApplyResult.APPLIED:
            if facts.time_buckets:
                self._maybe_drop_old_buckets(exp, record.generation)
            if facts.history:
                self.store.add_counters(_history_key(facts.id, record.subject),
                                        {"n": 1.0, "total": _normalized(exp, number)})
            cached = self._views.get(facts.id)  # (the view this service built last: no read)
            return new_tuple(RewardResult, (  # (every field in order: see new_tuple)
                RewardStatus.APPLIED, record.id, "thanks, counted"
                if record.arm in facts.arm_ids and cached is not None
                and cached[1].meta.generation == record.generation
                else self._counted_message(exp, record),
                record.arm, number, record.experiment, record.generation))
        if result is ApplyResult.DUPLICATE:
            if record.reward is None:  # rewarded elsewhere since we logged it: say with what
                record = self.store.get_decision(record.id) or record
            return _duplicate(record, exp, number)
        return RewardResult(RewardStatus.UNKNOWN, record.id, "no decision has that id")

    def _counted_message(self, exp: ExperimentConfig, record: DecisionRecord) -> str:
        """The message of a reward applied to an arm the experiments file does not have, or
        to a decision made before a reset (the caller checks the file's arms and the
        generation of the view it built last; the meta is read only here): for a decision
        before the reset, that it counts in the results before it (a trial's late answer was
        "thanks, counted" and the new results showed none); ``thanks, counted`` for an arm
        an admin added; else that the report leaves the answer out (it was counted to that
        arm, in the log and the export; it had been answered ``applied`` without a word, and
        a trial looked for it in the report)."""
        view = self.view(exp.id)
        if record.generation != view.meta.generation:
            return (f"thanks, counted in the results from before the reset (generation "
                    f"{record.generation}); the current results (generation "
                    f"{view.meta.generation}) count only decisions made since")
        if record.arm in view.contents:
            return "thanks, counted"
        log.warning("reward for an arm no longer in the experiments file",
                    extra={"experiment": exp.id, "arm": record.arm})
        return (f"thanks, counted to arm {record.arm!r}, which is no longer in the "
                "experiments file: the log and the export have it, the report does not "
                "(put the arm back in the file, or retire arms instead of deleting them: "
                "banditbot arms retire)")

    def subject_history(self, experiment: str, subject: str) -> tuple[float, float | None]:
        """``(rewards, mean reward on [0, 1])`` this subject gave in the experiment so far
        (tracked for experiments with a ``past_reward_rate`` feature)."""
        exp = self.config.experiment(experiment)
        counters = self.store.read_counters(_history_key(exp.id, str(subject)))
        n = counters.get("n", 0.0)
        return n, (counters.get("total", 0.0) / n if n > 0 else None)

    def _extra(self, exp: ExperimentConfig, record: DecisionRecord,
               value: float) -> dict[str, float] | None:
        """Additive statistics one reward adds beyond the core counters, for the experiment's
        capabilities (not just the current policy, so policies can be switched):
        importance-weighted sums (EXP3), time buckets and epoch counts (non-stationary
        policies; with a discount in force, its epoch's weighted sums too: see
        :mod:`banditbot.service._decay`) and linear sums (contextual policies)."""
        if not exp.extra_stats:
            return None
        w = record.weight
        extra: dict[str, float] = {}
        if exp.tracks_ips:
            # a deferred decision's propensity, from its posterior (the IPS sums need it now)
            propensity = next(resolve_propensities((record,))).propensity
            extra["ips.n"] = w / propensity
            extra["ips.s"] = w * value / propensity
        if exp.time_bucket_seconds:
            # the discount in force as this service last read it (re-reading the meta cost
            # each reward a DynamoDB read): after a switch another process has not seen yet,
            # its weighted sums are of the old half-life, and the new one reads that epoch
            # from its buckets, as after any switch
            extra.update(reward_time_fields(self.clock(), float(exp.time_bucket_seconds), w,
                                            value, self.last_view(exp.id).discount_half_life()))
        featurizer = self.featurizer(exp)
        if featurizer is not None:
            extra.update(linear_extra(featurizer.encode(record.context), value, w))
        return extra

    def _maybe_drop_old_buckets(self, exp: ExperimentConfig, generation: int) -> None:
        """Drop the time buckets the experiment's policy no longer weighs, after the reward
        that opened a new bucket was written, once per bucket across processes (a claim):
        outside a sliding window (weight 0; one bucket of margin for clocks that differ),
        or older than :data:`DISCOUNT_HALF_LIVES` half-lives of a discount (weight below
        1e-15); an epoch's discounted sums likewise (see :mod:`banditbot.service._decay`).
        A sliding window's decision reads every bucket the store holds, a discount's when its
        epochs do not hold every reward, and a DynamoDB stats item holds them as attributes
        (400 KB at most): without this both grew with the experiment's age. Only a shared
        bandit's (one item per arm; a bandit per chat or user gets buckets from its own
        rewards only, and pruning every scope would touch every one of them); a policy
        without time weighting keeps them all (a switch back would want them).
        Housekeeping: a failure is logged, not the reward's (it is written already), and
        tried again at the next reward."""
        bucket = float(exp.time_bucket_seconds or 0.0)  # (the caller's: set)
        now = self.clock()
        index = int(now // bucket)
        key = (exp.id, generation)
        if exp.scope != "shared" or index <= self._buckets_pruned.get(key, -1):
            return
        view = self.view(exp.id)
        weighting = view.policy.time_weighting()
        if weighting is None:
            self._buckets_pruned[key] = index
            return
        try:
            if self.store.claim_key(f"prune:{exp.id}:{generation}:{index}", 10 * bucket):
                kind, width = weighting
                keep = float(width) + bucket if kind == "window" else \
                    float(width) * DISCOUNT_HALF_LIVES
                table = self.store.read_stats(exp.id, generation, None, view.all_arms)
                stale: dict[str, set[str]] = {"drop": set(), "fold": set()}
                for fields in table.extra.values():
                    for name in fields:
                        if (how := stale_field(name, bucket, now - keep)) is not None:
                            stale[how].add(name)
                if stale["drop"]:
                    self.store.drop_extra(exp.id, generation, stale["drop"])
                if stale["fold"]:
                    self.store.drop_extra(exp.id, generation, stale["fold"],
                                          keep_total=base_field(bucket))
            self._buckets_pruned[key] = index
        except Exception as exc:  # housekeeping: the reward is written; try again later
            log.warning("could not drop old time buckets",
                        extra={"experiment": exp.id, "error": type(exc).__name__})

    # --- implicit rewards ---------------------------------------------------------------------
    def settle(self, experiment: str, *, now: float | None = None) -> int:
        """Apply the default reward to unanswered decisions past the wait window.

        Returns the number of decisions settled. Only for ``reward_mode: implicit``.
        """
        view = self.view(experiment)
        return self._settle(view, self.clock() if now is None else now)

    def _maybe_settle(self, view: ExperimentView, now: float) -> None:
        exp = view.config
        last = self._last_settle.get(exp.id, 0.0)
        if now - last >= max(exp.wait_seconds / 10.0, 1.0):
            self._last_settle[exp.id] = now
            self._settle(view, now)

    def _settle(self, view: ExperimentView, now: float) -> int:
        exp = view.config
        if exp.reward_mode != "implicit":
            return 0
        value = exp.silence_reward
        settled = 0
        cutoff = now - exp.wait_seconds
        # everything before the last cutoff this process settled is done; look back one
        # window further for decisions another process logged late
        since = self._settled_until.get(exp.id)
        since = None if since is None else since - exp.wait_seconds
        while True:
            pending = self.store.pending_decisions(exp.id, view.meta.generation, cutoff,
                                                   limit=500, newer_than=since)
            for record in pending:
                if self.store.apply_reward(record.id, value, now, self._extra(exp, record, value),
                                           known=record) is ApplyResult.APPLIED:
                    settled += 1
            if len(pending) < 500:
                self._settled_until[exp.id] = cutoff
                return settled
            since = pending[-1].created_at


def _duplicate(record: DecisionRecord, exp: ExperimentConfig, sent: float | None = None
               ) -> RewardResult:
    """A second answer: what was counted (``already counted as 👍 (1)``) and, for another
    value ``sent``, that it was not (a trial: 0 after 1 answered "already counted", and the
    0 seemed taken); for an answer that came after an implicit experiment counted the
    silence, what the silence was counted as."""
    labels = {b.value: b.label for b in exp.reward.buttons}

    def said(value: float) -> str:
        label = labels.get(value)
        return f"{label} ({value:g})" if label else f"{value:g}"

    value = record.reward
    if value is None:  # (rewarded elsewhere, and the value not read back)
        message = "already counted"
    elif exp.reward_mode == "implicit" and record.rewarded_at is not None \
            and value == exp.silence_reward \
            and record.rewarded_at - record.created_at >= exp.wait_seconds:
        message = (f"too late: with no answer within {duration_text(exp.wait_seconds)}, "
                   f"it was counted as {labels.get(value, f'{value:g}')}")
    else:
        message = f"already counted as {said(value)}"
        if sent is not None and sent != value:
            message += f"; this {said(sent)} was not counted"
    return RewardResult(RewardStatus.DUPLICATE, record.id, message, record.arm,
                        record.reward, record.experiment)


def _normalized(exp: ExperimentConfig, value: float) -> float:
    lo, hi = exp.reward.bounds
    return (value - lo) / (hi - lo) if lo is not None and hi is not None else value


def _history_key(experiment: str, subject: str) -> str:
    return f"subject:{experiment}:{subject}"
