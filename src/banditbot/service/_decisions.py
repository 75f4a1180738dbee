"""Decisions: choose an arm, log it with its propensity, answer with the content.

The public two-phase form (:meth:`DecisionsMixin.plan_decision` →
:meth:`DecisionsMixin.commit_decision`) lets a caller log the decision when it suits it: the
HTTP server writes many in one group commit; the Telegram bot logs a decision only once
Telegram has taken its message. :meth:`DecisionsMixin.decide` is both in one call.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._errors import ConfigError, UnknownArmError
from .._features import check_context
from .._types import FloatArray
from ..stores import DecisionRecord
from ._rewards import RewardsMixin
from ._view import ExperimentView

__all__ = ["Decision", "DecisionsMixin", "PlannedDecision"]


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

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data (what the HTTP API and the CLI print)."""
        return {"decision_id": self.id, "experiment": self.experiment, "arm": self.arm,
                "content": self.content, "propensity": self.propensity,
                "probabilities": dict(self.probabilities), "created_at": self.created_at}


class PlannedDecision(NamedTuple):
    """A decision that was made but not yet logged (see :meth:`BanditService.plan_decision`):
    ``decision`` is the answer to give once ``record`` is committed."""

    record: DecisionRecord
    decision: Decision


class DecisionsMixin(RewardsMixin):
    """Decide, and its two phases."""

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
            context = check_context(context)
            view, scope, now = self._prepare_decision(experiment, subject, chat)
            if view.config.sticky_seconds <= 0:
                raise ConfigError(f"experiment {view.config.id!r} has no sticky assignment",
                                  hint="set sticky_seconds in its config")
            return self._sticky_decision(view, str(subject), context, scope, now)
        return self.commit_decision(self.plan_decision(experiment, subject, context, chat=chat))

    def plan_decision(self, experiment: str, subject: str,
                      context: Mapping[str, Any] | None = None, *,
                      chat: str | None = None) -> PlannedDecision:
        """Everything :meth:`decide` does except logging the decision: the record to write
        with :meth:`commit_decision` and the answer to give once it is written."""
        context = check_context(context)
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
        return PlannedDecision(record, Decision(
            record.id, exp.id, arm, view.contents[arm], record.propensity,
            _ProbabilityMap(view.arms, choice.probabilities), record.subject, now, scope))

    def commit_decision(self, planned: PlannedDecision) -> Decision:
        """Log a planned decision (and remember it, so its reward skips a read)."""
        self.store.record_decision(planned.record)
        self._remember(planned.record)
        return planned.decision

    def _prepare_decision(self, experiment: str, subject: str, chat: str | None
                          ) -> tuple[ExperimentView, str, float]:
        view = self.view(experiment)
        exp = view.config
        if not view.arms:
            raise UnknownArmError(f"experiment {exp.id!r} has no active arms",
                                  hint="add an arm with: banditbot arms add")
        now = self.clock()
        if exp.reward_mode == "implicit":
            self._maybe_settle(view, now)
        return view, self._scope(exp, str(subject), chat), now

    def _sticky_decision(self, view: ExperimentView, subject: str,
                         context: Mapping[str, Any] | None, scope: str, now: float
                         ) -> Decision:
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
            return self.commit_decision(PlannedDecision(record, Decision(
                record.id, exp.id, arm, view.contents[arm], 1.0,
                _ProbabilityMap(view.arms, probabilities), subject, now, scope)))
        decision = self.decide(exp.id, subject, context,
                               chat=scope.removeprefix("chat:") if scope else None)
        self.store.write_document(name, json.dumps(
            {"arm": decision.arm, "until": now + exp.sticky_seconds}), version)
        return decision

    def decisions(self, experiment: str, *, generation: int | None = None,
                  after_id: str | None = None, limit: int | None = None
                  ) -> Iterator[DecisionRecord]:
        """The decision log of an experiment, oldest first."""
        exp = self.config.experiment(experiment)
        return self.store.iter_decisions(exp.id, generation=generation, after_id=after_id,
                                         limit=limit)


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
