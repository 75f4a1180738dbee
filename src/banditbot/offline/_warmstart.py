"""Warm start: seed an experiment's statistics (or priors) from a log, honestly.

A log written by another policy shows each arm to a selected part of the traffic, so each
arm's rounds are importance-weighted by ``1 / propensity`` (self-normalized IPS). A few rounds
shown with a tiny propensity can then carry almost all the weight: in the case that prompted
this module, arm "hello" (true rate 0.25, naive mean 0.28) came out at 0.462 from an
effective sample of 5.6 of its 68 rounds (largest weight 872), was imported as 68 rounds, and
Thompson sampling sent all traffic to it. So the plan

* clips each arm's weights at ``clip`` times the arm's median weight (a little bias, much
  less variance);
* carries the clipped weights' effective sample size ``(Σw)² / Σw²`` — not the row count —
  into the imported statistics (the weights are rescaled to sum to it);
* reports, per arm, the rounds, the effective sample size of the raw and of the clipped
  weights, the largest raw weight, the naive and the imported means;
* refuses (:class:`~banditbot.PayloadError`, naming the override) when an arm's raw effective
  sample size is below ``min_ess``.

:func:`plan_warm_start` is pure (arrays in, a :class:`WarmStartPlan` out); :func:`warm_start`
applies a plan through five public methods of the service, typed by :class:`WarmStartTarget`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from .._errors import PayloadError
from .._types import FloatArray
from ..stores import PRIORS_FROM_NOTE, WARM_START_NOTE
from ._data import LoggedBandit

__all__ = ["MIN_ESS", "ArmWarmStart", "WarmStart", "WarmStartInterrupted", "WarmStartPlan",
           "WarmStartTarget", "log_fingerprint", "plan_warm_start", "warm_start"]

#: Refuse an arm whose raw effective sample size is below this (override: ``min_ess``).
MIN_ESS = 10.0
#: The most a round of history can count (``weight``): more would drown every live answer
#: and, far beyond, overflow the statistics.
MAX_WEIGHT = 100.0
#: Cap each arm's weights at this multiple of the arm's median weight.
CLIP = 10.0
#: The command-line flag that overrides the refusal (named in the error's hint).
OVERRIDE_FLAG = "--min-ess"
#: The command-line flag that learns only a log's rounds not learned before.
SKIP_FLAG = "--skip-learned"


@dataclass(frozen=True)
class ArmWarmStart:
    """The plan for one arm.

    Attributes
    ----------
    arm
        The arm id (the log's action name).
    rounds
        Logged rounds of the arm.
    ess_raw
        Effective sample size of the raw weights ``1 / propensity`` (what the unbiased
        estimate rests on; the refusal reads it).
    ess
        Effective sample size of the clipped weights: the evidence imported.
    max_weight
        The largest raw weight.
    naive_mean
        Unweighted mean reward.
    raw_mean
        Self-normalized IPS mean with the raw weights.
    mean
        Self-normalized IPS mean with the clipped weights: the imported mean.
    rewards, weights
        Shape ``(rounds,)``: what :meth:`WarmStartTarget.import_history` receives (weights
        sum to ``ess`` times the plan's weight).
    prior
        ``(alpha, beta)`` on the [0, 1] scale when importing as priors, else ``None``.
    refused
        Whether ``ess_raw`` is below the plan's ``min_ess``.
    ids
        The decision ids of the arm's rounds, when the log has them (a ``decision_id``
        column):
        imported beside the rewards, so that a log overlapping this one is refused later.
    """

    arm: str
    rounds: int
    ess_raw: float
    ess: float
    max_weight: float
    naive_mean: float
    raw_mean: float
    mean: float
    rewards: FloatArray
    weights: FloatArray
    prior: tuple[float, float] | None
    refused: bool
    ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class WarmStartPlan:
    """What a warm start would import, per arm (see :func:`plan_warm_start`)."""

    source: str
    arms: tuple[ArmWarmStart, ...]
    rounds_used: int
    rounds_skipped: int
    as_prior: bool
    weight: float
    ips: bool
    clip: float
    min_ess: float

    @property
    def refused(self) -> tuple[str, ...]:
        """Arms whose effective sample size is below ``min_ess``."""
        return tuple(a.arm for a in self.arms if a.refused)

    def arm(self, name: str) -> ArmWarmStart:
        """The plan of one arm."""
        for a in self.arms:
            if a.arm == name:
                return a
        raise KeyError(name)

    def check(self) -> None:
        """Raise :class:`~banditbot.PayloadError` if any arm is refused."""
        if not self.refused:
            return
        worst = min((a for a in self.arms if a.refused), key=lambda a: a.ess_raw)
        detail = ", ".join(f"{a.arm} (ESS {a.ess_raw:.1f} of {a.rounds} rounds, largest "
                           f"weight {a.max_weight:,.0f})" for a in self.arms if a.refused)
        # (unweighted, or weights that barely vary: too few rounds, not tiny propensities;
        # a 6-round log learned --no-ips was told the propensities carried the estimate)
        few = not self.ips or worst.ess_raw >= 0.9 * worst.rounds
        why = "too few rounds for the arm" if few else \
            "a few rounds shown with tiny propensities carry the estimate"
        anyway = "import anyway" if few else "import anyway, clipped"
        raise PayloadError(
            f"too little evidence to warm-start from: {detail}; below the minimum effective "
            f"sample size {self.min_ess:g}",
            hint=f"{why}; pass {OVERRIDE_FLAG} {max(int(worst.ess_raw), 0)} (or "
                 f"{OVERRIDE_FLAG} 0) to {anyway}, or drop the arm from the log")


class WarmStartTarget(Protocol):
    """What :func:`warm_start` needs of the service (its public methods). A service with a
    ``store`` whose ``batch()`` is one transaction (SQLite, PostgreSQL) has the warm start's
    writes made all or nothing."""

    def experiment(self, experiment_id: str) -> Any:
        """The experiment's configuration: ``.arms`` (each with ``.id``),
        ``.reward.bounds`` and ``.scope``."""
        ...

    def active_arms(self, experiment: str) -> tuple[str, ...]:
        """Arm ids offered now."""
        ...

    def counted(self, experiment: str, decision_ids: Collection[str]) -> int:
        """How many of ``decision_ids`` the experiment's statistics count already."""
        ...

    def answered_rounds(self, experiment: str) -> tuple[tuple[str, ...], Any, Any, Any]:
        """The experiment's own answered policy and holdout decisions of the current
        generation: ``(arms, rewards, propensities, times)``, one entry per round."""
        ...

    def set_prior(self, experiment: str, arm: str, alpha: float, beta: float, *,
                  actor: str = ...) -> None:
        """Set an arm's prior pseudo-counts."""
        ...

    def import_history(self, experiment: str, arm: str, rewards: Sequence[Any],
                       weights: Sequence[float] | None = ..., *, actor: str = ...,
                       sources: Sequence[str] | None = ...,
                       progress: Callable[[int], None] | None = ...) -> int:
        """Add weighted past rewards to an arm's statistics (``sources``: the logged rounds'
        decision ids, one per reward; ``progress``: told the rows written as they are)."""
        ...

    def imported(self, experiment: str, decision_ids: Collection[str]) -> frozenset[str]:
        """Those of ``decision_ids`` the experiment's imported history came from."""
        ...

    def note(self, experiment: str, key: str, text: str) -> None:
        """Attach a note shown by reports (an empty ``text`` removes it)."""
        ...

    def notes(self, experiment: str) -> Mapping[str, str]:
        """The notes attached to the experiment's current generation."""
        ...

    def priors(self, experiment: str) -> Mapping[str, tuple[float, float]]:
        """The arms' priors as the store holds them: ``arm -> (alpha, beta)``."""
        ...


def _kish(w: FloatArray) -> float:
    total = float(w.sum())
    return total * total / float((w * w).sum()) if total > 0 else 0.0


def plan_warm_start(log: LoggedBandit, arms: Sequence[str], *,
                    reward_bounds: tuple[float | None, float | None] = (None, None),
                    as_prior: bool = False, weight: float = 1.0, ips: bool = True,
                    clip: float = CLIP, min_ess: float = MIN_ESS) -> WarmStartPlan:
    """Plan a warm start from a log: per arm, the weights, effective sample sizes, largest
    weight, means, and what to import. Pure: nothing is written.

    Parameters
    ----------
    log
        The history (actions named like the experiment's arms; other actions are skipped).
    arms
        The experiment's arm ids.
    reward_bounds
        The reward's ``(low, high)``; needed for priors (they live on the [0, 1] scale).
    as_prior
        Plan priors ``(alpha, beta) = weight · ESS · (mean, 1 − mean)`` instead of
        statistics.
    weight
        Weight of the history (e.g. 0.2 counts each effective round as a fifth), in
        (0, :data:`MAX_WEIGHT`].
    ips
        Importance-weight by ``1 / propensity`` (else every round weighs 1).
    clip
        Cap weights at this multiple of the arm's median weight (``inf``: no clipping).
    min_ess
        Refuse arms whose raw effective sample size is below this (0: never refuse).

    Returns
    -------
    WarmStartPlan

    Examples
    --------
    >>> log = LoggedBandit(("a", "b"), np.array([0, 0, 1, 1]), np.array([1.0, 0.0, 1.0, 1.0]),
    ...                    np.array([0.5, 0.5, 0.5, 0.5]))
    >>> plan = plan_warm_start(log, ["a", "b"], min_ess=0)
    >>> [(a.arm, a.ess, a.mean) for a in plan.arms]
    [('a', 2.0, 0.5), ('b', 2.0, 1.0)]
    """
    if not 0 < weight <= MAX_WEIGHT:  # also refuses nan; 1e15 broke every later decision
        raise PayloadError(f"weight must be > 0 and at most {MAX_WEIGHT:g}, got {weight:g}",
                           hint="e.g. 0.2 counts each round of history as a fifth")
    if not clip >= 1.0:
        raise PayloadError("clip must be at least 1 (a multiple of the median weight)")
    if not min_ess >= 0:
        raise PayloadError("min_ess must be >= 0")
    known = set(arms)
    lo, hi = reward_bounds
    if as_prior and (lo is None or hi is None):
        raise PayloadError("priors need a bounded reward (binary or rating)")
    planned: list[ArmWarmStart] = []
    used = 0
    for j, name in enumerate(log.actions):
        rows = np.flatnonzero(log.action == j)
        if rows.size == 0 or name not in known:
            continue
        rewards = log.reward[rows].astype(np.float64)
        raw = 1.0 / log.pscore[rows] if ips else np.ones(rows.size)
        clipped = np.minimum(raw, clip * float(np.median(raw)))
        ess_raw, ess = _kish(raw), _kish(clipped)
        mean = float((clipped * rewards).sum() / clipped.sum())
        imported = clipped * (ess * weight / clipped.sum())
        prior = None
        if as_prior:
            assert lo is not None and hi is not None
            m = min(max((mean - lo) / (hi - lo), 0.0), 1.0) if hi > lo else 0.5
            n = weight * ess
            prior = (n * m, n * (1.0 - m))
        planned.append(ArmWarmStart(
            arm=name, rounds=int(rows.size), ess_raw=ess_raw, ess=ess,
            max_weight=float(raw.max()), naive_mean=float(rewards.mean()),
            raw_mean=float((raw * rewards).sum() / raw.sum()), mean=mean, rewards=rewards,
            weights=imported, prior=prior, refused=ess_raw < min_ess,
            ids=None if log.decision_ids is None else
            tuple(log.decision_ids[i] for i in rows)))
        used += int(rows.size)
    if not planned:
        raise PayloadError("no logged action matches an arm of the experiment",
                           hint=f"arms: {', '.join(sorted(known))}; log actions: "
                                f"{', '.join(log.actions[:10])}")
    return WarmStartPlan(log.source, tuple(planned), used, log.n_rounds - used, as_prior,
                         weight, ips, clip, min_ess)


@dataclass(frozen=True)
class WarmStart:
    """What a warm start did.

    Attributes
    ----------
    per_arm
        Arm → ``(rounds, imported mean)``.
    plan
        The full plan (effective sample sizes, largest weights, …).
    """

    experiment: str
    rounds_used: int
    rounds_skipped: int
    per_arm: dict[str, tuple[int, float]]
    as_prior: bool
    note: str
    plan: WarmStartPlan | None = None


class WarmStartInterrupted(KeyboardInterrupt):
    """A warm start stopped by Ctrl+C (a ``KeyboardInterrupt``) while it wrote, with what
    the store holds of it afterwards.

    Attributes
    ----------
    experiment
        The experiment's id.
    rounds_imported
        Rounds of the log in the experiment's statistics now, from this warm start (0: the
        store undid them, or none was written).
    rounds_planned
        Rounds the warm start was to import.
    changed
        Whether the store was changed (rounds or priors written).
    message, hint
        What happened, and how to finish or undo it.
    """

    def __init__(self, experiment: str, *, rounds_imported: int, rounds_planned: int,
                 changed: bool, message: str, hint: str) -> None:
        super().__init__(message)
        self.experiment = experiment
        self.rounds_imported = rounds_imported
        self.rounds_planned = rounds_planned
        self.changed = changed
        self.message = message
        self.hint = hint


def log_fingerprint(log: LoggedBandit) -> str:
    """A short digest of a log's rounds (each round's action name, reward and propensity):
    the same rows give the same fingerprint whatever the file was called, however its
    columns are named or ordered, and with or without the logged probability vectors (an
    export lists its actions in the arms column's order, another file alphabetically: the
    action indices differ, the names do not)."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(log.actions[j] for j in log.action).encode())
    for array in (log.reward, log.pscore):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()[:12]


def _fingerprints(log: LoggedBandit) -> tuple[str, str]:
    """The log's fingerprint, and the one notes written before it hashed names per round
    carry (the action list, then the action indices): a log learned then is known still."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(log.actions).encode())
    for array in (log.action, log.reward, log.pscore):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return log_fingerprint(log), digest.hexdigest()[:12]


def _timed(log: LoggedBandit) -> bool:
    """Whether every round of ``log`` has a time."""
    return log.timestamp is not None and bool(np.all(np.isfinite(log.timestamp)))


def _round_rows(arm: FloatArray, *columns: FloatArray) -> FloatArray:
    """Rounds as rows of numbers (``-0.0`` read as ``0.0``), one row each."""
    return np.ascontiguousarray(np.column_stack((arm, *columns)) + 0.0, dtype=np.float64)


def _own_rounds(service: WarmStartTarget, experiment: str, log: LoggedBandit) -> int:
    """How many rounds of ``log`` — a log without decision ids — are the experiment's own
    answered decisions of the current generation (its export with the ids cut off): with
    times, the rounds with the arm, reward, propensity and time (to the millisecond) of one
    of them; without, every round when the log's rows are those decisions' rows (arm,
    reward, propensity), in any order (else 0). Arrays sorted, not sets: quick on a million
    rounds."""
    arms, rewards, pscores, times = service.answered_rounds(experiment)
    if not arms:
        return 0
    names = {a: i for i, a in enumerate(dict.fromkeys([*arms, *log.actions]))}
    own_arm = np.array([names[a] for a in arms], dtype=np.float64)
    log_arm = np.array([names[a] for a in log.actions], dtype=np.float64)[log.action]
    if _timed(log):
        assert log.timestamp is not None
        width = np.dtype((np.void, 32))
        mine = _round_rows(log_arm, log.reward, log.pscore, np.round(log.timestamp * 1000))
        # an export writes each time cut to the millisecond (rounded, in some readers)
        theirs = np.vstack([_round_rows(own_arm, rewards, pscores, cut(times * 1000))
                            for cut in (np.floor, np.round)])
        return int(np.isin(mine.view(width).ravel(), theirs.view(width).ravel()).sum())
    if own_arm.size != log.n_rounds:
        return 0
    mine = _round_rows(log_arm, log.reward, log.pscore)
    theirs = _round_rows(own_arm, rewards, pscores)
    mine, theirs = (rows[np.lexsort(rows.T[::-1])] for rows in (mine, theirs))
    return log.n_rounds if np.array_equal(mine, theirs) else 0


def _write_plan(service: WarmStartTarget, experiment: str, plan: WarmStartPlan, actor: str,
                progress: Callable[[int, int, str], None] | None) -> None:
    """Each arm's prior, or its history (which the service writes a chunk at a time),
    ``progress`` told the rounds written, the rounds to write and the arm as it goes."""
    total = sum(a.rounds for a in plan.arms)
    done = 0
    if progress is not None:
        progress(0, total, plan.arms[0].arm if plan.arms else "")
    for a in plan.arms:
        if a.prior is not None:
            service.set_prior(experiment, a.arm, a.prior[0], a.prior[1], actor=actor)
        else:
            told = None if progress is None else \
                (lambda n, base=done, arm=a.arm: progress(base + n, total, arm))
            service.import_history(experiment, a.arm, a.rewards.tolist(), a.weights.tolist(),
                                   actor=actor, sources=a.ids, progress=told)
        done += a.rounds
        if progress is not None:
            progress(done, total, a.arm)


def _together(service: WarmStartTarget) -> contextlib.AbstractContextManager[Any]:
    """The service's store's ``batch()`` (one transaction on SQLite and PostgreSQL), or a
    block that groups nothing."""
    batch = getattr(getattr(service, "store", None), "batch", None)
    return batch() if callable(batch) else contextlib.nullcontext()


def _interrupted(service: WarmStartTarget, experiment: str, plan: WarmStartPlan,
                 learned: frozenset[str], priors: Mapping[str, tuple[float, float]], *,
                 wrote: str | None, earlier: str) -> WarmStartInterrupted:
    """What a Ctrl+C during the writes left, read back from the store: the rounds of this
    warm start in the statistics now (by the rounds they came from), exactly, and the
    priors that differ from ``priors`` (those before it). ``wrote``: the warm-start note
    it wrote first, put back to ``earlier`` if it is still there (not where the store
    rolled the writes back: the note is as it was)."""
    imports = [a for a in plan.arms if a.prior is None]
    wanted = [d for a in imports for d in (a.ids or ())]
    now = service.imported(experiment, wanted) - learned if wanted else frozenset()
    per_arm = [(a, sum(1 for d in (a.ids or ()) if d in now)) for a in imports]
    done = sum(n for _, n in per_arm)
    total = sum(a.rounds for a in imports)
    as_prior = any(a.prior is not None for a in plan.arms)
    held = service.priors(experiment) if as_prior else {}
    priors_set = [a.arm for a in plan.arms
                  if a.prior is not None and held.get(a.arm) != priors.get(a.arm)]
    if not done and not priors_set:
        if wrote is not None and wrote != earlier and \
                service.notes(experiment).get(WARM_START_NOTE, "") == wrote:
            service.note(experiment, WARM_START_NOTE, earlier)  # (it said "learning")
        return WarmStartInterrupted(
            experiment, rounds_imported=0, rounds_planned=total, changed=False,
            message=f"stopped before anything was {'set' if as_prior else 'imported'}: "
                    f"{experiment!r} is as it was",
            hint="run the same command again to learn the log")
    if priors_set:
        rest = [a.arm for a in plan.arms if a.arm not in priors_set]
        return WarmStartInterrupted(
            experiment, rounds_imported=0, rounds_planned=total, changed=True,
            message=f"stopped while the priors were set: those of {', '.join(priors_set)} "
                    f"are set, {'those of ' + ', '.join(rest) if rest else 'none other'} "
                    "not: the store was changed",
            hint="run the same command again to set them all (a prior is replaced, not "
                 f"added), or undo it: banditbot reset {experiment} --clear-priors")
    arms = ", ".join(f"{a.arm} {n:,} of {a.rounds:,}" for a, n in per_arm if n)
    return WarmStartInterrupted(
        experiment, rounds_imported=done, rounds_planned=total, changed=True,
        message=f"stopped during the import: {done:,} of the {total:,} rounds to learn are in "
                f"{experiment!r}'s statistics now ({arms}), "
                + (f"the other {total - done:,} not" if done < total else "all of them")
                + ": the store was changed",
        hint=(f"to finish, learn the same log again with {SKIP_FLAG} (it learns only the "
              f"other {total - done:,}); " if done < total else "")
             + f"to undo, banditbot reset {experiment}, then learn the whole log")


def warm_start(service: WarmStartTarget, experiment: str, log: LoggedBandit, *,
               as_prior: bool = False, weight: float = 1.0, actor: str = "cli",
               ips: bool = True, clip: float = CLIP, min_ess: float = MIN_ESS,
               skip_learned: bool = False,
               progress: Callable[[int, int, str], None] | None = None) -> WarmStart:
    """Start an experiment from history: plan (:func:`plan_warm_start`), refuse if an arm's
    effective sample size is below ``min_ess``, then import each arm's clipped, ESS-scaled
    history as statistics (``import`` decisions) or set its prior, and note it.

    Parameters
    ----------
    service
        Where the experiment lives: a :class:`~banditbot.service.BanditService`, or anything
        with the methods of :class:`WarmStartTarget`.
    experiment
        The experiment's id.
    log
        The history (actions named like the experiment's arms; other actions are skipped).
    as_prior
        Set priors ``(alpha, beta) = weight · ESS · (mean, 1 − mean)`` instead of importing
        statistics (needed for an experiment with a bandit per chat or user).
    weight
        Weight of the history (e.g. 0.2 counts each effective round as a fifth), in
        (0, :data:`MAX_WEIGHT`].
    actor
        Who is named in the audit log for the imports or priors.
    ips
        Importance-weight by ``1 / propensity`` (else every round weighs 1).
    clip
        Cap weights at this multiple of the arm's median weight (``inf``: no clipping).
    min_ess
        Refuse arms whose raw effective sample size is below this (0: never refuse).
    skip_learned
        Leave out the rounds learned into the current generation before: of a banditbot
        log (with decision ids), from another log; of any log, by a learn of the same log
        that stopped before the end (default: refuse the log).
    progress
        Called as the writes go, with the rounds written, the rounds to write and the arm
        being written: the service writes each arm's rows a chunk at a time (in one
        transaction where the store can), so a Ctrl+C between two is seen at once (a store's
        insert of half a million rows took 25 s to return to Python).

    Returns
    -------
    WarmStart

    Raises
    ------
    PayloadError
        An arm's effective sample size is below ``min_ess`` (the hint names the override),
        no logged action matches an arm, rounds were learned before (and ``skip_learned``
        is false), or the log holds the experiment's own decisions (by their ids; without
        ids, by their arms, rewards, propensities and times).
    WarmStartInterrupted
        Ctrl+C (a ``KeyboardInterrupt``) while it wrote: with the store's ``batch()`` one
        transaction (SQLite, PostgreSQL) nothing is left; else it says exactly which rounds
        are in the statistics, and how to finish or undo.
    """
    exp = service.experiment(experiment)
    per = getattr(exp, "scope", "shared")
    if per != "shared" and not as_prior:  # statistics go to one bandit; which chat's?
        raise PayloadError(
            f"{experiment!r} has one bandit per {'chat' if per == 'chat' else 'user'}: "
            "history as statistics would land in no one's bandit",
            hint="learn it as priors (--as-prior): a prior applies to every "
                 f"{'chat' if per == 'chat' else 'user'}'s bandit")
    notes = service.notes(experiment)
    earlier = notes.get(WARM_START_NOTE, "")
    fingerprint, legacy = _fingerprints(log)
    # priors first: a log learned as priors is in the warm-start note too (it said "in the
    # statistics" of a log learned as priors); priors outlive a reset
    in_priors = [f for f in (fingerprint, legacy)
                 if f"[log {f}]" in notes.get(PRIORS_FROM_NOTE, "")]
    if in_priors:
        raise PayloadError(
            f"this log is in the priors of {experiment!r} already (learned with --as-prior: "
            f"[log {in_priors[0]}]); importing it again would count every round twice",
            hint=f"to start over: banditbot reset {experiment} --clear-priors, then learn "
                 "again")
    in_statistics = [f for f in (fingerprint, legacy) if f"[log {f}]" in earlier]
    if in_statistics:  # (as statistics: as priors is said above)
        raise PayloadError(
            f"this log is in the statistics of {experiment!r} already (imported before: "
            f"[log {in_statistics[0]}]); importing it again would count every round twice",
            hint=f"to start over, with --weight if the history should count more: "
                 f"banditbot reset {experiment}, then learn again")
    own = service.counted(experiment, log.decision_ids) if log.decision_ids else \
        _own_rounds(service, experiment, log)
    if own:
        raise PayloadError(
            f"{own:,} of the log's {log.n_rounds:,} rounds are decisions of {experiment!r} "
            "that its statistics count already"
            + ("" if log.decision_ids else " (the same arms, rewards and propensities"
               + (" at the same times" if _timed(log) else ", every one") + ")")
            + "; importing them would count each twice",
            hint=f"learn from another experiment's log; or run banditbot reset {experiment} "
                 "first (the log stays) and learn this export into the new generation")
    arms = tuple(dict.fromkeys([*service.active_arms(experiment), *(a.id for a in exp.arms)]))
    # each imported row keeps the round it came from: its decision id, or (a log without
    # ids) the log's fingerprint and the round's number: what a learn that stopped before
    # the end left is found again, exactly
    sources = log.decision_ids or tuple(f"log {fingerprint} round {i + 1}"
                                        for i in range(log.n_rounds))
    log = dataclasses.replace(log, decision_ids=sources)
    learned = service.imported(experiment, sources)
    unfinished = f"[unfinished {fingerprint}]"
    if learned and not skip_learned:  # Monday's export learned, then Friday's, which holds
        # Monday's rounds too; or this very log, by a learn that stopped before the end
        names = [log.actions[j] for j in log.action]
        other = sum(1 for d, name in zip(sources, names, strict=True)
                    if d not in learned and name in arms)
        same = unfinished in earlier or sources[0].startswith(f"log {fingerprint} ")
        raise PayloadError(
            f"{len(learned):,} of the log's {log.n_rounds:,} rounds were learned into "
            f"{experiment!r} already "
            + ("(by a learn of this same log that stopped before the end)" if same
               else "(from another log)")
            + "; importing them would count each twice",
            hint=f"learn only the other {other:,} (of its arms) with {SKIP_FLAG}, "
                 f"or run banditbot reset {experiment} and learn the whole log once")
    if learned:
        new = [i for i, d in enumerate(sources) if d not in learned]
        if not new:
            raise PayloadError(f"every round of the log was learned into {experiment!r} "
                               "already: nothing new to learn")
        log = log.subset(np.array(new, dtype=np.intp))
    plan = plan_warm_start(log, arms, reward_bounds=exp.reward.bounds, as_prior=as_prior,
                           weight=weight, ips=ips, clip=clip, min_ess=min_ess)
    plan.check()
    when = datetime.fromtimestamp(time.time(), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    evidence = sum(a.ess for a in plan.arms)
    clipped = ("not importance-weighted: every round weighs 1" if not ips else
               f"clipped at {clip:g}× the median weight" if clip < float("inf") else
               "weights not clipped")
    note = (f"started from history: {plan.rounds_used:,} rounds of {log.source or 'a log'}"
            f"{', IPS-weighted' if ips else ''} ({clipped}; "
            f"effective {evidence:,.1f} rounds), as {'priors' if as_prior else 'statistics'}"
            f"{f' (weight {weight:g})' if weight != 1 else ''}"
            f"{f'; {len(learned):,} rounds learned before left out' if learned else ''}, "
            f"{when} [log {fingerprint}]")
    before = "\n".join(line for line in earlier.splitlines() if unfinished not in line)
    pending = (f"learning {log.source or 'a log'} stopped before the end: part of its rounds "
               f"may be in the statistics (learn it again with {SKIP_FLAG} to finish, or "
               f"reset) {unfinished}")
    priors = service.priors(experiment) if as_prior else {}
    wrote = None if as_prior else f"{before}\n{pending}" if before else pending
    try:
        with _together(service):  # all or nothing where the store can
            if wrote is not None:  # (said where the store keeps each write: the next run
                service.note(experiment, WARM_START_NOTE, wrote)  # reads it)
            _write_plan(service, experiment, plan, actor, progress)
            service.note(experiment, WARM_START_NOTE, f"{before}\n{note}" if before else note)
            if as_prior:  # kept by a reset that keeps the priors, so the guard above sees it
                kept = notes.get(PRIORS_FROM_NOTE, "")
                service.note(experiment, PRIORS_FROM_NOTE,
                             f"{kept}\n[log {fingerprint}]" if kept else f"[log {fingerprint}]")
    except KeyboardInterrupt as stop:
        raise _interrupted(service, experiment, plan, learned, priors, wrote=wrote,
                           earlier=earlier) from stop
    return WarmStart(experiment, plan.rounds_used, plan.rounds_skipped,
                     {a.arm: (a.rounds, a.mean) for a in plan.arms}, as_prior, note, plan)
