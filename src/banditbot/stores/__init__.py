"""Stores: the only components with state. One protocol, one conformance suite, four backends.

The backends load on first use (PEP 562): a process that opens one store by URL (the Lambda
handler opens DynamoDB) does not import the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names
from ._base import (
    ADMIN_ACTIONS,
    ALLOCATED,
    NO_VECTOR,
    PRIORS_FROM_NOTE,
    TRAFFIC,
    WARM_START_NOTE,
    AdminAction,
    AdminRecord,
    AllocationRecord,
    ApplyResult,
    CountRows,
    DecisionRecord,
    ExperimentMeta,
    FiniteCounts,
    KeyedDecision,
    PeriodCounts,
    ResolvedVector,
    StatsTable,
    close_scan,
)
from ._protocol import Store
from ._url import DEFAULT_STORE_URL, StoreKind, new_sqlite_file, open_store, store_kind

#: backend class (and the deferred propensities, which need the policies) -> its private
#: module, imported on first use
_BACKENDS = {"DynamoDBStore": "._dynamodb", "MemoryStore": "._memory",
             "PostgresStore": "._postgres",
             "SQLiteStore": "._sqlite", "deferred_vector": "._propensity",
             "draw_deferred": "._propensity", "resolve_fields": "._propensity",
             "resolve_propensities": "._propensity"}

if TYPE_CHECKING:
    from ._dynamodb import DynamoDBStore
    from ._memory import MemoryStore
    from ._postgres import PostgresStore
    from ._propensity import (
        deferred_vector,
        draw_deferred,
        resolve_fields,
        resolve_propensities,
    )
    from ._sqlite import SQLiteStore


__getattr__, __dir__ = lazy_names(__name__, _BACKENDS, globals())


__all__ = [
    "ADMIN_ACTIONS",
    "ALLOCATED",
    "DEFAULT_STORE_URL",
    "NO_VECTOR",
    "PRIORS_FROM_NOTE",
    "TRAFFIC",
    "WARM_START_NOTE",
    "AdminAction",
    "AdminRecord",
    "AllocationRecord",
    "ApplyResult",
    "CountRows",
    "DecisionRecord",
    "DynamoDBStore",
    "ExperimentMeta",
    "FiniteCounts",
    "KeyedDecision",
    "MemoryStore",
    "PeriodCounts",
    "PostgresStore",
    "ResolvedVector",
    "SQLiteStore",
    "StatsTable",
    "Store",
    "StoreKind",
    "close_scan",
    "deferred_vector",
    "draw_deferred",
    "new_sqlite_file",
    "open_store",
    "resolve_fields",
    "resolve_propensities",
    "store_kind",
]
