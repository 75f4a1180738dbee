"""What an experiment has learned, as data (``Report``) and as a fixed-width text table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ._types import FloatArray

__all__ = ["ArmReport", "Report", "Timeline"]

_SETTLED = 0.95  # P(best) at which a report names a leader


@dataclass(frozen=True, slots=True)
class ArmReport:
    """One arm's line in a report.

    Attributes
    ----------
    pulls
        How often the arm was chosen.
    rewards
        How many rewards were observed (votes, or settled silences in implicit mode).
    total
        Sum of the rewards (for 👍/👎: the number of 👍).
    mean
        ``total / rewards`` in reward units; ``None`` before the first reward.
    low, high
        95% interval of the mean (credible for Bayesian policies, confidence otherwise).
    p_best
        Probability that this arm has the highest mean (posterior).
    allocation
        Probability that the current policy picks this arm next.
    prior
        Operator prior ``(alpha, beta)`` if one is set.
    """

    arm: str
    content: str
    pulls: int
    rewards: float
    total: float
    mean: float | None
    low: float | None
    high: float | None
    p_best: float
    allocation: float
    active: bool = True
    prior: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """A report of one experiment (the same for the bot, the CLI and the HTTP API)."""

    experiment: str
    description: str
    policy: str
    reward_type: str
    reward_mode: str
    interval_kind: str
    generation: int
    arms: tuple[ArmReport, ...]
    notes: Mapping[str, str] = field(default_factory=dict)
    scope: str | None = None
    generated_at: float = 0.0
    per: str = "shared"  # the experiment's scope setting: shared, chat or subject

    @property
    def total_pulls(self) -> int:
        """Decisions in this generation."""
        return sum(a.pulls for a in self.arms)

    @property
    def total_rewards(self) -> float:
        """Observed rewards in this generation."""
        return sum(a.rewards for a in self.arms)

    @property
    def leader(self) -> ArmReport | None:
        """The arm with the highest P(best), if any data exists."""
        if not self.arms or self.total_rewards == 0:
            return None
        return max(self.arms, key=lambda a: a.p_best)

    @property
    def verdict(self) -> str | None:
        """One line on what the data says so far: the leader once its P(best) reaches 95%,
        else who leads and by how much; ``None`` before the first reward."""
        leader = self.leader
        if leader is None:
            return None
        chance = ">99%" if leader.p_best > 0.99 else f"{leader.p_best:.0%}"
        if leader.p_best >= _SETTLED:
            return f"leader: {leader.arm}, the best arm with probability {chance}"
        return (f"no clear winner yet: {leader.arm} leads with P(best) {chance} "
                f"({_SETTLED:.0%} would settle it)")

    @property
    def title(self) -> str:
        """``experiment · policy``, naming the bandit when the report is of one scope:
        ``· chat 42`` for one chat's, ``· one user`` for one subject's (user ids stay out of
        reports, which get shared), ``· all chats``/``· all users`` for their sum."""
        kind, _, ident = (self.scope or "").partition(":")
        if kind == "chat":
            label = f" · chat {ident}"
        elif kind == "subject":
            label = " · one user"
        else:  # the whole experiment: say when that sums many bandits
            label = {"chat": " · all chats", "subject": " · all users"}.get(self.per, "")
        return f"{self.experiment}{label} · {self.policy}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["arms"] = [asdict(a) for a in self.arms]
        d["total_pulls"] = self.total_pulls
        d["total_rewards"] = self.total_rewards
        d["verdict"] = self.verdict
        return d

    def to_text(self, *, width: int = 0) -> str:
        """A fixed-width table (for a terminal or a Telegram ``<pre>`` block).

        ``width`` > 0 drops the content column and abbreviates to fit narrow screens.
        """
        header = ("arm", "pulls", "rewards", "mean", "95% interval", "P(best)", "alloc")
        rows = []
        for a in self.arms:
            rows.append((
                a.arm + ("" if a.active else " (retired)"),
                f"{a.pulls}",
                _num(a.rewards),
                "–" if a.mean is None else f"{a.mean:.3f}",
                "–" if a.low is None or a.high is None else f"{a.low:.2f}–{a.high:.2f}",
                f"{a.p_best:.0%}",
                f"{a.allocation:.0%}",
            ))
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [self.title]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for r in rows:
            lines.append("  ".join(
                (c.ljust(w) if i == 0 else c.rjust(w))
                for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        lines.append(f"{self.total_pulls} decisions, {_num(self.total_rewards)} rewards; "
                     f"{self.interval_kind}")
        if self.verdict:
            lines.append(self.verdict)
        for a in self.arms:
            if a.prior:
                lines.append(f"prior on {a.arm}: alpha={a.prior[0]:g}, beta={a.prior[1]:g}")
        for key, text in self.notes.items():
            lines.append(f"{key.replace('_', ' ')}: {text}")
        return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


@dataclass(frozen=True, slots=True)
class Timeline:
    """Decisions per arm over time, for allocation charts.

    Attributes
    ----------
    edges
        Shape ``(B + 1,)``: bin edges (seconds since the epoch).
    counts
        ``arm -> shape (B,)`` decisions per bin.
    """

    arms: tuple[str, ...]
    edges: FloatArray
    counts: Mapping[str, FloatArray]
    rewards: Mapping[str, FloatArray] | None = None

    @classmethod
    def build(cls, arms: Sequence[str], times: FloatArray, chosen: Sequence[str],
              bins: int, rewards: Sequence[float | None] | None = None) -> Timeline:
        """Bin decision times per arm (and the rewards they earned, if given)."""
        if times.size == 0:
            return cls(tuple(arms), np.zeros(0), {a: np.zeros(0) for a in arms},
                       {a: np.zeros(0) for a in arms} if rewards is not None else None)
        lo, hi = float(times.min()), float(times.max())
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, max(1, min(bins, times.size)) + 1)
        chosen_arr = np.array(chosen)
        counts = {a: np.histogram(times[chosen_arr == a], bins=edges)[0].astype(float)
                  for a in arms}
        sums = None
        if rewards is not None:
            values = np.array([0.0 if r is None else float(r) for r in rewards])
            sums = {a: np.histogram(times[chosen_arr == a], bins=edges,
                                    weights=values[chosen_arr == a])[0].astype(float)
                    for a in arms}
        return cls(tuple(arms), edges, counts, sums)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: bin edges, decisions and rewards per arm per bin."""
        return {"arms": list(self.arms), "edges": self.edges.tolist(),
                "counts": {a: c.tolist() for a, c in self.counts.items()},
                "rewards": None if self.rewards is None else
                {a: c.tolist() for a, c in self.rewards.items()}}

    def shares(self) -> dict[str, FloatArray]:
        """Fraction of decisions per arm in each bin."""
        total = sum(self.counts.values(), np.zeros(max(len(self.edges) - 1, 0)))
        safe = np.where(total > 0, total, 1.0)
        return {a: c / safe for a, c in self.counts.items()}

    @property
    def empty(self) -> bool:
        """Whether there is no decision to show."""
        return self.edges.size == 0 or math.isclose(
            float(sum(c.sum() for c in self.counts.values())), 0.0)
