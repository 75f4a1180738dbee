"""Reward models for DM and the doubly robust estimators: ridge or logistic regression per
action on the context (plus an intercept), cross-fitted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from .._errors import PayloadError
from .._types import FloatArray

__all__ = ["RewardModel"]

IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class RewardModel:
    """A per-action regression ``q̂(x, a)`` of reward on context.

    Parameters
    ----------
    kind
        ``ridge`` (linear), ``logistic`` (0/1 rewards; a few Newton steps with an L2
        penalty) or ``mean`` (per-action mean, ignores the context).
    ridge
        L2 penalty.
    folds
        Cross-fitting folds: each round's prediction comes from a model that did not see it.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [0.0], [1.0]])
    >>> q = RewardModel(folds=1).fit_predict(x, np.array([0, 0, 1, 1]),
    ...                                      np.array([0.0, 1.0, 1.0, 1.0]), 2)
    >>> q.shape
    (4, 2)
    """

    kind: Literal["ridge", "logistic", "mean"] = "ridge"
    ridge: float = 1.0
    folds: int = 2

    def __post_init__(self) -> None:
        if self.kind not in ("ridge", "logistic", "mean"):
            raise PayloadError(f"unknown reward model {self.kind!r}",
                               hint="use ridge, logistic or mean")
        if self.ridge <= 0 or self.folds < 1:
            raise PayloadError("ridge must be > 0 and folds >= 1")

    def _design(self, context: FloatArray | None, n: int) -> FloatArray:
        # per-action means use the intercept alone (with the context beside it, each
        # bootstrap replicate copied and multiplied n × d values to add zeros: 10 ms of
        # a replicate's 11 on the Open Bandit Dataset's 104 features)
        if context is None or self.kind == "mean":
            return np.ones((n, 1))
        return np.hstack([np.ones((n, 1)), context])

    def _fit(self, x: FloatArray, action: IntArray, reward: FloatArray,
             n_actions: int, start: FloatArray | None = None) -> FloatArray:
        d = x.shape[1]
        theta = np.zeros((n_actions, d))
        overall = float(reward.mean()) if reward.size else 0.0
        for k in range(n_actions):
            rows = action == k
            if not rows.any():
                theta[k, 0] = overall if self.kind != "logistic" else _logit(overall)
                continue
            xk, yk = x[rows], reward[rows]
            if self.kind == "mean" or d == 1:
                mean = (yk.sum() + overall) / (yk.size + 1)
                theta[k, 0] = _logit(mean) if self.kind == "logistic" else mean
            elif self.kind == "ridge":
                gram = xk.T @ xk + self.ridge * np.eye(d)
                theta[k] = np.linalg.solve(gram, xk.T @ yk)
            else:
                initial = start[k] if start is not None else None
                theta[k] = _logistic(xk, yk, self.ridge, _logit(overall), initial)
        return theta

    def _predict(self, theta: FloatArray, x: FloatArray) -> FloatArray:
        z = x @ theta.T
        if self.kind == "logistic":
            out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
            return out
        return z

    def fit_predict(self, context: FloatArray | None, action: IntArray, reward: FloatArray,
                    n_actions: int, *, rng: np.random.Generator | None = None) -> FloatArray:
        """Cross-fitted predictions for every round and action, shape ``(n, K)`` (folds are a
        fixed permutation of the rounds, shared with :meth:`refitter`)."""
        n = action.shape[0]
        x = self._design(context, n)
        if self.folds == 1:
            return self._predict(self._fit(x, action, reward, n_actions), x)
        fold = np.random.default_rng(0).permutation(n) % self.folds  # same folds as refitter
        out = np.empty((n, n_actions))
        for f in range(self.folds):
            test = fold == f
            theta = self._fit(x[~test], action[~test], reward[~test], n_actions)
            out[test] = self._predict(theta, x[test])
        return out

    def refitter(self, context: FloatArray | None, action: IntArray, reward: FloatArray,
                 n_actions: int) -> Callable[[IntArray], FloatArray]:
        """For bootstrap intervals: given resampled round indices, fit on them and predict
        every round."""
        n = action.shape[0]
        x = self._design(context, n)
        fold = np.random.default_rng(0).permutation(n) % self.folds
        if self.kind == "mean":
            return self._mean_refitter(action, reward, n_actions, fold)
        full = self._fit(x, action, reward, n_actions)  # warm start for every replicate

        def refit(picks: IntArray) -> FloatArray:
            if self.folds == 1:
                theta = self._fit(x[picks], action[picks], reward[picks], n_actions,
                                  start=full)
                return self._predict(theta, x)
            out = np.empty((n, n_actions))
            for f in range(self.folds):
                train = picks[fold[picks] != f]  # cross-fitted, as the point estimate
                theta = self._fit(x[train], action[train], reward[train], n_actions,
                                  start=full)
                rows = fold == f
                out[rows] = self._predict(theta, x[rows])
            return out

        return refit

    def _mean_refitter(self, action: IntArray, reward: FloatArray, n_actions: int,
                       fold: IntArray) -> Callable[[IntArray], FloatArray]:
        """:meth:`refitter` of per-action means: a replicate's rounds are its counts (how
        often each round was drawn), so each fold's means are two weighted counts per
        action (``np.bincount``), with no copy of the resampled rounds; the same means as
        :meth:`_fit` on them (to the last bit for 0/1 and other integer rewards, whose
        sums are exact in any order)."""
        n = action.shape[0]
        outside = [fold != f for f in range(self.folds)] if self.folds > 1 else \
            [np.ones(n, dtype=bool)]

        def refit(picks: IntArray) -> FloatArray:
            counts = np.bincount(picks, minlength=n).astype(np.float64)
            out = np.empty((n, n_actions))
            for train in outside:
                w = counts * train
                seen = np.bincount(action, weights=w, minlength=n_actions)
                total = np.bincount(action, weights=w * reward, minlength=n_actions)
                size = float(w.sum())
                overall = float(w @ reward) / size if size else 0.0
                means = np.where(seen > 0, (total + overall) / (seen + 1.0), overall)
                if self.folds == 1:
                    out[:] = means
                else:
                    out[~train] = means
            return out

        return refit


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def _logistic(x: FloatArray, y: FloatArray, ridge: float, start: float,
              initial: FloatArray | None = None) -> FloatArray:
    """L2-penalized logistic regression (the intercept nearly unpenalized) by Newton's
    method with a backtracking line search: a full Newton step from a rare-event start
    overshoots (2 clicks in 27 rounds took the intercept from -5.5 to +13.5, then ever
    further, and the model predicted a click rate of 1), so a step is halved until the
    penalized loss goes down."""
    d = x.shape[1]
    if initial is not None:
        theta = initial.copy()
    else:
        theta = np.zeros(d)
        theta[0] = start
    penalty = ridge * np.eye(d)
    penalty[0, 0] = 1e-6

    def loss(t: FloatArray) -> float:
        z = x @ t
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * t @ penalty @ t)

    current = loss(theta)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -30, 30)))
        grad = x.T @ (p - y) + penalty @ theta
        hess = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        for _ in range(40):  # Armijo: a sufficient decrease along the Newton direction
            candidate = theta - scale * step
            value = loss(candidate)
            if value <= current - 1e-4 * scale * float(grad @ step):
                break
            scale /= 2.0
        else:
            break  # no decrease left to find: at the optimum within rounding
        theta, current = candidate, value
        if np.abs(scale * step).max() < 1e-6:
            break
    return theta
