"""banditbot — adaptive experiments (multi-armed bandits) for conversational products.

The public API is small and explicit (see ``__all__``); everything else lives in private
modules. Nothing here connects to a database or to Telegram at import time.

Examples
--------
>>> import banditbot
>>> svc = banditbot.build_service(store="memory://", seed=7)
>>> decision = svc.decide("random", subject="42")
>>> decision.arm in ("arm1", "arm2")
True
>>> svc.reward(decision.id, 1, subject="42").status is banditbot.RewardStatus.APPLIED
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names

__version__ = "0.1.0"

#: public name -> the private module that defines it. Loaded on first use (PEP 562), so that
#: ``banditbot --help`` and the Lambda handler do not pay for numpy, SciPy and pydantic
#: before they need them.
_WHERE = {
    "build_service": "._compose",
    **dict.fromkeys(("Arm", "BanditConfig", "ExperimentConfig", "FeatureSpec", "PolicySpec",
                     "RewardOption", "RewardSpec", "load_config", "parse_config"), "._config"),
    **dict.fromkeys(("BanditBotError", "ConfigError", "InvalidRewardError", "KeyReusedError",
                     "MissingDependencyError", "NotAllowedError", "PayloadError",
                     "PolicyError", "StoreError", "UnknownArmError", "UnknownExperimentError"),
                    "._errors"),
    **dict.fromkeys(("ArmReport", "Report", "Timeline"), "._report"),
    "DecisionSeries": "._series",
    "SegmentReport": "._segments",
    **dict.fromkeys(("available_policies", "make_policy"), ".policies"),
    **dict.fromkeys(("BanditService", "Decision", "RewardResult", "RewardStatus"), ".service"),
    **dict.fromkeys(("MemoryStore", "SQLiteStore", "Store", "open_store"), ".stores"),
}

if TYPE_CHECKING:
    from ._compose import build_service
    from ._config import (
        Arm,
        BanditConfig,
        ExperimentConfig,
        FeatureSpec,
        PolicySpec,
        RewardOption,
        RewardSpec,
        load_config,
        parse_config,
    )
    from ._errors import (
        BanditBotError,
        ConfigError,
        InvalidRewardError,
        KeyReusedError,
        MissingDependencyError,
        NotAllowedError,
        PayloadError,
        PolicyError,
        StoreError,
        UnknownArmError,
        UnknownExperimentError,
    )
    from ._report import ArmReport, Report, Timeline
    from ._segments import SegmentReport
    from ._series import DecisionSeries
    from .policies import available_policies, make_policy
    from .service import BanditService, Decision, RewardResult, RewardStatus
    from .stores import MemoryStore, SQLiteStore, Store, open_store


__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())


__all__ = [
    "Arm",
    "ArmReport",
    "BanditBotError",
    "BanditConfig",
    "BanditService",
    "ConfigError",
    "Decision",
    "DecisionSeries",
    "ExperimentConfig",
    "FeatureSpec",
    "InvalidRewardError",
    "KeyReusedError",
    "MemoryStore",
    "MissingDependencyError",
    "NotAllowedError",
    "PayloadError",
    "PolicyError",
    "PolicySpec",
    "Report",
    "RewardOption",
    "RewardResult",
    "RewardSpec",
    "RewardStatus",
    "SQLiteStore",
    "SegmentReport",
    "Store",
    "StoreError",
    "Timeline",
    "UnknownArmError",
    "UnknownExperimentError",
    "__version__",
    "available_policies",
    "build_service",
    "load_config",
    "make_policy",
    "open_store",
    "parse_config",
]
