"""The ``Store`` protocol: what every store does, in one place (the stores' conformance tests
run against every backend). A Python class in every build: ``isinstance(x, Store)`` asks it,
and mypyc compiles no protocol (``setup.py`` leaves this module out)."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ._base import (
    AdminRecord,
    AllocationRecord,
    ApplyResult,
    CountRows,
    DecisionRecord,
    ExperimentMeta,
    KeyedDecision,
    PeriodCounts,
    ResolvedVector,
    StatsTable,
)

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """Persistence for experiments: meta, additive arm statistics, the decision log.

    Every method is one atomic operation; implementations are safe to use from many threads
    (and, for SQLite, PostgreSQL and DynamoDB, many processes; for the last two, many hosts).
    """

    url: str

    def init(self) -> None:
        """Create what the store needs (tables, indexes); idempotent."""

    def close(self) -> None:
        """Release connections."""

    # --- meta -----------------------------------------------------------------------------
    def read_meta(self, experiment: str) -> ExperimentMeta:
        """The experiment's meta document (defaults if none was written)."""

    def write_meta(self, experiment: str, meta: ExperimentMeta) -> bool:
        """Write ``meta`` if the stored version is still ``meta.version``; False on conflict."""

    # --- statistics -------------------------------------------------------------------------
    def read_stats(self, experiment: str, generation: int, scope: str | None,
                   arms: Sequence[str], *, with_extra: bool = True,
                   time_buckets: bool = True) -> StatsTable:
        """Statistics for ``arms`` (in that order); ``scope=None`` sums over all scopes.
        ``with_extra=False`` may skip the policy-specific fields (a faster read);
        ``time_buckets=False`` leaves out the time buckets (fields ``tb.*``: a discount whose
        epochs hold every reward decides without them)."""

    def read_counts(self, experiment: str, generation: int, scope: str,
                    arms: tuple[str, ...], *, after_meta: bool = False) -> CountRows:
        """The core counters of one scope's ``arms`` (in that order) as Python floats: what
        :meth:`read_stats` with ``with_extra=False`` reads, for a decision made on floats
        (see :class:`CountRows`). ``after_meta``: the caller read this experiment's meta
        just before, in the same operation (a decision); a store that checks a read cache
        may answer from the state that check saw (meta and counters then are one snapshot,
        as of the meta read) instead of checking again."""

    def drop_extra(self, experiment: str, generation: int, fields: Collection[str], *,
                   keep_total: str | None = None) -> None:
        """Remove the policy-specific ``fields`` from every arm and scope of a generation
        (time buckets, epochs' counts and sums too old to weigh in any more: fields nobody
        adds to again). Fields not present are ignored. ``keep_total``: what each row drops
        (an arm's, in a scope; a shard's) is added to that field in the same atomic step, so
        the sum of the fields is kept (the counts of epochs too old to weigh)."""

    # --- decisions and rewards --------------------------------------------------------------
    def record_decision(self, decision: DecisionRecord) -> None:
        """Log the decision and add one pull to its arm, atomically."""

    def record_keyed_decision(self, decision: DecisionRecord, key: str, fingerprint: str,
                              ttl_seconds: float) -> KeyedDecision:
        """Log the decision as :meth:`record_decision` does and keep ``key`` standing for it
        (with the request's ``fingerprint``) for ``ttl_seconds``, atomically — unless an
        unexpired record holds that key already: then nothing is written. Returns the key's
        record afterwards: this decision's when it was logged (also when a retry of this
        call finds its own lost write), else the one another writer stored first; so
        concurrent requests with one key log one decision. Expired records are forgotten in
        time (pruned now and then, or by TTL). A decision carrying a reward is refused with
        ``ValueError`` (its reward comes later, by :meth:`apply_reward`)."""

    def keyed_decision(self, key: str) -> KeyedDecision | None:
        """The record of an idempotency ``key`` (see :meth:`record_keyed_decision`);
        ``None`` if there is none or it has expired."""

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        """The decision with that id, with its reward if any; ``None`` if unknown."""

    def apply_reward(self, decision_id: str, value: float, rewarded_at: float,
                     extra: Mapping[str, float] | None = None, *,
                     known: DecisionRecord | None = None) -> ApplyResult:
        """Set the reward if the decision has none and add it (and ``extra``) to the
        statistics of the decision's arm, atomically.

        ``known`` is the decision as the caller just read it; a store may use it to skip a
        read, but must still verify in the same atomic step that the stored decision has that
        arm, so a caller can never choose the arm."""

    def record_manual(self, decisions: Sequence[DecisionRecord],
                      extras: Sequence[Mapping[str, float]] | None = None) -> None:
        """Log already-rewarded decisions (cheater mode, imports) and add them to the
        statistics, atomically as one unit."""

    def keep_vectors(self, resolved: Sequence[ResolvedVector]) -> None:
        """Keep the exact vectors computed for deferred decisions (see
        :attr:`DecisionRecord.posterior`), so that later reads need not compute them
        again: each decision keeps its posterior and gains its vector and propensity. A
        decision that has a vector of this version already is left as it is (idempotent:
        the vector is a function of the posterior and the version, :data:`RESOLVED_TAG`).
        Best effort: a store may keep none (DynamoDB: a write per decision would cost a
        request each) or give up on a busy lock; readers compute what is not kept."""

    def iter_decisions(self, experiment: str, *, generation: int | None = None,
                       since: float | None = None, after_id: str | None = None,
                       limit: int | None = None) -> Iterator[DecisionRecord]:
        """Decisions of an experiment in time order (optionally one generation, from a time,
        after a cursor, at most ``limit``)."""

    def iter_fields(self, experiment: str, fields: Sequence[str], *, generation: int,
                    kinds: Collection[str] | None = None, scope: str | None = None
                    ) -> Iterator[tuple[Any, ...]]:
        """The named :class:`DecisionRecord` fields of one generation's decisions (of
        ``kinds``, of one ``scope``; default every one), in time order, one tuple per
        decision: what a scan of a long log reads without building whole records (a
        report's inference needs 4 fields of 17)."""

    def pending_decisions(self, experiment: str, generation: int, older_than: float,
                          limit: int = 1000, *, newer_than: float | None = None
                          ) -> list[DecisionRecord]:
        """Unrewarded policy decisions created in ``[newer_than, older_than)`` (implicit
        mode), oldest first."""

    # --- allocation periods ------------------------------------------------------------------
    def current_allocation(self, experiment: str, generation: int, scope: str, *,
                           after_meta: bool = False) -> AllocationRecord | None:
        """The current allocation period of a scope's bandit (with its ``rewards`` so far),
        ``None`` before the first. ``after_meta``: as for :meth:`read_counts` (a decision
        that has just read the meta; a store with a read cache may answer from it)."""

    def start_allocation(self, record: AllocationRecord) -> AllocationRecord:
        """Store ``record`` as its scope's allocation for ``record.period`` unless that period
        has one already, atomically; return the allocation the period has afterwards —
        ``record``, or the one another writer stored first. Servers and processes that race
        at a cadence boundary thus agree on one allocation per period."""

    def allocations(self, experiment: str, generation: int,
                    scope: str | None = None) -> list[AllocationRecord]:
        """Allocation history, oldest first (one scope, or every scope)."""

    def period_counts(self, experiment: str, generation: int,
                      scope: str | None = None) -> list[PeriodCounts]:
        """Per (allocation period, arm): decisions, answers and reward sums of the policy's
        decisions (``kind`` ``policy``) — what SRM checks and period-weighted means need."""

    # --- admin log and webhook deduplication --------------------------------------------------
    def log_admin(self, record: AdminRecord) -> None:
        """Append an admin action to the audit log."""

    def admin_log(self, experiment: str | None = None, limit: int = 100, *,
                  actions: Collection[str] | None = None) -> list[AdminRecord]:
        """The most recent admin actions, newest first (only those of ``actions``, if
        given: the limit counts those)."""

    def claim_key(self, key: str, ttl_seconds: float) -> bool:
        """Record ``key`` as seen; False if it was already claimed (idempotency)."""

    def read_document(self, name: str) -> tuple[str | None, int]:
        """A small named document (API keys, sticky assignments) and its version (0: none)."""

    def write_document(self, name: str, text: str, version: int) -> bool:
        """Write a document if its stored version is still ``version``; False on conflict."""

    def add_counters(self, key: str, deltas: Mapping[str, float]) -> None:
        """Atomically add ``deltas`` to the named counters under ``key``."""

    def read_counters(self, key: str) -> dict[str, float]:
        """The counters under ``key`` (empty if none)."""

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """A block whose writes are committed together where the backend can: SQLite and
        PostgreSQL run them in one transaction (all or nothing; a server uses this as a
        *group commit* for requests that arrive together); other backends keep each write its
        own atomic operation. Each call's result is final once the block exits without an
        exception. Blocks nest (the outermost one commits)."""
