"""Anytime-valid inference for reports and the winner rule, from the decision log.

The log records, for every decision, the full probability vector it was drawn from; that is
all :func:`banditbot.statistics.anytime_inference` needs to give each arm an estimate that
survives adaptive allocation, an interval valid at every look, each arm's difference to the
control (or to the best other arm), and the stopping rule's answer. Results are kept per
(experiment, generation, scope) and recomputed only when a decision or an answer was added.
"""

from __future__ import annotations

import math
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
    decision did not offer has probability 0 in its row) and NaN for unanswered ones."""
    column = {a: i for i, a in enumerate(arms)}
    chosen: list[int] = []
    rows: list[list[float]] = []
    rewards: list[float] = []
    k = len(arms)
    for r in records:
        if r.kind not in ALLOCATED or r.arm not in column:
            continue
        row = [0.0] * k
        for a, p in zip(r.arms, r.probabilities.tolist(), strict=True):
            if a in column:
                row[column[a]] = p
        chosen.append(column[r.arm])
        rows.append(row)
        rewards.append(math.nan if r.reward is None else
                       min(max((r.reward - lo) / span, 0.0), 1.0))
    return (np.array(chosen, dtype=np.intp), np.array(rows, dtype=np.float64).reshape(-1, k),
            np.array(rewards, dtype=np.float64))


class _Entry(NamedTuple):
    fingerprint: tuple[float, float, str | None, float]
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
        fingerprint = (decisions, answered, view.config.control, view.config.confidence)
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
                control=view.all_arms.index(control) if control in view.all_arms else None)
        if len(self._entries) > 256:
            self._entries.clear()
        self._entries[key] = _Entry(fingerprint, result)
        return result
