"""Bandit policies: pure, seeded, registered by name.

Every policy maps arm statistics (:class:`ArmStats`) to the probability of choosing each arm
(:meth:`Policy.probabilities`); :meth:`Policy.choose` samples from that vector with the
``numpy.random.Generator`` the caller passes in, so the logged propensity is exact.

Examples
--------
>>> import numpy as np
>>> policy = make_policy("thompson")
>>> choice = policy.choose(ArmStats.from_counts([20, 20], [2, 12]), np.random.default_rng(0))
>>> choice.arm in (0, 1) and 0 < choice.propensity <= 1
True
"""

from ._base import (
    SMALL,
    ArmStats,
    Choice,
    Extra,
    Policy,
    ScalarDraws,
    draw_cumulative,
    draw_index,
    pick_arm,
    sample_arm,
)
from ._explore import explore_contenders
from ._greedy import EpsilonGreedy, Softmax
from ._registry import (
    available_policies,
    make_policy,
    parse_params,
    parse_policy,
    policy_class,
)
from ._thompson import (
    GaussianThompsonSampling,
    ThompsonSampling,
    beta_posterior,
    normal_posterior,
)
from ._ucb import UCB1

__all__ = [
    "SMALL",
    "UCB1",
    "ArmStats",
    "Choice",
    "EpsilonGreedy",
    "Extra",
    "GaussianThompsonSampling",
    "Policy",
    "ScalarDraws",
    "Softmax",
    "ThompsonSampling",
    "available_policies",
    "beta_posterior",
    "draw_cumulative",
    "draw_index",
    "explore_contenders",
    "make_policy",
    "normal_posterior",
    "parse_params",
    "parse_policy",
    "pick_arm",
    "policy_class",
    "sample_arm",
]
