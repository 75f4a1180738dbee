"""Evaluate policies on a log: the evaluation policy's action distribution on the logged
rounds (frozen at statistics learned from a training split, or replayed online), then every
requested estimator with bootstrap intervals."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._errors import PayloadError
from .._text import duration_text
from .._types import FloatArray
from ..policies import ArmStats, Policy, make_policy
from ._data import LoggedBandit
from ._estimators import (
    LOW_ESS,
    Estimate,
    estimate_all,
    make_estimator,
    nonuniform_warning,
)
from ._model import RewardModel
from ._obd_bts import obd_bts_action_dist

__all__ = ["EvaluationRow", "behavior_action_dist", "check_behavior", "evaluate",
           "in_time_order", "policy_action_dist", "replay_online"]

IntArray = npt.NDArray[np.intp]


def _design(log: LoggedBandit) -> FloatArray | None:
    if log.context is None:
        return None
    return np.hstack([np.ones((log.n_rounds, 1)), log.context])


def _normalized(reward: FloatArray) -> tuple[FloatArray, float, float]:
    lo, hi = float(reward.min()), float(reward.max())
    if lo >= 0.0 and hi <= 1.0:
        return reward, 0.0, 1.0
    span = hi - lo if hi > lo else 1.0
    return (reward - lo) / span, lo, span


def learned_stats(train: LoggedBandit, k: int) -> tuple[ArmStats, FloatArray | None,
                                                         FloatArray | None]:
    """Statistics a policy would have learned from ``train``: per-action counts and sums of
    rewards (mapped to [0, 1] when they are not already), and linear sums ``A``, ``b``."""
    r = _normalized(train.reward)[0]
    n = np.bincount(train.action, minlength=k).astype(np.float64)
    sums: FloatArray = np.bincount(train.action, weights=r, minlength=k).astype(np.float64)
    sums_sq: FloatArray = np.bincount(train.action, weights=r * r,
                                      minlength=k).astype(np.float64)
    stats = ArmStats(n, sums, sums_sq, None, None, n)
    x = _design(train)
    if x is None:
        return stats, None, None
    d = x.shape[1]
    a = np.zeros((k, d, d))
    b = np.zeros((k, d))
    for j in range(k):
        rows = train.action == j
        a[j] = x[rows].T @ x[rows]
        b[j] = x[rows].T @ r[rows]
    return stats, a, b


def policy_action_dist(policy: Policy | str, log: LoggedBandit, *,
                       train: LoggedBandit | None = None) -> FloatArray:
    """The evaluation policy's probabilities on every round of ``log``, shape ``(n, K)``.

    Parameters
    ----------
    policy
        A registered policy (a name, or a policy object) frozen at what it learns from
        ``train``; ``"uniform"``; or ``"obd-bts"`` (the Open Bandit Dataset's Bernoulli
        Thompson sampling with its published parameters, for OBD logs).
    log
        The rounds to give probabilities for; its actions are the columns.
    train
        The log the policy learns from before it is frozen (``None``: untrained).

    Raises
    ------
    PayloadError
        A contextual policy on a log without context features.
    """
    k = log.n_actions
    if isinstance(policy, str):
        if policy == "uniform":
            return np.full((log.n_rounds, k), 1.0 / k)
        if policy == "obd-bts":
            return obd_bts_action_dist(log)
        policy = make_policy(policy)
    source = train
    if source is None:
        stats = ArmStats(np.zeros(k), np.zeros(k), np.zeros(k), None, None, np.zeros(k))
        a = b = None
        if log.context is not None:
            d = log.context.shape[1] + 1
            a, b = np.zeros((k, d, d)), np.zeros((k, d))
    else:
        stats, a, b = learned_stats(source, k)
    if "time" in policy.needs_extra:
        # frozen evaluation: no time has passed since training, so nothing is discounted
        stats = stats._replace(extra={"tw_n": stats.n, "tw_sums": stats.sums,
                                      "tw_sums_sq": stats.sums_sq})
    if "ips_total" in policy.needs_extra:
        stats = stats._replace(extra={"ips_total": stats.sums})
    if not policy.contextual:
        vector = policy.probabilities(stats)
        return np.broadcast_to(vector, (log.n_rounds, k)).copy()
    x = _design(log)
    if x is None or a is None or b is None:
        raise PayloadError(f"{policy.name} needs context features in the log")
    ridge = float(getattr(policy, "ridge", 1.0))
    a_inv: FloatArray = np.asarray(np.linalg.inv(a + ridge * np.eye(a.shape[1])), np.float64)
    out = np.empty((log.n_rounds, k))
    for i in range(log.n_rounds):
        row = stats._replace(extra={"A_inv": a_inv, "b": b}, context=x[i])
        out[i] = policy.probabilities(row)
    return out


def behavior_action_dist(source: LoggedBandit, target: LoggedBandit) -> FloatArray:
    """Another log's (time-varying) logging policy on ``target``'s rounds.

    A round of ``target`` that ``source`` logged itself (the same decision id, e.g. the same
    banditbot export, or one that overlaps it) takes the vector ``source`` logged for it:
    the logging policy exactly, arms that could not be chosen included. Other rounds are
    reconstructed: for each action, the propensity logged in ``source`` for that action (and
    position, if any) at the nearest time, the row renormalized. Used to evaluate, e.g.,
    the Open Bandit Dataset's Bernoulli TS policy on its random log.

    Parameters
    ----------
    source
        The log whose logging policy is wanted (``behavior:LOG``).
    target
        The log to give that policy's probabilities on: the result has shape ``(n, K)``
        of ``target``, columns in ``target.actions`` order.

    Raises
    ------
    PayloadError
        The two logs share no action (another experiment's log), or rounds to reconstruct
        lack timestamps.
    """
    found = _check_behavior(source, target)
    index = {a: j for j, a in enumerate(target.actions)}
    shared = [(j_src, index[name]) for j_src, name in enumerate(source.actions)
              if name in index]
    out = np.zeros((target.n_rounds, target.n_actions))
    todo = np.ones(target.n_rounds, dtype=bool)
    if found:
        assert source.action_dist is not None
        rows_t, rows_s = (np.array(x, dtype=np.intp) for x in zip(*found, strict=True))
        src, dst = (np.array(x, dtype=np.intp) for x in zip(*shared, strict=True))
        out[np.ix_(rows_t, dst)] = source.action_dist[np.ix_(rows_s, src)]
        todo[rows_t] = False
    if todo.any():
        out[todo] = _nearest_in_time(source, target.subset(np.flatnonzero(todo)), index)
        _keep_own_propensities(out, source, target, todo)
    totals = out.sum(axis=1, keepdims=True)
    missing = totals[:, 0] <= 0
    out[missing] = 1.0 / target.n_actions
    totals[missing] = 1.0
    normalized: FloatArray = (out / totals).astype(np.float64)
    return normalized


def _keep_own_propensities(out: FloatArray, source: LoggedBandit, target: LoggedBandit,
                           todo: npt.NDArray[np.bool_]) -> None:
    """In ``out`` (rows rebuilt at the nearest time), a round that ``source`` logged itself
    without an id (the same time, position, action and propensity) keeps the propensity
    logged for its action, exactly; the other actions' rebuilt values are scaled to the rest
    (evenly spread where none is known). Rebuilt alone, a log's own rounds came out low:
    each other action's value is one logged when that action was chosen, so high, and the
    row's renormalization took it out of the chosen one (the OBD BTS log on itself: every
    weight below 1, their mean 0.63, IPS 37% low)."""
    rows = np.flatnonzero(todo)
    # each round as 32 bytes (time, position, arm in target's numbering, propensity), matched
    # by sorting (a set of a million tuples held ~200 MB); an arm target lacks never matches
    number = {a: j for j, a in enumerate(target.actions)}
    src_arm = np.array([number.get(a, -1) for a in source.actions], dtype=np.float64)
    own = np.isin(_round_keys(target, target.action[rows].astype(np.float64), rows),
                  _round_keys(source, src_arm[source.action], np.arange(source.n_rounds)))
    rows = rows[own]
    if not rows.size:
        return
    chosen, p = target.action[rows], target.pscore[rows]
    rest = out[rows]
    rest[np.arange(rows.size), chosen] = 0.0
    known = rest.sum(axis=1)
    even = (1.0 - p) / max(target.n_actions - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(known[:, None] > 0.0, rest * ((1.0 - p) / known)[:, None],
                        even[:, None])
    rest[np.arange(rows.size), chosen] = p
    out[rows] = rest


def _round_keys(log: LoggedBandit, arm: FloatArray, rows: npt.NDArray[np.intp]
                ) -> npt.NDArray[np.void]:
    """``rows`` of ``log`` as one 32-byte value each: time, position, ``arm`` (a number per
    row) and propensity, for matching the rounds of two logs."""
    assert log.timestamp is not None
    position = log.position[rows] if log.position is not None else np.zeros(rows.size)
    table = np.ascontiguousarray(np.column_stack(
        (log.timestamp[rows], position, arm, log.pscore[rows])), dtype=np.float64)
    keys: npt.NDArray[np.void] = table.view(np.dtype((np.void, 32))).ravel()
    return keys


def check_behavior(source: LoggedBandit, target: LoggedBandit) -> None:
    """Refuse, before anything is computed, what :func:`behavior_action_dist` cannot do with
    these logs (what an evaluation of ``source``'s logging policy on ``target`` checks
    before it starts).

    Parameters
    ----------
    source
        The log whose logging policy is evaluated (``behavior:LOG``).
    target
        The evaluated log.

    Raises
    ------
    PayloadError
        The logs share no action; or some of ``target``'s rounds are not in ``source`` (by
        decision id) and must be reconstructed at the nearest time, but a log has no time
        on its rounds (the hint names ``--timestamp-col``).
    """
    if not _is_obd_bts(source):  # (its published policy is evaluated: nothing to rebuild)
        _check_behavior(source, target)


def _check_behavior(source: LoggedBandit, target: LoggedBandit) -> list[tuple[int, int]]:
    """:func:`check_behavior`, for whichever log ``source`` is; returns the rounds ``source``
    logged itself (:func:`_logged_rounds`, read once for the check and the vectors)."""
    if not set(source.actions) & set(target.actions):
        raise PayloadError(
            f"the logging policy's log shares no arm with the evaluated log (its arms: "
            f"{', '.join(source.actions[:8])}; the evaluated log's: "
            f"{', '.join(target.actions[:8])})", hint="is it another experiment's log?")
    found = _logged_rounds(source, target)
    if len(found) == target.n_rounds:
        return found
    for log in (target, source):
        if log.timestamp is None or not np.all(np.isfinite(log.timestamp)):
            which = "its" if log.timestamp is None else "some of its"
            raise PayloadError(
                f"{log.source or 'a log'}: no time on {which} rounds; the logging policy "
                f"of {source.source or 'the other log'} is reconstructed at the nearest time "
                "for the rounds it did not log itself, which needs a time on every round of "
                "both logs", hint="name the column with the times: --timestamp-col NAME "
                                  "(ISO 8601, or seconds since 1970)")
    return found


def _logged_rounds(source: LoggedBandit, target: LoggedBandit) -> list[tuple[int, int]]:
    """``(row of target, row of source)`` for each round of ``target`` that ``source``
    logged itself with its whole vector (the same decision id)."""
    if source.action_dist is None or not source.decision_ids or not target.decision_ids:
        return []
    row_of = {d: i for i, d in enumerate(source.decision_ids)}
    return [(i, row_of[d]) for i, d in enumerate(target.decision_ids) if d in row_of]


def _nearest_in_time(source: LoggedBandit, target: LoggedBandit,
                     index: dict[str, int]) -> FloatArray:
    """Per round of ``target`` and action, ``source``'s propensity for that action (and
    position) at the nearest time (not normalized; zeros where ``source`` never chose it;
    :func:`check_behavior` has made sure both logs have times)."""
    assert source.timestamp is not None and target.timestamp is not None
    out = np.zeros((target.n_rounds, target.n_actions))
    src_pos = source.position if source.position is not None else \
        np.zeros(source.n_rounds, dtype=np.intp)
    tgt_pos = target.position if target.position is not None else \
        np.zeros(target.n_rounds, dtype=np.intp)
    for pos in np.unique(tgt_pos):
        rows = np.flatnonzero(tgt_pos == pos)
        times = target.timestamp[rows]
        for j_src, name in enumerate(source.actions):
            j = index.get(name)
            if j is None:
                continue
            mask = (source.action == j_src) & (src_pos == pos)
            if not mask.any():
                continue
            t_src = source.timestamp[mask]
            p_src = source.pscore[mask]
            order = np.argsort(t_src)
            t_src, p_src = t_src[order], p_src[order]
            at = np.clip(np.searchsorted(t_src, times), 1, max(t_src.size - 1, 1))
            left = np.clip(at - 1, 0, t_src.size - 1)
            right = np.clip(at, 0, t_src.size - 1)
            nearest = np.where(np.abs(times - t_src[left]) <= np.abs(t_src[right] - times),
                               left, right)
            out[rows, j] = p_src[nearest]
    return out


def replay_online(policy: Policy | str, log: LoggedBandit, *, rng: np.random.Generator
                  ) -> tuple[float, FloatArray]:
    """Online replay (Li et al. 2011): run the policy through the rounds in order; where its
    sampled action equals the logged one, it sees the reward and learns. Unbiased when the
    log came from a uniformly random policy.

    Parameters
    ----------
    policy
        A non-contextual registered policy (a name, or a policy object), or ``"uniform"``.
    log
        The rounds to replay, in order.
    rng
        Draws the policy's choices.

    Returns
    -------
    tuple of (float, ndarray)
        The mean reward of the matched rounds (NaN when none matched), and their rewards,
        shape ``(m,)``.

    Raises
    ------
    PayloadError
        A contextual policy.
    """
    k = log.n_actions
    if policy == "uniform":
        picks = rng.integers(0, k, size=log.n_rounds)
        values = log.reward[picks == log.action]
        return (float(values.mean()) if values.size else math.nan), values
    if isinstance(policy, str):
        policy = make_policy(policy)
    if policy.contextual:
        raise PayloadError("online replay here supports non-contextual policies")
    r = _normalized(log.reward)[0]
    n, sums, sums_sq = np.zeros(k), np.zeros(k), np.zeros(k)
    matched: list[float] = []
    for i in range(log.n_rounds):
        stats = ArmStats(n, sums, sums_sq, None, None, n)
        if "time" in policy.needs_extra:
            stats = stats._replace(extra={"tw_n": n, "tw_sums": sums, "tw_sums_sq": sums_sq})
        if "ips_total" in policy.needs_extra:
            stats = stats._replace(extra={"ips_total": sums})
        choice = policy.choose(stats, rng).arm
        if choice == log.action[i]:
            n[choice] += 1
            sums[choice] += r[i]
            sums_sq[choice] += r[i] * r[i]
            matched.append(float(log.reward[i]))
    values = np.array(matched)
    return (float(values.mean()) if values.size else math.nan), values


#: The note of a log read in its file's order: it has no time on every round.
FILE_ORDER_NOTE = ("read in the file's order (no time on {which}): the policies learn from the "
                   "first --train-share of the rows and the every-look intervals follow the "
                   "rows; name a column of times with --timestamp-col")


def in_time_order(log: LoggedBandit) -> LoggedBandit:
    """``log`` with its rounds oldest first, as :func:`evaluate` reads them: the train/test
    split takes the oldest rounds and the every-look intervals (and the online replay) run
    through the rounds in time.

    A log whose rows are out of time order is sorted by its times (a stable sort: rounds of
    the same time keep the file's order) and gains a note saying so; a log in order comes
    back as it is. A log without a time on every round keeps the file's order, with a note
    that says the split and the intervals follow it.

    Parameters
    ----------
    log
        The rounds, with or without ``timestamp``.

    Returns
    -------
    LoggedBandit
        The same rounds, oldest first when the times say which.

    Examples
    --------
    >>> log = LoggedBandit(("a", "b"), np.array([1, 0]), np.array([1.0, 0.0]),
    ...                    np.array([0.5, 0.5]), timestamp=np.array([20.0, 10.0]))
    >>> [log.actions[j] for j in in_time_order(log).action]  # (the older round first)
    ['a', 'b']
    """
    times = log.timestamp
    if times is None or not np.all(np.isfinite(times)):
        which = "its rounds" if times is None else \
            f"{int(np.sum(~np.isfinite(times))):,} of its {log.n_rounds:,} rounds"
        note = FILE_ORDER_NOTE.format(which=which)
        return log if note in log.notes else dataclasses.replace(
            log, notes=(*log.notes, note))
    earlier = int(np.sum(np.diff(times) < 0))
    if not earlier:
        return log
    order = np.argsort(times, kind="stable")
    moved = log.subset(order.astype(np.intp))
    note = (f"the rows are not in time order ({earlier:,} rounds older than the row before "
            "them): read oldest first by their times (rounds of the same time in the "
            "file's order), for the train/test split and the every-look intervals")
    return dataclasses.replace(moved, notes=(*log.notes, note))


def _default_model(log: LoggedBandit) -> RewardModel:
    """Logistic (0/1 rewards) or ridge regression on the context when there are at least
    ten rounds per action per feature; otherwise per-action means (a regression with more
    features than rounds only memorizes them)."""
    d = 1 + (0 if log.context is None else log.context.shape[1])
    if log.n_rounds / max(log.n_actions, 1) < 10 * d:
        return RewardModel(kind="mean")
    binary = set(np.unique(log.reward)) <= {0.0, 1.0}
    return RewardModel(kind="logistic" if binary else "ridge")


@dataclass(frozen=True)
class EvaluationRow:
    """One (policy, estimator) result.

    Attributes
    ----------
    policy
        The evaluated policy, as its rows name it.
    estimate
        The estimator's result.
    choices
        The policy's average probability of each action over the evaluated rounds,
        ``(action, share)`` from the most chosen; empty for an online replay row.
    """

    policy: str
    estimate: Estimate
    choices: tuple[tuple[str, float], ...] = ()


#: A policy whose average choice gives one action at least this share is said to (ucb1,
#: frozen at the training half's counts, chose one arm and scored 0.12 on a log whose best
#: arm earns 0.45, without a word on why).
CONCENTRATED = 0.9


def _choices(dist: FloatArray, actions: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """The average of a policy's action distribution ``dist`` (shape ``(n, K)``), by
    action, from the most chosen."""
    mean = dist.mean(axis=0) if dist.size else np.zeros(len(actions))
    order = np.argsort(-mean, kind="stable")
    return tuple((actions[int(k)], float(mean[k])) for k in order)


def _concentrated(choices: tuple[tuple[str, float], ...], trained: int | None) -> str | None:
    """The warning for a policy that puts nearly all of its choice on one action;
    ``trained``: the rounds it learned from before the evaluated ones (``None``: a logged
    policy, which learned nothing here)."""
    if not choices or choices[0][1] < CONCENTRATED or len(choices) < 2:
        return None
    arm, share = choices[0]
    frozen = "" if trained is None else \
        f", frozen at what it learned from the first {trained:,} rounds" if trained \
        else ", untrained"
    return (f"the policy chooses {arm} with probability {share:.0%} on average over the "
            f"evaluated rounds{frozen}: its value is about that action's")


def evaluate(log: LoggedBandit, policies: Sequence[Policy | str], *,
             estimators: Sequence[str] = ("ips", "snips", "dm", "dr"),
             train_share: float = 0.5, reward_model: RewardModel | None = None,
             alpha: float = 0.05, n_bootstrap: int = 500, seed: int = 0,
             online: bool = False, behavior: dict[str, LoggedBandit] | None = None,
             progress: Callable[[str], Any] | None = None, n_jobs: int | None = None,
             bootstrap_progress: Callable[[int], Any] | None = None) -> list[EvaluationRow]:
    """Estimate each policy's value on ``log`` with each estimator.

    A policy's rows depend on ``seed`` (and the data), not on ``n_jobs`` or on which other
    policies are evaluated beside it, in which order.

    Parameters
    ----------
    log
        The logged rounds.
    policies
        The evaluated policies: registered policies (names or policy objects), or
        ``"uniform"`` (see :func:`policy_action_dist`).
    estimators
        Estimator names (:func:`make_estimator`); each gives one row per policy.
    train_share
        In [0, 1): policies are frozen at the statistics they learn from this oldest share
        of the rounds and evaluated on the rest (0: untrained, every round evaluated). The
        rounds are read in time order (:func:`in_time_order`): by their times when the log
        has them, else in the log's order.
    reward_model
        The reward model of the estimators that need one (default: logistic or ridge
        regression on the context when there are enough rounds, else per-action means).
    alpha
        The intervals are ``1 - alpha`` intervals.
    n_bootstrap
        Bootstrap replicates per policy.
    seed
        Seeds every random draw: the same seed gives the same rows.
    online
        Add an online replay row (:func:`replay_online`, on the whole log) per
        non-contextual policy.
    behavior
        Names mapped to other logs whose logging policy is reconstructed as an evaluation
        policy (:func:`behavior_action_dist`) — except the Open Bandit Dataset's BTS
        sample, whose policy is published and evaluated as such
        (:func:`obd_bts_action_dist`).
    progress
        Called with each policy's label as it starts.
    n_jobs
        Threads that run the bootstrap replicates (``None``: every core).
    bootstrap_progress
        Called with the number of the current policy's bootstrap replicates done.

    Returns
    -------
    list of EvaluationRow
        Per policy (the ``behavior`` ones last), a row per estimator, then its online
        replay row if asked for.

    Raises
    ------
    PayloadError
        ``train_share`` is outside [0, 1), an estimator or policy name is unknown, or an
        input does not fit (see :func:`estimate_all`).
    """
    rng = np.random.default_rng(seed)
    if not 0.0 <= train_share < 1.0:
        raise PayloadError("train_share must be in [0, 1)")
    log = in_time_order(log)  # the oldest rounds train; the every-look intervals run in time
    cut = int(log.n_rounds * train_share)
    train = log.subset(slice(0, cut)) if cut else None
    test = log.subset(slice(cut, None))
    model = reward_model or _default_model(test)
    est_objects = [make_estimator(name) for name in estimators]
    lo_r, hi_r = float(test.reward.min()), float(test.reward.max())
    bounds = (0.0, 1.0) if lo_r >= 0.0 and hi_r <= 1.0 else (lo_r, hi_r)
    # the whole logging distribution gives the every-look interval's upper end through
    # each round's largest weight (another construction: narrower on rare rewards and large
    # weights, not always), which must be known before the round: with a context it
    # follows the context (and is correlated with the reward), so it is used only without one
    logging = _logging_distribution(test) if test.context is None else None
    q_hat = refit = None
    if any(e.needs_model for e in est_objects):
        q_hat = model.fit_predict(test.context, test.action, test.reward, test.n_actions,
                                  rng=rng)
        refit = model.refitter(test.context, test.action, test.reward, test.n_actions)
    rows: list[EvaluationRow] = []
    resolved = [make_policy(p) if isinstance(p, str) and p != "uniform" else p
                for p in policies]
    named: list[tuple[str, Any]] = [(p if isinstance(p, str) else p.describe(), p)
                                    for p in resolved]
    named += [(f"{'published BTS policy' if _is_obd_bts(other) else 'logging policy'} of "
               f"{name}", ("behavior", other)) for name, other in (behavior or {}).items()]
    for label, policy in named:
        if progress is not None:
            progress(label)
        # a row depends on its policy and the seed alone: a behavior: log by what it
        # holds (by its label, a copy of the file under another name drew other intervals)
        own = _policy_rng(seed, _log_fingerprint(policy[1])
                          if isinstance(policy, tuple) and not _is_obd_bts(policy[1])
                          else label)
        if isinstance(policy, tuple) and _is_obd_bts(policy[1]):
            dist = obd_bts_action_dist(test)  # the real policy, published: no reconstruction
        elif isinstance(policy, tuple):
            dist = behavior_action_dist(policy[1], test)
        else:
            dist = policy_action_dist(policy, test, train=train)
        choices = _choices(dist, test.actions)
        one_arm = _concentrated(choices, None if isinstance(policy, tuple) else cut)
        other_experiment = _other_experiment(policy[1], test) \
            if isinstance(policy, tuple) else None
        outside = _outside_span(policy[1], test) \
            if isinstance(policy, tuple) and not _is_obd_bts(policy[1]) else None
        for result in estimate_all(
                est_objects, reward=test.reward, action=test.action, pscore=test.pscore,
                action_dist=dist, estimated_rewards=q_hat, alpha=alpha,
                n_bootstrap=n_bootstrap, rng=own, refit=refit, reward_bounds=bounds,
                behavior_dist=logging, n_jobs=n_jobs, progress=bootstrap_progress,
                # per round: the logged vectors say which arms could not be chosen when
                support=test.action_dist):
            said = tuple(w for w in (other_experiment, outside, one_arm) if w is not None)
            if said:
                result = dataclasses.replace(result, warnings=(*said, *result.warnings))
            rows.append(EvaluationRow(label, result, choices))
        if online and not isinstance(policy, tuple) and not (
                isinstance(policy, Policy) and policy.contextual):
            value, matched = replay_online(policy, log, rng=own)
            warn: tuple[str, ...] = ()
            low = high = math.nan
            if matched.size >= 2 and np.ptp(matched) > 0:
                boots = own.choice(matched, size=(n_bootstrap, matched.size)).mean(axis=1)
                low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
            elif matched.size >= 2:  # a bootstrap of equal rewards is one point: shown as
                # an interval it read as exact (120 of 10,000 rounds, all 0: "0.0000 – 0.0000")
                warn += (f"all {matched.size:,} matched rounds have reward {matched[0]:g}: "
                         "a bootstrap of them has no spread, so no interval is shown",)
            if matched.size < LOW_ESS:  # (its effective sample: as the estimators warn)
                warn += (f"only {matched.size:,} of {log.n_rounds:,} rounds matched the "
                         f"policy's choice: below {LOW_ESS:,.0f}"
                         + (", a bootstrap interval of them may be too narrow"
                            if not math.isnan(low) else ", the value rests on few rounds"),)
            biased = nonuniform_warning(log.pscore, log.n_actions)
            if biased is not None:  # replay is unbiased only on a uniformly random log
                warn += (biased,)
            rows.append(EvaluationRow(label, Estimate("replay-online", value, float(low),
                                                      float(high), float(matched.size),
                                                      log.n_rounds, warn)))
    return rows


def _policy_rng(seed: int, label: str) -> np.random.Generator:
    """The random stream of one policy's rows: from the seed and the policy's label, so the
    order and the company of the other policies change nothing."""
    key = int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big")
    return np.random.default_rng([seed, key])


def _log_fingerprint(log: LoggedBandit) -> str:
    """What a ``behavior:`` log's logging policy is, as a key for its random stream: its
    arms, each round's action, propensity, time, position, logged vector and decision id
    (not where the file is, nor its rewards)."""
    digest = hashlib.sha256("\x1f".join(log.actions).encode())
    for part in (log.action, log.pscore, log.timestamp, log.position, log.action_dist):
        digest.update(b"-" if part is None else np.ascontiguousarray(part).tobytes())
    digest.update("\x1f".join(log.decision_ids or ()).encode())
    return "behavior " + digest.hexdigest()


def _other_experiment(source: LoggedBandit, target: LoggedBandit) -> str | None:
    """A warning when a ``behavior:`` log was logged by other banditbot experiments than the
    evaluated one (arms named alike, e.g. ``hello`` or ``control``, are not the same arms)."""
    if not source.experiments or not target.experiments or \
            set(source.experiments) & set(target.experiments):
        return None
    return (f"the logging policy is experiment {', '.join(source.experiments[:3])}'s; the "
            f"evaluated log is {', '.join(target.experiments[:3])}'s: arms of the same name "
            "there may not be the same messages")


def _outside_span(source: LoggedBandit, target: LoggedBandit) -> str | None:
    """A warning when rounds of ``target`` that ``source`` did not log itself fall outside
    the time ``source`` spans: their probabilities are ``source``'s first or last ones,
    carried over a time it says nothing about (a log of 10:24 gave every round of 10:29 its
    last propensities, and the interval was as confident as any)."""
    if source.timestamp is None or target.timestamp is None:
        return None
    todo = np.ones(target.n_rounds, dtype=bool)
    for row, _ in _logged_rounds(source, target):
        todo[row] = False
    times = target.timestamp[todo]
    known = source.timestamp[np.isfinite(source.timestamp)]  # (a round without a time
    times = times[np.isfinite(times)]  # says nothing of the span: NaN made it silent)
    if not known.size:
        return None
    first, last = float(known.min()), float(known.max())
    before, after = first - times[times < first], times[times > last] - last
    if not before.size and not after.size:
        return None
    how_far = [f"up to {duration_text(float(after.max()))} after its last round"
               if after.size else "",
               f"up to {duration_text(float(before.max()))} before its first round"
               if before.size else ""]
    return (f"{before.size + after.size:,} of {target.n_rounds:,} evaluated rounds fall "
            f"outside the time the logging policy's log spans ({_span_text(first, last)}), "
            f"{' and '.join(x for x in how_far if x)}: they take the propensities it logged "
            "nearest in time, which need not be what its policy did then")


def _span_text(first: float, last: float) -> str:
    """``2026-12-05 10:24:16 – 10:24:18 UTC`` (the date once when both ends share it)."""
    from datetime import UTC, datetime

    a, b = (datetime.fromtimestamp(t, tz=UTC) for t in (first, last))
    end = b.strftime("%H:%M:%S" if a.date() == b.date() else "%Y-%m-%d %H:%M:%S")
    return f"{a:%Y-%m-%d %H:%M:%S} – {end} UTC"


def _is_obd_bts(log: LoggedBandit) -> bool:
    """Whether a log is the Open Bandit Dataset's Bernoulli TS sample (campaign "all")."""
    return log.source.startswith("Open Bandit Dataset sample: bts/all")


def _logging_distribution(log: LoggedBandit) -> FloatArray | None:
    """The logging policy's whole distribution per round: logged by banditbot, or uniform
    when every propensity is exactly ``1/K`` (e.g. the Open Bandit Dataset's random log);
    ``None`` when unknown."""
    if log.action_dist is not None:
        return log.action_dist
    k = log.n_actions
    if np.allclose(log.pscore, 1.0 / k, rtol=1e-9, atol=0.0):
        return np.full((log.n_rounds, k), 1.0 / k)
    return None
