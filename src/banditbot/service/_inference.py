"""Anytime-valid inference for reports and the winner rule, from the decision log.

The log records, for every decision, the full probability vector it was drawn from; that is
all :func:`banditbot.statistics.anytime_inference` needs to give each arm an estimate that
survives adaptive allocation, an interval valid at every look, each arm's difference to the
control (or to the best other arm), and the stopping rule's answer. Results are kept per
(experiment, generation, scope) and recomputed only when a decision or an answer was added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from .._types import FloatArray, IntArray
from ..statistics import AnytimeInference, anytime_inference
from ..stores import ALLOCATED, DecisionRecord, Store
from ._view import ExperimentView

__all__ = ["InferenceCache", "log_arrays"]


def log_arrays(records: Iterable[DecisionRecord], arms: Sequence[str], lo: float,
               span: float) -> tuple[IntArray, FloatArray, FloatArray]:
    """``(arm index (T,), probability vectors (T, K), rewards on [0, 1] (T,))`` of the
    allocated decisions in ``records`` (time order), with ``arms`` as the columns (an arm a
    decision did not offer has probability 0 in its row) and NaN for unanswered ones.

    One pass keeps references only; the vectors are stacked once per distinct list of
    offered arms (usually one), so a long log costs no Python work per probability."""
    column = {a: i for i, a in enumerate(arms)}
    chosen: list[int] = []
    rewards: list[float | None] = []
    vectors: list[FloatArray] = []
    layouts: dict[tuple[str, ...], list[int]] = {}  # offered arms -> rows that offered them
    for r in records:
        if r.kind not in ALLOCATED:
            continue
        c = column.get(r.arm)
        if c is None:
            continue
        rows = layouts.get(r.arms)
        if rows is None:
            rows = layouts[r.arms] = []
        rows.append(len(chosen))
        chosen.append(c)
        rewards.append(r.reward)
        vectors.append(r.probabilities)
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


class _Entry(NamedTuple):
    fingerprint: tuple[float, float, str | None, float, int | None]
    result: AnytimeInference | None


class InferenceCache:
    """Anytime inference per (experiment, generation, scope), recomputed when the number of
    decisions or answers changed (a report read every few seconds costs one log scan per
    change, not per read)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int, str | None, tuple[str, ...]], _Entry] = {}

    def get(self, store: Store, view: ExperimentView, scope: str | None,
            decisions: float, answered: float) -> AnytimeInference | None:
        """The inference for ``view``'s arms (all of them, retired ones too); ``None`` for
        an unbounded reward (the sequences need known bounds) or an empty log."""
        if not view.span or decisions <= 0:
            return None
        key = (view.config.id, view.meta.generation, scope, view.all_arms)
        fingerprint = (decisions, answered, view.config.control, view.config.confidence,
                       view.config.winner.horizon)
        found = self._entries.get(key)
        if found is not None and found.fingerprint == fingerprint:
            return found.result
        records = (r for r in store.iter_decisions(view.config.id,
                                                   generation=view.meta.generation)
                   if scope is None or r.scope == scope)
        chosen, probabilities, rewards = log_arrays(records, view.all_arms, view.lo,
                                                    view.span)
        result = None
        if chosen.size:
            control = view.config.control
            result = anytime_inference(
                chosen, probabilities, rewards, confidence=view.config.confidence,
                control=view.all_arms.index(control) if control in view.all_arms else None,
                horizon=view.config.winner.horizon)
        if len(self._entries) > 256:
            self._entries.clear()
        self._entries[key] = _Entry(fingerprint, result)
        return result
