"""Simulate policies in known environments and compare their regret.

Examples
--------
>>> from banditbot import make_policy
>>> from banditbot.sim import parse_env, simulate
>>> result = simulate(make_policy("thompson"), parse_env("bernoulli:0.2,0.5"), runs=20,
...                   horizon=300, seed=1)
>>> result.final[0] < 30
True
"""

from ._engine import MAX_MEMORY, SimulationResult, check_memory, memory_estimate, simulate
from ._env import (
    MAX_ARMS,
    MAX_FEATURES,
    AbruptDriftEnv,
    BernoulliEnv,
    Environment,
    GaussianEnv,
    GradualDriftEnv,
    LinearContextualEnv,
    LogisticContextualEnv,
    RatingEnv,
    experiment_env,
    lai_robbins,
    parse_env,
)
from ._report import plot_regret, write_csv

__all__ = [
    "MAX_ARMS",
    "MAX_FEATURES",
    "MAX_MEMORY",
    "AbruptDriftEnv",
    "BernoulliEnv",
    "Environment",
    "GaussianEnv",
    "GradualDriftEnv",
    "LinearContextualEnv",
    "LogisticContextualEnv",
    "RatingEnv",
    "SimulationResult",
    "check_memory",
    "experiment_env",
    "lai_robbins",
    "memory_estimate",
    "parse_env",
    "plot_regret",
    "simulate",
    "write_csv",
]
