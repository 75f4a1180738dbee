"""Statistics of arm rewards (pure numpy/scipy; the lowest layer beside ``_types``).

* **P(best)** — the probability that each arm is the best under independent posteriors
  (Beta or normal), computed exactly on a shared lattice; Thompson sampling's propensities
  and the report's P(best) column.
* **Posteriors** — :class:`BetaPosterior`, :class:`NormalPosterior`: what a Bayesian policy
  believes about each arm's mean (its interval and P(best)).
* **Intervals** — per-arm posterior credible intervals and fixed-sample confidence intervals
  (Wilson, normal). They assume a fixed sample: reports name them as such.
* **Anytime-valid inference** — confidence sequences of each arm's mean and of differences
  between arms, and a stopping rule with a guaranteed error rate, from the decision log
  (chosen arm, logged probability vector, reward), valid however often the report is read
  and whatever the allocation did (:func:`anytime_inference`, :func:`stopping_rule`,
  :class:`SequentialTest`).
* **Sample ratio** — whether the decisions per arm follow the probabilities they were drawn
  from (:func:`ratio_p_value`, :func:`logged_ratio_p_value`; valid at every look:
  :func:`logged_ratio_anytime_p_value`, :func:`period_ratio_anytime_p_value`); and whether
  one arm's decisions are answered less often than the others' (:func:`fisher_less_p_value`).

Examples
--------
>>> import numpy as np
>>> p = beta_best_probabilities(np.array([1.0, 1.0]), np.array([1.0, 1.0]))
>>> [round(float(x), 3) for x in p]
[0.5, 0.5]
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ._best import (
    best_rows,
    beta_best_probabilities,
    beta_optimistic_probabilities,
    normal_best_probabilities,
)
from ._intervals import Z95, bernoulli_kl, beta_interval, normal_interval, wilson_interval
from ._posterior import BetaPosterior, NormalPosterior, Posterior

#: anytime-valid inference (reports, the winner rule, offline evaluation) -> its module,
#: imported on first use: a decision or a reward needs none of it
_WHERE = {
    **dict.fromkeys(("DEFAULT_EFFECTS", "HORIZON_SHARE", "AipwScores", "AnytimeInference",
                     "SequentialTest", "WinnerDecision", "aipw_scores", "anytime_inference",
                     "stopping_rule"), "._sequential"),
    "ips_confidence_sequence": "._betting",
    **dict.fromkeys(("fisher_less_p_value", "logged_ratio_anytime_p_value",
                     "logged_ratio_p_value", "period_ratio_anytime_p_value",
                     "ratio_p_value"), "._ratio"),
}

if TYPE_CHECKING:
    from ._betting import ips_confidence_sequence
    from ._ratio import (
        fisher_less_p_value,
        logged_ratio_anytime_p_value,
        logged_ratio_p_value,
        period_ratio_anytime_p_value,
        ratio_p_value,
    )
    from ._sequential import (
        DEFAULT_EFFECTS,
        HORIZON_SHARE,
        AipwScores,
        AnytimeInference,
        SequentialTest,
        WinnerDecision,
        aipw_scores,
        anytime_inference,
        stopping_rule,
    )

__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())

__all__ = [
    "DEFAULT_EFFECTS",
    "HORIZON_SHARE",
    "Z95",
    "AipwScores",
    "AnytimeInference",
    "BetaPosterior",
    "NormalPosterior",
    "Posterior",
    "SequentialTest",
    "WinnerDecision",
    "aipw_scores",
    "anytime_inference",
    "bernoulli_kl",
    "best_rows",
    "beta_best_probabilities",
    "beta_interval",
    "beta_optimistic_probabilities",
    "fisher_less_p_value",
    "ips_confidence_sequence",
    "logged_ratio_anytime_p_value",
    "logged_ratio_p_value",
    "normal_best_probabilities",
    "normal_interval",
    "period_ratio_anytime_p_value",
    "ratio_p_value",
    "stopping_rule",
    "wilson_interval",
]
