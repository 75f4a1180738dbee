"""A per-segment view of an experiment: each arm's estimate among the decisions whose
context holds one value of a feature (``banditbot report EXP --by FEATURE``).

The numbers come from the report's own estimators restricted to one segment's decisions
(see :meth:`banditbot.BanditService.segment_report`); this module only holds them and says
what they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["NOT_GIVEN", "Segment", "SegmentArm", "SegmentReport"]

#: How a segment of decisions whose context lacks the feature is named in text.
NOT_GIVEN = "(not given)"


@dataclass(frozen=True)
class SegmentArm:
    """One arm within one segment.

    Attributes
    ----------
    arm
        The arm's id.
    active
        Whether the arm can still be chosen (a retired arm keeps its row).
    decisions
        The policy's decisions in the segment that chose this arm.
    answered
        Those of them that have a reward.
    estimate
        The adaptively weighted AIPW estimate of the arm's mean reward in the segment, on
        the reward's scale; ``None`` below the report's minimum of answers ("too few
        answers for a point yet") or without bounds on the reward.
    low, high
        Its interval at this look (the experiment's confidence, calibrated at a single
        pre-chosen look).
    anytime_low, anytime_high
        The arm's confidence sequence in the segment (valid at every look).
    """

    arm: str
    active: bool
    decisions: int
    answered: int
    estimate: float | None
    low: float | None
    high: float | None
    anytime_low: float | None
    anytime_high: float | None


@dataclass(frozen=True)
class Segment:
    """The decisions whose context holds one value of the feature.

    Attributes
    ----------
    value
        The value as a categorical feature matches it (``"true"``/``"false"`` for
        booleans); ``None`` for decisions whose context lacks the feature.
    decisions, answered
        The policy's decisions in the segment, and those with a reward.
    arms
        One row per arm, in the report's order.
    leader
        The arm the segment's winner rule names (see :attr:`SegmentReport.leader_rule`), or
        ``None`` while the evidence does not single one out.
    too_few
        The active arms with fewer answers than the report needs for a point.
    """

    value: str | None
    decisions: int
    answered: int
    arms: tuple[SegmentArm, ...]
    leader: str | None
    too_few: tuple[str, ...]

    @property
    def label(self) -> str:
        """The value as text (:data:`NOT_GIVEN` for decisions without the feature)."""
        return NOT_GIVEN if self.value is None else self.value

    @property
    def verdict(self) -> str:
        """One line on the segment: who leads, or why no arm is named."""
        if self.answered == 0:
            return "no answers yet"
        if self.leader is not None:
            return f"{self.leader} leads"
        if all(a.low is None for a in self.arms):  # answers, and no interval: no bounds
            return "no leader: no intervals without the reward's bounds"
        if self.too_few:
            return (f"no leader yet; too few answers for a point yet: "
                    f"{', '.join(self.too_few)}")
        return "no leader yet: the intervals do not separate the arms"


@dataclass(frozen=True)
class SegmentReport:
    """An experiment's arms per value of one context feature.

    Attributes
    ----------
    experiment, by
        The experiment and the feature (or context key) it is split by.
    kind
        ``categorical``, ``boolean`` (a numeric feature whose logged values are all
        ``true``/``false``) or ``context key`` (an experiment without features, split by
        a key of its decisions' contexts).
    scope
        One bandit of a chat- or subject-scoped experiment, or ``None`` for all of them.
    generation
        The generation the decisions are from.
    confidence
        The experiment's confidence level.
    segments
        One per value: the declared values first (with or without decisions), then values
        seen in the log that the feature does not declare, then :data:`NOT_GIVEN`.
    estimand
        What each arm's estimate and intervals are of, in words.
    interval_kind, anytime_kind
        The names of the two intervals (at this look; at every look).
    leader_rule
        When a segment names a leader, and the error rate that holds.
    notes
        Anything else the reader needs (a reward without bounds, decisions left out).
    """

    experiment: str
    by: str
    kind: str
    scope: str | None
    generation: int
    confidence: float
    segments: tuple[Segment, ...]
    estimand: str
    interval_kind: str
    anytime_kind: str
    leader_rule: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (each segment with its ``label`` and ``verdict``)."""
        out = asdict(self)
        out["segments"] = [{**asdict(s), "label": s.label, "verdict": s.verdict}
                           for s in self.segments]
        out["notes"] = list(self.notes)
        return out
