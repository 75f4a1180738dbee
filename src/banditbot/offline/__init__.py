"""Offline work on the decision log: export and import, off-policy evaluation (replay, IPS,
SNIPS, DM, DR, SNDR, Switch-DR), evaluating banditbot policies on logs, warm start, and a
loader for the Open Bandit Dataset sample."""

from ._data import ColumnMap, LoggedBandit, from_records, load_obd, read_log
from ._estimators import (
    ESTIMATORS,
    DirectMethod,
    DoublyRobust,
    Estimate,
    Estimator,
    InverseProbabilityWeighting,
    ReplayMethod,
    SelfNormalizedDoublyRobust,
    SelfNormalizedIPW,
    SwitchDoublyRobust,
    estimate_all,
    make_estimator,
)
from ._evaluate import (
    EvaluationRow,
    behavior_action_dist,
    check_behavior,
    evaluate,
    in_time_order,
    policy_action_dist,
    replay_online,
)
from ._inference import LogInference, log_inference
from ._log import (
    LOG_COLUMNS,
    Pseudonyms,
    decision_rows,
    export_decisions,
    log_columns,
    rotate_pseudonym_key,
    store_pseudonyms,
    write_log_csv,
)
from ._model import RewardModel
from ._obd_bts import obd_bts_action_dist, obd_bts_rank_probabilities
from ._synthetic import SyntheticProblem
from ._warmstart import (
    MIN_ESS,
    ArmWarmStart,
    WarmStart,
    WarmStartPlan,
    WarmStartTarget,
    plan_warm_start,
    warm_start,
)

__all__ = [
    "ESTIMATORS",
    "LOG_COLUMNS",
    "MIN_ESS",
    "ArmWarmStart",
    "ColumnMap",
    "DirectMethod",
    "DoublyRobust",
    "Estimate",
    "Estimator",
    "EvaluationRow",
    "InverseProbabilityWeighting",
    "LogInference",
    "LoggedBandit",
    "Pseudonyms",
    "ReplayMethod",
    "RewardModel",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedIPW",
    "SwitchDoublyRobust",
    "SyntheticProblem",
    "WarmStart",
    "WarmStartPlan",
    "WarmStartTarget",
    "behavior_action_dist",
    "check_behavior",
    "decision_rows",
    "estimate_all",
    "evaluate",
    "export_decisions",
    "from_records",
    "in_time_order",
    "load_obd",
    "log_columns",
    "log_inference",
    "make_estimator",
    "obd_bts_action_dist",
    "obd_bts_rank_probabilities",
    "plan_warm_start",
    "policy_action_dist",
    "read_log",
    "replay_online",
    "rotate_pseudonym_key",
    "store_pseudonyms",
    "warm_start",
    "write_log_csv",
]
