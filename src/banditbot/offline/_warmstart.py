"""Warm start: seed an experiment's statistics (or priors) from a log."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from .._config import ExperimentConfig
from .._errors import PayloadError
from ._data import LoggedBandit

__all__ = ["WarmStart", "warm_start"]


class _Service(Protocol):
    """What a warm start needs of the service (its public admin methods)."""

    def experiment(self, experiment_id: str) -> ExperimentConfig: ...
    def active_arms(self, experiment: str) -> tuple[str, ...]: ...
    def set_prior(self, experiment: str, arm: str, alpha: float, beta: float, *,
                  actor: str = ...) -> None: ...
    def import_history(self, experiment: str, arm: str, rewards: Sequence[Any],
                       weights: Sequence[float] | None = ..., *, actor: str = ...) -> int: ...
    def note(self, experiment: str, key: str, text: str) -> None: ...


@dataclass(frozen=True)
class WarmStart:
    """What a warm start did."""

    experiment: str
    rounds_used: int
    rounds_skipped: int
    per_arm: dict[str, tuple[int, float]]  # arm -> (rounds, IPS-corrected mean reward)
    as_prior: bool
    note: str


def warm_start(service: _Service, experiment: str, log: LoggedBandit, *,
               as_prior: bool = False, weight: float = 1.0, actor: str = "cli",
               ips: bool = True) -> WarmStart:
    """Start an experiment from history.

    Each arm's rounds are importance-weighted by ``1 / propensity`` and renormalized to the
    arm's round count (self-normalized IPS): the arm's mean is corrected for how the logging
    policy chose it (by context, or differently over time), while the amount of evidence
    stays the number of rounds. With ``as_prior`` the result becomes each arm's prior
    ``(alpha, beta) = weight · n · (mean, 1 - mean)`` on the [0, 1] reward scale instead of
    statistics.

    Log actions are matched to arm ids; rounds of unknown actions are skipped and counted.
    """
    if not weight > 0:
        raise PayloadError("weight must be > 0")
    exp = service.experiment(experiment)
    arms = set(service.active_arms(experiment)) | {a.id for a in exp.arms}
    lo, hi = exp.reward.bounds
    per_arm: dict[str, tuple[int, float]] = {}
    used = 0
    for j, name in enumerate(log.actions):
        rows = np.flatnonzero(log.action == j)
        if rows.size == 0 or name not in arms:
            continue
        rewards = log.reward[rows]
        w = 1.0 / log.pscore[rows] if ips else np.ones(rows.size)
        w = w * rows.size / w.sum()
        mean = float((w * rewards).sum() / w.sum())
        per_arm[name] = (int(rows.size), mean)
        used += int(rows.size)
        if as_prior:
            if lo is None or hi is None:
                raise PayloadError("priors need a bounded reward (binary or rating)")
            m = (mean - lo) / (hi - lo)
            n = weight * rows.size
            service.set_prior(experiment, name, n * m, n * (1 - m), actor=actor)
        else:
            service.import_history(experiment, name, rewards.tolist(), (w * weight).tolist(),
                                   actor=actor)
    skipped = log.n_rounds - used
    if not per_arm:
        raise PayloadError("no logged action matches an arm of the experiment",
                           hint=f"arms: {', '.join(sorted(arms))}; log actions: "
                                f"{', '.join(log.actions[:10])}")
    when = datetime.fromtimestamp(time.time(), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = (f"started from history: {used} rounds of {log.source or 'a log'}"
            f"{', IPS-weighted' if ips else ''}, as {'priors' if as_prior else 'statistics'}"
            f"{f' (weight {weight:g})' if weight != 1 else ''}, {when}")
    service.note(experiment, "warm_start", note)
    return WarmStart(experiment, used, skipped, per_arm, as_prior, note)
