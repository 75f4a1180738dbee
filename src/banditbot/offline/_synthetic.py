"""Synthetic logged feedback with a known ground truth (for tests and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._types import FloatArray
from ._data import LoggedBandit

__all__ = ["SyntheticProblem"]


@dataclass(frozen=True)
class SyntheticProblem:
    """Linear-logistic click model: ``P(click | x, a) = sigmoid(x·θ_a)`` with ``x = (1, z)``,
    ``z ~ N(0, I)``; a softmax logging policy over ``x·β_a``; an evaluation policy that is a
    (different) softmax over ``x·θ_a`` (it prefers good arms).

    ``true_value()`` is the evaluation policy's expected reward (Monte Carlo over 10⁶ fresh
    contexts with exact expectations, standard error < 10⁻⁴).
    """

    n_actions: int = 4
    dim: int = 4
    seed: int = 0
    logging_temperature: float = 1.0
    eval_temperature: float = 0.3

    def _params(self) -> tuple[FloatArray, FloatArray]:
        rng = np.random.default_rng(self.seed)
        theta = rng.normal(0.0, 1.0, size=(self.n_actions, self.dim))
        theta[:, 0] = -1.0
        beta = rng.normal(0.0, 1.0, size=(self.n_actions, self.dim))
        return theta, beta

    def _contexts(self, rng: np.random.Generator, n: int) -> FloatArray:
        x = rng.standard_normal((n, self.dim))
        x[:, 0] = 1.0
        return x

    @staticmethod
    def _softmax(z: FloatArray, temperature: float) -> FloatArray:
        z = z / temperature
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out: FloatArray = e / e.sum(axis=1, keepdims=True)
        return out

    def click_rates(self, x: FloatArray) -> FloatArray:
        """``P(click | x, a)`` for every action, shape ``(n, K)``."""
        theta, _ = self._params()
        out: FloatArray = 1.0 / (1.0 + np.exp(-(x @ theta.T)))
        return out

    def eval_policy(self, x: FloatArray) -> FloatArray:
        """The evaluation policy's probabilities, shape ``(n, K)``."""
        theta, _ = self._params()
        return self._softmax(x @ theta.T, self.eval_temperature)

    def logging_policy(self, x: FloatArray) -> FloatArray:
        """The logging policy's probabilities, shape ``(n, K)``."""
        _, beta = self._params()
        return self._softmax(x @ beta.T, self.logging_temperature)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[LoggedBandit, FloatArray]:
        """A log of ``n`` rounds and the evaluation policy's distribution on them."""
        x = self._contexts(rng, n)
        logging = self.logging_policy(x)
        cum = logging.cumsum(axis=1)
        action = np.minimum((cum < rng.random((n, 1))).sum(axis=1), self.n_actions - 1)
        rows = np.arange(n)
        reward = (rng.random(n) < self.click_rates(x)[rows, action]).astype(np.float64)
        log = LoggedBandit(tuple(f"a{k}" for k in range(self.n_actions)), action, reward,
                           logging[rows, action], x[:, 1:],
                           tuple(f"z{j}" for j in range(1, self.dim)),
                           action_dist=logging, source="synthetic")
        return log, self.eval_policy(x)

    def true_value(self, n: int = 1_000_000) -> float:
        """The evaluation policy's expected reward."""
        rng = np.random.default_rng(self.seed + 10_007)
        x = self._contexts(rng, n)
        return float((self.eval_policy(x) * self.click_rates(x)).sum(axis=1).mean())
