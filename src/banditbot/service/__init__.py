"""The service layer: the one place every entry point calls.

:class:`BanditService` decides, rewards, reports and administers experiments; its only I/O
is the :class:`~banditbot.stores.Store` it is given. Callers that batch writes use the
public two-phase API: :meth:`~BanditService.plan_decision` → :meth:`~BanditService.
commit_decision` and :meth:`~BanditService.plan_reward` → :meth:`~BanditService.
commit_reward`.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ..stores import resolve_propensities
from ._admin import PolicySwitch
from ._core import VectorKeeper
from ._decisions import MAX_SUBJECT, TELEGRAM_ID_PREFIX, Decision, PlannedDecision, made_by_telegram
from ._idempotency import IDEMPOTENCY_SECONDS, MAX_IDEMPOTENCY_KEY
from ._inference import LOG_FIELDS, InferenceCache, log_arrays, scan_arrays
from ._keys import ROLES, ApiKey, KeyRing, hash_key, role_allows
from ._reports import period_weighted, sample_ratio_check
from ._rewards import PlannedReward, RewardResult, RewardStatus
from ._service import BanditService

if TYPE_CHECKING:
    from ._kept_series import SeriesCache
    from ._segments import segment_arms

__all__ = [
    "IDEMPOTENCY_SECONDS",
    "LOG_FIELDS",
    "MAX_IDEMPOTENCY_KEY",
    "MAX_SUBJECT",
    "ROLES",
    "TELEGRAM_ID_PREFIX",
    "ApiKey",
    "BanditService",
    "Decision",
    "InferenceCache",
    "KeyRing",
    "PlannedDecision",
    "PlannedReward",
    "PolicySwitch",
    "RewardResult",
    "RewardStatus",
    "SeriesCache",
    "VectorKeeper",
    "hash_key",
    "log_arrays",
    "made_by_telegram",
    "period_weighted",
    "resolve_propensities",
    "role_allows",
    "sample_ratio_check",
    "scan_arrays",
    "segment_arms",
]

#: loaded with the first chart (its module loads the series' binning), and with the first
#: report by segment
__getattr__, __dir__ = lazy_names(__name__, {"SeriesCache": "._kept_series",
                                             "segment_arms": "._segments"}, globals())
