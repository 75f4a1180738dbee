"""Stores: the only components with state. One protocol, one conformance suite, four backends."""

from ._base import (
    ALLOCATED,
    AdminRecord,
    AllocationRecord,
    ApplyResult,
    DecisionRecord,
    ExperimentMeta,
    PeriodCounts,
    StatsTable,
    Store,
)
from ._memory import MemoryStore
from ._postgres import PostgresStore
from ._sqlite import SQLiteStore
from ._url import DEFAULT_STORE_URL, open_store

__all__ = [
    "ALLOCATED",
    "DEFAULT_STORE_URL",
    "AdminRecord",
    "AllocationRecord",
    "ApplyResult",
    "DecisionRecord",
    "ExperimentMeta",
    "MemoryStore",
    "PeriodCounts",
    "PostgresStore",
    "SQLiteStore",
    "StatsTable",
    "Store",
    "open_store",
]
