"""Statistics of arm rewards (pure numpy/scipy; the lowest layer beside ``_types``).

* **P(best)** — the probability that each arm is the best under independent posteriors
  (Beta or normal), computed exactly on a shared lattice; Thompson sampling's propensities
  and the report's P(best) column.
* **Intervals** — per-arm posterior credible intervals and fixed-sample confidence intervals
  (Wilson, normal). They assume a fixed sample: reports name them as such.

Examples
--------
>>> import numpy as np
>>> p = beta_best_probabilities(np.array([1.0, 1.0]), np.array([1.0, 1.0]))
>>> [round(float(x), 3) for x in p]
[0.5, 0.5]
"""

from ._best import (
    best_rows,
    beta_best_probabilities,
    beta_optimistic_probabilities,
    normal_best_probabilities,
)
from ._intervals import Z95, beta_interval, normal_interval, wilson_interval

__all__ = [
    "Z95",
    "best_rows",
    "beta_best_probabilities",
    "beta_interval",
    "beta_optimistic_probabilities",
    "normal_best_probabilities",
    "normal_interval",
    "wilson_interval",
]
