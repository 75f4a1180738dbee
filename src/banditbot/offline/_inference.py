"""Anytime-valid inference straight from a decision log (what a report calls).

Builds the arrays :func:`banditbot.statistics.anytime_inference` takes from a
:class:`LoggedBandit` — banditbot's own log (:func:`from_records`) carries the full
probability vector of every decision — scales the rewards to [0, 1] with the experiment's
bounds, and names the arms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import PayloadError
from ..statistics import AnytimeInference, anytime_inference
from ._data import LoggedBandit

__all__ = ["LogInference", "log_inference"]


@dataclass(frozen=True)
class LogInference:
    """Per-arm anytime-valid inference with the arms named.

    Attributes
    ----------
    arms
        Arm ids, in the order of every array of ``result``.
    result
        Estimates, confidence sequences and the stopping rule's decision.
    reward_bounds
        The bounds the rewards were scaled by (intervals are on the [0, 1] scale; multiply by
        ``high - low`` and add ``low`` for the reward's own scale).
    """

    arms: tuple[str, ...]
    result: AnytimeInference
    reward_bounds: tuple[float, float]

    @property
    def winner(self) -> str | None:
        """The declared winner's id, or ``None``."""
        w = self.result.decision.winner
        return None if w is None else self.arms[w]

    def on_reward_scale(self, values: np.ndarray) -> np.ndarray:
        """Map [0, 1]-scale values (e.g. ``result.low``) to the reward's scale."""
        lo, hi = self.reward_bounds
        out: np.ndarray = lo + (hi - lo) * values
        return out


def log_inference(log: LoggedBandit, *, reward_bounds: tuple[float, float] = (0.0, 1.0),
                  confidence: float = 0.95, control: str | None = None,
                  horizon: int | None = None, contextual: bool | None = None,
                  floor: float | None = None) -> LogInference:
    """Anytime-valid estimates, intervals and the stopping rule from a decision log.

    Parameters
    ----------
    log
        Decisions in time order with their full probability vectors (``action_dist``), e.g.
        ``from_records(service.decisions(experiment, generation=...))``.
    reward_bounds
        The reward's ``(low, high)`` (binary: ``(0, 1)``; ratings: the scale).
    confidence
        The experiment's confidence (the rule's error rate is ``1 - confidence``).
    control
        The control arm's id, or ``None`` (differences to the best other arm).
    horizon
        The experiment's planned number of answered decisions (``winner.horizon``), or
        ``None``: tunes the stopping rule as the service does.
    contextual, floor
        Whether the logging policy's vectors may depend on the context (default: when the
        log has context features), and its exploration floor: the bets then use only what
        was known before each decision (:func:`banditbot.statistics.aipw_scores`).

    Returns
    -------
    LogInference

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 3000
    >>> action = rng.integers(0, 2, n).astype(np.intp)
    >>> reward = (rng.random(n) < np.where(action == 1, 0.4, 0.2)).astype(float)
    >>> log = LoggedBandit(("a", "b"), action, reward, np.full(n, 0.5),
    ...                    action_dist=np.full((n, 2), 0.5))
    >>> log_inference(log).winner
    'b'
    """
    if log.action_dist is None:
        raise PayloadError("anytime inference needs each decision's full probability vector",
                           hint="banditbot's own log has it (from_records or an export)")
    lo, hi = reward_bounds
    if not hi > lo:
        raise PayloadError(f"reward bounds {reward_bounds} are not an interval")
    scaled = np.clip((log.reward - lo) / (hi - lo), 0.0, 1.0)
    index = None
    if control is not None:
        if control not in log.actions:
            raise PayloadError(f"control arm {control!r} is not in the log",
                               hint=f"arms: {', '.join(log.actions)}")
        index = log.actions.index(control)
    result = anytime_inference(
        log.action, log.action_dist, scaled, confidence=confidence, control=index,
        horizon=horizon, contextual=log.context is not None if contextual is None
        else contextual, floor=floor)
    return LogInference(log.actions, result, (float(lo), float(hi)))
