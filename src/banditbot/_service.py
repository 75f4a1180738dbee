"""BanditService: the one place every entry point calls.

decide · reward · report · settle (implicit rewards) · admin (cheat, prior, reset, policy,
arms) · export. No I/O of its own beyond the :class:`~banditbot.stores.Store` it is given.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ._config import Arm, BanditConfig, ExperimentConfig
from ._errors import (
    BanditBotError,
    ConfigError,
    InvalidRewardError,
    NotAllowedError,
    PayloadError,
    PolicyError,
    StoreError,
    UnknownArmError,
    UnknownExperimentError,
)
from ._features import Featurizer, linear_arrays, linear_extra
from ._report import ArmReport, Report, Timeline
from ._types import FloatArray
from .policies import ArmStats, Policy, make_policy
from .policies._base import _NO_EXTRA
from .policies._policies import beta_posterior, normal_posterior
from .statistics import (
    beta_best_probabilities,
    beta_interval,
    normal_best_probabilities,
    normal_interval,
    wilson_interval,
)
from .stores import (
    AdminRecord,
    ApplyResult,
    DecisionRecord,
    ExperimentMeta,
    StatsTable,
    Store,
)

__all__ = ["BanditService", "Decision", "RewardResult", "RewardStatus"]

log = logging.getLogger("banditbot")

_DECISION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_RECENT_DECISIONS = 4096  # unrewarded decisions a service remembers (a few MB at most)


class RewardStatus(enum.StrEnum):
    """Outcome of :meth:`BanditService.reward`."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    UNKNOWN = "unknown"
    NOT_YOURS = "not_yours"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class RewardResult:
    """What happened to a reward, with a short message fit for a user."""

    status: RewardStatus
    decision_id: str
    message: str
    arm: str | None = None
    value: float | None = None
    experiment: str | None = None

    @property
    def applied(self) -> bool:
        """Whether this call changed the statistics."""
        return self.status is RewardStatus.APPLIED


class Decision(NamedTuple):
    """A decision returned to the caller: show ``content``, later report the reward."""

    id: str
    experiment: str
    arm: str
    content: str
    propensity: float
    probabilities: Mapping[str, float]
    subject: str
    created_at: float
    scope: str = ""


class _PlannedReward(NamedTuple):
    """A reward that passed every check and is ready to be applied."""

    experiment: ExperimentConfig
    record: DecisionRecord
    value: float


@dataclass(frozen=True, slots=True)
class _View:
    """An experiment as it runs now: config merged with the store's meta (cached)."""

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

    def _scale(self, n: FloatArray, total: FloatArray,
               total_sq: FloatArray | None = None) -> tuple[FloatArray, FloatArray,
                                                           FloatArray | None]:
        """Affine map of summed rewards to the policy's scale."""
        if not self.span or (self.lo == 0.0 and self.span == 1.0):
            return n, total, total_sq
        lo, span = self.lo, self.span
        if total_sq is not None:
            total_sq = (total_sq - 2.0 * lo * total + n * lo * lo) / (span * span)
        return n, (total - n * lo) / span, total_sq

    def policy_stats(self, table: StatsTable, context: Mapping[str, Any] | None = None, *,
                     now: float = 0.0) -> ArmStats:
        """Map store counters to the policy's scale ([0, 1] for bounded rewards), with the
        extra statistics the policy needs."""
        n, total, total_sq = self._scale(table.n, table.total, table.total_sq)
        assert total_sq is not None
        if self.prior_alpha is None:
            alpha = beta = None
        elif table.arms is self.arms or table.arms == self.arms:
            alpha, beta = self.prior_alpha, self.prior_beta
        else:
            alpha, beta = self.priors_for(table.arms)
        extra: Mapping[str, FloatArray] = _NO_EXTRA
        vector = None
        if self.policy.needs_extra:
            extra = self._extra_arrays(table, now)
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
            out["ips_total"] = self._scale(ips_n, ips_s)[1]
        if "time" in needs:
            kind, width = self.policy.time_weighting()  # type: ignore[attr-defined]
            bucket = float(self.config.time_bucket_seconds or 1.0)
            tw = np.zeros((3, len(arms)))
            for k, arm in enumerate(arms):
                for name, value in fields.get(arm, {}).items():
                    if not name.startswith("tb."):
                        continue
                    _, index, which = name.split(".")
                    age = max(now - (int(index) + 0.5) * bucket, 0.0)
                    weight = 0.5 ** (age / width) if kind == "discount" else \
                        float(age < width)
                    tw["nsq".index(which), k] += weight * value
            tw_n, tw_s, tw_q = self._scale(tw[0], tw[1], tw[2])
            assert tw_q is not None
            out["tw_n"], out["tw_sums"], out["tw_sums_sq"] = tw_n, tw_s, tw_q
        if "linear" in needs and self.featurizer is not None:
            a, b = linear_arrays(fields, arms, self.featurizer.dim)
            if self.span and (self.lo != 0.0 or self.span != 1.0):
                b = (b - self.lo * a[:, 0, :]) / self.span  # row 0 of A is Σx (intercept)
            out["A"], out["b"] = a, b
        return out

    def priors_for(self, arms: Sequence[str]) -> tuple[FloatArray, FloatArray]:
        return self.priors_arrays(self.meta, arms)

    @staticmethod
    def priors_arrays(meta: ExperimentMeta, arms: Sequence[str]) -> tuple[FloatArray,
                                                                           FloatArray]:
        pri = meta.priors
        return (np.array([pri.get(a, (0.0, 0.0))[0] for a in arms], dtype=np.float64),
                np.array([pri.get(a, (0.0, 0.0))[1] for a in arms], dtype=np.float64))

    def normalize(self, value: float) -> float:
        return (value - self.lo) / self.span if self.span else value

    def denormalize(self, value: FloatArray) -> FloatArray:
        return self.lo + self.span * value if self.span else value


class BanditService:
    """Decide, reward, report and administer the configured experiments.

    Parameters
    ----------
    config
        The experiments (see :func:`banditbot.load_config`).
    store
        Where state lives (see :func:`banditbot.open_store`); must be initialized.
    rng
        Random generator for choices; seed it for reproducible runs.
    clock
        Returns the current time in seconds since the epoch (tests pass a fake clock).

    Examples
    --------
    >>> from banditbot import parse_config, MemoryStore
    >>> cfg = parse_config({"experiments": [{"id": "hi", "arms": [
    ...     {"id": "a", "content": "Hello"}, {"id": "b", "content": "Hey"}]}]})
    >>> svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(1))
    >>> d = svc.decide("hi", subject="user-1")
    >>> svc.reward(d.id, 1, subject="user-1").status.value
    'applied'
    >>> svc.reward(d.id, 1, subject="user-1").status.value
    'duplicate'
    """

    def __init__(self, config: BanditConfig, store: Store, *,
                 rng: np.random.Generator | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.rng = rng if rng is not None else np.random.default_rng()
        self.clock = clock
        self._views: dict[str, tuple[ExperimentMeta, _View]] = {}
        self._last_settle: dict[str, float] = {}
        self._settled_until: dict[str, float] = {}
        self._featurizers: dict[str, Featurizer] = {}
        self._lock = threading.Lock()
        # decisions this service logged and nobody has rewarded yet through it: a reward
        # that finds its decision here skips reading it back from the store (a DynamoDB
        # round trip in a warm Lambda). Only immutable fields are used; the store's
        # conditional write still decides exactly-once.
        self._unrewarded: dict[str, DecisionRecord] = {}
        self._unrewarded_lock = threading.Lock()

    # --- experiments ------------------------------------------------------------------------
    def experiment(self, experiment_id: str) -> ExperimentConfig:
        """The configured experiment; :class:`UnknownExperimentError` if none."""
        return self.config.experiment(experiment_id)

    def _view(self, experiment_id: str) -> _View:
        exp = self.config.experiment(experiment_id)
        meta = self.store.read_meta(exp.id)
        cached = self._views.get(exp.id)
        if cached is not None and (cached[0] is meta or cached[0] == meta):
            return cached[1]
        view = self._build_view(exp, meta)
        self._views[exp.id] = (meta, view)
        return view

    def _build_view(self, exp: ExperimentConfig, meta: ExperimentMeta) -> _View:
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
        alpha, beta = _View.priors_arrays(meta, arms) if meta.priors else (None, None)
        featurizer = self._featurizer(exp)
        return _View(exp, meta, arms, all_arms, contents, policy, policy_json, alpha, beta,
                     lo if span and lo is not None else 0.0, span, featurizer)

    def _featurizer(self, exp: ExperimentConfig) -> Featurizer | None:
        if not exp.features:
            return None
        found = self._featurizers.get(exp.id)
        if found is None:
            found = self._featurizers[exp.id] = Featurizer(exp.features)
        return found

    def scope_of(self, experiment: str, subject: str | int, *,
                 chat: str | int | None = None) -> str | None:
        """The scope whose bandit serves ``subject`` (in ``chat``), for :meth:`report` and
        :meth:`timeline`: ``chat:…`` or ``subject:…`` for experiments with ``scope: chat`` or
        ``scope: subject``, ``None`` (the whole experiment) for shared ones."""
        exp = self.config.experiment(experiment)
        if exp.scope == "shared":
            return None
        return self._scope(exp, str(subject), None if chat is None else str(chat))

    def _scope(self, exp: ExperimentConfig, subject: str, chat: str | None) -> str:
        if exp.scope == "shared":
            return ""
        if exp.scope == "chat":
            return f"chat:{chat if chat is not None else subject}"
        return f"subject:{subject}"

    # --- decide -------------------------------------------------------------------------------
    def decide(self, experiment: str, subject: str, context: Mapping[str, Any] | None = None,
               *, chat: str | None = None, sticky: bool = False) -> Decision:
        """Choose an arm for ``subject`` and log the decision with its propensity.

        Parameters
        ----------
        experiment
            Experiment id.
        subject
            Who the decision is for (e.g. a Telegram user id); only they can reward it.
        context
            Features of this moment (logged; used by contextual policies).
        chat
            Chat id, for experiments with ``scope: chat``.
        sticky
            Give this subject the same arm again for the experiment's ``sticky_seconds``
            (logged as a ``sticky`` decision with propensity 1, so off-policy evaluation does
            not mistake it for a policy choice).

        Raises
        ------
        UnknownExperimentError
            No such experiment.
        """
        if sticky:
            view, scope, now = self._prepare_decision(experiment, subject, chat)
            if view.config.sticky_seconds <= 0:
                raise ConfigError(f"experiment {view.config.id!r} has no sticky assignment",
                                  hint="set sticky_seconds in its config")
            return self._sticky_decision(view, str(subject), context, scope, now)
        record, decision = self._plan_decision(experiment, subject, context, chat)
        self._record_decision(record)
        return decision

    def _record_decision(self, record: DecisionRecord) -> None:
        """Log a planned decision and remember it for its reward."""
        self.store.record_decision(record)
        with self._unrewarded_lock:
            recent = self._unrewarded
            if len(recent) >= _RECENT_DECISIONS:  # forget the oldest
                del recent[next(iter(recent))]
            recent[record.id] = record

    def _prepare_decision(self, experiment: str, subject: str, chat: str | None
                          ) -> tuple[_View, str, float]:
        view = self._view(experiment)
        exp = view.config
        if not view.arms:
            raise UnknownArmError(f"experiment {exp.id!r} has no active arms",
                                  hint="add an arm with: banditbot arms add")
        now = self.clock()
        if exp.reward_mode == "implicit":
            self._maybe_settle(view, now)
        return view, self._scope(exp, str(subject), chat), now

    def _plan_decision(self, experiment: str, subject: str,
                       context: Mapping[str, Any] | None, chat: str | None
                       ) -> tuple[DecisionRecord, Decision]:
        """Everything :meth:`decide` does except logging the decision: the record to write
        and the answer to give once it is written (servers write many in one commit)."""
        view, scope, now = self._prepare_decision(experiment, subject, chat)
        exp = view.config
        table = self.store.read_stats(exp.id, view.meta.generation, scope, view.arms,
                                      with_extra=bool(view.policy.needs_extra))
        choice = view.policy.choose(view.policy_stats(table, context, now=now), self.rng)
        arm = view.arms[choice.arm]
        record = DecisionRecord(
            id=secrets.token_urlsafe(16), experiment=exp.id, generation=view.meta.generation,
            scope=scope, arm=arm, propensity=choice.propensity, arms=view.arms,
            probabilities=choice.probabilities, policy=view.policy_json, subject=str(subject),
            created_at=now, context=dict(context) if context else None,
        )
        return record, Decision(record.id, exp.id, arm, view.contents[arm], record.propensity,
                                _ProbabilityMap(view.arms, choice.probabilities),
                                record.subject, now, scope)

    def _sticky_decision(self, view: _View, subject: str, context: Mapping[str, Any] | None,
                         scope: str, now: float) -> Decision:
        exp = view.config
        name = f"sticky:{exp.id}:{view.meta.generation}:{subject}"
        text, version = self.store.read_document(name)
        held = json.loads(text) if text else None
        if held and held["until"] > now and held["arm"] in view.arms:
            arm = held["arm"]
            probabilities = np.array([1.0 if a == arm else 0.0 for a in view.arms])
            record = DecisionRecord(
                id=secrets.token_urlsafe(16), experiment=exp.id,
                generation=view.meta.generation, scope=scope, arm=arm, propensity=1.0,
                arms=view.arms, probabilities=probabilities, policy=view.policy_json,
                subject=subject, created_at=now, context=dict(context) if context else None,
                kind="sticky")
            self._record_decision(record)
            return Decision(record.id, exp.id, arm, view.contents[arm], 1.0,
                            _ProbabilityMap(view.arms, probabilities), subject, now, scope)
        decision = self.decide(exp.id, subject, context,
                               chat=scope.removeprefix("chat:") if scope else None)
        self.store.write_document(name, json.dumps(
            {"arm": decision.arm, "until": now + exp.sticky_seconds}), version)
        return decision

    # --- reward -------------------------------------------------------------------------------
    def reward(self, decision_id: str, value: Any = None, subject: str | None = None, *,
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
            from the experiment's reward spec).

        Returns
        -------
        RewardResult
            ``applied``, ``duplicate`` (already rewarded), ``unknown`` (no such decision),
            ``not_yours`` (someone else's decision) or ``invalid`` (value not allowed). Only
            ``applied`` changed anything.
        """
        planned = self._plan_reward(decision_id, value, subject, option)
        if isinstance(planned, RewardResult):
            return planned
        return self._commit_reward(planned)

    def _plan_reward(self, decision_id: str, value: Any, subject: str | None,
                     option: int | None) -> RewardResult | _PlannedReward:
        """The checks of :meth:`reward` (reads only): a final answer, or the write to make."""
        if not isinstance(decision_id, str) or not _DECISION_ID.match(decision_id):
            return RewardResult(RewardStatus.UNKNOWN, str(decision_id)[:64],
                                "no decision has that id")
        record = self._unrewarded.get(decision_id) or self.store.get_decision(decision_id)
        if record is None:
            return RewardResult(RewardStatus.UNKNOWN, decision_id, "no decision has that id")
        if subject is not None and str(subject) != record.subject:
            return RewardResult(RewardStatus.NOT_YOURS, decision_id,
                                "the decision belongs to another subject",
                                experiment=record.experiment)
        try:
            exp = self.config.experiment(record.experiment)
            if option is not None:
                buttons = exp.reward.buttons
                if not 0 <= option < len(buttons):
                    raise InvalidRewardError("that button is no longer valid")
                value = buttons[option].value
            number = exp.reward.validate_value(value)
        except (UnknownExperimentError, InvalidRewardError) as exc:
            return RewardResult(RewardStatus.INVALID, decision_id, str(exc),
                                experiment=record.experiment)
        if record.reward is not None:
            return self._duplicate(record)
        return _PlannedReward(exp, record, number)

    def _commit_reward(self, planned: _PlannedReward) -> RewardResult:
        """Apply a planned reward (exactly once: the store decides) and say what happened."""
        exp, record, number = planned
        result = self.store.apply_reward(record.id, number, self.clock(),
                                         self._extra(exp, record, number), known=record)
        with self._unrewarded_lock:
            self._unrewarded.pop(record.id, None)
        if result is ApplyResult.APPLIED:
            if any(f.name == "past_reward_rate" for f in exp.features):
                self.store.add_counters(_history_key(exp.id, record.subject),
                                        {"n": 1.0, "total": self._normalized(exp, number)})
            return RewardResult(RewardStatus.APPLIED, record.id, "thanks, counted",
                                record.arm, number, record.experiment)
        if result is ApplyResult.DUPLICATE:
            if record.reward is None:  # rewarded elsewhere since we logged it: say with what
                record = self.store.get_decision(record.id) or record
            return self._duplicate(record)
        return RewardResult(RewardStatus.UNKNOWN, record.id, "no decision has that id")

    @staticmethod
    def _normalized(exp: ExperimentConfig, value: float) -> float:
        lo, hi = exp.reward.bounds
        return (value - lo) / (hi - lo) if lo is not None and hi is not None else value

    def subject_history(self, experiment: str, subject: str) -> tuple[float, float | None]:
        """``(rewards, mean reward on [0, 1])`` this subject gave in the experiment so far
        (tracked for experiments with a ``past_reward_rate`` feature)."""
        exp = self.config.experiment(experiment)
        counters = self.store.read_counters(_history_key(exp.id, str(subject)))
        n = counters.get("n", 0.0)
        return n, (counters.get("total", 0.0) / n if n > 0 else None)

    @staticmethod
    def _duplicate(record: DecisionRecord) -> RewardResult:
        return RewardResult(RewardStatus.DUPLICATE, record.id, "already counted", record.arm,
                            record.reward, record.experiment)

    def _extra(self, exp: ExperimentConfig, record: DecisionRecord,
               value: float) -> dict[str, float] | None:
        """Additive statistics one reward adds beyond the core counters, for the experiment's
        capabilities (not just the current policy, so policies can be switched):
        importance-weighted sums (EXP3), time buckets (non-stationary policies) and linear
        sums (contextual policies)."""
        if not (exp.tracks_ips or exp.time_bucket_seconds or exp.features):
            return None
        w = record.weight
        extra: dict[str, float] = {}
        if exp.tracks_ips:
            extra["ips.n"] = w / record.propensity
            extra["ips.s"] = w * value / record.propensity
        if exp.time_bucket_seconds:
            index = int(self.clock() // exp.time_bucket_seconds)
            extra[f"tb.{index}.n"] = w
            extra[f"tb.{index}.s"] = w * value
            extra[f"tb.{index}.q"] = w * value * value
        featurizer = self._featurizer(exp)
        if featurizer is not None:
            extra.update(linear_extra(featurizer.encode(record.context), value, w))
        return extra

    # --- implicit rewards ---------------------------------------------------------------------
    def settle(self, experiment: str, *, now: float | None = None) -> int:
        """Apply the default reward to unanswered decisions past the wait window.

        Returns the number of decisions settled. Only for ``reward_mode: implicit``.
        """
        view = self._view(experiment)
        return self._settle(view, self.clock() if now is None else now)

    def _maybe_settle(self, view: _View, now: float) -> None:
        exp = view.config
        last = self._last_settle.get(exp.id, 0.0)
        if now - last >= max(exp.wait_seconds / 10.0, 1.0):
            self._last_settle[exp.id] = now
            self._settle(view, now)

    def _settle(self, view: _View, now: float) -> int:
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

    # --- report -------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Compute every experiment's current allocation once, writing nothing.

        Policies load what they need on first use (Thompson sampling: SciPy's special
        functions and a quadrature table, about 0.2 s); a server calls this at startup so
        that its first requests do not wait for that. Experiments that cannot be computed
        yet (no active arm, or a contextual policy that needs a context) are skipped.
        """
        for exp in self.config.experiments:
            try:
                self._allocation(self._view(exp.id), None)
            except (BanditBotError, ValueError):
                log.debug("warm-up skipped %s", exp.id)

    def _allocation(self, view: _View, scope: str | None
                    ) -> tuple[StatsTable, ArmStats, npt.NDArray[np.bool_], FloatArray]:
        """Statistics of all arms (retired ones too) and the policy's current allocation
        over the active ones: ``(table, stats, active, allocation)``."""
        arms = view.all_arms
        table = self.store.read_stats(view.config.id, view.meta.generation, scope, arms)
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
        view = self._view(experiment)
        exp = view.config
        _check_scope(exp, scope)
        if exp.reward_mode == "implicit":
            self._settle(view, self.clock())
        arms = view.all_arms
        table, stats, active, allocation = self._allocation(view, scope)
        lo_i, hi_i, p_best, kind = self._intervals(view, stats, table)
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

    def _intervals(self, view: _View, stats: ArmStats,
                   table: StatsTable) -> tuple[FloatArray, FloatArray, FloatArray, str]:
        exp = view.config
        policy = view.policy
        active = np.array([a in view.arms for a in table.arms])
        use_normal = not view.span or policy.name == "gaussian-thompson"
        if use_normal:
            params = policy.params() if policy.name == "gaussian-thompson" else {}
            mean, sd = normal_posterior(
                stats, params.get("prior_mean", 0.5 if view.span else 0.0),
                params.get("prior_sd", 0.5 if view.span else 1.0),
                params.get("prior_count", 1e-9 if not policy.bayesian else 1.0))
            p_best = _masked(active, lambda m: normal_best_probabilities(mean[m], sd[m]))
            if policy.bayesian:
                lo = mean - 1.959964 * sd
                hi = mean + 1.959964 * sd
                if view.span:  # a bounded reward's mean cannot leave its bounds
                    lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
                return (view.denormalize(lo), view.denormalize(hi), p_best,
                        "95% credible interval (normal posterior)")
            lo, hi = normal_interval(table.total, table.total_sq, table.n)
            return lo, hi, p_best, "95% confidence interval (normal)"
        params = policy.params() if policy.name == "thompson" else {}
        a, b = beta_posterior(stats, float(params.get("alpha", 1.0)),
                              float(params.get("beta", 1.0)))
        p_best = _masked(active, lambda m: beta_best_probabilities(a[m], b[m]))
        if policy.bayesian:
            lo, hi = beta_interval(a, b)
            return (view.denormalize(lo), view.denormalize(hi), p_best,
                    "95% credible interval (Beta posterior)")
        if exp.reward.type == "binary":
            lo, hi = wilson_interval(table.total, table.n)
            return lo, hi, p_best, "95% confidence interval (Wilson)"
        lo, hi = normal_interval(table.total, table.total_sq, table.n)
        return lo, hi, p_best, "95% confidence interval (normal)"

    def timeline(self, experiment: str, *, bins: int = 30,
                 scope: str | None = None) -> Timeline:
        """Allocation over time: decisions per arm in ``bins`` equal time bins (of one
        scope's bandit, or of all; see :meth:`scope_of`)."""
        view = self._view(experiment)
        _check_scope(view.config, scope)
        times: list[float] = []
        arms: list[str] = []
        rewards: list[float | None] = []
        for r in self.store.iter_decisions(view.config.id, generation=view.meta.generation):
            if r.kind in ("policy", "sticky") and (scope is None or r.scope == scope):
                times.append(r.created_at)
                arms.append(r.arm)
                rewards.append(r.reward)
        return Timeline.build(view.all_arms, np.array(times), arms, bins, rewards)

    # --- admin --------------------------------------------------------------------------------
    def is_admin(self, user_id: int | str | None) -> bool:
        """Whether a Telegram user id is in the admin allow-list."""
        try:
            return user_id is not None and int(user_id) in self.config.all_admins()
        except (TypeError, ValueError):
            return False

    def check_admin(self, user_id: int | str | None) -> None:
        """Raise :class:`NotAllowedError` unless ``user_id`` is an admin."""
        if not self.is_admin(user_id):
            raise NotAllowedError("not allowed: this command is for admins",
                                  hint="ask an admin to add your user id to the allow-list")

    def audit(self, actor: str, experiment: str, action: str, details: str) -> None:
        """Record an admin action (who did what) in the store and the log."""
        self.store.log_admin(AdminRecord(self.clock(), actor, experiment, action, details))
        log.info("admin action", extra={"actor": actor, "experiment": experiment,
                                        "action": action, "details": details})

    def _update_meta(self, experiment: str,
                     change: Callable[[ExperimentMeta], ExperimentMeta]) -> ExperimentMeta:
        exp = self.config.experiment(experiment)
        for _ in range(50):
            meta = self.store.read_meta(exp.id)
            new = change(meta)
            if self.store.write_meta(exp.id, new):
                self._views.pop(exp.id, None)
                return new
        raise StoreError(f"experiment {exp.id!r} is being changed concurrently",
                         hint="retry the admin command")

    def _require_arm(self, view: _View, arm: str, *, active: bool = True) -> None:
        pool = view.arms if active else view.all_arms
        if arm not in pool:
            raise UnknownArmError(f"experiment {view.config.id!r} has no "
                                  f"{'active ' if active else ''}arm {arm!r}",
                                  hint=f"arms: {', '.join(pool) or '(none)'}")

    def cheat(self, experiment: str, arm: str, rewards: Sequence[Any] | str = (), *,
              successes: int = 0, failures: int = 0, actor: str = "cli",
              scope: str = "") -> int:
        """Add rewards to an arm by hand ("cheater mode"): a sequence such as ``"1101"`` or
        ``[4, 5, 3]``, and/or counts of ``successes`` (the top reward) and ``failures`` (the
        lowest).

        Each reward is logged as a ``manual`` decision (propensity 1, policy ``manual``) so
        the statistics stay equal to the fold of the log. Returns how many were added.
        """
        view = self._view(experiment)
        self._require_arm(view, arm, active=False)
        if successes < 0 or failures < 0:
            raise InvalidRewardError("counts of successes and failures must be >= 0")
        values = list(rewards.replace(",", " ").split()) if isinstance(rewards, str) \
            else list(rewards)
        if isinstance(rewards, str) and len(values) == 1 and set(values[0]) <= {"0", "1"}:
            values = list(values[0])  # "1101"
        if successes or failures:
            lo, hi = view.config.reward.bounds
            if lo is None or hi is None:
                raise InvalidRewardError("successes and failures need a bounded reward",
                                         hint="give the rewards themselves instead")
            values += [hi] * successes + [lo] * failures
        if not values:
            raise InvalidRewardError("no rewards given", hint="e.g. 1101 or '4 5 3'")
        if len(values) > 100_000:
            raise InvalidRewardError("too many rewards at once", hint="at most 100000")
        numbers = [view.config.reward.validate_value(v) for v in values]
        return self._record_history(view, arm, numbers, kind="manual", actor=actor,
                                    scope=scope, action="cheat")

    def _record_history(self, view: _View, arm: str, numbers: Sequence[float], *, kind: str,
                        actor: str, scope: str, action: str,
                        weights: Sequence[float] | None = None) -> int:
        now = self.clock()
        exp = view.config
        policy_json = json.dumps({"name": kind, "params": {}}, separators=(",", ":"))
        one = np.ones(1)
        records = [
            DecisionRecord(
                id=secrets.token_urlsafe(16), experiment=exp.id,
                generation=view.meta.generation, scope=scope, arm=arm, propensity=1.0,
                arms=(arm,), probabilities=one, policy=policy_json, subject=f"{kind}:{actor}",
                created_at=now, kind=kind, reward=v, rewarded_at=now,
                weight=1.0 if weights is None else float(weights[i]),
            )
            for i, v in enumerate(numbers)
        ]
        extras = [self._extra(exp, r, float(r.reward or 0.0)) or {} for r in records]
        self.store.record_manual(records, extras if any(extras) else None)
        self.audit(actor, exp.id, action, f"arm={arm} rewards={_summarize(numbers)}")
        return len(records)

    def import_history(self, experiment: str, arm: str, rewards: Sequence[Any],
                       weights: Sequence[float] | None = None, *, actor: str = "cli") -> int:
        """Add past rewards of an arm to its statistics (warm start), each with a weight
        (importance weights for history logged by another policy). Logged as ``import``
        decisions, so statistics stay the fold of the log. Returns how many were added."""
        view = self._view(experiment)
        self._require_arm(view, arm, active=False)
        numbers = [view.config.reward.validate_value(v) for v in rewards]
        if weights is not None and (len(weights) != len(numbers) or not all(
                math.isfinite(w) and w > 0 for w in weights)):
            raise InvalidRewardError("weights must be positive, one per reward")
        return self._record_history(view, arm, numbers, kind="import", actor=actor, scope="",
                                    action="import", weights=weights)

    def set_prior(self, experiment: str, arm: str, alpha: float, beta: float, *,
                  actor: str = "cli") -> None:
        """Set an arm's prior as pseudo-successes ``alpha`` and pseudo-failures ``beta``.

        Priors are kept apart from observations: reports show both, and a reset can keep them.
        """
        view = self._view(experiment)
        self._require_arm(view, arm, active=False)
        if not (math.isfinite(alpha) and math.isfinite(beta) and alpha >= 0 and beta >= 0
                and alpha + beta > 0):
            raise InvalidRewardError(f"prior ({alpha}, {beta}) is not valid",
                                     hint="alpha and beta are pseudo-counts >= 0, not both 0")

        def change(meta: ExperimentMeta) -> ExperimentMeta:
            return replace(meta, priors={**meta.priors, arm: (float(alpha), float(beta))})

        self._update_meta(experiment, change)
        self.audit(actor, view.config.id, "prior", f"arm={arm} alpha={alpha:g} beta={beta:g}")

    def reset(self, experiment: str, *, keep_priors: bool = True, actor: str = "cli") -> int:
        """Start the experiment's learning over (a new generation). Returns the generation.

        The decision log keeps the old generation's records; statistics start from zero.
        """
        def change(meta: ExperimentMeta) -> ExperimentMeta:
            return replace(meta, generation=meta.generation + 1,
                           priors=meta.priors if keep_priors else {},
                           notes={k: v for k, v in meta.notes.items() if k != "warm_start"})

        meta = self._update_meta(experiment, change)
        self.audit(actor, experiment, "reset",
                    f"generation={meta.generation} keep_priors={keep_priors}")
        return meta.generation

    def switch_policy(self, experiment: str, name: str, params: Mapping[str, Any] | None = None,
                      *, actor: str = "cli") -> Policy:
        """Switch the experiment's policy; what was learned is kept (statistics are
        policy-agnostic)."""
        exp = self.config.experiment(experiment)
        policy = make_policy(name, dict(params or {}))
        problem = exp.policy_problem(policy)
        if problem:
            message, _, hint = problem.partition(" (")
            raise PolicyError(f"{policy.name}: {message}", hint=hint.rstrip(")") or None)
        spec = {"name": policy.name, "params": policy.params()}
        self._update_meta(experiment, lambda m: replace(m, policy=spec))
        self.audit(actor, exp.id, "policy", policy.describe())
        return policy

    def add_arm(self, experiment: str, arm: str, content: str, *, actor: str = "cli") -> None:
        """Add an arm (or bring back a retired one) without touching the others' statistics."""
        view = self._view(experiment)
        try:
            Arm(id=arm, content=content or view.contents.get(arm, ""))
        except ValueError as exc:
            raise ConfigError(f"invalid arm: {exc.errors()[0]['msg']}",  # type: ignore[attr-defined]
                              hint="ids use letters, digits, '_.-' (≤ 32); content is required"
                              ) from None
        if arm in view.arms:
            raise ConfigError(f"arm {arm!r} is already active in {view.config.id!r}",
                              hint="retire it first or choose another id")

        def change(meta: ExperimentMeta) -> ExperimentMeta:
            added = dict(meta.added_arms)
            if content and (arm not in view.contents or view.contents[arm] != content):
                added[arm] = content
            return replace(meta, added_arms=added,
                           retired_arms=tuple(a for a in meta.retired_arms if a != arm))

        self._update_meta(experiment, change)
        self.audit(actor, view.config.id, "arm-add", f"arm={arm}")

    def retire_arm(self, experiment: str, arm: str, *, actor: str = "cli") -> None:
        """Stop offering an arm; its statistics and decisions are kept."""
        view = self._view(experiment)
        self._require_arm(view, arm)
        if len(view.arms) == 1:
            raise ConfigError("cannot retire the last active arm", hint="add another arm first")
        self._update_meta(experiment,
                          lambda m: replace(m, retired_arms=(*m.retired_arms, arm)))
        self.audit(actor, view.config.id, "arm-retire", f"arm={arm}")

    def note(self, experiment: str, key: str, text: str) -> None:
        """Attach a note to the experiment's meta (shown by reports)."""
        self._update_meta(experiment, lambda m: replace(m, notes={**m.notes, key: text}))

    def decisions(self, experiment: str, *, generation: int | None = None,
                  after_id: str | None = None, limit: int | None = None
                  ) -> Iterator[DecisionRecord]:
        """The decision log of an experiment, oldest first."""
        exp = self.config.experiment(experiment)
        return self.store.iter_decisions(exp.id, generation=generation, after_id=after_id,
                                         limit=limit)

    def current_generation(self, experiment: str) -> int:
        """The experiment's generation (bumped by every reset)."""
        return self._view(experiment).meta.generation

    def active_arms(self, experiment: str) -> tuple[str, ...]:
        """Arm ids offered now."""
        return self._view(experiment).arms

    def content(self, experiment: str, arm: str) -> str:
        """The content of an arm (active or retired)."""
        view = self._view(experiment)
        self._require_arm(view, arm, active=False)
        return view.contents[arm]


class _ProbabilityMap(Mapping[str, float]):
    """``arm -> probability`` view over the decision's vector (built lazily)."""

    __slots__ = ("_arms", "_p")

    def __init__(self, arms: tuple[str, ...], p: FloatArray) -> None:
        self._arms, self._p = arms, p

    def __getitem__(self, key: str) -> float:
        try:
            return float(self._p[self._arms.index(key)])
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._arms)

    def __len__(self) -> int:
        return len(self._arms)

    def __repr__(self) -> str:
        return repr(dict(self))


def _masked(mask: np.ndarray, fn: Callable[[np.ndarray], FloatArray]) -> FloatArray:
    out = np.zeros(mask.shape[0])
    if mask.any():
        out[mask] = fn(mask)
    return out


def _check_scope(exp: ExperimentConfig, scope: str | None) -> None:
    """A report's ``scope`` must name one bandit of the experiment: ``chat:…`` or
    ``subject:…`` matching its ``scope`` setting."""
    if scope is None:
        return
    kind, _, ident = scope.partition(":")
    if exp.scope == "shared" or kind != exp.scope or not ident:
        raise PayloadError(
            f"experiment {exp.id!r} has scope {exp.scope!r}: {scope!r} names none of its "
            "bandits",
            hint="leave the scope out" if exp.scope == "shared" else f"use {exp.scope}:ID")


def _history_key(experiment: str, subject: str) -> str:
    return f"subject:{experiment}:{subject}"


def _opt(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _summarize(values: Sequence[float]) -> str:
    text = "".join(f"{v:g}" for v in values[:40]) if all(v in (0, 1) for v in values) \
        else " ".join(f"{v:g}" for v in values[:20])
    return text + (f"… ({len(values)} in all)" if len(values) > 40 else "")

