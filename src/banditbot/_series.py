"""An experiment's history by decision count, for charts: the allocation each arm had, the
share of decisions it got, and the reward its decisions earned, per bin of equal decision
count.

The x axis is the number of decisions, never the clock: a pause in traffic draws no spike and
no gap, and a reader sees "after 2,000 decisions, 70% went to B". The allocation is the mean of
the probabilities the policy logged with each decision in the bin (what it gave each arm, not
what the dice happened to pick), so it is exact wherever the allocation is held fixed for a
period. Sticky decisions (a subject's held arm, logged with probability 1) count on the x axis
and in the shares, not in the allocation: the policy was not asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ._types import FloatArray
from .stores import TRAFFIC

__all__ = ["SERIES_FIELDS", "DecisionSeries"]

#: the decision fields :meth:`DecisionSeries.from_fields` reads, in its order
SERIES_FIELDS = ("kind", "arm", "arms", "probabilities", "reward", "policy", "allocation_id")


@dataclass(frozen=True)
class DecisionSeries:
    """Per arm, per bin of decisions: allocation, share of decisions, cumulative reward.

    Attributes
    ----------
    arms
        The arms, in the report's order.
    decisions
        Shape ``(B,)``: decisions made up to the end of each bin (the x axis).
    allocation
        ``arm -> shape (B,)``: mean probability the policy gave the arm in each bin, over
        the decisions it drew (sticky ones, which repeat a subject's arm with probability
        1, left out; a bin of sticky decisions alone keeps the allocation before it).
    share
        ``arm -> shape (B,)``: share of the bin's decisions that went to the arm.
    reward
        ``arm -> shape (B,)``: reward earned by the arm's decisions up to each bin's end.
    answered
        Shape ``(B,)``: rewards received up to each bin's end (all arms).
    changes
        ``(decisions, label)``: where the allocation period changed, when decisions name the
        allocation they were drawn from (empty otherwise).
    events
        ``(decisions, label)``: where an admin changed what the bandit runs, read from the
        log: a policy switch (``policy: kl-ucb``) or a change of the arms offered
        (``+yo``, ``−hey``), at the first decision made after it.
    behind
        ``(decisions, answers)`` the log has had since the series was read: ``(0, 0.0)``
        when it is current (a long log's series is kept until the log has grown by a share:
        :meth:`BanditService.report_series`).

    Examples
    --------
    >>> s = DecisionSeries.from_pairs(["a", "b"], [("a", {"a": .5, "b": .5}, 1.0),
    ...                                            ("b", {"a": .5, "b": .5}, None)])
    >>> s.decisions.tolist(), s.allocation["a"].tolist(), s.reward["a"].tolist()
    ([1, 2], [0.5, 0.5], [1.0, 1.0])
    """

    arms: tuple[str, ...]
    decisions: np.ndarray[Any, np.dtype[np.int64]]
    allocation: Mapping[str, FloatArray]
    share: Mapping[str, FloatArray]
    reward: Mapping[str, FloatArray]
    answered: FloatArray
    changes: tuple[tuple[int, str], ...] = field(default=())
    events: tuple[tuple[int, str], ...] = field(default=())
    behind: tuple[int, float] = (0, 0.0)

    @property
    def total(self) -> int:
        """Decisions in the series."""
        return int(self.decisions[-1]) if self.decisions.size else 0

    @property
    def empty(self) -> bool:
        """Whether there is no decision to show."""
        return self.total == 0

    @property
    def current(self) -> bool:
        """Whether the series shows the whole log as it is now (see :attr:`behind`)."""
        return self.behind == (0, 0.0)

    def lagging(self, decisions: int, answers: float) -> DecisionSeries:
        """This series, read before the log had ``decisions`` and ``answers`` more."""
        return replace(self, behind=(decisions, answers))

    @classmethod
    def from_records(cls, arms: Sequence[str], records: Iterable[Any], *, points: int = 60,
                     scope: str | None = None) -> DecisionSeries:
        """The series of a decision log (oldest first), in at most ``points`` bins.

        Parameters
        ----------
        arms
            Arms to report, in order (a logged arm not listed is ignored).
        records
            Decision records (``arm``, ``arms``, ``probabilities``, ``reward``, ``kind``,
            ``scope``, and optionally ``allocation_id``), oldest first.
        points
            Bins of equal size to return; a bin is split where an admin's change
            (:attr:`events`) falls inside it, which adds at most one bin per change.
        scope
            Only the decisions of this scope (``None``: all).
        """
        rows = ((r.kind, r.arm, r.arms, r.probabilities, r.reward, r.policy,
                 getattr(r, "allocation_id", None))
                for r in records
                if r.kind in TRAFFIC and (scope is None or r.scope == scope))
        return cls.from_fields(arms, rows, points=points)

    @classmethod
    def from_fields(cls, arms: Sequence[str], rows: Iterable[Sequence[Any]], *,
                    points: int = 60) -> DecisionSeries:
        """:meth:`from_records` of projected decisions: ``rows`` of the fields
        :data:`SERIES_FIELDS` names, in that order (what
        :meth:`~banditbot.stores.Store.iter_fields` reads without building whole records),
        of the traffic to show (one scope's, when one is shown), oldest first, each with its
        probability vector (a deferred decision's resolved:
        :func:`~banditbot.stores.resolve_fields`).

        One pass keeps references only; the vectors are stacked once per distinct list of
        offered arms (usually one), so a long log costs no array work per decision.
        """
        arms = tuple(arms)
        column = {a: j for j, a in enumerate(arms)}
        chosen: list[int] = []
        rewards: list[float | None] = []
        periods: list[str | None] = []
        drawn: list[bool] = []  # by the policy (not a sticky repeat)
        vectors: list[Any] = []
        layouts: dict[tuple[str, ...], list[int]] = {}  # offered arms -> rows offering them
        events = _Events()
        seen: tuple[Any, Any] = (None, None)  # the last policy decision's (policy, arms)
        for kind, arm, offered, vector, reward, policy, period in rows:
            i = len(chosen)
            if kind == "policy" and (policy != seen[0] or offered != seen[1]):
                events.see(i, policy, offered)
                seen = policy, offered
            at = layouts.get(offered)
            if at is None:
                at = layouts[offered] = []
            at.append(i)
            vectors.append(vector)
            chosen.append(column.get(arm, -1))
            rewards.append(reward)
            periods.append(period)
            drawn.append(kind != "sticky")
        n = len(chosen)
        probs = np.zeros((n, len(arms)))
        for offered, at in layouts.items():
            keep = [(i, column[a]) for i, a in enumerate(offered) if a in column]
            if not keep:
                continue
            src, dst = (np.array(x, dtype=np.int64) for x in zip(*keep, strict=True))
            stacked = np.array([vectors[i] for i in at], dtype=np.float64).reshape(len(at), -1)
            probs[np.ix_(np.array(at, dtype=np.int64), dst)] = stacked[:, src]
        series = cls._build(arms, probs, np.array(chosen, dtype=np.int64),
                            np.array(rewards, dtype=np.float64), points,
                            cuts=[i for i, _ in events.found],
                            drawn=np.array(drawn, dtype=bool))
        changes = tuple((i, f"allocation {pid}") for i, pid in enumerate(periods)
                        if i and pid is not None and pid != periods[i - 1])
        return cls(series.arms, series.decisions, series.allocation, series.share,
                   series.reward, series.answered, changes, tuple(events.found))

    @classmethod
    def from_pairs(cls, arms: Sequence[str],
                   pairs: Sequence[tuple[str, Mapping[str, float], float | None]], *,
                   points: int = 60) -> DecisionSeries:
        """The series of ``(arm chosen, arm -> probability, reward or None)`` triples."""
        arms = tuple(arms)
        column = {a: j for j, a in enumerate(arms)}
        probs = np.zeros((len(pairs), len(arms)))
        for i, (_, probabilities, _) in enumerate(pairs):
            for a, p in probabilities.items():
                if a in column:
                    probs[i, column[a]] = p
        chosen = np.array([column.get(arm, -1) for arm, _, _ in pairs], dtype=np.int64)
        rewards = np.array([np.nan if r is None else float(r) for _, _, r in pairs])
        return cls._build(arms, probs, chosen, rewards, points)

    @classmethod
    def _build(cls, arms: tuple[str, ...], probs: FloatArray,
               chosen: np.ndarray[Any, np.dtype[np.int64]], rewards: FloatArray,
               points: int, *, cuts: Sequence[int] = (),
               drawn: npt.NDArray[np.bool_] | None = None) -> DecisionSeries:
        """Bin ``(n, K)`` logged probabilities, ``(n,)`` chosen columns (-1: none) and
        ``(n,)`` rewards (NaN: none yet) into at most ``points`` bins, each split where a
        bin starts at one of ``cuts`` (0-based decisions: the admins' changes), so that no
        bin mixes the decisions before a change with those after it (a bin 3,967–4,108
        showed 20% for an arm retired at 4,000). ``drawn`` (default: all) marks the
        decisions the policy drew: the allocation averages their probabilities alone (a
        sticky repeat's 1 drew "short 100%" as the policy's allocation), and a bin without
        one keeps the allocation before it (after it, at the start)."""
        n = probs.shape[0]
        if n == 0:
            zeros = {a: np.zeros(0) for a in arms}
            return cls(arms, np.zeros(0, dtype=np.int64), zeros, zeros, zeros, np.zeros(0))
        picked = np.zeros((n, len(arms)))
        ok = chosen >= 0
        picked[np.flatnonzero(ok), chosen[ok]] = 1.0
        answered = ~np.isnan(rewards)
        earned = picked * np.where(answered, rewards, 0.0)[:, None]
        ends = np.unique(np.concatenate([
            np.linspace(0, n, min(points, n) + 1).round().astype(np.int64),
            [c for c in cuts if 0 < c < n]]).astype(np.int64))[1:]
        starts = np.concatenate([[0], ends[:-1]])
        sizes = (ends - starts).astype(float)[:, None]
        if drawn is None or not drawn.any():
            alloc = np.add.reduceat(probs, starts, axis=0) / sizes
        else:
            alloc = _drawn_allocation(probs, drawn, starts)
        share = np.add.reduceat(picked, starts, axis=0) / sizes
        cumulative = np.cumsum(earned, axis=0)[ends - 1]
        return cls(arms, ends, {a: alloc[:, j] for j, a in enumerate(arms)},
                   {a: share[:, j] for j, a in enumerate(arms)},
                   {a: cumulative[:, j] for j, a in enumerate(arms)},
                   np.cumsum(answered)[ends - 1].astype(float))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``decisions`` (x), and per arm ``allocation``, ``share``, ``reward``."""
        return {"arms": list(self.arms), "decisions": self.decisions.tolist(),
                "allocation": {a: v.tolist() for a, v in self.allocation.items()},
                "share": {a: v.tolist() for a, v in self.share.items()},
                "reward": {a: v.tolist() for a, v in self.reward.items()},
                "answered": self.answered.tolist(),
                "changes": [{"decisions": d, "label": label} for d, label in self.changes],
                "events": [{"decisions": d, "label": label} for d, label in self.events],
                "behind": {"decisions": self.behind[0], "answers": self.behind[1]}}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> DecisionSeries:
        """The series :meth:`to_dict` gave (the numbers as they were)."""
        arms = tuple(str(a) for a in doc["arms"])

        def per_arm(name: str) -> dict[str, FloatArray]:
            return {a: np.array(doc[name][a], dtype=np.float64) for a in arms}

        behind = doc.get("behind") or {"decisions": 0, "answers": 0.0}
        return cls(arms, np.array(doc["decisions"], dtype=np.int64), per_arm("allocation"),
                   per_arm("share"), per_arm("reward"),
                   np.array(doc["answered"], dtype=np.float64),
                   tuple((int(c["decisions"]), str(c["label"])) for c in doc["changes"]),
                   tuple((int(e["decisions"]), str(e["label"])) for e in doc["events"]),
                   (int(behind["decisions"]), float(behind["answers"])))


def _drawn_allocation(probs: FloatArray, drawn: npt.NDArray[np.bool_],
                      starts: np.ndarray[Any, np.dtype[np.int64]]) -> FloatArray:
    """``(B, K)``: per bin (starting at ``starts``), the mean of the ``drawn`` rows of
    ``probs``; a bin without one takes the nearest earlier bin's (the nearest later one's
    before the first drawn row)."""
    kept = np.add.reduceat(probs * drawn[:, None], starts, axis=0)
    count = np.add.reduceat(drawn.astype(float), starts)
    has = count > 0
    # each bin's source: itself, else the last bin before it with a drawn row (else the
    # first bin that has one)
    last = np.maximum.accumulate(np.where(has, np.arange(has.size), -1))
    source = np.where(last >= 0, last, int(np.argmax(has)))
    out: FloatArray = kept[source] / count[source][:, None]
    return out


class _Events:
    """Policy switches and changes of the offered arms along a decision log (see
    :attr:`DecisionSeries.events`)."""

    __slots__ = ("arms", "found", "names", "policy")

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self.policy: str | None = None
        self.arms: tuple[str, ...] | None = None
        self.names: dict[str, str] = {}  # policy JSON -> its name

    def see(self, index: int, policy: str, arms: tuple[str, ...]) -> None:
        """The decision at ``index`` (0-based) was made by ``policy`` over ``arms``."""
        if self.arms is not None and arms != self.arms:
            gone = [f"−{a}" for a in self.arms if a not in arms]
            new = [f"+{a}" for a in arms if a not in self.arms]
            if gone or new:  # (not a mere change of order)
                self.found.append((index, " ".join([*new, *gone])))
        if self.policy is not None and policy != self.policy:
            name = self._name(policy)
            same = name == self._name(self.policy)
            self.found.append((index, f"policy: {name}{' (new settings)' if same else ''}"))
        self.policy, self.arms = policy, arms

    def _name(self, policy: str) -> str:
        name = self.names.get(policy)
        if name is None:
            try:
                name = str(json.loads(policy).get("name", policy))
            except (ValueError, AttributeError):
                name = policy
            self.names[policy] = name
        return name
