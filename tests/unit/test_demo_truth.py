"""The demo's "true" column is what its simulated users' answers really average."""

from __future__ import annotations

import numpy as np
import pytest

from banditbot import parse_config
from banditbot._demo import expected_reaction, simulate_user


@pytest.mark.parametrize(("reward", "values"), [
    ({"type": "rating", "min": 1, "max": 5}, (1.2, 2.4, 4.2, 4.9)),
    ({"type": "continuous", "min": 0, "max": 1}, (0.1, 0.5, 0.95)),
    ({"type": "continuous"}, (0.3,)),
    ({"type": "binary"}, (0.25,)),
])
def test_true_value_is_the_mean_of_the_simulated_answers(reward: dict[str, object],
                                                         values: tuple[float, ...]) -> None:
    """50,000 answers per value (seeded); the mean must be within 5 standard errors of
    :func:`expected_reaction` (a false failure has probability < 1e-6 per value). Before,
    the table showed the unrounded, uncapped setting: 4.2 for an arm whose capped ratings
    average 4.12, about 20 standard errors away at this sample size."""
    exp = parse_config({"experiments": [{"id": "t", "arms": [{"id": "a", "content": "a"}],
                                         "reward": reward}]}).experiments[0]
    rng = np.random.default_rng(11)
    for value in values:
        answers = np.array([simulate_user(exp, value, rng) for _ in range(50_000)])
        se = answers.std() / np.sqrt(answers.size)
        assert abs(answers.mean() - expected_reaction(exp, value)) < 5 * se + 1e-12


@pytest.mark.parametrize("k", [2, 3, 8, 10, 15, 40])
def test_the_demos_true_rates_are_rates_and_one_arm_is_best(k: int) -> None:
    """A trial with 12 arms: the demo simulated 👍 rates of 1.05, 1.15 and 1.25 (10 points
    apart from 0.15), its three best arms tied at every answer 👍 and its "best arm" a
    coin toss among them; a rate given by hand above 1 is refused. Every rate is in
    [0, 1], all differ, and the best is one arm."""
    from banditbot._demo import default_truth

    exp = {"id": "many", "arms": [{"id": f"a{i}", "content": f"m{i}"} for i in range(k)]}
    rates = default_truth(parse_config({"experiments": [exp]}))["many"]
    values = sorted(rates.values())
    assert len(rates) == k and values[0] > 0 and values[-1] < 1
    assert len(set(values)) == k  # distinct: one best arm
