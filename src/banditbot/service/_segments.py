"""The report per segment: each arm's estimate and intervals among the decisions whose
context holds one value of a feature (``banditbot report EXP --by FEATURE``).

Why the report's estimators stay valid on a segment. A decision's logged propensity
``π_t(a)`` is the probability the policy gave arm ``a`` given everything known at that
moment, the context included; the segment (``x_t[by] = v``) is fixed by the context before
the arm is drawn. So on the segment's decisions, taken alone and in time order, the AIPW
score ``Γ_t(a) = m_t(a) + 1{A_t = a} (Y_t − m_t(a)) / π_t(a)`` (with ``m_t`` the running
mean of the segment's *earlier* answers) still has conditional mean ``E[Y(a) | x_t]``, the
arm's value in that decision's context: the same martingale argument as the whole report's,
on the subsequence of decisions that fall in the segment (each such time is a stopping time,
so betting only there keeps the wealth a supermartingale and Ville's inequality applies).
The estimate is therefore of ``μ_v(a) = E[Y(a) | x[by] = v]``: the arm's mean reward if it
were sent to every decision of the segment, over the segment's mix of contexts — exactly
when contexts are drawn from one population over time, and the average over the segment's
contexts seen when that mix drifts (as the whole report's). A contextual experiment's bets
use the same predictable stand-ins as its report (``contextual=True``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import ExperimentConfig, FeatureSpec, bool_text
from .._errors import PayloadError
from .._features import category_of
from ..stores import ALLOCATED, resolve_fields
from ._core import VectorKeeper, check_scope
from ._inference import LOG_FIELDS, scan_arrays, vectors_vary
from ._reports import MIN_ANSWERS, ReportsMixin
from ._view import ExperimentView

if TYPE_CHECKING:
    from .._segments import Segment, SegmentReport

__all__ = ["MAX_SEGMENTS", "SegmentsMixin", "segment_arms"]

#: The most values a segment view splits by (more is refused: a feature with hundreds of
#: values leaves each segment a handful of answers, and the rows would be unreadable).
MAX_SEGMENTS = 20

_LogRow = tuple[str, tuple[str, ...], Any, float | None]


class SegmentsMixin(ReportsMixin):
    """The report per value of a context feature."""

    def segment_report(self, experiment: str, *, by: str,
                       scope: str | None = None) -> SegmentReport:
        """Each arm's decisions, answers, estimate and intervals per value of the context
        feature ``by``.

        Parameters
        ----------
        experiment
            The experiment's id.
        by
            A categorical feature the experiment declares, a numeric one whose logged values
            are all ``true``/``false``, or — for an experiment without features — a key of
            its decisions' contexts whose values are text or ``true``/``false``.
        scope
            One bandit of a chat- or subject-scoped experiment (``None``: all of them).

        Returns
        -------
        SegmentReport
            Per segment and arm the report's adaptively weighted AIPW estimate, its interval
            at this look and the arm's confidence sequence, on the segment's decisions alone;
            a leader where the winner rule's sequences, with ``1 − confidence`` split over
            the segments, name one.

        Raises
        ------
        PayloadError
            ``by`` is cyclic or numeric (not boolean), is not a feature the experiment
            declares, is in no decision's context, or has more than :data:`MAX_SEGMENTS`
            values; the message names the features (or keys) it could be.
        """
        from .._segments import SegmentReport

        view = self.view(experiment)
        exp = view.config
        check_scope(exp, scope)
        kind = _feature_kind(exp, by)  # a cyclic or an unknown feature: before any read
        if exp.reward_mode == "implicit":
            self._settle(view, self.clock())
        columns = (*LOG_FIELDS, "posterior", "policy", "id", "context")
        keeper = VectorKeeper(self)
        rows: list[_LogRow] = []
        values: list[Any] = []
        keys: set[str] = set()  # what the contexts hold (named when ``by`` is not among them)
        for row in resolve_fields(self.store.iter_fields(
                exp.id, columns, generation=view.meta.generation, kinds=ALLOCATED,
                scope=scope), columns, computed=keeper.add):
            rows.append(row[:4])
            context = row[-1]
            if isinstance(context, dict):
                values.append(context.get(by))
                if len(keys) < 64:
                    keys.update(context)
            else:
                values.append(None)
        keeper.flush()
        kind, labels = _labels(exp, by, kind, values, keys)
        undeclared, other = _undeclared(exp, by, kind, labels)
        notes: list[str] = []
        if undeclared:  # one segment: the policy read them all as none of its values
            labels = [other if label in undeclared else label for label in labels]
            shown = sorted(undeclared)
            notes.append(f"{other}: {', '.join(shown[:8])}{' …' if len(shown) > 8 else ''}: "
                         f"values {by!r} does not declare, which its policy reads as none of "
                         "its values: one segment (each its own would split the error rate "
                         "over more segments)")
        order = _order(exp, by, labels)
        groups: dict[str | None, list[_LogRow]] = {v: [] for v in order}
        for row, label in zip(rows, labels, strict=True):
            groups[label].append(row)
        varying = vectors_vary(view, scope)
        segments = tuple(_segment(view, value, groups[value], len(order), varying)
                         for value in order)
        alpha = 1.0 - exp.confidence
        if not view.span:
            notes.append("the reward has no bounds, so no estimate or interval is shown "
                         "(they rest on the bounds: set the reward's min and max)")
        if kind == "context key" and scope is None and exp.scope != "shared":
            who = "chat" if exp.scope == "chat" else "user"
            notes.append(f"{exp.id} declares no features, but each {who} has its own "
                         f"bandit, whose allocation follows that {who}'s answers: a segment "
                         f"holds the decisions of many bandits; {by!r} is split as logged")
        elif kind == "context key":
            notes.append(f"{exp.id} declares no features: its policy does not read the "
                         f"context, so each segment's decisions were allocated as everyone's "
                         f"were; {by!r} is split as logged")
        return SegmentReport(
            experiment=exp.id, by=by, kind=kind, scope=scope,
            generation=view.meta.generation, confidence=exp.confidence, segments=segments,
            estimand=(f"each arm's mean reward among the decisions with {by} = the segment's "
                      "value, if that arm were sent to all of them: over the contexts seen "
                      "in the segment (its mix of the other features), over the decisions "
                      "that offered the arm"),
            interval_kind=(f"adaptively weighted AIPW estimate on the segment's decisions "
                           f"alone ({exp.confidence:.0%} at this look)"),
            anytime_kind=(f"{exp.confidence:.0%} confidence sequence on the segment's "
                          "decisions alone (valid at every look; each segment and arm on its "
                          "own)"),
            leader_rule=(f"a segment names a leader when its confidence sequences of the "
                         f"leader against every other active arm exclude 0, at "
                         f"{alpha:.0%} / {len(order)} per segment: P(a wrong leader in any "
                         f"segment) <= {alpha:.0%}, however often it is read, for this "
                         f"split; each other feature split by adds up to {alpha:.0%} more"),
            notes=tuple(notes))


def _feature_kind(exp: ExperimentConfig, by: str) -> str:
    """``categorical``, ``numeric`` (boolean if the log says so) or ``context key``; a
    cyclic feature, or a name the experiment does not declare, is refused."""
    specs = {f.name: f for f in exp.features}
    hint = _categorical_hint(exp)
    if not exp.features:
        return "context key"
    spec = specs.get(by)
    if spec is None:
        raise PayloadError(f"{exp.id} has no feature {by!r} to split by; {hint}")
    if spec.type == "cyclic":
        raise PayloadError(f"{by!r} is a cyclic feature of {exp.id} (period "
                           f"{spec.period:g}): segments need a categorical or true/false one; "
                           f"{hint}")
    return spec.type


def _categorical_hint(exp: ExperimentConfig) -> str:
    """The features a segment view could split by instead, for a refusal."""
    categorical = [f.name for f in exp.features if f.type == "categorical"]
    return (f"categorical features of {exp.id}: {', '.join(categorical)}" if categorical
            else f"{exp.id} has no categorical feature")


def _labels(exp: ExperimentConfig, by: str, kind: str, values: Sequence[Any],
            keys: Iterable[str] = ()) -> tuple[str, list[str | None]]:
    """The kind the feature turned out to be and each decision's segment (``None``: the
    context lacks it)."""
    present = [v for v in values if v is not None]
    if kind == "categorical":  # as the featurizer matches it: booleans as true/false
        spec = _feature_spec(exp, by)
        declared = spec.values if spec is not None else ()
        return kind, [None if v is None else category_of(v, declared) for v in values]
    if kind == "numeric":
        if present and all(isinstance(v, bool) for v in present):
            return "boolean", [None if v is None else bool_text(v) for v in values]
        seen = next((v for v in present if not isinstance(v, bool)), None)
        raise PayloadError(
            f"{by!r} is a numeric feature of {exp.id}"
            f"{f' (the log holds {seen!r})' if seen is not None else ''}: segments need a "
            f"categorical or true/false one; {_categorical_hint(exp)}")
    if not present:  # a context key of an experiment without features
        named = sorted(keys)
        raise PayloadError(f"no decision of {exp.id} in this generation has {by!r} in its "
                           "context; "
                           + (f"context keys in its log: {', '.join(named[:12])}" if named
                              else "its decisions carry no context (decide --context, or "
                              "the API's context)"))
    number = next((v for v in present if not isinstance(v, bool | str)), None)
    if number is not None:
        raise PayloadError(f"{by!r} holds numbers in {exp.id}'s contexts (e.g. {number!r}): "
                           "segments need text or true/false values; "
                           f"{exp.id} declares no features to split by instead")
    return kind, [None if v is None else bool_text(v) if isinstance(v, bool) else v
                  for v in values]


#: the segment of a declared categorical feature's values that it does not declare
OTHER = "(other values)"


def _feature_spec(exp: ExperimentConfig, by: str) -> FeatureSpec | None:
    """The feature ``by`` as the experiment declares it (``None``: it declares no such)."""
    return next((f for f in exp.features if f.name == by), None)


def _undeclared(exp: ExperimentConfig, by: str, kind: str, labels: Sequence[str | None]
                ) -> tuple[set[str], str]:
    """The logged values of a declared categorical feature that it does not declare (a
    trial's test values fr, EN and 1 were five segments of their own beside the three
    declared, and each segment's error rate was split eight ways instead of four), and the
    one segment's label: :data:`OTHER`, or a variant of it the feature does not declare."""
    spec = _feature_spec(exp, by)
    if kind != "categorical" or spec is None or spec.type != "categorical":
        return set(), OTHER
    label = OTHER
    while label in spec.values:
        label = f"({label})"
    return {v for v in labels if v is not None and v not in spec.values}, label


def _order(exp: ExperimentConfig, by: str, labels: Iterable[str | None]) -> list[str | None]:
    """The segments: a categorical feature's declared values (``true``, ``false`` for a
    boolean), then the values seen that it does not declare, sorted (for a declared
    categorical feature they are one segment, named by :func:`_undeclared`), then the
    decisions without one."""
    spec = _feature_spec(exp, by)
    declared: list[str | None] = list(spec.values) if spec is not None and \
        spec.type == "categorical" else ["true", "false"] if spec is not None else []
    seen = set(labels)
    extra = sorted(v for v in seen if v is not None and v not in declared)
    order = [*declared, *extra, *([None] if None in seen else [])]
    if len(order) > MAX_SEGMENTS:
        raise PayloadError(f"{by!r} has {len(order)} values in {exp.id}'s log; a segment "
                           f"view splits by at most {MAX_SEGMENTS}")
    return order


def _segment(view: ExperimentView, value: str | None, rows: Sequence[_LogRow],
             segments: int, varying: bool) -> Segment:
    from .._segments import Segment, SegmentArm

    exp = view.config
    arms = view.all_arms
    # an unbounded reward (span 0) is read on a unit scale: only its answered-or-not is used
    chosen, probabilities, rewards = scan_arrays(rows, arms, view.lo if view.span else 0.0,
                                                 view.span or 1.0)
    found = segment_arms(chosen, probabilities, rewards, active=[a in view.arms for a in arms],
                         confidence=exp.confidence, contextual=varying,
                         floor=min(exp.floor, 0.5 / max(len(view.arms), 1)),
                         segments=segments) if view.span else None
    answered = ~np.isnan(rewards)
    decided = np.bincount(chosen, minlength=len(arms))
    got = np.bincount(chosen[answered], minlength=len(arms))
    out = []
    for i, a in enumerate(arms):
        if found is None:
            out.append(SegmentArm(a, a in view.arms, int(decided[i]), int(got[i]),
                                  None, None, None, None, None))
            continue
        est, low, high, any_low, any_high = (_scaled(view, x[i]) for x in found[:5])
        out.append(SegmentArm(a, a in view.arms, int(decided[i]), int(got[i]),
                              est if got[i] >= MIN_ANSWERS else None, low, high, any_low,
                              any_high))
    leader = None if found is None or found[5] is None else arms[found[5]]
    few = tuple(a for i, a in enumerate(arms) if a in view.arms and got[i] < MIN_ANSWERS)
    return Segment(value, len(rows), int(answered.sum()), tuple(out), leader, few)


def _scaled(view: ExperimentView, x: float) -> float | None:
    if not math.isfinite(x):
        return None
    return float(view.denormalize(np.array([x]))[0])


def segment_arms(chosen: Any, probabilities: Any, rewards: Any, *, active: Sequence[bool],
                 confidence: float, contextual: bool, floor: float, segments: int
                 ) -> tuple[Any, Any, Any, Any, Any, int | None]:
    """The report's estimators on one segment's decisions (time order, rewards on [0, 1]).

    Parameters
    ----------
    chosen, probabilities, rewards
        Shapes ``(T,)``, ``(T, K)``, ``(T,)``: the segment's decisions as
        :func:`~banditbot.service.scan_arrays` gives them (NaN for unanswered).
    active
        Shape ``(K,)``: the arms that can still be chosen.
    confidence, contextual, floor
        As the report passes them to :func:`~banditbot.statistics.anytime_inference`.
    segments
        How many segments the view has: the leader's rule runs at ``(1 − confidence) /
        segments``, so that a wrong leader in any of them has probability at most
        ``1 − confidence``.

    Returns
    -------
    tuple
        ``(estimate, low, high, anytime_low, anytime_high, leader)`` on [0, 1]: arrays of
        shape ``(K,)`` (NaN where an arm has no answer), the estimate clipped into its
        interval as the report does; ``leader`` an arm index or ``None``.
    """
    from ..statistics import anytime_inference

    k = len(active)
    y = np.asarray(rewards, dtype=np.float64)
    if not np.count_nonzero(~np.isnan(y)):
        nan = np.full(k, np.nan)
        return nan, nan, nan, nan, nan, None
    inf = anytime_inference(chosen, probabilities, y, confidence=confidence,
                            contextual=contextual, floor=floor, active=list(active),
                            rule_alpha=(1.0 - confidence) / segments)
    with np.errstate(invalid="ignore"):  # the point within its interval, as in the report
        est = np.clip(inf.weighted_estimate, inf.fixed_low, inf.fixed_high)
    return est, inf.fixed_low, inf.fixed_high, inf.low, inf.high, inf.decision.winner
