"""The learning issue's policies: formulas checked against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from banditbot.policies import ArmStats, make_policy
from banditbot.policies._ucb import kl_ucb_bound
from banditbot.statistics import bernoulli_kl


def test_kl_ucb_bound_solves_the_kl_equation() -> None:
    mean = np.array([0.1, 0.5, 0.9, 0.0])
    budget = np.array([0.05, 0.2, 0.01, 0.3])
    q = kl_ucb_bound(mean, budget)
    assert np.all(q >= mean)
    assert bernoulli_kl(mean, q) == pytest.approx(budget, rel=1e-6)


def test_kl_ucb_prefers_the_uncertain_arm_at_equal_means() -> None:
    p = make_policy("kl-ucb").probabilities(ArmStats.from_counts([400, 20], [80, 4]))
    assert p.tolist() == [0.0, 1.0]


def test_exp3_matches_its_formula() -> None:
    s = ArmStats.from_counts([5, 5, 5], [1, 2, 3])._replace(
        extra={"ips_total": np.array([3.0, 9.0, 1.0])})
    gamma = 0.3
    p = make_policy("exp3", gamma=gamma).probabilities(s)
    w = np.exp(gamma / 3 * np.array([3.0, 9.0, 1.0]))
    assert p == pytest.approx((1 - gamma) * w / w.sum() + gamma / 3)


def test_top_two_matches_simulated_procedure() -> None:
    """Exact top-two vector vs. the procedure itself (leader, else redraw until different),
    200,000 Monte Carlo rounds; bound 5 sigma + 0.1 pp (false-failure < 1e-5)."""
    a, b = np.array([20.0, 25.0, 30.0]), np.array([80.0, 75.0, 70.0])
    s = ArmStats.from_counts(a + b - 2, a - 1)
    p = make_policy("top-two-thompson").probabilities(s)
    rng = np.random.default_rng(5)
    m = 200_000
    leader = rng.beta(a, b, size=(m, 3)).argmax(1)
    pick = leader.copy()
    challenge = np.flatnonzero(rng.random(m) >= 0.5)
    pending = challenge
    while pending.size:
        draw = rng.beta(a, b, size=(pending.size, 3)).argmax(1)
        ok = draw != leader[pending]
        pick[pending[ok]] = draw[ok]
        pending = pending[~ok]
    freq = np.bincount(pick, minlength=3) / m
    sd = np.sqrt(p * (1 - p) / m)
    assert np.all(np.abs(freq - p) <= 5 * sd + 1e-3)


def test_linucb_matches_direct_ridge_regression() -> None:
    rng = np.random.default_rng(2)
    d, k = 3, 2
    xs = rng.normal(size=(40, d))
    ys = xs @ np.array([0.5, -0.2, 0.1])
    a = np.stack([xs[:20].T @ xs[:20], xs[20:].T @ xs[20:]])
    b = np.stack([xs[:20].T @ ys[:20], xs[20:].T @ (ys[20:] + 0.3)])
    x = np.array([1.0, 0.5, -1.0])
    s = ArmStats.from_counts([20, 20], [0, 0])._replace(extra={"A": a, "b": b}, context=x)
    alpha, ridge = 0.7, 2.0
    expected = []
    for i in range(k):
        inv = np.linalg.inv(a[i] + ridge * np.eye(d))
        expected.append(x @ inv @ b[i] + alpha * np.sqrt(x @ inv @ x))
    p = make_policy("linucb", alpha=alpha, ridge=ridge).probabilities(s)
    assert p.tolist() == [float(i == int(np.argmax(expected))) for i in range(k)]


def test_lin_thompson_propensity_matches_monte_carlo() -> None:
    rng = np.random.default_rng(4)
    d = 3
    a = np.stack([np.eye(d) * 5 + 0.1, np.eye(d) * 8, np.eye(d) * 3])
    b = rng.normal(size=(3, d))
    x = np.array([1.0, 0.3, -0.4])
    s = ArmStats.from_counts([5, 8, 3], [0, 0, 0])._replace(extra={"A": a, "b": b},
                                                           context=x)
    v, ridge = 0.5, 1.0
    p = make_policy("lin-thompson", v=v, ridge=ridge).probabilities(s)
    m = 200_000
    scores = []
    for i in range(3):
        cov = np.linalg.inv(a[i] + ridge * np.eye(d))
        theta = rng.multivariate_normal(cov @ b[i], v * v * cov, size=m)
        scores.append(theta @ x)
    freq = np.bincount(np.argmax(np.stack(scores, 1), 1), minlength=3) / m
    assert np.abs(freq - p).max() <= 0.005


def test_discounted_thompson_forgets() -> None:
    # all-time counts say arm 0; the recent (discounted) ones say arm 1
    s = ArmStats.from_counts([1000, 1000], [800, 200])._replace(extra={
        "tw_n": np.array([30.0, 30.0]), "tw_sums": np.array([5.0, 25.0])})
    assert make_policy("discounted-thompson").probabilities(s)[1] > 0.99
    assert make_policy("thompson").probabilities(s)[0] > 0.99
    assert make_policy("discounted-ucb").probabilities(s).tolist() == [0.0, 1.0]
    assert make_policy("sliding-window-ucb").probabilities(s).tolist() == [0.0, 1.0]
