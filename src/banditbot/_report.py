"""What an experiment has learned, as data (``Report``) and as a fixed-width text table."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ._text import amount_text, count_text, duration_text, local_time
from ._types import FloatArray

__all__ = ["AdminChange", "ArmReport", "Report", "SampleRatioCheck", "Timeline", "Uplift",
           "chance", "mean_text", "span_text"]


def chance(p: float, digits: int, *, exact: bool = True) -> str:
    """A probability as a percentage that never rounds to a certainty it is not:
    ``chance(0.9996, 0)`` is ``>99%``, ``chance(0.0004, 1)`` is ``<0.1%``. With
    ``exact=False`` (an estimate from posterior draws, never certain) 0 and 1 read the same
    way."""
    step = 10.0 ** -(digits + 2)  # the last shown digit, as a probability
    if (p > 0.0 or not exact) and p < step / 2:
        return f"<{step:.{digits}%}"
    if 1.0 - step / 2 <= p and (p < 1.0 or not exact):
        return f">{1.0 - step:.{digits}%}"
    return f"{p:.{digits}%}"


def mean_text(x: float | None) -> str:
    """A posterior mean as a table shows it: three decimals, ``–`` when there is none."""
    return "–" if x is None or x != x else f"{x:.3f}"


@dataclass(frozen=True, slots=True)
class Uplift:
    """An arm against the control: the difference of their estimates with its interval
    (``kind`` names it), and the relative change where the control's estimate is known to
    within a factor of 2 (its interval too for a fixed-sample difference; beside a
    confidence sequence, a point).

    Attributes
    ----------
    decisions
        The decisions the comparison rests on: those that offered both arms (``None`` when
        it rests on each arm's own, a fixed-sample interval).
    control_share
        The control's mean probability in those decisions (``None`` likewise).
    """

    diff: float
    low: float
    high: float
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    kind: str
    decisions: int | None = None
    control_share: float | None = None

    @property
    def span(self) -> str:
        """The difference's interval as reports write it: ``-0.005 to +0.352``."""
        return f"{self.low:+.3f} to {self.high:+.3f}"


@dataclass(frozen=True, slots=True)
class ArmReport:
    """One arm's line in a report.

    Attributes
    ----------
    pulls
        How often the arm was chosen (decisions, answered or not; not the rewards added by
        hand or imported, which are ``added``).
    answered
        How many rewards were received (votes, or settled silences in implicit mode; those
        added by hand or imported included).
    reward_sum
        Sum of the rewards (for 👍/👎: the number of 👍).
    mean
        The point estimate shown with ``low``–``high``: the posterior mean for a policy with a
        posterior, else ``reward_sum / answered``; always inside its interval. ``None``
        before the first answer.
    low, high
        The report's interval of the mean (named by :attr:`Report.interval_kind`).
    estimate, estimate_low, estimate_high
        The estimate the report leads with (named by :attr:`Report.estimate_kind`): one that
        survives adaptive allocation (the adaptively weighted AIPW estimate for bounded
        rewards; period-weighted across allocation periods otherwise), with an interval
        calibrated at this look.
    anytime_low, anytime_high
        The arm's mean by a confidence sequence: valid at every look, however often the
        report is read (named by :attr:`Report.anytime_kind`).
    p_best
        Probability that this arm has the highest mean (posterior; a description, not a
        stopping rule).
    allocation
        Probability that the next decision picks this arm (burn-in, floor and holdout
        included).
    uplift
        Against the control (``None`` for the control itself or without one).
    chance_to_beat_control, expected_loss
        P(this arm's mean > the control's), and the expected loss in the mean of choosing
        this arm over the best one (posterior).
    prior
        Operator prior ``(alpha, beta)`` if one is set.
    send_failures
        Messages of this arm Telegram refused to render (sent as plain text instead).
    added
        Rewards added by hand (cheater mode) or imported (``learn``) into this arm's
        statistics: in ``answered`` and ``reward_sum``, not in ``pulls``.
    too_few_answers
        Whether the arm is active and has fewer than 10 answers, the report's minimum for
        an estimate's point: ``estimate`` is then ``None`` and the interval, if any, spans
        most of the reward's range; the results page says "too few answers yet" beside it.
        (An arm whose 10 answers or more were added by hand or imported has no point
        either, the estimate resting on the policy's answers, but is not said to have too
        few.)
    position
        The arm's place in the experiment's arm list: its configured arms in the
        configuration's order, then the arms added at run time in the order they were
        added. Neither a reset, nor a retirement, nor an arm added later, nor the rows a
        report leaves out change it, so charts colour an arm by it (``None``: not known,
        the row's index is used).
    """

    arm: str
    content: str
    pulls: int
    answered: float
    reward_sum: float
    mean: float | None
    low: float | None
    high: float | None
    p_best: float
    allocation: float
    active: bool = True
    prior: tuple[float, float] | None = None
    #: the mean of the posterior behind P(best): the policy's own, or for a policy without
    #: one the flat Beta (vague normal) one the report uses — an operator prior included
    #: (``None`` for an arm with neither answers nor a prior)
    posterior_mean: float | None = None
    estimate: float | None = None
    estimate_low: float | None = None
    estimate_high: float | None = None
    anytime_low: float | None = None
    anytime_high: float | None = None
    uplift: Uplift | None = None
    chance_to_beat_control: float | None = None
    expected_loss: float | None = None
    send_failures: int = 0
    added: int = 0
    too_few_answers: bool = False
    position: int | None = None


@dataclass(frozen=True, slots=True)
class SampleRatioCheck:
    """The sample-ratio-mismatch check: decisions per arm against the probabilities they
    were drawn from. With allocation periods: all periods together, by a test valid at
    every look (:func:`~banditbot.statistics.period_ratio_anytime_p_value`), and each
    period that has ended on its own (an exact binomial test per arm, at a level that
    shrinks with the periods that ended before it), the p-value corrected for both.
    With the allocation recomputed at every decision: every decision against the vector it
    logged, by a test valid at every look (:func:`~banditbot.statistics.
    logged_ratio_anytime_p_value`: its p-value is the smallest over the log so far).

    Attributes
    ----------
    p_value
        The check's p-value (flagged below 0.001, however many periods were tested).
    flagged
        Whether the decisions do not follow the allocations.
    period
        The period whose own test gave ``p_value``; empty when the pooled test did.
    periods_tested
        The periods with decisions (0 without periods).
    decisions_tested
        Without periods: the decisions tested against their own vectors (else 0).
    """

    p_value: float
    flagged: bool
    period: str
    periods_tested: int
    decisions_tested: int = 0

    def describe(self) -> str:
        """One line for a report."""
        over = f"over the {self.periods_tested} periods" if self.periods_tested else \
            f"over {self.decisions_tested:,} decisions"
        if self.flagged:
            where = f"in period {self.period}" if self.period else over
            kind = "p" if self.periods_tested else "anytime p"
            return (f"sample ratio mismatch {where} ({kind} = {self.p_value:.1e}): decisions "
                    "do not follow the allocation; check what drops messages or decisions")
        if not self.periods_tested:
            return (f"sample ratio: OK over {self.decisions_tested:,} decisions, each against "
                    f"the vector it was drawn from (anytime p = {self.p_value:.2g})")
        return f"sample ratio: OK over {self.periods_tested} period(s) (p = {self.p_value:.2g})"


@dataclass(frozen=True, slots=True)
class AdminChange:
    """A change of what an experiment runs, from the store's audit log.

    Attributes
    ----------
    at
        When (seconds since the epoch).
    action
        ``policy`` (a switch), ``arm-add`` or ``arm-retire``.
    detail
        The policy switched to (as it describes itself), or the arm.
    """

    at: float
    action: str
    detail: str


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
    status: str = "running"  # burn-in, running, winner, stopped
    winner: str | None = None
    started_at: float | None = None
    burn_in: Mapping[str, int] | None = None  # done/needed decisions, answers/answers_needed
    srm: SampleRatioCheck | None = None
    control: str | None = None
    estimate_kind: str = ""
    anytime_kind: str = ""
    winner_rule: str = ""
    contenders: tuple[str, ...] = ()
    update: str = "every decision"
    #: ``exact`` (each decision logged its vector) or ``deferred`` (Thompson sampling's
    #: decisions log their posterior; the vectors are computed when the log is read)
    propensity: str = "exact"
    periods: int = 0
    floor: float = 0.0
    holdout: float = 0.0
    #: the zone report times are shown in (the config's ``time_zone``)
    time_zone: str = "UTC"
    #: with a holdout: the value of the bandit's allocation so far minus the control's
    bandit_vs_holdout: Uplift | None = None
    #: policy switches and arm changes made by admins, oldest first (the audit log's)
    history: tuple[AdminChange, ...] = ()
    #: the policy the experiments file gave, before any switch in :attr:`history`
    initial_policy: str = ""
    #: the winner rule: ``sequence`` (with a stated error, over :attr:`contenders`) or
    #: ``p-best``; ``""`` when none applies (a bandit per chat or user)
    rule: str = ""
    #: the experiment's confidence (the winner rule's and the intervals' level)
    confidence: float = 0.95
    #: the reward's lowest and highest value (``None`` where it has no bound)
    reward_bounds: tuple[float | None, float | None] = (None, None)
    #: what a binary reward of 1 is called: the label of its button (the headline's
    #: ``60% 👍``)
    reward_label: str = "👍"

    @property
    def total_pulls(self) -> int:
        """Decisions in this generation."""
        return sum(a.pulls for a in self.arms)

    @property
    def total_answered(self) -> float:
        """Rewards received in this generation."""
        return sum(a.answered for a in self.arms)

    @property
    def answered_text(self) -> str:
        """``1,200 answered``, and ``(7 added by hand or imported)`` when some answers came
        without a decision (a trial read "40 decisions, 47 answered" as a mistake)."""
        added = sum(a.added for a in self.arms)
        by_hand = f" ({added:,} added by hand or imported)" if added else ""
        return f"{amount_text(self.total_answered)} answered{by_hand}"

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from the first decision of this generation to the report."""
        return None if self.started_at is None else max(self.generated_at - self.started_at,
                                                        0.0)

    @property
    def leader(self) -> ArmReport | None:
        """The active arm with the highest P(best), when it has answers or a prior to go by
        (an arm without data is never called the leader, and no arm is called the leader
        while another has the higher P(best)); none during burn-in (a trial: the bot marked
        an arm "leads" under "too early to name a leader")."""
        active = [a for a in self.arms if a.active]
        if not active or self.status == "burn-in":
            return None
        top = max(active, key=lambda a: a.p_best)
        return top if top.answered > 0 or top.prior else None

    @property
    def shows_posterior_mean(self) -> bool:
        """Whether a table shows each arm's posterior mean beside the estimate: with an
        operator prior, or answers imported or added by hand (both count in the posterior
        the policy uses and in P(best), not in the estimate; a warm-started experiment's
        table had shown only "–" estimates)."""
        return any(a.prior or a.added for a in self.arms)

    def best_text(self, arm: ArmReport, digits: int = 0) -> str:
        """An arm's P(best) as tables show it: ``–`` for a retired arm, and a certainty
        only where there is one (a single active arm): with two or more, a posterior's
        P(best) of 1.0 is a rounding of one just below it (a trial read "100%" and "0%").

        Parameters
        ----------
        arm
            One of :attr:`arms`.
        digits
            Decimals of the percentage.
        """
        if not arm.active:
            return "–"
        return chance(arm.p_best, digits, exact=sum(a.active for a in self.arms) <= 1)

    @property
    def verdict(self) -> str | None:
        """One line on what the data says so far: the winner when the winner rule named
        one, else who leads (a description; for a contextual experiment, over all contexts,
        since its policy picks per context); ``None`` before the first answer."""
        if self.winner is not None:
            return f"winner: {self.winner}" + (" (stopped)" if self.status == "stopped"
                                                 else "")
        if self.status == "burn-in" and any(a.answered or a.prior for a in self.arms
                                            if a.active):
            # (a trial: "x leads (P(best) 98%)" on 4 answers, under the banner saying the
            # estimates are not meaningful yet)
            return ("burn-in: too early to name a leader (every arm is sent alike until "
                    "each has enough data)")
        leader = self.leader
        if leader is None:
            return None
        top = self._estimate_top(leader)
        tied = top is None
        top = top or leader
        # a non-stationary policy names no winner at all: "yet" would promise one
        none = "no winner named (the best arm may change)" if "recent" in self.notes \
            else "no winner yet"
        if top.arm != leader.arm and self.anytime_kind and not tied and "recent" in self.notes:
            # a non-stationary policy: P(best) of the recent answers, the estimate of all
            return (f"{none}: P(best) favours {leader.arm} "
                    f"({self.best_text(leader)}) on the recent answers, the estimate "
                    f"{top.arm} on every answer: after a change the estimate lags behind "
                    "(see recent); a description, not a stopping rule")
        if "context" in self.notes:  # a contextual experiment: P(best) is over all contexts
            # (and read off the estimates: no "raw counts" disagreement to explain)
            return f"no winner yet: {leader.arm} leads over all contexts (P(best) " \
                   f"{self.best_text(leader)}, a description, not a stopping rule); the " \
                   "policy picks per context, where another arm can be the better one"
        if top.arm != leader.arm and self.anytime_kind and not tied:
            # P(best) reads the posterior of the counts (priors and imported history in
            # them), the estimate weighs the policy's logged decisions by their
            # propensities: when they disagree, say both
            return (f"no winner yet: P(best) favours {leader.arm} "
                    f"({self.best_text(leader)}), the estimate {top.arm}: P(best) reads "
                    "the raw counts (with priors and imported history), the estimate "
                    "corrects for the changing allocation; a description, not a stopping "
                    "rule")
        return f"{none}: {leader.arm} leads (P(best) {self.best_text(leader)}, a " \
               f"description, not a stopping rule){self._not_shown_better(leader)}"

    def _estimate_top(self, leader: ArmReport) -> ArmReport | None:
        """The active arm with the highest estimate when it is not ``leader`` (the arm of
        the highest P(best)) and the two estimates are not a near tie; else ``None``."""
        estimated = [a for a in self.arms if a.active and a.estimate is not None
                     and a.answered > 0]
        top = max(estimated, key=lambda a: a.estimate or 0.0) if estimated else leader
        # the estimate can only disagree with P(best) about an arm it has an estimate of
        # (with too few answers it has none: "the estimate hey" only meant hey had one)
        if top.arm == leader.arm or leader.estimate is None or top.estimate is None:
            return None
        # (a near tie is no disagreement: every reward 1 gave 1.000 and 1.000, or 0.989 and
        # 1.000, and "the estimate a"; within 2% of each other the estimate favours no one)
        if abs(top.estimate - leader.estimate) <= 0.02 * max(abs(top.estimate),
                                                             abs(leader.estimate)):
            return None
        return top

    # --- the headline: the report's answer in plain words ------------------------------------
    def value_text(self, x: float, *, short: bool = False) -> str:
        """An arm's estimate in the reward's own words: ``60% 👍`` (a binary reward: the
        share of 👍, the label of the button worth 1), ``average rating 4.09`` (a rating),
        ``mean 12.5`` (a number); with ``short``, the number alone (``60%``, ``4.09``).

        Parameters
        ----------
        x
            The estimate.
        short
            Leave out what it is (for the arm it is compared with).
        """
        if self.reward_type == "binary":
            return f"{x:.0%}" if short else f"{x:.0%} {self.reward_label}"
        number = _number(x)
        if short:
            return number
        return f"average rating {number}" if self.reward_type == "rating" else f"mean {number}"

    @property
    def starved(self) -> tuple[ArmReport, ...]:
        """The arms the verdict waits on that the policy sends too little traffic to settle
        it: while no winner is named, the control the leader is not yet shown better than,
        and the arms the winner rule has not ruled out — those of them that get at most
        :data:`_STARVED_SHARE` of new decisions and have fewer than
        :data:`_STARVED_ANSWERS` of the leader's answers (their scores, weighted by one
        over a small probability, keep the comparison's interval wide: docs/inference.md).
        Empty without intervals valid at every look (a reward without bounds), during
        burn-in, or once a winner is named."""
        leader = self.leader
        if self.winner is not None or self.status != "running" or not self.anytime_kind \
                or leader is None:
            return ()
        waits = []
        u = leader.uplift
        if self.control is not None and leader.arm != self.control and u is not None \
                and u.low <= 0.0:
            waits.append(self.control)
        if self.rule == "sequence":
            waits += [c for c in self.contenders if c != leader.arm]
        return tuple(a for a in self.arms if a.arm in waits and a.active
                     and a.allocation <= _STARVED_SHARE
                     and a.answered < _STARVED_ANSWERS * leader.answered)

    @property
    def next_step(self) -> str | None:
        """What to do when the verdict waits on arms the policy starves
        (:attr:`starved`): which, how little they get, and the settings that give them
        more (a higher exploration ``floor``; for the control, a ``holdout``); ``None``
        when the verdict waits on no such arm."""
        starved = self.starved
        leader = self.leader
        if not starved or leader is None:
            return None
        names = _and([a.arm for a in starved])
        share = max(a.allocation for a in starved)
        answers = max(a.answered for a in starved)
        has = f"{leader.arm} has {amount_text(leader.answered)}"
        if len(starved) == 1:
            what = (f"{names} gets {_share(share)} of new decisions and has "
                    f"{count_text(answers, 'answer')} ({has}): too few to settle its "
                    f"comparison with {leader.arm} soon")
        else:
            what = (f"{names} get at most {_share(share)} of new decisions and have at most "
                    f"{count_text(answers, 'answer')} each ({has}): too few to settle their "
                    f"comparisons with {leader.arm} soon")
        steps = []
        active = sum(a.active for a in self.arms)
        floor = math.floor(min(0.1, 0.5 / max(active, 1)) * 100) / 100
        if floor > self.floor + 1e-9:
            steps.append(f"raise the exploration floor (floor: {floor:g} in the experiments "
                         f"file, now {self.floor:g}: every arm then gets at least "
                         f"{_share(floor)})")
        if self.control is not None and any(a.arm == self.control for a in starved) \
                and self.holdout < 0.1:
            alone = "" if len(starved) == 1 else f"; for {self.control}'s comparison alone"
            steps.append(f"give {self.control} a fixed share outside the bandit (holdout: "
                         f"0.1{alone})")
        if not steps:  # (the floor at its cap, and no control to give a holdout)
            steps.append("let each period explore the arms not ruled out (winner: {explore: "
                         "top-two}, with update in periods)")
        return (f"{what}, as the policy sends most decisions to the leader. For a verdict "
                f"sooner (docs/experiments.md): {', or '.join(steps)}")

    @property
    def headline(self) -> str:
        """The report's answer in one line of plain words, from what the report decided
        (the winner rule, the leader, the intervals) and in the reward's words: ``emoji
        leads: 60% 👍 against plain's 23%, probably better, not proven yet (keep going)``,
        ``emoji is better than plain (proven at every look; 95%): 60% 👍``, ``too early: 12
        answers so far``. "probably" reads the posterior (the chance to beat the control,
        else P(best)): a description, never the winner rule."""
        if self.winner is not None:
            return self._winner_headline(self.winner)
        answers = self.total_answered
        if answers == 0:
            return "too early: no answers yet" if self.total_pulls else \
                "nothing yet: no decisions so far"
        if self.status == "burn-in":
            return (f"too early: {count_text(answers, 'answer')} so far (every arm gets the "
                    "same share until each has enough answers)")
        leader = self.leader
        if leader is not None and leader.estimate is None and leader.added \
                and leader.posterior_mean is not None:
            # answers imported (a warm start) or added by hand count in the posterior, not
            # in the estimate: a trial's 1,486 imported answers read "too early ... too few
            # to compare the arms" beside P(best) 93%
            return (f"{leader.arm} leads on the answers imported or added by hand: "
                    f"{self.value_text(leader.posterior_mean)} (posterior mean; P(best) "
                    f"{chance(leader.p_best, 0, exact=False)}); the estimates start with the "
                    "policy's own answered decisions")
        if leader is None or leader.estimate is None:
            return (f"too early: {count_text(answers, 'answer')} so far, too few to compare "
                    "the arms")
        value = self.value_text(leader.estimate)
        if "context" in self.notes:
            return (f"{leader.arm} leads over all contexts: {value}; the policy picks per "
                    "context, so no single winner is named")
        if "recent" in self.notes:
            return (f"{leader.arm} leads on the recent answers: {value}; the best arm may "
                    "change, so no winner is named")
        top = self._estimate_top(leader)
        if top is not None:  # (with or without every-look intervals: a review found "A
            # leads: mean 10.00 against B's 12.00" where P(best) and the estimate disagreed)
            return (f"no clear leader yet: {leader.arm} and {top.arm} are ahead by different "
                    "counts (details below; keep going)")
        other = self._compared_with(leader)
        who = f"{leader.arm} (the control)" if leader.arm == self.control else leader.arm
        text = f"{who} leads: {value}"
        if other is not None:
            text += f" against {_possessive(other.arm)} " + \
                (self.value_text(other.estimate, short=True) if other.estimate is not None
                 else "(too few answers yet)")
        return f"{text}, {self._judgement(leader, other)}"

    def _compared_with(self, leader: ArmReport) -> ArmReport | None:
        """The arm a headline sets the leader against: the control, or for the control
        itself (or without one) the active arm with the next highest estimate."""
        if self.control is not None and leader.arm != self.control:
            return next((a for a in self.arms if a.arm == self.control), None)
        others = [a for a in self.arms if a.active and a.arm != leader.arm
                  and a.estimate is not None]
        return max(others, key=lambda a: a.estimate or 0.0) if others else None

    def _judgement(self, leader: ArmReport, other: ArmReport | None) -> str:
        """What the evidence says of the leader so far, for :attr:`headline`."""
        against_control = other is not None and other.arm == self.control
        u = leader.uplift if against_control else None
        sequence = bool(self.anytime_kind) and self.rule == "sequence"
        if u is not None and sequence and u.low > 0.0:
            rest = [c for c in self.contenders if c not in (leader.arm, self.control)]
            shown = f"better than {self.control} (proven at every look; " \
                    f"{self.confidence:.0%})"
            if not rest:
                return f"{shown}; keep going"
            starved = [a.arm for a in self.starved if a.arm in rest]
            why = f": {_and(starved)} {'gets' if len(starved) == 1 else 'get'} too little " \
                  "traffic to settle it (next step below)" if starved else " (keep going)"
            return f"{shown}, not yet than {_and(rest)}{why}"
        if u is not None and self.anytime_kind and u.high < 0.0:
            return (f"but the estimates put it below {self.control} (its interval against "
                    "it lies below 0; details below)")
        p = leader.chance_to_beat_control if against_control else leader.p_best
        likely = "" if p is None else "probably better" if against_control and p >= 0.9 \
            else "probably the best" if p >= 0.9 else "too close to call"
        likely += ", " if likely else ""
        if self.starved:
            names = _and([a.arm for a in self.starved])
            gets = "gets" if len(self.starved) == 1 else "get"
            return (f"{likely}not proven: {names} {gets} too little traffic to settle it "
                    "(next step below)")
        if sequence:
            return f"{likely}not proven yet (keep going)"
        if self.rule == "p-best":
            return f"{likely}no winner named yet (keep going)"
        if self.per != "shared":
            return f"{likely}a description: each {self.per.replace('subject', 'user')} has " \
                   "a bandit of its own, and no winner is named"
        return f"{likely}a description: this reward has no min and max, so nothing is proven"

    def _winner_headline(self, winner: str) -> str:
        """The headline once the winner rule named ``winner``."""
        arm = next((a for a in self.arms if a.arm == winner), None)
        value = "" if arm is None or arm.estimate is None else \
            f": {self.value_text(arm.estimate)}"
        control = next((a for a in self.arms if a.arm == self.control), None)
        if value and control is not None and control.arm != winner \
                and control.estimate is not None:
            value += f" against {_possessive(control.arm)} " \
                     f"{self.value_text(control.estimate, short=True)}"
        stopped = "; stopped: every decision goes to it" if self.status == "stopped" else ""
        if self.rule != "sequence":
            return (f"{winner} is named the winner by P(best){value} (a description, not "
                    f"proof){stopped}")
        others = [a.arm for a in self.arms if a.active and a.arm != winner]
        than = " and ".join(others) if len(others) <= 2 else \
            f"the other {len(others):,} arms"
        return (f"{winner} is better than {than} (proven at every look; "
                f"{self.confidence:.0%}){value}{stopped}")

    def _not_shown_better(self, leader: ArmReport) -> str:
        """``; not yet shown better than the control …`` when the leader's interval against
        the control still holds 0 (a trial: "hey leads (P(best) >99%)" beside an uplift of
        −0.005 to +0.352, which a reader of the one line would not see), ``; shown worse
        than the control …`` when it lies below 0 (P(best) can lead where the estimate
        does not)."""
        u = leader.uplift
        if self.control is None or leader.arm == self.control or u is None or u.low > 0.0:
            return ""
        if u.high < 0.0:
            return (f"; shown worse than {self.control} (its interval against it, {u.span}, "
                    "lies below 0)")
        return (f"; not yet shown better than {self.control} (its interval against it, "
                f"{u.span}, holds 0)")

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

    @property
    def burn_in_text(self) -> str:
        """What burn-in still waits for: the least-served arm's counts against what every
        arm needs, a part already reached said to be done rather than shown as ``7/5``:
        ``burn-in per arm (the fewest): 3/10 decisions, 1/5 answers``, ``… 3/10 decisions
        (answers: done)``, ``… 0/5 answers (decisions: done)``."""
        b = self.burn_in or {}
        done, needed = b.get("done", 0), b.get("needed", 0)
        answers, answers_needed = b.get("answers", 0), b.get("answers_needed", 0)
        waiting, reached = [], []
        if done < needed:
            waiting.append(f"{done:,}/{needed:,} decisions")
        else:
            reached.append("decisions")
        if answers_needed:
            if answers < answers_needed:
                waiting.append(f"{answers:,}/{answers_needed:,} answers")
            else:
                reached.append("answers")
        if not waiting:  # (a report holds burn-in only while it lasts)
            return "burn-in per arm: done"
        # (the policy counts them as it counts decisions: a trial read "4/10 decisions"
        # beside a table whose fewest decisions were 2, its hand-added rows not among them)
        added = " (rewards added by hand or imported count)" \
            if any(a.added for a in self.arms) else ""
        return ("burn-in per arm (the fewest): " + ", ".join(waiting)
                + "".join(f" ({part}: done)" for part in reached) + added)

    def local_time(self, timestamp: float) -> datetime:
        """A time in the report's :attr:`time_zone` (UTC for a zone this system lacks).

        Parameters
        ----------
        timestamp
            Seconds since the epoch.

        Returns
        -------
        datetime
            Aware, in that zone (``%Z`` names it: ``CET``, ``UTC``).
        """
        return local_time(timestamp, self.time_zone)

    @property
    def status_line(self) -> str:
        """``status: running · since 2026-12-02 06:00 UTC (3h) · 1,234 decisions``."""
        text = f"status: {self.status}" + (f" ({self.winner})" if self.winner else "")
        if self.started_at is not None:
            when = self.local_time(self.started_at)
            text += f" · since {when.strftime('%Y-%m-%d %H:%M %Z')} " \
                    f"({duration_text(self.duration_seconds or 0.0)})"
        return text + f" · {count_text(self.total_pulls, 'decision')}"

    @property
    def history_text(self) -> str | None:
        """One line on the admins' changes, oldest first, or ``None`` without any:
        ``history: policy thompson (from start) → epsilon-greedy(epsilon=0.2) 2026-12-04
        12:01 → kl-ucb 12:30 (now) · arms: hey retired 12:40, yo added 12:50``.

        A time shows its date when it is the line's first or on another day than the one
        before. A policy's parameters show when its name ran with other parameters too (two
        epsilon-greedy runs); a long history keeps the start and the last few switches."""
        if not self.history:
            return None
        day = [""]

        def when(at: float) -> str:
            t = self.local_time(at)
            date = t.strftime("%Y-%m-%d")
            text = t.strftime("%H:%M") if date == day[0] else t.strftime("%Y-%m-%d %H:%M")
            day[0] = date
            return text

        switches = [c for c in self.history if c.action == "policy"]
        arm_changes = [c for c in self.history if c.action != "policy"]
        parts = []
        if switches:
            described = [self.initial_policy, *(c.detail for c in switches)]
            variants: dict[str, set[str]] = {}
            for d in described:
                if d:
                    variants.setdefault(d.partition("(")[0], set()).add(d)

            def name(policy: str) -> str:
                short = policy.partition("(")[0]
                return policy if len(variants.get(short, ())) > 1 else short

            entries = [f"{name(c.detail)} {when(c.at)}" for c in switches]
            entries[-1] += " (now)"
            if len(entries) > _HISTORY_KEPT:  # the start and the last few switches
                left = len(entries) - _HISTORY_KEPT + 1
                entries = [f"… {left:,} earlier switches", *entries[-(_HISTORY_KEPT - 1):]]
            start = [f"{name(self.initial_policy)} (from start)"] if self.initial_policy \
                else []
            parts.append("policy " + " → ".join([*start, *entries]))
        if arm_changes:
            arms = [f"{c.detail} {'added' if c.action == 'arm-add' else 'retired'} "
                    f"{when(c.at)}" for c in arm_changes]
            if len(arms) > _HISTORY_KEPT:
                arms = [f"… {len(arms) - _HISTORY_KEPT + 1:,} earlier",
                        *arms[-(_HISTORY_KEPT - 1):]]
            parts.append(f"arms: {', '.join(arms)}")
        return "history: " + " · ".join(parts)

    @property
    def comparison_notes(self) -> list[str]:
        """Where an arm and the control shared fewer than 80% of the decisions (an arm added
        later, or retired, or a control retired): on how many they are compared, and the
        control's share of them — why that uplift's interval is wide (``yo vs hello:
        compared on the 1,000 decisions that offered both (hello had 1% of them), not on
        all 6,000``)."""
        found: list[tuple[float, str, str]] = []
        for a in self.arms:
            u = a.uplift
            if u is None or u.decisions is None or self.control is None:
                continue
            if u.decisions >= 0.8 * self.total_pulls:
                continue
            share = "" if u.control_share is None else \
                f" ({self.control} had {chance(u.control_share, 0)} of them)"
            found.append((u.decisions, share, a.arm))
        groups: dict[tuple[float, str], list[str]] = {}
        if len(found) <= 3:  # a line each
            return [self._compared([arm], decisions, share) for decisions, share, arm in found]
        for decisions, share, arm in found:  # many (arms added together): a line a group
            groups.setdefault((decisions, share), []).append(arm)
        return [self._compared(arms, decisions, share)
                for (decisions, share), arms in groups.items()]

    def _compared(self, arms: Sequence[str], decisions: float, share: str) -> str:
        return (f"{_some(arms)} vs {self.control}: "
                + (f"compared on the {count_text(decisions, 'decision')} that offered both"
                   if len(arms) == 1 else
                   f"each compared on the {count_text(decisions, 'decision')} that offered "
                   f"it and {self.control}")
                + f"{share}, not on all {self.total_pulls:,}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["arms"] = [asdict(a) for a in self.arms]
        d["total_pulls"] = d["decisions"] = self.total_pulls
        d["total_answered"] = self.total_answered
        d["duration_seconds"] = self.duration_seconds
        d["headline"] = self.headline
        d["verdict"] = self.verdict
        d["next_step"] = self.next_step
        d["history_text"] = self.history_text
        d["comparison_notes"] = self.comparison_notes
        return d

    def footnotes(self) -> list[str]:
        """What a report says under its table, the same in every view: the bandit against
        the holdout, the winner rule, the generation after a reset, priors (on arms without
        decisions too), formatting failures, and the experiment's notes (a warm start, a
        retired control)."""
        lines = []
        if self.scope and self.total_pulls == 0:
            kind, _, ident = self.scope.partition(":")
            who = f"chat {ident}" if kind == "chat" else "this user"
            lines.append(f"no decisions for {who} in this generation (an id that has not "
                         "used the experiment since its last reset?)")
        u = self.bandit_vs_holdout
        if u is not None:
            relative = "" if u.relative is None else f" ({u.relative:+.0%})"
            lines.append(f"bandit vs holdout ({self.control}): {u.diff:+.3f}{relative}, "
                         f"{u.span} ({u.kind})")
        pointless = [a.arm for a in self.arms if a.estimate is None
                     and a.estimate_low is not None and a.estimate_high is not None]
        if pointless:  # the table's "–" beside an interval (the chart's bar without a circle)
            lines.append(f"estimate – ({', '.join(pointless[:5])}"
                         f"{' …' if len(pointless) > 5 else ''}): too few answers for a point "
                         "yet, or still in burn-in; the interval beside it holds already")
        if self.winner_rule:
            lines.append(f"winner rule: {self.winner_rule}")
        if self.rule == "sequence" and self.winner is None and len(self.contenders) > 1:
            retired = any(not a.active for a in self.arms)
            active = [a.arm for a in self.arms if a.active]
            out = [a for a in active if a not in self.contenders]
            named = ", ".join(self.contenders) if len(self.contenders) <= _NAMED else \
                f"{len(self.contenders)} of {len(active)} arms (all but {', '.join(out)})" \
                if out and len(out) <= _NAMED else \
                f"{len(self.contenders)} of {len(active)} arms: {_some(self.contenders)}"
            lines.append(f"not ruled out yet: {named}"
                         + (" (a retired arm is no candidate: it cannot be sent)"
                            if retired else ""))
        if self.next_step:
            lines.append(f"next step: {self.next_step}")
        lines.extend(self.comparison_notes)
        if self.history_text:
            lines.append(self.history_text)
        if self.generation > 0:  # generation n follows the n-th reset
            since = "a reset" if self.generation == 1 else \
                f"the last of {self.generation} resets"
            lines.append(f"generation {self.generation}: counted since {since} (earlier "
                         "decisions stay in the log)")
        added = [f"{a.arm} {a.added:,}" for a in self.arms if a.added]
        if added:
            lines.append(f"added by hand or imported, in rows (in answered at their weight: "
                         f"imported history counts as its effective sample; not in "
                         f"decisions): {', '.join(added)}")
        priors = [f"{a.arm} (alpha={a.prior[0]:g}, beta={a.prior[1]:g})"
                  for a in self.arms if a.prior]
        if priors:
            lines.append(f"prior on {', '.join(priors)}: in P(best), the chance to beat the "
                         "control and the expected loss, as the policy counts it; not in "
                         "the estimate and its difference to the control (real answers "
                         "alone)")
        for a in self.arms:
            if a.send_failures:
                lines.append(f"{a.arm}: Telegram refused its formatting {a.send_failures} "
                             "time(s); sent as plain text")
        lines.extend(self.note_lines())
        return lines

    def note_lines(self, only: Collection[str] | None = None) -> list[str]:
        """The experiment's notes as lines, each led by what it is (``answered: …``).

        Parameters
        ----------
        only
            The notes' keys to give (``None``: every note).
        """
        return [f"{key.replace('_', ' ')}: {text}" for key, text in self.notes.items()
                if only is None or key in only]

    def top_arms(self, count: int) -> tuple[ArmReport, ...]:
        """At most ``count`` arms, in the report's order — what a short table or a chart of
        a bandit with many arms shows: the control and the leader (highest P(best)) always,
        then active arms before retired ones, each by the most decisions (then the largest
        share now). The dashboard picks the arms it colours by the same rule."""
        if len(self.arms) <= count:
            return self.arms
        leader = max(range(len(self.arms)), key=lambda i: self.arms[i].p_best)
        ranked = sorted(range(len(self.arms)), key=lambda i: (
            i != leader and self.arms[i].arm != self.control, not self.arms[i].active,
            -self.arms[i].pulls, -self.arms[i].allocation, i))
        return tuple(self.arms[i] for i in sorted(ranked[:count]))

    def more_arms_text(self, shown: Sequence[ArmReport]) -> str:
        """The line under a short table (:meth:`top_arms`) on the arms it leaves out: ``…
        and 120 more arms with no decisions yet (every arm: banditbot report big, or the
        export)``.

        Parameters
        ----------
        shown
            The arms the table shows (fewer than :attr:`arms`).
        """
        listed = {a.arm for a in shown}
        most = max((a.pulls for a in self.arms if a.arm not in listed), default=0)
        fewer = "no decisions yet" if most == 0 else \
            f"at most {count_text(most, 'decision')} each"
        return (f"… and {len(self.arms) - len(listed):,} more arms with {fewer} "
                f"(every arm: banditbot report {self.experiment}, or the export)")

    def totals_text(self, *, with_estimate: bool = False) -> str:
        """``1,234 decisions, 1,200 answered`` (``; estimate: …`` naming the estimate, with
        ``with_estimate``), and how deferred propensities are known."""
        estimate = f"; estimate: {self.estimate_kind}" if with_estimate else ""
        deferred = "; propensities computed from the logged posteriors" \
            if self.propensity == "deferred" else ""
        return (f"{count_text(self.total_pulls, 'decision')}, "
                f"{self.answered_text}{estimate}{deferred}")

    def to_text(self, *, width: int = 0, max_arms: int | None = None) -> str:
        """A fixed-width table (for a terminal; the bot shows a block per arm instead, which
        a phone's narrow screen takes without wrapping); with ``max_arms``, the rows of
        :meth:`top_arms` and a line that says how many more there are (the totals and the
        verdict stay those of every arm)."""
        # with an operator prior (or answers imported or added by hand), the posterior the
        # policy uses beside the estimate (which leaves them out): the reason P(best) can
        # favour an arm the estimate does not
        priors = self.shows_posterior_mean
        # the answers' sum beside their count (the 👍 of 👍/👎): what a tester checks the
        # buttons they pressed against, before the estimate has enough answers to show
        # the CLI's columns, by the CLI's names (the interval at every look among them: a
        # reader who checks the table daily needs it more than the one at this look)
        anytime = bool(self.anytime_kind)
        header = ("arm", "decisions", "answered", "reward sum", "estimate", "interval",
                  *(("every look",) if anytime else ()),
                  *(("posterior mean",) if priors else ()), "P(best)", "allocation")
        shown = self.arms if max_arms is None else self.top_arms(max_arms)
        rows = []
        for a in shown:
            rows.append((
                a.arm + ("" if a.active else " (retired)"),
                f"{a.pulls:,}",
                amount_text(a.answered),
                amount_text(a.reward_sum),
                "–" if a.estimate is None else f"{a.estimate:.3f}",
                span_text(a.estimate_low, a.estimate_high),
                *((span_text(a.anytime_low, a.anytime_high),) if anytime else ()),
                *((mean_text(a.posterior_mean),) if priors else ()),
                self.best_text(a),
                f"{a.allocation:.0%}",
            ))
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [f"{self.experiment}: {self.headline}", self.title, self.status_line]
        if self.burn_in is not None:
            lines.append(self.burn_in_text)
        if self.srm is not None:  # (one that passed said too: else it reads as never run)
            lines.append(("⚠ " if self.srm.flagged else "") + self.srm.describe())
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for r in rows:
            lines.append("  ".join(
                (c.ljust(w) if i == 0 else c.rjust(w))
                for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if len(shown) < len(self.arms):
            lines.append(self.more_arms_text(shown))
        lines.append(self.totals_text(with_estimate=True))
        if self.control is not None:
            for a in shown:
                if a.uplift is not None:
                    u = a.uplift
                    lines.append(f"{a.arm} vs {self.control}: {u.diff:+.3f} "
                                 f"({u.span}, {u.kind})")
        if anytime:
            lines.append(f"every look: {self.anytime_kind}")
        if self.verdict:
            lines.append(self.verdict)
        lines.extend(self.footnotes())
        return "\n".join(lines)


def span_text(low: float | None, high: float | None, *, digits: int = 2) -> str:
    """An interval as ``0.12–0.34`` (``–`` when it is not known), ``digits`` decimals."""
    return "–" if low is None or high is None else f"{low:.{digits}f}–{high:.{digits}f}"


#: Most entries the history line gives of the policy switches (and of the arm changes).
_HISTORY_KEPT = 5


@dataclass(frozen=True, slots=True)
class Timeline:
    """Decisions per arm along the decision log, for allocation charts.

    The x axis is the decision count, not the clock: bins hold equal numbers of decisions, so
    a pause in traffic draws no spike and no gap.

    Attributes
    ----------
    edges
        Shape ``(B + 1,)``: bin edges in decisions (0 … the number of decisions).
    counts
        ``arm -> shape (B,)`` decisions per bin.
    rewards
        ``arm -> shape (B,)`` reward sums per bin (``None`` when not asked for).
    times
        Shape ``(B + 1,)``: the time (seconds since the epoch) of the decision at each edge.
    periods
        Decision counts at which a new allocation period started (empty when the allocation
        changes every decision).
    """

    arms: tuple[str, ...]
    edges: FloatArray
    counts: Mapping[str, FloatArray]
    rewards: Mapping[str, FloatArray] | None = None
    times: FloatArray = field(default_factory=lambda: np.zeros(0))
    periods: tuple[int, ...] = ()

    @classmethod
    def build(cls, arms: Sequence[str], times: FloatArray, chosen: Sequence[str],
              bins: int, rewards: Sequence[float | None] | None = None,
              period_of: Sequence[str | None] | None = None) -> Timeline:
        """Bin decisions (in log order) per arm into ``bins`` bins of equal size (and the
        rewards they earned, if given); ``period_of`` gives each decision's allocation id."""
        n = int(times.size)
        if n == 0:
            return cls(tuple(arms), np.zeros(0), {a: np.zeros(0) for a in arms},
                       {a: np.zeros(0) for a in arms} if rewards is not None else None)
        edges = np.unique(np.linspace(0, n, max(1, min(bins, n)) + 1).round()).astype(float)
        position = np.arange(n, dtype=float)
        chosen_arr = np.array(chosen)
        counts = {a: np.histogram(position[chosen_arr == a], bins=edges)[0].astype(float)
                  for a in arms}
        sums = None
        if rewards is not None:
            values = np.array([0.0 if r is None else float(r) for r in rewards])
            sums = {a: np.histogram(position[chosen_arr == a], bins=edges,
                                    weights=values[chosen_arr == a])[0].astype(float)
                    for a in arms}
        starts: tuple[int, ...] = ()
        if period_of is not None:
            starts = tuple(i for i in range(1, n) if period_of[i] != period_of[i - 1]
                           and period_of[i] is not None)
        at = times[np.minimum(edges.astype(int), n - 1)]
        return cls(tuple(arms), edges, counts, sums, at, starts)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: bin edges (decisions), their times, decisions and rewards per arm per
        bin, and where allocation periods start."""
        return {"arms": list(self.arms), "axis": "decisions", "edges": self.edges.tolist(),
                "times": self.times.tolist(), "periods": list(self.periods),
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


#: the share of new decisions at or under which an arm the verdict waits on counts as
#: starved (:attr:`Report.starved`) ...
_STARVED_SHARE = 0.05
#: ... when it also has fewer answers than this part of the leader's
_STARVED_ANSWERS = 0.25


def _and(arms: Sequence[str]) -> str:
    """``plain``, ``plain and specials``, ``a, b and c``, ``a, b, c, d, e, f and 4 more``."""
    if len(arms) > _NAMED:
        return f"{', '.join(arms[:6])} and {len(arms) - 6:,} more"
    return arms[0] if len(arms) == 1 else f"{', '.join(arms[:-1])} and {arms[-1]}"


def _share(p: float) -> str:
    """A share of decisions: ``1%``, ``0.4%``."""
    return f"{p:.0%}" if p >= 0.01 or p == 0.0 else f"{p:.1%}"


def _possessive(name: str) -> str:
    """``plain's``, ``specials'``."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _number(x: float) -> str:
    """A reward's mean in words: two decimals, fewer for large numbers (``4.09``,
    ``123.5``, ``12,345``)."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.1f}" if abs(x) >= 100 else f"{x:.2f}"


#: arms a note names one by one; beyond, it counts them (a 40-arm report's note was one
#: line of 1,100 characters)
_NAMED = 8


def _some(arms: Sequence[str]) -> str:
    """``arms`` for a note: all of up to :data:`_NAMED`, else the first six and how many
    more."""
    if len(arms) <= _NAMED:
        return ", ".join(arms)
    return f"{', '.join(arms[:6])} and {len(arms) - 6} more"
