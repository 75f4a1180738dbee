"""The records that cross the ``Store`` protocol (``_protocol``), and what stores share.

A store is the only component with state. It keeps, per experiment:

* **meta** — one small document: the generation (bumped by a reset), operator priors per
  arm, and runtime overrides (policy switch, added/retired arms). Changed rarely, by admins,
  under optimistic or transactional concurrency control.
* **arm statistics** — additive counters per (experiment, generation, scope, arm): pulls,
  observed rewards ``n``, reward ``total`` and ``total_sq``, plus named additive ``extra``
  fields for policies that need more (time buckets, linear-model sums). They change only by
  atomic increments, never by read-modify-write.
* **the decision log** — one record per decision with its propensity, later its reward. The
  statistics of a generation are exactly the fold of its decision log (invariant 3).

The reward path is one atomic unit: set the decision's reward *if it has none* and add it to
the statistics of the decision's own arm (invariant 2: the caller cannot choose it): ``n += w``,
``total += w·r``, ``total_sq += w·r²`` with the decision's weight ``w`` (1 unless it is
weighted history), plus any ``extra`` fields the caller computed for that reward.
"""

from __future__ import annotations

import enum
import json
import math
import random
import struct
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, get_args

import numpy as np

from .._memo import memo_map
from .._types import FloatArray, mypyc_attr, new_tuple

__all__ = [
    "ALLOCATED",
    "RESOLVED_TAG",
    "TRAFFIC",
    "AdminRecord",
    "AllocationRecord",
    "ApplyResult",
    "DecisionRecord",
    "ExperimentMeta",
    "KeyedDecision",
    "PeriodCounts",
    "ResolvedVector",
    "StatsTable",
]

#: the stores' draws (retry jitter, cleanups now and then): their own generator, so a
#: store never consumes or moves the global ``random`` state an application may have seeded
JITTER = random.Random()


#: Decision kinds drawn from an allocation (the policy's, and the holdout's share of it): what
#: implicit settlement, SRM checks and period estimates count. Others: ``manual`` (cheater
#: mode), ``import`` (history), ``sticky`` (a held arm, propensity 1).
ALLOCATED = frozenset({"policy", "holdout"})
#: Decision kinds that are traffic (what users were shown): the allocated ones and ``sticky``;
#: charts count these (not cheater mode's or imported rows).
TRAFFIC = ALLOCATED | {"sticky"}


class ApplyResult(enum.Enum):
    """What :meth:`Store.apply_reward` did."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    UNKNOWN = "unknown"


#: The notes a warm start writes: what was learned (a reset forgets it with the statistics)
#: and which logs the priors came from (kept while the priors are).
WARM_START_NOTE = "warm_start"
PRIORS_FROM_NOTE = "priors_from"


@dataclass(frozen=True, slots=True)
class ExperimentMeta:
    """Runtime state of an experiment that admins change: generation, priors, overrides.

    Attributes
    ----------
    generation
        Bumped by every reset; statistics and decisions belong to one generation.
    priors
        ``arm -> (alpha, beta)`` operator priors (pseudo-successes, pseudo-failures).
    policy
        Policy override ``{"name": ..., "params": {...}}`` or ``None`` (use the config's).
    added_arms
        ``arm -> content`` added at run time.
    retired_arms
        Arm ids no longer offered (their statistics are kept).
    notes
        Free-form facts for reports, e.g. ``{"warm_start": "..."}``.
    winner
        The arm the winner rule named in this generation (``None``: none yet).
    stopped
        Whether the experiment was stopped (it then serves ``winner``, or the control).
    version
        Optimistic-concurrency version of this document.
    """

    generation: int = 0
    priors: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    policy: Mapping[str, Any] | None = None
    added_arms: Mapping[str, str] = field(default_factory=dict)
    retired_arms: tuple[str, ...] = ()
    notes: Mapping[str, str] = field(default_factory=dict)
    winner: str | None = None
    stopped: bool = False
    version: int = 0

    def to_json(self) -> str:
        """Serialize (without ``version``)."""
        return json.dumps({
            "generation": self.generation,
            "priors": {k: list(v) for k, v in self.priors.items()},
            "policy": self.policy,
            "added_arms": dict(self.added_arms),
            "retired_arms": list(self.retired_arms),
            "notes": dict(self.notes),
            "winner": self.winner,
            "stopped": self.stopped,
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None, version: int = 0) -> ExperimentMeta:
        """Inverse of :meth:`to_json`."""
        if not text:
            return cls(version=version)
        d = json.loads(text)
        return cls(
            generation=int(d.get("generation", 0)),
            priors={k: (float(v[0]), float(v[1])) for k, v in d.get("priors", {}).items()},
            policy=d.get("policy"),
            added_arms=dict(d.get("added_arms", {})),
            retired_arms=tuple(d.get("retired_arms", ())),
            notes=dict(d.get("notes", {})),
            winner=d.get("winner"),
            stopped=bool(d.get("stopped", False)),
            version=version,
        )


class StatsTable(NamedTuple):
    """Arm statistics aligned to a requested arm order.

    Attributes
    ----------
    arms
        Arm ids; every array below has this order along its first axis.
    pulls
        Shape ``(K,)``: decisions per arm.
    n, total, total_sq
        Shape ``(K,)``: observed rewards, their sum and sum of squares (reward units).
    extra
        ``arm -> field -> value`` for policy-specific additive fields (only arms that have any).
    """

    arms: tuple[str, ...]
    pulls: FloatArray
    n: FloatArray
    total: FloatArray
    total_sq: FloatArray
    extra: Mapping[str, Mapping[str, float]] = MappingProxyType({})

    @classmethod
    def zeros(cls, arms: Sequence[str]) -> StatsTable:
        """All-zero statistics for ``arms``."""
        k = len(arms)
        return cls(tuple(arms), np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k))

    def select(self, arms: Sequence[str]) -> StatsTable:
        """The statistics of ``arms`` (a subset, in that order)."""
        arms = tuple(arms)
        if arms == self.arms:
            return self
        index = [self.arms.index(a) for a in arms]
        return StatsTable(arms, self.pulls[index], self.n[index], self.total[index],
                          self.total_sq[index], {a: self.extra[a] for a in arms
                                                 if a in self.extra})

    @classmethod
    def of_counts(cls, arms: Sequence[str], counts: CountRows) -> StatsTable:
        """The table of counters read as floats (no extra fields)."""
        return cls(tuple(arms), np.array(counts.pulls, dtype=np.float64),
                   np.array(counts.n, dtype=np.float64),
                   np.array(counts.total, dtype=np.float64),
                   np.array(counts.total_sq, dtype=np.float64))

    @classmethod
    def from_rows(cls, arms: Sequence[str], rows: Mapping[str, Sequence[float]],
                  extra: Mapping[str, Mapping[str, float]] | None = None) -> StatsTable:
        """Build from ``arm -> (pulls, n, total, total_sq)`` rows; missing arms are zero."""
        zero = (0.0, 0.0, 0.0, 0.0)
        data = np.array([rows.get(a, zero) for a in arms], dtype=np.float64).reshape(-1, 4)
        return cls(tuple(arms), data[:, 0], data[:, 1], data[:, 2], data[:, 3],
                   {a: extra[a] for a in arms if a in extra} if extra else {})


class CountRows(NamedTuple):
    """One bandit's core counters as Python floats, aligned to a requested arm order: what
    the decision path reads when it decides on floats (a policy of counts and totals with a
    few arms, deferred Thompson sampling with any number: :meth:`Store.read_counts`; numpy
    arrays would cost more than the arithmetic on them).

    Attributes
    ----------
    pulls, n, total, total_sq
        As in :class:`StatsTable`, one float per arm.
    """

    pulls: list[float]
    n: list[float]
    total: list[float]
    total_sq: list[float]

    @classmethod
    def of(cls, table: StatsTable) -> CountRows:
        """The core counters of ``table``."""
        return cls(table.pulls.tolist(), table.n.tolist(), table.total.tolist(),
                   table.total_sq.tolist())


@mypyc_attr(native_class=False)  # (a named tuple's subclass stays a Python class)
class FiniteCounts(CountRows):
    """:class:`CountRows` known to be finite, every one (the counters kept in process watch
    their own): a reader need not sum them all to check."""

    __slots__ = ()


class CountColumns:
    """The core counters of one bandit (an experiment, generation and scope) kept in
    process: a Python list per counter, indexed by the arm's slot. The memory store's
    counters and the SQLite store's read cache; the decision path reads and adds a few
    floats (numpy's per-call cost would be most of the work)."""

    __slots__ = ("aligned", "columns", "finite", "index", "last")

    def __init__(self, arms: Sequence[str] = ()) -> None:
        self.index: dict[str, int] = {}
        #: every counter is finite (what :meth:`add` keeps; a loader that writes the
        #: columns itself sets it): a decision need not sum them all to know
        self.finite = True
        #: pulls, n, total, total_sq
        self.columns: tuple[list[float], list[float], list[float], list[float]] = \
            ([], [], [], [])
        self.aligned: dict[tuple[str, ...], int | list[int]] = {}
        #: the last arms read and their alignment (a decision reads its view's own tuple
        #: again: found by identity, without hashing every arm's name)
        self.last: tuple[tuple[str, ...], int | list[int]] = ((), 0)
        for arm in arms:  # slots in this order: reads of these arms slice the columns
            self.slot(arm)

    def slot(self, arm: str) -> int:
        """The arm's index in every column (a new arm gets zero counters)."""
        i = self.index.get(arm)
        if i is None:
            i = self.index[arm] = len(self.index)
            for column in self.columns:
                column.append(0.0)
            self.aligned.clear()
            self.last = ((), 0)
        return i

    def counts(self, arms: tuple[str, ...]) -> CountRows:
        """Copies of the counters of ``arms``, in that order (slices when the arms are the
        first slots in order, the usual case: the slots follow the first read)."""
        last = self.last
        if last[0] is arms:
            idx = last[1]
        else:
            found = self.aligned.get(arms)
            if found is None:
                slots = [self.slot(a) for a in arms]
                found = self.aligned[arms] = len(arms) if slots == list(range(len(arms))) \
                    else slots
            idx = found
            self.last = (arms, idx)
        p, n, t, q = self.columns
        rows = FiniteCounts if self.finite else CountRows  # (a subset of them: unknown)
        if type(idx) is int:  # (see new_tuple)
            return new_tuple(rows, (p[:idx], n[:idx], t[:idx], q[:idx]))
        assert isinstance(idx, list)
        return rows([p[i] for i in idx], [n[i] for i in idx], [t[i] for i in idx],
                    [q[i] for i in idx])

    def add(self, arm: str, pulls: float, weight: float = 0.0, value: float = 0.0) -> None:
        """Count ``pulls`` decisions of ``arm`` and, with a ``weight``, a reward ``value``
        (what the stores' fold adds: ``n += w``, ``total += w·v``, ``total_sq += w·v²``)."""
        i = self.index.get(arm)
        if i is None:
            i = self.slot(arm)
        p, n, t, q = self.columns
        if pulls:
            x = p[i] = p[i] + pulls
            if x - x:  # (nan for an infinite or NaN sum, 0.0 otherwise)
                self.finite = False
        if weight:
            n[i] += weight
            t[i] += weight * value
            # a weight or value not finite leaves the sum of squares so (a huge value
            # overflows it first): one check for the three
            x = q[i] = q[i] + weight * value * value
            if x - x:
                self.finite = False


class DecisionRecord(NamedTuple):
    """One logged decision (and, once known, its reward). Immutable.

    Attributes
    ----------
    id
        Unguessable id (the service's: the second it was made and 96 random bits, 32 hex
        digits; URL-safe). The Telegram bot's decisions have ``tg-`` before them (their
        origin: see :func:`banditbot.service.made_by_telegram`).
    arms, probabilities
        The arms offered at that moment and the policy's probability for each.
    propensity
        ``probabilities[arms.index(arm)]``, in (0, 1].
    policy
        JSON ``{"name": ..., "params": {...}}`` of the policy that decided.
    kind
        ``policy`` (chosen by the policy), ``manual`` (cheater mode) or ``import`` (history).
    weight
        How much its reward counts in the statistics (1; importance weights for history).
    allocation_id
        The allocation period the decision sampled from (``None`` when the experiment
        updates its allocation every decision: the logged vector is then the allocation).
    posterior
        How the propensity is known. ``None``: exactly, at decision time (``probabilities``).
        Otherwise the decision was drawn from a posterior and its exact propensity is
        computed from it later (Thompson sampling with ``propensity: deferred``):
        ``[λ, a_1 … a_K, b_1 … b_K]``, the uniform share ``λ`` mixed in for the floor and the
        Beta posterior of each arm. Until resolved
        (:func:`~banditbot.service.resolve_propensities`) ``propensity`` is NaN and
        ``probabilities`` is empty.
    """

    id: str
    experiment: str
    generation: int
    scope: str
    arm: str
    propensity: float
    arms: tuple[str, ...]
    probabilities: FloatArray
    policy: str
    subject: str
    created_at: float
    context: Mapping[str, Any] | None = None
    kind: str = "policy"
    reward: float | None = None
    rewarded_at: float | None = None
    weight: float = 1.0
    allocation_id: str | None = None
    posterior: FloatArray | None = None

    @property
    def propensity_from(self) -> str:
        """``decision`` (known exactly when the decision was made) or ``posterior``
        (computed from the logged posterior)."""
        return "decision" if self.posterior is None else "posterior"

    def with_reward(self, reward: float | None, rewarded_at: float | None) -> DecisionRecord:
        """A copy with the reward filled in."""
        return self._replace(reward=reward, rewarded_at=rewarded_at)

    def probability_of(self) -> dict[str, float]:
        """``arm -> probability`` at decision time."""
        return {a: float(p) for a, p in zip(self.arms, self.probabilities, strict=True)}


@dataclass(frozen=True, slots=True)
class AllocationRecord:
    """One allocation period: the probability of each active arm from ``created_at`` until
    the next period of the same (experiment, generation, scope) starts.

    Attributes
    ----------
    id
        ``"<period>.<random>"``; decisions of the period cite it.
    period
        1, 2, 3… within its (experiment, generation, scope); one allocation per period
        (the store refuses a second one), and the current allocation is the latest period.
    arms, probabilities
        The active arms and their probabilities (sum 1), burn-in, floor and holdout
        included: exactly what decisions sample from.
    reason
        Why it was made: ``start``, ``cadence``, ``burn-in``, ``burn-in ended``, ``admin``,
        ``winner``.
    meta_version
        The experiment meta version it was computed under (an admin change starts a period).
    rewards
        Rewards received so far by decisions of this period (what ``every: N rewards``
        counts).
    """

    id: str
    experiment: str
    generation: int
    scope: str
    period: int
    arms: tuple[str, ...]
    probabilities: FloatArray
    reason: str
    created_at: float
    meta_version: int = 0
    rewards: float = 0.0

    def probability_of(self) -> dict[str, float]:
        """``arm -> probability``."""
        return {a: float(p) for a, p in zip(self.arms, self.probabilities, strict=True)}

    def with_rewards(self, rewards: float) -> AllocationRecord:
        """A copy with the live ``rewards`` counter set (the same record when it is
        unchanged; a direct constructor call, cheaper than :func:`dataclasses.replace` on a
        decision's path)."""
        if rewards == self.rewards:
            return self
        return AllocationRecord(self.id, self.experiment, self.generation, self.scope,
                                self.period, self.arms, self.probabilities, self.reason,
                                self.created_at, self.meta_version, float(rewards))

    def to_json(self) -> str:
        """Serialize (without the live ``rewards`` counter)."""
        return json.dumps({
            "id": self.id, "experiment": self.experiment, "generation": self.generation,
            "scope": self.scope, "period": self.period, "arms": list(self.arms),
            "probabilities": [float(p) for p in self.probabilities], "reason": self.reason,
            "created_at": self.created_at, "meta_version": self.meta_version,
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, rewards: float = 0.0) -> AllocationRecord:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        return cls(d["id"], d["experiment"], int(d["generation"]), d["scope"],
                   int(d["period"]), tuple(d["arms"]),
                   np.asarray(d["probabilities"], dtype=np.float64), d["reason"],
                   float(d["created_at"]), int(d.get("meta_version", 0)), float(rewards))


class PeriodCounts(NamedTuple):
    """Decisions and answers of one arm within one allocation period (policy decisions)."""

    allocation_id: str | None
    arm: str
    decisions: int
    answered: float
    reward_sum: float
    reward_sum_sq: float


class KeyedDecision(NamedTuple):
    """What an idempotency key stands for: the request it came with and the decision that
    request made, until ``expires`` (:meth:`Store.record_keyed_decision`).

    Attributes
    ----------
    key
        The key as the store keeps it (the caller scopes and hashes the client's key).
    fingerprint
        A digest of the request the key first came with (a retry sends the same request).
    decision_id
        The decision that request made.
    expires
        Seconds since the epoch after which the key stands for nothing and may be taken
        again (and the store may forget it).
    """

    key: str
    fingerprint: str
    decision_id: str
    expires: float


#: The actions the audit log holds (:meth:`Store.admin_log`): hand-added rewards, imported
#: history, priors, resets, policy switches, arms added and retired, the winner rule's
#: decision, exports from the bot, the pseudonym secret's rotation.
AdminAction = Literal["cheat", "import", "prior", "reset", "policy", "arm-add", "arm-retire",
                     "winner", "export", "rotate-pseudonyms"]
ADMIN_ACTIONS: tuple[str, ...] = get_args(AdminAction)


@dataclass(frozen=True, slots=True)
class AdminRecord:
    """One admin action: who did what to which experiment, when (``action``: one of
    :data:`ADMIN_ACTIONS`)."""

    at: float
    actor: str
    experiment: str
    action: str
    details: str


def check_fields(fields: Sequence[str], kinds: Collection[str] | None = None) -> None:
    """Refuse a name that is not a :class:`DecisionRecord` field (stores put the names
    into their queries), and ``kinds`` given as one string (a collection of kinds is
    meant: ``{"policy"}``, not ``"policy"``)."""
    unknown = [f for f in fields if f not in DecisionRecord._fields]
    if unknown or not fields or isinstance(fields, str):
        raise ValueError(f"not decision fields: {unknown or fields or '(none)'}")
    if isinstance(kinds, str):
        raise ValueError(f"kinds is a collection of kinds, got the string {kinds!r}")


def check_actions(actions: Collection[str] | None) -> None:
    """Refuse ``actions`` given as one string (a collection is meant: ``{"policy"}``)."""
    if isinstance(actions, str):
        raise ValueError(f"actions is a collection of actions, got the string {actions!r}")


def admin_filter(experiment: str | None, actions: Collection[str] | None,
                 mark: str) -> tuple[str, tuple[str, ...]]:
    """The ``WHERE`` clause of a SQL store's :meth:`Store.admin_log` and its parameters
    (``mark``: the driver's placeholder); ``actions`` given as one string is refused."""
    check_actions(actions)
    where, args = [], []
    if experiment is not None:
        where.append(f"experiment = {mark}")
        args.append(experiment)
    if actions is not None:
        where.append(f"action IN ({', '.join([mark] * len(actions))})" if actions else "0 = 1")
        args.extend(sorted(actions))
    return (" WHERE " + " AND ".join(where) if where else ""), tuple(args)


def close_scan(records: Iterator[Any]) -> None:
    """End a store's scan now (a generator's ``close``), not when it is collected: a SQLite
    scan left open holds its snapshot, and a write after it would wait for nothing."""
    close = getattr(records, "close", None)
    if close is not None:
        close()


def decisions_of(records: Iterable[DecisionRecord], *, generation: int | None,
                 since: float | None, limit: int | None) -> Iterator[DecisionRecord]:
    """:meth:`Store.iter_decisions`' filters over records in time order (the stores that
    keep whole records): ``generation``'s (any, if ``None``), made at or after ``since``, at
    most ``limit``. Reads one record past the ``limit``-th match before it stops."""
    count = 0
    for r in records:
        if generation is not None and r.generation != generation:
            continue
        if since is not None and r.created_at < since:
            continue
        if limit is not None and count >= limit:
            return
        count += 1
        yield r


def fields_of(records: Iterable[DecisionRecord], fields: Sequence[str], *,
              kinds: Collection[str] | None = None, scope: str | None = None
              ) -> Iterator[tuple[Any, ...]]:
    """:meth:`Store.iter_fields` over records (the stores that keep whole records)."""
    check_fields(fields, kinds)
    index = [DecisionRecord._fields.index(f) for f in fields]
    for r in records:
        if (kinds is None or r.kind in kinds) and (scope is None or r.scope == scope):
            yield tuple([r[i] for i in index])


def fold_period_counts(rows: Iterable[tuple[str | None, str, float | None, float]]
                       ) -> list[PeriodCounts]:
    """:meth:`Store.period_counts` from ``(allocation_id, arm, reward, weight)`` rows of
    the allocated decisions (the stores that keep no sums per period fold their log)."""
    sums: dict[tuple[str | None, str], list[float]] = {}
    for period, arm, reward, weight in rows:
        row = sums.setdefault((period, arm), [0.0, 0.0, 0.0, 0.0])
        row[0] += 1
        if reward is not None:
            row[1] += weight
            row[2] += weight * reward
            row[3] += weight * reward * reward
    return [PeriodCounts(key[0], key[1], int(v[0]), v[1], v[2], v[3])
            for key, v in sums.items()]


#: the fields :func:`fold_period_counts` reads, in its order
PERIOD_FIELDS = ("allocation_id", "arm", "reward", "weight")


class FieldDecoder:
    """Rows of :class:`DecisionRecord` fields as the SQL stores keep them (arm lists as
    newline-joined text, probability vectors as little-endian float64 bytes, contexts as
    JSON) to Python values, a batch at a time. Values repeat from row to row (one arm list,
    a few vectors and contexts) and are decoded once each; the memo tables start over at
    :attr:`LIMIT` entries. ``arms``: the store's own decoding of its arm lists (SQLite
    refers to long ones by number)."""

    LIMIT = 4096

    def __init__(self, fields: Sequence[str],
                 arms: Callable[[Any], tuple[str, ...]] | None = None) -> None:
        decoders: dict[str, Callable[[Any], Any]] = {
            "arms": arms or _split_arms, "probabilities": _probabilities,
            "posterior": _posterior, "context": _context}
        self._columns: list[tuple[int, Callable[[Any], Any], dict[Any, Any]]] = [
            (i, decoders[f], {}) for i, f in enumerate(fields) if f in decoders]
        self._propensity = fields.index("propensity") if "propensity" in fields else None

    @staticmethod
    def columns(fields: Sequence[str]) -> list[str]:
        """The SQL columns of ``fields`` (a deferred decision's posterior is kept in its
        probability vector's column, :data:`POSTERIOR_TAG`)."""
        return ["probabilities" if f == "posterior" else f for f in fields]

    def __call__(self, rows: Sequence[Sequence[Any]]) -> Iterable[tuple[Any, ...]]:
        if (not self._columns and self._propensity is None) or not rows:
            return [tuple(row) for row in rows]
        columns = list(zip(*rows, strict=True))
        for i, decode, memo in self._columns:
            columns[i] = tuple(memo_map(memo, columns[i], decode, self.LIMIT))
        if self._propensity is not None:  # stored 0: not known yet (a deferred decision)
            columns[self._propensity] = tuple(p or math.nan for p in columns[self._propensity])
        return zip(*columns, strict=True)


def _split_arms(text: str) -> tuple[str, ...]:
    return tuple(text.split("\n"))


def _probabilities(blob: bytes) -> FloatArray:
    return split_vector(blob, 0.0)[0]


def _posterior(blob: bytes) -> FloatArray | None:
    return split_vector(blob, 0.0)[2]


class ResolvedVector(NamedTuple):
    """A deferred decision's vector, computed from its posterior (:meth:`Store.
    keep_vectors`)."""

    decision_id: str
    posterior: FloatArray
    probabilities: FloatArray
    propensity: float

    def blob(self) -> bytes:
        """The stored bytes: the resolved tag, the posterior, the vector."""
        if len(self.posterior) != 2 * len(self.probabilities) + 1:
            raise ValueError(f"a posterior of {len(self.posterior)} numbers does not go "
                             f"with {len(self.probabilities)} probabilities")
        return RESOLVED_TAG + np.concatenate(
            (self.posterior, self.probabilities)).astype("<f8").tobytes()


#: What a store says when its database has no banditbot tables
INIT_DB_HINT = "create the tables with: banditbot init-db (same store URL)"


#: How a store keeps a deferred decision's posterior: in its probability vector's place,
#: behind a tag — ``P`` + the posterior (``2K + 1`` floats) until the vector is computed,
#: then the resolved tag + the posterior + the vector (``3K + 1`` floats;
#: :meth:`Store.keep_vectors`). A stored vector is ``8·K`` bytes, a tagged one ``1 + 8·n``,
#: so the two cannot be mistaken; the stored propensity is 0 until the vector is known.
#: A vector of many arms with few distinct values (ε-greedy's, UCB's) may be stored
#: compactly (:func:`compact_vector`), ``2 + 8·n`` bytes: a third length class.
#: The resolved tag is the version of how vectors are computed (``Q``, then ``R``, …): a
#: change to that computation takes the next letter, and rows kept under another are read
#: as not kept (their posterior stays, the vector is computed and kept again).
POSTERIOR_TAG, RESOLVED_TAG = b"P", b"Q"
#: The probabilities of a decision whose propensity is not resolved yet (read-only, shared)
NO_VECTOR: FloatArray = np.empty(0)
NO_VECTOR.setflags(write=False)


def encode_vector(d: DecisionRecord) -> bytes:
    """The stored bytes of a record's probability vector, or of its tagged posterior (with
    the vector computed from it, once there is one)."""
    if d.posterior is None:
        return np.asarray(d.probabilities, dtype="<f8").tobytes()
    if not len(d.probabilities):
        return POSTERIOR_TAG + np.asarray(d.posterior, dtype="<f8").tobytes()
    return ResolvedVector(d.id, d.posterior, d.probabilities, d.propensity).blob()


#: The fewest arms whose vector :func:`compact_vector` tries to shorten (below, the plain
#: vector is a few dozen bytes)
COMPACT_MIN_ARMS = 8
_COMPACT_HEAD = struct.Struct("<BH")  # the number of distinct values, of arms


def compact_vector(p: FloatArray) -> bytes | None:
    """The compact stored bytes of a probability vector with few distinct values (each
    arm's value once, then one index byte per arm, padded to ``2 + 8·n`` bytes), or
    ``None`` when they would not be shorter than the plain ``8·K`` (or ``p`` has fewer
    than :data:`COMPACT_MIN_ARMS` entries). :func:`split_vector` reads them back bit for
    bit (checked here: a value that equals another without being it, ``-0.0``, keeps the
    plain form).

    Examples
    --------
    >>> p = np.full(10, 0.01); p[3] = 0.91
    >>> blob = compact_vector(p)
    >>> len(blob), len(p.tobytes()), split_vector(blob, 0.0)[0].tobytes() == p.tobytes()
    (34, 80, True)
    """
    k = p.shape[0]
    if not COMPACT_MIN_ARMS <= k <= 0xFFFF:  # (the number of arms is 16 bits)
        return None
    values = p.tolist()
    distinct = sorted(set(values))
    size = _COMPACT_HEAD.size + 8 * len(distinct) + k
    if size + 7 >= 8 * k or len(distinct) > 255:
        return None
    slot = {v: i for i, v in enumerate(distinct)}
    blob = (_COMPACT_HEAD.pack(len(distinct), k) + np.asarray(distinct, "<f8").tobytes()
            + bytes(map(slot.__getitem__, values)))
    blob += bytes((2 - len(blob)) % 8)
    if _compact_values(blob).tobytes() != np.asarray(p, "<f8").tobytes():
        return None
    return blob


def _compact_values(blob: bytes) -> FloatArray:
    """The vector of :func:`compact_vector`'s bytes (read-only)."""
    n, k = _COMPACT_HEAD.unpack_from(blob)
    values = np.frombuffer(blob, "<f8", count=n, offset=_COMPACT_HEAD.size)
    out: FloatArray = values[np.frombuffer(blob, np.uint8, count=k,
                                           offset=_COMPACT_HEAD.size + 8 * n)]
    out.setflags(write=False)
    return out


def stored_propensity(d: DecisionRecord) -> float:
    """The propensity as stored: 0 for a deferred decision whose vector is not computed yet
    (NaN is no SQLite value)."""
    return float(d.propensity) if d.posterior is None or len(d.probabilities) else 0.0


def is_posterior(blob: bytes) -> bool:
    """Whether stored vector bytes are a deferred decision's tagged posterior (by length:
    a vector's first byte may be a tag's too)."""
    return len(blob) % 8 == 1


def split_vector(blob: bytes, propensity: float
                 ) -> tuple[FloatArray, float, FloatArray | None]:
    """``(probabilities, propensity, posterior)`` of a stored row's vector bytes and
    propensity (read-only arrays)."""
    raw = bytes(blob)
    if not is_posterior(raw):
        if len(raw) % 8 == 2:
            return _compact_values(raw), propensity, None
        return np.frombuffer(raw, dtype="<f8"), propensity, None
    floats = np.frombuffer(raw, dtype="<f8", offset=1)
    if raw[:1] == POSTERIOR_TAG:
        return NO_VECTOR, math.nan, floats
    k = (floats.shape[0] - 1) // 3
    if raw[:1] != RESOLVED_TAG:  # kept by another version of the computation: not kept
        return NO_VECTOR, math.nan, floats[:2 * k + 1]
    return floats[2 * k + 1:], propensity, floats[:2 * k + 1]


def _context(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None
