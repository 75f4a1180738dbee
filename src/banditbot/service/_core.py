"""What every part of the service shares: the config, the store, the random generator, the
clock, and the experiment views cached per meta version."""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Self, SupportsIndex

import numpy as np

from .._config import BanditConfig, ExperimentConfig
from .._errors import BanditBotError, PayloadError, StoreError, UnknownArmError
from .._features import Featurizer
from ..policies import ScalarDraws
from ..stores import AdminRecord, ExperimentMeta, MemoryStore, ResolvedVector, Store
from ._inference import InferenceCache
from ._view import LANE_ARMS, ExperimentView, build_view

if TYPE_CHECKING:
    from ._kept_series import SeriesCache

__all__ = ["ServiceCore", "Subject", "added_key", "check_scope", "subject_text"]

#: What names a subject: text, or a whole number (a Telegram user id; numpy's integers too).
#: The protocol in the union makes the compiled build's signatures accept anything here, so
#: the subject's own check refuses the rest (``None``, bytes, a float, a bool) with the same
#: :class:`~banditbot.PayloadError` in both builds.
Subject = str | SupportsIndex


def subject_text(subject: object) -> str | None:
    """A subject as the log keeps it: text as it is, a whole number (a Telegram user id, a
    numpy integer) as its digits; ``None`` for anything else (``None``, bytes, a float, a
    bool: ``str`` made them ``'None'``, ``"b'…'"``, ``'4.2'``, ``'True'``)."""
    if isinstance(subject, str):
        return subject
    if not isinstance(subject, bool):
        with contextlib.suppress(TypeError):
            return str(operator.index(subject))  # type: ignore[arg-type]
    return None

log = logging.getLogger("banditbot")


#: the random parts of decision ids drawn ahead, 32 per system call (popped: each is handed
#: out once); a forked child starts with none, so two processes never hand out the same id
_IDS: list[str] = []
if hasattr(os, "register_at_fork"):  # (not on Windows, which has no fork either)
    os.register_at_fork(after_in_child=_IDS.clear)


def new_id() -> str:
    """An unguessable decision id, 32 hex digits: the second it was made (8 digits), then
    96 bits from ``os.urandom``. The second first keeps a log's index of ids growing at its
    end, as its rows do: a decision's insert and its reward's lookup touch the pages the
    last ones touched, where a random id lands on any page of an index that outgrows the
    cache (on a SQLite log of a million decisions, random ids made the store's part of a
    decision and its reward 1.31 times as dear: ``benchmarks/aged_log.py``). The random
    bits are drawn 32 ids at a time, one system call for 32 decisions. No lock:
    ``list.pop`` and ``list.extend`` are atomic, and a thread that finds none left takes
    its own bits from the batch it draws before it shares the rest (other threads may
    empty the list meanwhile)."""
    tail = None
    if _IDS:  # (no exception for an empty list: compiled, a raise is dear)
        try:  # noqa: SIM105 (suppress() is a context manager's calls on every id)
            tail = _IDS.pop()
        except IndexError:  # (another thread took the last one)
            pass
    if tail is None:
        digits = os.urandom(12 * 32).hex()
        batch = [digits[i:i + 24] for i in range(0, 24 * 32, 24)]
        tail = batch.pop()
        _IDS.extend(batch)
    second = int(time.time())
    held = _SECOND[0]
    if held[0] != second:  # the second's 8 digits, written once a second
        held = _SECOND[0] = (second, f"{second & 0xFFFFFFFF:08x}")
    return held[1] + tail


#: the second the last id was made in and its 8 hex digits (one slot, replaced whole: a
#: thread that reads it while another replaces it reads one second or the other)
_SECOND: list[tuple[int, str]] = [(-1, "")]


class VectorKeeper:
    """Collects the vectors a read of the log computed for deferred decisions and hands
    them to the store once the read is over (:meth:`~banditbot.stores.Store.keep_vectors`;
    not during it: a SQLite read's open snapshot would make the write wait for nothing), so
    the next read finds them. Best effort: at most :attr:`LIMIT` per read (the next read
    keeps more); a busy store is skipped this time, a store that refuses writes (a
    read-only file) is asked no more by this service."""

    LIMIT = 100_000

    def __init__(self, core: ServiceCore) -> None:
        self.core = core
        self.items: list[ResolvedVector] = []

    def add(self, item: ResolvedVector) -> None:
        if len(self.items) < self.LIMIT:
            self.items.append(item)

    def flush(self) -> None:
        items, self.items = self.items, []
        if not items or not self.core.keeps_vectors:
            return
        try:
            self.core.store.keep_vectors(items)
        except BanditBotError as exc:  # busy, restarting, unreachable: next read's turn
            if any(w in str(exc).lower() for w in _REFUSALS):
                self.core.keeps_vectors = False
            log.warning("computed propensities not kept", extra={"error": exc.message})


#: what a store says when it will never take the write (a read-only file or role)
_REFUSALS = ("readonly", "read-only", "permission denied")


class ServiceCore:
    """State shared by the decision, reward, report and admin parts of the service.

    Parameters
    ----------
    config
        The experiments (see :func:`banditbot.load_config`).
    store
        Where state lives (see :func:`banditbot.open_store`); must be initialized.
    rng
        Random generator for choices; seed it for reproducible runs.
    clock
        Returns the current time in seconds since the epoch (tests pass a fake clock).
    admins
        Telegram user ids allowed to run admin commands, beside the config's ``admins``.
    """

    def __init__(self, config: BanditConfig, store: Store, *,
                 rng: np.random.Generator | None = None,
                 clock: Callable[[], float] = time.time,
                 admins: frozenset[int] = frozenset()) -> None:
        self.config = config
        self.store = store
        self.rng = rng if rng is not None else np.random.default_rng()  # (sets draws too)
        self.clock = clock
        self.admins = frozenset(config.admins) | frozenset(admins)
        self._views: dict[str, tuple[ExperimentMeta, ExperimentView]] = {}
        self._featurizers: dict[str, Featurizer] = {}
        self._inference = InferenceCache()
        #: the charts' kept series (made with the first chart: its module loads numpy's
        #: binning code a decision never needs)
        self._kept_series: SeriesCache | None = None
        #: whether the vectors computed for deferred decisions are given to the store
        self.keeps_vectors = True
        #: up to how many active arms a decision is made on Python floats (the counters read
        #: as floats; 0: every decision through the statistics table, the general path)
        self.lane_arms = LANE_ARMS
        self._setup()

    def _setup(self) -> None:
        """The state of the service's parts (each part extends it): here, not in their own
        ``__init__``, so the service's signature is this one (what ``help`` shows)."""

    @property
    def rng(self) -> np.random.Generator:
        """The random generator of the service's choices (replace it to reseed)."""
        return self.draws.rng

    @rng.setter
    def rng(self, rng: np.random.Generator) -> None:
        #: single draws from the generator, drawn ahead in blocks (the decision path's)
        self.draws = ScalarDraws(rng)

    def with_store(self, store: Store) -> Self:
        """The same service (config, generator, clock, admins) over another store, e.g. a
        wrapper that measures every call."""
        return type(self)(self.config, store, rng=self.rng, clock=self.clock,
                          admins=self.admins)

    # --- experiments ------------------------------------------------------------------------
    def experiment(self, experiment_id: str) -> ExperimentConfig:
        """The configured experiment; :class:`UnknownExperimentError` if none."""
        return self.config.experiment(experiment_id)

    def view(self, experiment_id: str) -> ExperimentView:
        """The experiment as it runs now (config merged with the store's meta)."""
        cached = self._views.get(experiment_id)  # (a view is cached under a known id only)
        if cached is not None:
            store = self.store
            if type(store) is MemoryStore:  # (compiled, a direct call: see MemoryStore)
                meta = store.read_meta(experiment_id)
            else:
                meta = store.read_meta(experiment_id)
            if cached[0] is meta or cached[0] == meta:
                return cached[1]
            exp = cached[1].config
        else:
            exp = self.config.experiment(experiment_id)
            meta = self.store.read_meta(exp.id)
        view = build_view(exp, meta, self.featurizer(exp), self.lane_arms)
        self._views[exp.id] = (meta, view)
        return view

    def last_view(self, experiment_id: str) -> ExperimentView:
        """The view this service built last, without reading the meta again (built if there
        is none): for what may lag behind an admin's change without harm."""
        cached = self._views.get(experiment_id)
        return cached[1] if cached is not None else self.view(experiment_id)

    def featurizer(self, exp: ExperimentConfig) -> Featurizer | None:
        """The experiment's context featurizer (``None`` without features)."""
        if not exp.features:
            return None
        found = self._featurizers.get(exp.id)
        if found is None:
            found = self._featurizers[exp.id] = Featurizer(exp.features)
        return found

    def context_warnings(self, experiment: str, context: Mapping[str, Any] | None
                         ) -> list[str]:
        """What a decision's ``context`` gave the experiment's features that they cannot
        use, in words for the caller (a feature it lacks, a value not listed, a number far
        from its center, keys that are no feature); none for an experiment without
        features (its context is logged, for offline evaluation)."""
        featurizer = self.featurizer(self.config.experiment(experiment))
        return featurizer.warnings(context) if featurizer is not None else []

    def _update_meta(self, experiment: str,
                     change: Callable[[ExperimentMeta], ExperimentMeta]) -> ExperimentMeta:
        """Apply ``change`` to the experiment's meta under optimistic concurrency."""
        exp = self.config.experiment(experiment)
        for _ in range(50):
            meta = self.store.read_meta(exp.id)
            new = change(meta)
            if self.store.write_meta(exp.id, new):
                self._views.pop(exp.id, None)
                return new
        raise StoreError(f"experiment {exp.id!r} is being changed concurrently",
                         hint="retry the admin command")

    @staticmethod
    def _require_arm(view: ExperimentView, arm: str, *, active: bool = True) -> None:
        pool = view.arms if active else view.all_arms
        if arm not in pool:
            raise UnknownArmError(f"experiment {view.config.id!r} has no "
                                  f"{'active ' if active else ''}arm {arm!r}",
                                  hint=f"arms: {', '.join(pool) or '(none)'}")

    def audit(self, actor: str, experiment: str, action: str, details: str) -> None:
        """Record an admin action (who did what) in the store and the log."""
        self.store.log_admin(AdminRecord(self.clock(), actor, experiment, action, details))
        # the store's audit log keeps who; a log line never carries a user id
        log.info("admin action", extra={"experiment": experiment, "action": action,
                                        "details": details})

    # --- scopes -----------------------------------------------------------------------------
    def scope_of(self, experiment: str, subject: Subject, *,
                 chat: str | int | None = None) -> str | None:
        """The scope whose bandit serves ``subject`` (in ``chat``), for reports:
        ``chat:…`` or ``subject:…`` for experiments with ``scope: chat`` or
        ``scope: subject``, ``None`` (the whole experiment) for shared ones."""
        exp = self.config.experiment(experiment)
        if exp.scope == "shared":
            return None
        return self._scope(exp, str(subject), None if chat is None else str(chat))

    def check_scope(self, experiment: str, scope: str | None) -> None:
        """Refuse a ``scope`` that names none of the experiment's bandits
        (:class:`~banditbot.PayloadError`: ``chat:…``/``subject:…`` as the experiment's
        ``scope`` setting says, none for a shared experiment)."""
        check_scope(self.config.experiment(experiment), scope)

    @staticmethod
    def _scope(exp: ExperimentConfig, subject: str, chat: str | None) -> str:
        if exp.scope == "shared":
            return ""
        if exp.scope == "chat":
            if chat is None:  # the subject's id would make up a bandit no chat has
                raise PayloadError(
                    f"experiment {exp.id!r} has scope 'chat' (one bandit per chat): say "
                    "which chat", hint="pass the chat id (--chat ID on the command line, "
                                       "\"chat\" in the API's request)")
            return f"chat:{chat}"
        return f"subject:{subject}"


def added_key(experiment: str, generation: int, scope: str | None) -> str:
    """The counters of rewards added by hand or imported, per arm, in one scope's bandit
    (``None`` or ``""``: all of the experiment's): what the report keeps out of its
    decisions."""
    return f"added:{experiment}:{generation}:{scope or '*'}"


def check_scope(exp: ExperimentConfig, scope: str | None) -> None:
    """A report's ``scope`` must name one bandit of the experiment: ``chat:…`` or
    ``subject:…`` matching its ``scope`` setting."""
    if scope is None:
        return
    kind, _, ident = scope.partition(":")
    if exp.scope == "shared" or kind != exp.scope or not ident:
        raise PayloadError(
            f"experiment {exp.id!r} has scope {exp.scope!r}: {scope!r} names none of its "
            "bandits",
            hint="leave the scope out" if exp.scope == "shared" else f"use {exp.scope}:ID")
