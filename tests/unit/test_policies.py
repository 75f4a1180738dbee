"""Policies: exact probability vectors, tie-breaking, validation, and TS accuracy vs Monte Carlo."""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys
import warnings
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from banditbot import PolicyError
from banditbot.policies import (
    UCB1,
    ArmStats,
    EpsilonGreedy,
    GaussianThompsonSampling,
    Policy,
    ScalarDraws,
    Softmax,
    ThompsonSampling,
    available_policies,
    draw_cumulative,
    draw_index,
    make_policy,
    sample_arm,
)
from banditbot.policies._base import rule_of
from banditbot.statistics import (
    beta_best_probabilities,
    beta_optimistic_probabilities,
    normal_best_probabilities,
)


def stats(n: list[float], s: list[float], sq: list[float] | None = None) -> ArmStats:
    return ArmStats.from_counts(n, s, sq)


def test_epsilon_greedy_gives_best_arm_one_minus_eps_plus_share() -> None:
    p = EpsilonGreedy(epsilon=0.1).probabilities(stats([10, 10, 10], [1, 5, 2]))
    assert p.tolist() == pytest.approx([0.1 / 3, 0.9 + 0.1 / 3, 0.1 / 3])


def test_epsilon_greedy_breaks_ties_uniformly() -> None:
    p = EpsilonGreedy(epsilon=0.2).probabilities(stats([4, 4, 4], [2, 2, 1]))
    assert p.tolist() == pytest.approx([0.4 + 0.2 / 3, 0.4 + 0.2 / 3, 0.2 / 3])


def test_epsilon_greedy_choices_follow_the_vector() -> None:
    """Empirical frequencies of 20,000 seeded choices match the vector (5-sigma bounds:
    false-failure rate < 1e-6)."""
    policy = EpsilonGreedy(epsilon=0.3)
    s = stats([10, 10, 10], [1, 5, 5])
    p = policy.probabilities(s)
    rng = np.random.default_rng(0)
    counts = np.bincount([policy.choose(s, rng).arm for _ in range(20_000)], minlength=3)
    sd = np.sqrt(p * (1 - p) / 20_000)
    assert np.all(np.abs(counts / 20_000 - p) < 5 * sd)


def test_ucb1_tries_every_arm_once_first() -> None:
    p = UCB1().probabilities(stats([5, 0, 2, 0], [1, 0, 1, 0]))
    assert p.tolist() == [0, 0.5, 0, 0.5]


def test_ucb1_picks_the_highest_index() -> None:
    # arm 1 has the same mean but fewer pulls -> larger bonus
    p = UCB1().probabilities(stats([100, 10], [50, 5]))
    assert p.tolist() == [0.0, 1.0]
    assert UCB1(c=0).probabilities(stats([100, 10], [60, 5])).tolist() == [1.0, 0.0]


def test_softmax_matches_closed_form() -> None:
    p = Softmax(temperature=0.5).probabilities(stats([1, 1, 1], [0.2, 0.4, 0.9]))
    w = np.exp(np.array([0.2, 0.4, 0.9]) / 0.5)
    assert p.tolist() == pytest.approx((w / w.sum()).tolist())


def test_operator_priors_act_as_pseudo_observations() -> None:
    s = ArmStats.from_counts([0, 0], [0, 0], prior_alpha=[9, 0], prior_beta=[1, 0])
    assert EpsilonGreedy(epsilon=0.0).probabilities(s).tolist() == [1.0, 0.0]
    # Thompson: arm 0 has Beta(9, 1), arm 1 the default Beta(1, 1): P = 9/10
    textbook = ThompsonSampling(optimistic=False)
    assert textbook.probabilities(s)[0] == pytest.approx(0.9, abs=1e-4)
    # optimistic: arm 1 wins only with a draw x > 0.9 (arm 0's mean) above arm 0's draw,
    # ∫_0.9^1 x^9 dx = (1 - 0.9^10) / 10
    assert ThompsonSampling().probabilities(s)[1] == pytest.approx((1 - 0.9**10) / 10,
                                                                   abs=1e-4)


MC_DRAWS = 400_000


@pytest.mark.parametrize(("a", "b"), [
    ([1, 1, 1], [1, 1, 1]),
    ([2, 5, 3], [10, 30, 20]),
    ([11, 13, 16], [91, 89, 86]),
    ([101, 121, 151], [901, 881, 851]),
    ([1, 3, 40], [1, 20, 300]),
    ([500, 30, 3], [4500, 200, 25]),
    ([1.2, 1.0], [1.0, 1.2]),
    ([0.5, 0.5, 3.0], [0.5, 7.5, 3.0]),
    ([3, 3, 3, 3, 3, 3], [40, 42, 44, 46, 48, 50]),
    ([2000, 10], [18000, 80]),
])
def test_thompson_probabilities_are_within_half_a_point_of_monte_carlo(
        a: list[float], b: list[float]) -> None:
    """|P - P_MC| <= 0.5 pp. MC standard error <= 0.08 pp, so the bound (0.5 pp minus the
    0.4 pp 5-sigma band) leaves a false-failure rate below 1e-6 per case."""
    a_, b_ = np.array(a, float), np.array(b, float)
    p = beta_best_probabilities(a_, b_)
    draws = np.random.default_rng(42).beta(a_[:, None], b_[:, None], size=(len(a), MC_DRAWS))
    mc = np.bincount(draws.argmax(axis=0), minlength=len(a)) / MC_DRAWS
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(p >= 0)
    assert np.max(np.abs(p - mc)) <= 0.005


def optimistic_monte_carlo(a: np.ndarray, b: np.ndarray, draws: int = MC_DRAWS
                           ) -> np.ndarray:
    """Optimistic Thompson sampling by brute force: score max(draw, mean), ties split."""
    x = np.random.default_rng(7).beta(a[:, None], b[:, None], size=(a.size, draws))
    score = np.maximum(x, (a / (a + b))[:, None])
    tied = score == score.max(axis=0)
    return (tied / tied.sum(axis=0)).sum(axis=1) / draws


@pytest.mark.parametrize(("a", "b"), [
    ([1, 1, 1], [1, 1, 1]),          # three flat posteriors: ties at 1/2 in 1/8 of the draws
    ([2, 4], [2, 4]),                # the same mean, different widths: the wider one leads
    ([3, 3, 1], [9, 9, 2]),          # two arms share a mean below the leader's
    ([5, 1, 1], [5, 1, 1]),          # a narrow and two flat posteriors, all at 1/2
    ([2, 5, 3], [10, 30, 20]),
    ([11, 13, 16], [91, 89, 86]),
    ([101, 121, 151], [901, 881, 851]),
    ([1.2, 1.0], [1.0, 1.2]),        # rough densities: the Monte Carlo fallback
    ([0.5, 0.5, 3.0], [0.5, 7.5, 3.0]),
    ([3, 3, 3, 3, 3, 3], [40, 42, 44, 46, 48, 50]),
    ([2, 3, 2, 5, 1], [3, 2, 2, 9, 1]),  # wide posteriors reaching 1: the direct grid
])
def test_optimistic_thompson_probabilities_are_within_half_a_point_of_monte_carlo(
        a: list[float], b: list[float]) -> None:
    """Same bound and false-failure rate as the textbook check above."""
    a_, b_ = np.array(a, float), np.array(b, float)
    p = beta_optimistic_probabilities(a_, b_)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(p >= 0)
    assert np.max(np.abs(p - optimistic_monte_carlo(a_, b_))) <= 0.005


@pytest.mark.parametrize("optimistic", [True, False])
@pytest.mark.parametrize(("a", "b"), [([1, 1, 1], [1, 1, 1]), ([3, 3, 1], [9, 9, 2]),
                                      ([2, 5, 3], [10, 30, 20])])
def test_the_simulators_thompson_draw_picks_arms_at_the_logged_rates(
        optimistic: bool, a: list[float], b: list[float]) -> None:
    """The vectorized draw (simulator) and the probability vector (service) are one policy:
    200,000 draws, |frequency - P| <= 0.5 pp (standard error <= 0.12 pp: false-failure
    rate below 1e-4 per case). Ties at a shared mean are split at random."""
    policy = ThompsonSampling(optimistic=optimistic)
    a_, b_ = np.array(a, float), np.array(b, float)
    s = ArmStats.from_counts(a_ + b_ - 2, a_ - 1)
    p = policy.probabilities(s)
    rows = 200_000
    batch = ArmStats.from_counts(np.tile(a_ + b_ - 2, (rows, 1)), np.tile(a_ - 1, (rows, 1)))
    arms = policy.sample_batch(batch, np.random.default_rng(3))
    freq = np.bincount(arms, minlength=a_.size) / rows
    assert np.max(np.abs(freq - p)) <= 0.005, (freq, p)
    one = {int(policy.sample_batch(s, np.random.default_rng(i))) for i in range(200)}
    assert one == set(np.flatnonzero(p > 0.01).tolist())  # one bandit: a single arm


def test_optimistic_must_be_a_boolean() -> None:
    with pytest.raises(PolicyError, match="optimistic must be true or false"):
        make_policy("thompson", optimistic="yes")
    assert make_policy("thompson", optimistic=False).describe().endswith("optimistic=False)")


def test_normal_best_matches_closed_form_for_two_arms() -> None:
    p = normal_best_probabilities(np.array([0.1, 0.3]), np.array([0.2, 0.1]))
    z = 0.2 / math.sqrt(0.05)
    assert p[1] == pytest.approx(0.5 * (1 + math.erf(z / math.sqrt(2))), abs=1e-6)


@pytest.mark.parametrize(("mean", "sd"), [
    ((-2000.0, 0.8), (1790.0, 0.25)),  # a walkthrough's continuous experiment: 0.99 for 0.13
    ((0.0, 0.8), (1000.0, 0.25)),  # said 0.25 for 0.50
    ((5.0, 4.9), (0.001, 300.0)),
    ((1e6, 1e6 + 1.0), (1e-3, 1e4)),
])
def test_normal_best_holds_when_posterior_widths_are_far_apart(
        mean: tuple[float, float], sd: tuple[float, float]) -> None:
    """P(best) of two normals is Φ(Δ / √(sd₁² + sd₂²)) exactly; a grid shared by both
    stepped over the narrow one. Within 0.01 percentage points."""
    p = normal_best_probabilities(np.array(mean), np.array(sd))
    exact = 0.5 * (1 + math.erf((mean[0] - mean[1]) / math.hypot(*sd) / math.sqrt(2)))
    assert p[0] == pytest.approx(exact, abs=1e-4)


def test_normal_best_with_three_arms_of_far_apart_widths_matches_monte_carlo() -> None:
    """1,000,000 seeded draws; 5-sigma bounds (false-failure rate below 1e-5 per arm)."""
    mean, sd = np.array([-2000.0, 0.8, 1.0]), np.array([1790.0, 0.25, 0.3])
    p = normal_best_probabilities(mean, sd)
    draws = np.random.default_rng(11).normal(mean, sd, size=(1_000_000, 3))
    freq = np.bincount(draws.argmax(axis=1), minlength=3) / 1_000_000
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / 1_000_000) + 1e-4)


def test_gaussian_thompson_prefers_higher_rating() -> None:
    s = stats([40, 40, 40], [16, 28, 20], [7, 20, 11])
    p = GaussianThompsonSampling().probabilities(s)
    assert p.argmax() == 1 and p.sum() == pytest.approx(1.0)


def test_dominated_arms_get_zero_and_are_never_sampled() -> None:
    p = beta_best_probabilities(np.array([1.0, 900.0]), np.array([900.0, 100.0]))
    assert p.tolist() == [0.0, 1.0]
    rng = np.random.default_rng(1)
    assert {sample_arm(p, rng) for _ in range(1000)} == {1}


def full_stats(rows: int | None = None) -> ArmStats:
    """Statistics with every extra any policy reads (time-weighted, IPS, linear, context)."""
    rng = np.random.default_rng(3)
    shape = (4,) if rows is None else (rows, 4)
    n = rng.integers(0, 30, size=shape).astype(float)
    sums = np.floor(n * rng.random(shape))
    d = 3
    x = np.ones((*shape[:-1], d))
    extra = {
        "tw_n": n * 0.5, "tw_sums": sums * 0.5, "tw_sums_sq": sums * 0.5,
        "ips_total": sums * 2.0,
        "A": np.broadcast_to(np.eye(d) * 3.0, (*shape, d, d)).copy(),
        "b": rng.random((*shape, d)),
    }
    return ArmStats(n, sums, sums, None, None, n, extra, x)


def test_every_registered_policy_returns_a_distribution() -> None:
    s = full_stats()
    for name in available_policies():
        p = make_policy(name).probabilities(s)
        assert p.shape == (4,), name
        assert np.all(p >= 0) and p.sum() == pytest.approx(1.0), name


def test_every_policy_works_on_many_runs_at_once() -> None:
    """(R, K) statistics give each row's own vector, and batch draws follow it."""
    batch = full_stats(rows=5)
    for name in available_policies():
        policy = make_policy(name)
        p = policy.probabilities(batch)
        assert p.shape == (5, 4), name
        for r in range(5):
            row = ArmStats(batch.n[r], batch.sums[r], batch.sums_sq[r], None, None,
                           batch.pulls[r], {k: v[r] for k, v in batch.extra.items()},
                           batch.context[r] if batch.context is not None else None)
            assert policy.probabilities(row) == pytest.approx(p[r], abs=1e-9), name
        arms = policy.sample_batch(batch, np.random.default_rng(0))
        assert arms.shape == (5,) and np.all(p[np.arange(5), arms] > 0), name


@pytest.mark.parametrize("name", ["thompson", "gaussian-thompson", "top-two-thompson",
                                  "discounted-thompson", "lin-thompson", "epsilon-greedy"])
def test_batch_draws_have_the_logged_distribution(name: str) -> None:
    """Posterior-sampling draws (used by the simulator) match the exact vector (used for
    propensities): 20,000 rows of the same bandit; 5-sigma bounds (false-failure < 1e-5)."""
    one = full_stats()
    rows = 20_000
    many = ArmStats(*(np.broadcast_to(v, (rows, *v.shape)) if isinstance(v, np.ndarray)
                      else v for v in one[:6]),
                    {k: np.broadcast_to(v, (rows, *v.shape)) for k, v in one.extra.items()},
                    np.broadcast_to(one.context, (rows, *one.context.shape)))
    policy = make_policy(name)
    p = policy.probabilities(one)
    arms = policy.sample_batch(many, np.random.default_rng(11))
    freq = np.bincount(arms, minlength=4) / rows
    sd = np.sqrt(np.maximum(p * (1 - p), 1e-12) / rows)
    assert np.all(np.abs(freq - p) <= 5 * sd + 1e-3), (freq, p)


@pytest.mark.parametrize(("name", "params", "message"), [
    ("epsilon-greedy", {"epsilon": 1.5}, "epsilon must be in [0, 1]"),
    ("epsilon-greedy", {"epsilon": -0.1}, "epsilon must be in [0, 1]"),
    ("epsilon-greedy", {"eps": 0.1}, "unknown parameter"),
    ("thompson", {"alpha": 0}, "must be > 0"),
    ("softmax", {"temperature": 0}, "temperature must be > 0"),
    ("ucb1", {"c": -1}, "c must be >= 0"),
    ("gaussian-thompson", {"prior_sd": 0}, "must be > 0"),
    ("nope", {}, "unknown policy"),
    ("thompson", {"alpha": "x"}, "thompson"),
])
def test_invalid_specs_fail_when_built(name: str, params: dict[str, object],
                                       message: str) -> None:
    with pytest.raises(PolicyError) as err:
        make_policy(name, params)
    assert message in str(err.value)
    assert err.value.hint


def test_a_parameter_given_twice_is_refused_not_overwritten() -> None:
    """`/policy random epsilon-greedy epsilon=0.1 epsilon=0.2` ran with 0.2 silently."""
    from banditbot.policies import parse_params, parse_policy

    with pytest.raises(PolicyError, match="'epsilon' is given twice") as err:
        parse_params(["epsilon=0.1", "epsilon=0.2"])
    assert err.value.hint
    with pytest.raises(PolicyError, match="given twice"):
        parse_policy("epsilon-greedy:epsilon=0.1,epsilon=0.2")
    assert parse_params(["epsilon=0.1", "initial_value=1"]) == {"epsilon": 0.1,
                                                                "initial_value": 1}


def test_aliases_resolve_and_describe_is_readable() -> None:
    assert make_policy("TS").name == "thompson"
    assert make_policy("e-greedy", epsilon=0.5).describe() == \
        "epsilon-greedy(epsilon=0.5, initial_value=0)"


def test_a_policy_not_loaded_yet_resolves_on_first_use() -> None:
    """The common policies load with the package and a name among them loads no other; a
    policy from a module not loaded yet still resolves by any alias, and an unknown name
    lists every policy (in a fresh interpreter: here every module is loaded already)."""
    proc = subprocess.run([sys.executable, "-c", """if True:
        import sys
        from banditbot import PolicyError
        from banditbot.policies import make_policy
        make_policy("e-greedy", epsilon=0.1)
        make_policy("thompson")
        print(sorted(m for m in sys.modules if m.startswith("banditbot.policies._")))
        print(make_policy("SW_UCB", window=100).name)
        try:
            make_policy("nope")
        except PolicyError as exc:
            print(exc.hint)
        """], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded, name, hint = proc.stdout.splitlines()
    assert "_nonstationary" not in loaded and "_contextual" not in loaded
    assert name == "sliding-window-ucb"
    assert "exp3" in hint and "linucb" in hint and "top-two-thompson" in hint


@pytest.mark.parametrize(("a", "b"), [
    ([5000, 5100, 4900], [1, 1, 1]),  # only 👍 so far, many votes: posteriors piled at 1
    ([1, 1, 1], [5000, 5100, 4900]),  # only 👎: piled at 0
    ([40, 3], [1, 1]),
    ([200_000, 190_000], [1, 1]),
])
def test_thompson_probabilities_match_closed_form_at_the_boundary(
        a: list[float], b: list[float]) -> None:
    """Closed forms. Beta(a_i, 1) has CDF x^a_i, so P(i is best) = a_i / sum(a). For
    Beta(1, b_i), -log(1 - X_i) is exponential with rate b_i, and P(i is best) is the chance
    that exponential is the largest: by inclusion-exclusion, the sum over subsets S of the
    other arms of (-1)^|S| b_i / (b_i + sum_S b). Narrow posteriors next to 0 or 1 once gave
    NaN propensities."""
    a_, b_ = np.array(a, float), np.array(b, float)
    p = beta_best_probabilities(a_, b_)
    if b_.max() == 1:
        exact = a_ / a_.sum()
    else:
        k = len(b_)
        exact = np.array([sum((-1) ** len(s) * b_[i] / (b_[i] + sum(b_[j] for j in s))
                              for r in range(k) for s in itertools.combinations(
                                  [j for j in range(k) if j != i], r))
                          for i in range(k)])
    assert np.all(np.isfinite(p))
    assert np.max(np.abs(p - exact)) <= 0.005


def test_thompson_propensities_stay_finite_when_every_vote_is_positive() -> None:
    s = ArmStats.from_counts([20_000, 21_000, 19_000], [20_000, 21_000, 19_000])
    choice = ThompsonSampling().choose(s, np.random.default_rng(0))
    assert np.all(np.isfinite(choice.probabilities))
    assert choice.probabilities.sum() == pytest.approx(1.0)
    assert 0 < choice.propensity <= 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.5, 1.0, 2.0]), st.integers(0, 10**6),
                          st.sampled_from([0.5, 1.0, 2.0]), st.integers(0, 10**6)),
                min_size=2, max_size=8))
def test_thompson_probabilities_are_a_distribution_for_any_counts(
        arms: list[tuple[float, int, float, int]]) -> None:
    """Whatever the counts (none, lopsided, millions, all one way), P(best) is a probability
    vector: finite, non-negative, summing to 1."""
    a = np.array([prior + s for prior, s, _, _ in arms], float)
    b = np.array([prior + f for _, _, prior, f in arms], float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = beta_best_probabilities(a, b)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("name", ["epsilon-greedy", "ucb1", "softmax"])
def test_the_scalar_path_for_small_bandits_gives_the_array_paths_vector(name: str) -> None:
    """One bandit with few arms is computed on Python floats; the same statistics as a batch
    of one (the array path) give the same vector, ties and untried arms included."""
    rng = np.random.default_rng(3)
    policy = make_policy(name)
    for _ in range(300):
        k = int(rng.integers(2, 17))
        n = rng.integers(0, 6, size=k).astype(float)
        n[rng.random(k) < 0.2] = 0.0
        sums = np.minimum(rng.integers(0, 6, size=k), n).astype(float)
        one = policy.probabilities(ArmStats.from_counts(n, sums))
        batch = policy.probabilities(ArmStats.from_counts(n[None, :], sums[None, :]))[0]
        assert one == pytest.approx(batch, abs=1e-12)
        assert one.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("k", [17, 200])
def test_normal_best_with_many_arms_of_far_apart_widths_is_right_in_bounded_memory(
        k: int) -> None:
    """Beyond 16 contenders of far-apart widths, the union grid was not used: uncapped, the
    shared grid took 213,000 points per arm (10 s and 2 GB at 200 arms); capped, it stepped
    over the narrow posteriors (P(best) 1.000 for an arm whose chance is 0.50). The union
    grid now runs a block at a time: against 200,000 joint draws (a proportion's sd is at
    most 0.0011; the bound is 5.5 sd per arm, a false failure below 1e-5 over 200 arms) and
    under 100 MB."""
    import tracemalloc

    mean, sd = np.linspace(0.0, 1.0, k), np.full(k, 0.25)
    sd[0] = 1790.0
    tracemalloc.start()
    try:
        p = normal_best_probabilities(mean, sd)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    draws = np.random.default_rng(3).normal(mean, sd, size=(200_000, k)).argmax(axis=1)
    sampled = np.bincount(draws, minlength=k) / 200_000
    assert p.shape == (k,) and p.sum() == pytest.approx(1.0) and np.all(p >= 0)
    assert np.abs(p - sampled).max() < 0.006, (p[:3], sampled[:3])
    assert peak < 100e6, f"{peak / 1e6:.0f} MB"


@pytest.mark.parametrize("shape", [0.05, 0.3, 1.0, 2.5, 40.0, 1e4])
def test_scalar_gamma_draws_follow_the_gamma_distribution(shape: float) -> None:
    """ScalarDraws.standard_gamma (Marsaglia-Tsang, with the boost below 1) against the
    Gamma CDF: a Kolmogorov-Smirnov test on 20,000 draws per shape, from the smallest
    shapes a deferred posterior allows to a long-running arm's. Fixed seed; p > 1e-4 (a
    false failure about 1 in 10,000 per shape for another seed)."""
    draws = ScalarDraws(np.random.default_rng(11))
    sample = [draws.standard_gamma(shape) for _ in range(20_000)]
    assert scipy_stats.kstest(sample, scipy_stats.gamma(shape).cdf).pvalue > 1e-4
    assert draws.standard_gamma(0.0) == 0.0  # as numpy's: a point mass at 0
    for bad in (-0.5, math.nan):  # a corrupted posterior is an error, not a score
        with pytest.raises(ValueError, match="Gamma shape"):
            draws.standard_gamma(bad)


def test_scalar_draws_repeat_with_the_seed_and_stay_in_range() -> None:
    a, b = ScalarDraws(np.random.default_rng(4)), ScalarDraws(np.random.default_rng(4))
    first = [(a.random(), a.normal(), a.standard_gamma(3.0)) for _ in range(300)]
    assert first == [(b.random(), b.normal(), b.standard_gamma(3.0)) for _ in range(300)]
    assert all(0.0 <= u < 1.0 for u, _, _ in first)
    assert len({u for u, _, _ in first}) == 300  # blocks are not handed out twice


def test_threads_drawing_at_once_each_get_their_own_draws() -> None:
    """Draws are made ahead in blocks shared by threads (the HTTP server decides in a thread
    pool), with no lock: with threads switching every microsecond, every draw is handed out
    once and none fails -- 16 threads x 5,000 uniforms are 80,000 distinct numbers. (A
    thread that finds the block empty takes its own draw from the block it makes before it
    shares it: a review saw the id batches, built the same way, fail with IndexError when
    other threads emptied a new batch first; this run does not reproduce that window.)"""
    import sys
    import threading

    draws = ScalarDraws(np.random.default_rng(9))
    got: list[float] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            got.extend([draws.random() for _ in range(5_000)])
        except BaseException as exc:  # any failure is the test's finding
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors and len(set(got)) == len(got) == 80_000


def test_the_leaders_vector_is_one_object_per_set_of_leaders() -> None:
    """ε-greedy and the UCB family hand out one tuple per set of leading arms (the service
    keeps what it derives from a vector by that object: the 50-arm loop 31% faster):
    the same leaders give the same object, other leaders or shares another, and the values
    are the split the policy defines, ties and a NaN at the top included."""
    eg = make_policy("epsilon-greedy", {"epsilon": 0.3})
    one = eg.scalar_probabilities([10.0, 10.0, 10.0], [1.0, 7.0, 3.0])
    assert one is eg.scalar_probabilities([2.0, 4.0, 5.0], [1.0, 3.0, 1.0])
    assert one == pytest.approx((0.1, 0.8, 0.1), abs=1e-15)
    assert make_policy("epsilon-greedy", {"epsilon": 0.2}).scalar_probabilities(
        [10.0, 10.0, 10.0], [1.0, 7.0, 3.0]) is not one  # another ε
    assert eg.scalar_probabilities([10.0, 10.0, 10.0], [7.0, 1.0, 3.0]) is not one
    assert eg.scalar_probabilities([10.0, 10.0, 10.0], [7.0, 1.0, 7.0]) == pytest.approx(
        (0.45, 0.1, 0.45), abs=1e-15)
    assert eg.scalar_probabilities([1.0, 1.0], [math.nan, 0.5]) == pytest.approx(
        (0.15, 0.15), abs=1e-15)  # as before
    ucb = make_policy("ucb1")
    assert ucb.scalar_probabilities([5.0, 0.0, 0.0], [1.0, 0.0, 0.0]) == (0.0, 0.5, 0.5)
    assert ucb.scalar_probabilities([5.0, 9.0, 9.0], [5.0, 1.0, 1.0]) is \
        ucb.scalar_probabilities([9.0, 5.0, 9.0], [9.0, 0.0, 1.0]) == (1.0, 0.0, 0.0)


def test_a_policys_rule_is_its_vector_on_floats() -> None:
    """The service's lane calls a policy's rule (compiled in the compiled build): it gives
    what scalar_probabilities gives, for each policy of counts and totals; a policy that
    defines only scalar_probabilities gets a rule that calls it, and one that defines
    neither says what to define."""
    counts, totals = [4.0, 9.0, 0.0, 7.0], [1.0, 6.0, 0.0, 5.0]
    for name in ("epsilon-greedy", "softmax", "ucb1"):
        policy = make_policy(name)
        assert policy.scalar
        assert list(policy.scalar_rule().vector(counts, totals)) == pytest.approx(
            policy.probabilities(ArmStats.from_counts(counts, totals)).tolist(), abs=1e-12)
        seen = [c + 1.0 for c in counts]
        assert list(policy.scalar_rule().vector(seen, totals)) == pytest.approx(
            policy.probabilities(ArmStats.from_counts(seen, totals)).tolist(), abs=1e-12)

    @dataclasses.dataclass(frozen=True)
    class FirstArm(Policy):
        name: ClassVar[str] = "first-arm"
        scalar: ClassVar[bool] = True

        def scalar_probabilities(self, counts: list[float], totals: list[float]
                                 ) -> list[float]:
            return [1.0] + [0.0] * (len(counts) - 1)

    assert list(FirstArm().scalar_rule().vector(counts, totals)) == [1.0, 0.0, 0.0, 0.0]

    @dataclasses.dataclass(frozen=True)
    class NoFloats(Policy):
        name: ClassVar[str] = "no-floats"

    with pytest.raises(NotImplementedError, match="define scalar_rule or scalar_probabilities"):
        NoFloats().scalar_rule()

    # (a trial: a policy built on ε-greedy's that overrides only scalar_probabilities was
    # ignored by the service's lane, which asked the inherited rule)
    @dataclasses.dataclass(frozen=True)
    class AlwaysFirst(EpsilonGreedy):
        def scalar_probabilities(self, counts: list[float], totals: list[float]
                                 ) -> tuple[float, ...]:
            return (1.0,) + (0.0,) * (len(counts) - 1)

    assert list(rule_of(AlwaysFirst()).vector(counts, totals)) == [1.0, 0.0, 0.0, 0.0]
    assert list(rule_of(EpsilonGreedy()).vector(counts, totals)) == pytest.approx(
        [0.025, 0.025, 0.025, 0.925])  # (ε-greedy's own: the last leads with 5/7)


def test_a_draw_by_running_sums_picks_the_arm_the_scan_picks() -> None:
    """The service's lane draws by bisecting a vector's running sums: over 20,000 random
    vectors (a third of their arms at probability 0) and draws, the arm is the one the scan
    picks, an arm with probability 0 is never picked, and a draw at the top end takes the
    last arm with a share."""
    rng = np.random.default_rng(11)
    for _ in range(20_000):
        k = int(rng.integers(1, 12))
        p = rng.random(k) * (rng.random(k) > 0.33)
        if not p.any():
            p[int(rng.integers(k))] = 1.0
        p = (p / p.sum()).tolist()
        u = float(rng.random())
        arm = draw_cumulative(list(itertools.accumulate(p)), u)
        assert arm == draw_index(p, u) and p[arm] > 0.0
    assert draw_cumulative([0.5, 1.0, 1.0, 1.0], 1.0) == 1
    assert draw_cumulative([0.0, 0.0, 1.0], 0.0) == 2


@pytest.mark.parametrize("compiled_branch", [False, True])
def test_the_leaders_and_ucb1s_total_agree_in_both_builds_branches(
        compiled_branch: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """share_top and UCB1's vector take one pass on floats when compiled and the builtins'
    C loops interpreted: each branch (run here whichever build this is) gives what the
    rule says on ties, a negative zero, a NaN after the top and a NaN first, and refuses an
    empty list."""
    from banditbot.policies import _scalar

    monkeypatch.setattr(_scalar, "_COMPILED", compiled_branch)  # (module global: Python)
    nan = math.nan
    cases = {(0.2, 0.5, 0.1): (0.0, 1.0, 0.0), (0.5, 0.2, 0.5): (0.5, 0.0, 0.5),
             (0.0, -0.0, -1.0): (0.5, 0.5, 0.0), (0.3, nan, 0.7): (0.0, 0.0, 1.0),
             (nan, 0.3, 0.7): (0.0, 0.0, 0.0)}  # (a NaN first: max's answer, no leader)
    for values, expected in cases.items():
        assert _scalar.share_top(list(values), 1.0, 0.0) == expected, values
    with pytest.raises(ValueError, match=r"share_top|empty|arg"):
        _scalar.share_top([], 1.0, 0.0)
    assert _scalar.upper_bound_vector([3.0, 0.0, 2.0], [1.0, 0.0, 1.0], 1.0) == (0.0, 1.0, 0.0)
    tied = _scalar.upper_bound_vector([4.0, 4.0, 9.0], [2.0, 2.0, 1.0], 1.0)
    assert tied == (0.5, 0.5, 0.0)
