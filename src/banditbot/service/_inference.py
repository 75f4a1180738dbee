"""Anytime-valid inference for reports and the winner rule, from the decision log.

The log records, for every decision, the full probability vector it was drawn from; that is
all :func:`banditbot.statistics.anytime_inference` needs to give each arm an estimate that
survives adaptive allocation, an interval valid at every look, each arm's difference to the
control (or to the best other arm), and the stopping rule's answer. Results are kept per
(experiment, generation, scope) and recomputed only when a decision or an answer was added.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

import numpy as np

from .._types import FloatArray, IntArray
from ..stores import (
    ALLOCATED,
    DecisionRecord,
    ResolvedVector,
    Store,
    close_scan,
    resolve_fields,
    resolve_propensities,
)
from ._view import ExperimentView

if TYPE_CHECKING:  # the sequences load with the first inference: a decision needs none
    from ..statistics import AnytimeInference

__all__ = ["LOG_FIELDS", "InferenceCache", "context_dependent", "log_arrays", "scan_arrays"]

log = logging.getLogger("banditbot")


#: the decision fields :func:`scan_arrays` reads, in its order
LOG_FIELDS = ("arm", "arms", "probabilities", "reward")


def log_arrays(records: Iterable[DecisionRecord], arms: Sequence[str], lo: float,
               span: float) -> tuple[IntArray, FloatArray, FloatArray]:
    """``(arm index (T,), probability vectors (T, K), rewards on [0, 1] (T,))`` of the
    allocated decisions in ``records`` (time order), with ``arms`` as the columns (an arm a
    decision did not offer has probability 0 in its row) and NaN for unanswered ones."""
    return scan_arrays(((r.arm, r.arms, r.probabilities, r.reward)
                        for r in resolve_propensities(records) if r.kind in ALLOCATED),
                       arms, lo, span)


def scan_arrays(decisions: Iterable[tuple[str, tuple[str, ...], FloatArray, float | None]],
                arms: Sequence[str], lo: float, span: float, *,
                left_out: dict[str, int] | None = None
                ) -> tuple[IntArray, FloatArray, FloatArray]:
    """:func:`log_arrays` of ``(arm, offered arms, probability vector, reward)`` tuples of
    allocated decisions (:data:`LOG_FIELDS`, as :meth:`~banditbot.stores.Store.iter_fields`
    reads them without building whole records); a decision for an arm not in ``arms`` is
    left out (counted per arm in ``left_out``, when given).

    One pass keeps references only; the vectors are stacked once per distinct list of
    offered arms (usually one), so a long log costs no Python work per probability."""
    column = {a: i for i, a in enumerate(arms)}
    chosen: list[int] = []
    rewards: list[float | None] = []
    vectors: list[FloatArray] = []
    layouts: dict[tuple[str, ...], list[int]] = {}  # offered arms -> rows that offered them
    for arm, offered, vector, reward in decisions:
        c = column.get(arm)
        if c is None:
            if left_out is not None:
                left_out[arm] = left_out.get(arm, 0) + 1
            continue
        rows = layouts.get(offered)
        if rows is None:
            rows = layouts[offered] = []
        rows.append(len(chosen))
        chosen.append(c)
        rewards.append(reward)
        vectors.append(vector)
    k = len(arms)
    probabilities = np.zeros((len(chosen), k))
    for offered, rows in layouts.items():
        kept = [(j, column[a]) for j, a in enumerate(offered) if a in column]
        stacked = np.array([vectors[i] for i in rows], dtype=np.float64).reshape(len(rows), -1)
        if [c for _, c in kept] == list(range(k)) and len(offered) == k:
            probabilities[rows] = stacked
        elif kept:
            src, dst = (list(x) for x in zip(*kept, strict=True))
            probabilities[np.ix_(rows, dst)] = stacked[:, src]
    values = np.array(rewards, dtype=np.float64)  # None -> NaN
    scaled = np.clip((values - lo) / span, 0.0, 1.0)  # NaN stays NaN
    return np.array(chosen, dtype=np.intp), probabilities, scaled


def context_dependent(view: ExperimentView) -> bool:
    """Whether the experiment's probability vectors may depend on the context of the
    decision (it has features, or its policy is contextual): its sequences then bet only on
    what is known before each decision (see :func:`banditbot.statistics.aipw_scores`)."""
    return bool(view.config.features) or view.policy.contextual


def vectors_vary(view: ExperimentView, scope: str | None) -> bool:
    """Whether the decisions read for ``scope`` were drawn from vectors that may follow
    something tied to their reward: a context (:func:`context_dependent`), or, read
    together (``scope`` ``None``), the bandits of a per-chat or per-user experiment, each
    allocating by its own chat's answers. A statistician's trial: 20 chats, half of them
    paying 0.6 for one arm and 0.2 for the other, half the reverse (each arm worth 0.40
    over all of them): the all-chats sequences, built as for one bandit, held 0.40 in 0
    of 276 runs, and the segment report's too; as for contextual decisions, in every run."""
    return context_dependent(view) or (scope is None and view.config.scope != "shared")


#: (decisions, answers, control, confidence, planned horizon, the reward's lowest value and
#: span: 0 for an unbounded reward, whose log is read for its arms alone) an inference was
#: computed for
_Fingerprint = tuple[float, float, str | None, float, int | None, float, float]


class _Entry(NamedTuple):
    fingerprint: _Fingerprint
    result: AnytimeInference | None
    answered: int  # answered decisions the policy allocated (what the inference rests on)
    #: (arm, decisions) of arms in the log that the config does not have (left out)
    left_out: tuple[tuple[str, int], ...] = ()
    #: (p-value, decisions) of the decisions per arm against their logged vectors
    #: (:func:`~banditbot.statistics.logged_ratio_anytime_p_value`); ``None``: nothing to test
    sample_ratio: tuple[float, int] | None = None


_K = TypeVar("_K")
_E = TypeVar("_E")


class LookCache(Generic[_K, _E]):
    """What a report computed from a whole log (its inference, its chart's series), kept
    per key in this process while the log has not grown by much: see
    :meth:`_grown_little`.

    Attributes
    ----------
    fresh_below
        Below this many decisions plus answers, every change reads the log again.
    stale_share
        On a longer log, the growth (in decisions plus answers, as a share of the log) that
        makes the next read read it again.
    """

    fresh_below = 20_000
    stale_share = 0.005

    def __init__(self) -> None:
        self._entries: dict[_K, _E] = {}

    def _remember(self, key: _K, entry: _E) -> None:
        if len(self._entries) > 256:
            self._entries.clear()
        self._entries[key] = entry

    def _grown_little(self, size_then: float, size_now: float) -> bool:
        """Whether a look at a log of ``size_then`` decisions plus answers still stands at
        ``size_now``: the log was long, and has grown by less than :attr:`stale_share`."""
        return size_then >= self.fresh_below and \
            size_now - size_then < self.stale_share * size_then


class InferenceCache(LookCache[tuple[str, int, str | None, tuple[str, ...]], _Entry]):
    """Anytime inference per (experiment, generation, scope), recomputed when the log
    changed: on a short log at every new decision or answer; on a long one when it grew by
    :attr:`stale_share` since the last computation (a dashboard refreshing every few seconds
    while decisions flow in would otherwise keep a core busy scanning the whole log, beside
    the decisions it serves). A sequence read at an earlier decision is still valid — it is
    a look at that decision — and reports say which decision it is as of.

    Attributes
    ----------
    fresh_below
        Below this many decisions plus answers, every change recomputes.
    stale_share
        On a longer log, the growth (in decisions plus answers, as a share of the log) that
        makes the next read recompute.
    """

    def get(self, store: Store, view: ExperimentView, scope: str | None,
            decisions: float, answered: float, *,
            computed: Callable[[ResolvedVector], Any] | None = None
            ) -> AnytimeInference | None:
        """The inference for ``view``'s arms (all of them, retired ones too, which are no
        candidates for the winner: see :func:`~banditbot.statistics.stopping_rule`'s
        ``active``); ``None`` for
        an unbounded reward (the sequences need known bounds) or a log without an answered
        decision of the policy (rewards added by hand or imported carry no propensity)."""
        if not view.span or decisions <= 0:
            return None
        return self._look(store, view, scope, decisions, answered, computed).result

    def read_left_out(self, store: Store, view: ExperimentView, scope: str | None,
                      decisions: float, answered: float) -> tuple[tuple[str, int], ...]:
        """``(arm, decisions)`` of the arms in the log that ``view`` does not have (removed
        from the experiments file), for any reward.

        A bounded reward's come with the inference (:meth:`get`, which a report reads
        first); an unbounded reward has none, so its log is read for the arms alone, kept
        as an inference is (in this process, and in the store on a long log: a report of a
        log of a million decisions reads it once).

        Parameters
        ----------
        store
            Where the log and the kept state are.
        view
            The experiment as its experiments file and meta have it now.
        scope
            One chat's or subject's bandit; ``None``: every scope.
        decisions, answered
            The decisions and answers of ``view``'s arms (the statistics' counts): the log
            is read again when they have grown as for :meth:`get`.

        Returns
        -------
        tuple of (str, int)
            Each left-out arm with its decisions, by arm name; empty when none is.
        """
        if decisions <= 0:
            return ()
        if view.span:
            self.get(store, view, scope, decisions, answered)
        else:
            self._look(store, view, scope, decisions, answered, None)
        return self.left_out(view, scope)

    def _look(self, store: Store, view: ExperimentView, scope: str | None,
              decisions: float, answered: float,
              computed: Callable[[ResolvedVector], Any] | None) -> _Entry:
        """The entry for ``view``'s log as it stands: kept (in this process, or in the
        store on a long log) while the log has not grown by much, else read again."""
        key = _key(view, scope)
        fingerprint = (decisions, answered, view.config.control, view.config.confidence,
                       view.config.winner.horizon, view.lo if view.span else 0.0, view.span)
        found = self._entries.get(key)
        if found is not None and self._stands(found, fingerprint):
            return found
        long_log = decisions + answered >= self.fresh_below
        name, version = _document_name(key), 0
        if long_log:  # another process (a server, an earlier report) may have read it
            stored, version = store.read_document(name)
            kept = _entry_from_json(stored) if stored else None
            if kept is not None and self._stands(kept, fingerprint):
                self._remember(key, kept)
                return kept
        entry = _read_log(store, view, scope, fingerprint, computed) if view.span else \
            _read_arms(store, view, scope, fingerprint)
        self._remember(key, entry)
        if long_log:
            text = _entry_to_json(entry)
            if len(text) > _MAX_DOCUMENT:  # hundreds of arms: kept in this process only
                log.info("inference state too large to store",
                         extra={"experiment": view.config.id, "bytes": len(text)})
            elif not store.write_document(name, text, version):
                log.info("inference state written by another process meanwhile",
                         extra={"experiment": view.config.id})
        return entry

    def _stands(self, entry: _Entry, now: _Fingerprint) -> bool:
        """Whether ``entry`` still answers for a log of fingerprint ``now``. One computed
        before the policy's first answer is read again at the next answer, however long the
        log: its length was rows added by hand or imported (20,000 of them kept the report
        without an estimate through the first 100 real answers)."""
        if not entry.answered and entry.fingerprint[1] != now[1]:
            return False
        return self._still_good(entry.fingerprint, now)

    def _still_good(self, cached: _Fingerprint, now: _Fingerprint) -> bool:
        if cached == now:
            return True
        if cached[2:] != now[2:] or now[0] < cached[0] or now[1] < cached[1]:
            return False  # settings changed, or the counts went back (a reset's new log)
        return self._grown_little(cached[0] + cached[1], now[0] + now[1])

    def left_out(self, view: ExperimentView, scope: str | None) -> tuple[tuple[str, int], ...]:
        """``(arm, decisions)`` of the arms in the log that ``view`` does not have (removed
        from the experiments file), as the inference :meth:`get` last gave read them."""
        found = self._entries.get(_key(view, scope))
        return () if found is None else found.left_out

    def sample_ratio(self, view: ExperimentView, scope: str | None
                     ) -> tuple[float, int] | None:
        """``(p-value, decisions)`` of the sample-ratio test of the log :meth:`get` last read
        for ``view`` and ``scope``: every allocated decision against the vector it logged
        (``None``: none read, or nothing to test)."""
        found = self._entries.get(_key(view, scope))
        return None if found is None else found.sample_ratio

    def basis(self, view: ExperimentView, scope: str | None) -> tuple[float, float, int]:
        """``(decisions, answers, answered decisions of the policy)`` the inference
        :meth:`get` last gave for ``view`` and ``scope`` was computed from (zeros when none
        was)."""
        found = self._entries.get(_key(view, scope))
        if found is None:
            return 0.0, 0.0, 0
        return found.fingerprint[0], found.fingerprint[1], found.answered


def _read_log(store: Store, view: ExperimentView, scope: str | None,
              fingerprint: _Fingerprint,
              computed: Callable[[ResolvedVector], Any] | None) -> _Entry:
    """The inference of a bounded reward's log, with the arms it leaves out and its
    sample-ratio test (one read of the whole log)."""
    # a deferred decision's vector from its logged posterior (with its id, to keep it)
    columns = (*LOG_FIELDS, "posterior", "policy", "id")
    scan = resolve_fields(store.iter_fields(
        view.config.id, columns, generation=view.meta.generation, kinds=ALLOCATED,
        scope=scope), columns, computed=computed)
    left: dict[str, int] = {}  # arms in the log that the config no longer has
    chosen, probabilities, rewards = scan_arrays(
        (row[:4] for row in scan), view.all_arms, view.lo, view.span, left_out=left)
    from ..statistics import logged_ratio_anytime_p_value

    ratio = logged_ratio_anytime_p_value(chosen, probabilities)
    result = None
    answered_rows = int(np.count_nonzero(~np.isnan(rewards)))
    if answered_rows:
        from ..statistics import anytime_inference

        control = view.config.control
        exp = view.config
        result = anytime_inference(
            chosen, probabilities, rewards, confidence=exp.confidence,
            control=view.all_arms.index(control) if control in view.all_arms else None,
            horizon=exp.winner.horizon, contextual=vectors_vary(view, scope),
            floor=min(exp.floor, 0.5 / max(len(view.arms), 1)),
            active=[a in view.arms for a in view.all_arms])
    return _Entry(fingerprint, result, answered_rows, tuple(sorted(left.items())),
                  None if ratio is None else (ratio, int(chosen.shape[0])))


def _read_arms(store: Store, view: ExperimentView, scope: str | None,
               fingerprint: _Fingerprint) -> _Entry:
    """An unbounded reward's entry: no inference (the sequences need bounds), the arms of
    the log that the config no longer has, from a read of the arm and reward fields alone."""
    column = frozenset(view.all_arms)
    left: dict[str, int] = {}
    answered = 0
    rows = store.iter_fields(view.config.id, ("arm", "reward"),
                             generation=view.meta.generation, kinds=ALLOCATED, scope=scope)
    try:
        for arm, reward in rows:
            if arm not in column:
                left[arm] = left.get(arm, 0) + 1
            elif reward is not None:
                answered += 1
    finally:
        close_scan(rows)
    return _Entry(fingerprint, None, answered, tuple(sorted(left.items())))


def _key(view: ExperimentView, scope: str | None) -> tuple[str, int, str | None,
                                                            tuple[str, ...]]:
    """One bandit's inference: (experiment, generation, scope, every arm, retired ones
    marked: the winner rule's candidates are the active arms)."""
    return view.config.id, view.meta.generation, scope, tuple(
        a if a in view.arms else f"{a}\x1eretired" for a in view.all_arms)


#: Version of the stored inference document's layout (a mismatch reads the log again).
#: 2: the planned horizon in the fingerprint; 3: the mean allocation; 4: contextual
#: experiments' bets from what is known before each decision; 5: the arms left out; 6: a
#: retired arm is no candidate for the winner, its estimate and one-look interval rest on
#: the decisions that offered it; 7: each arm against the control over the decisions that
#: offered both (the uplift's point and its support); 8: that point is the difference of
#: the weighted estimates when every decision offered both; 9: each arm's answered
#: decisions (the answers its estimate rests on); 10: the sample-ratio test of the log; 11:
#: that test valid at every look; 12: a per-chat or per-user experiment's bandits read
#: together bet as contextual decisions (:func:`vectors_vary`); 13: the reward's bounds in
#: the fingerprint (an unbounded reward's entry holds the arms left out alone).
_FORMAT = 13
#: Largest stored state (DynamoDB items stop at 400 KB; 50 arms take about 60 KB).
_MAX_DOCUMENT = 300_000


def _document_name(key: tuple[str, int, str | None, tuple[str, ...]]) -> str:
    """``inference:<experiment>:<generation>:<scope>:<digest of the arms>``."""
    experiment, generation, scope, arms = key
    digest = hashlib.sha256("\x1f".join(arms).encode()).hexdigest()[:16]
    return f"inference:{experiment}:{generation}:{'*' if scope is None else scope}:{digest}"


def _entry_to_json(entry: _Entry) -> str:
    result: dict[str, Any] | None = None
    if entry.result is not None:
        inference = entry.result
        result = {f.name: getattr(inference, f.name) for f in fields(inference)}
        result["decision"] = {f.name: getattr(inference.decision, f.name)
                              for f in fields(inference.decision)}
        for part in (result, result["decision"]):
            for name, value in part.items():
                if isinstance(value, np.ndarray):
                    part[name] = value.tolist()
    return json.dumps({"format": _FORMAT, "fingerprint": list(entry.fingerprint),
                       "answered": entry.answered, "result": result,
                       "left_out": [list(pair) for pair in entry.left_out],
                       "sample_ratio": None if entry.sample_ratio is None else
                       list(entry.sample_ratio)})


def _entry_from_json(text: str) -> _Entry | None:
    """The stored entry, or ``None`` for a document this version cannot read."""
    try:
        doc = json.loads(text)
        if doc.get("format") != _FORMAT:
            return None
        decisions, answered, control, confidence, horizon, lo, span = doc["fingerprint"]
        fingerprint: _Fingerprint = (float(decisions), float(answered), control,
                                     float(confidence), horizon, float(lo), float(span))
        raw = doc["result"]
        result = None
        if raw is not None:
            from ..statistics import AnytimeInference, WinnerDecision

            decision = dict(raw.pop("decision"))
            decision["log_evidence"] = np.array(decision["log_evidence"], dtype=np.float64)
            decision["contenders"] = np.array(decision["contenders"], dtype=bool)
            for name, value in raw.items():
                if isinstance(value, list):
                    raw[name] = np.array(value, dtype=np.float64)
            result = AnytimeInference(**raw, decision=WinnerDecision(**decision))
        left = tuple((str(arm), int(n)) for arm, n in doc["left_out"])
        ratio = doc["sample_ratio"]
        return _Entry(fingerprint, result, int(doc["answered"]), left,
                      None if ratio is None else (float(ratio[0]), int(ratio[1])))
    except (ValueError, KeyError, TypeError) as exc:  # damaged or foreign: read the log
        log.warning("inference state not readable; reading the log",
                    extra={"error": type(exc).__name__})
        return None
