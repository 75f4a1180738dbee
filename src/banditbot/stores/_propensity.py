"""Deferred propensities (``propensity: deferred``).

A Beta Thompson-sampling decision is a posterior draw; what makes a logged decision useful
offline is its exact propensity, the probability that the draw picks each arm, which takes a
numerical quadrature (:mod:`banditbot.statistics._best`). With ``propensity: deferred`` the
decision logs the posterior it was drawn from instead (``DecisionRecord.posterior``: the
uniform share ``λ`` of the floor, then each arm's Beta ``a`` and ``b``) and the exact vector
is computed when the log is read — export, evaluation, reports — by the same function the
exact path uses, once per distinct posterior. The decision is drawn from the mixture that
vector describes: with probability ``λ`` a uniform arm, else the policy's posterior draw.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .._types import FloatArray
from ..policies import ScalarDraws, ThompsonSampling, make_policy
from ..policies._scalar import beta_argmax
from ._base import DecisionRecord, ResolvedVector

__all__ = ["deferred_vector", "draw_deferred", "resolve_fields", "resolve_propensities"]

#: posteriors whose vectors a process keeps: the first ones it meets (a dashboard re-reads
#: the same log every few seconds; a read of a longer log in time order would evict every
#: entry before the next read reached it, so nothing is evicted once the memo is full)
_MEMO_SIZE = 65_536
_memo: dict[tuple[str, bytes], FloatArray] = {}
_memo_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _policy(policy_json: str) -> ThompsonSampling:
    spec = json.loads(policy_json)
    policy = make_policy(str(spec["name"]), spec.get("params") or {})
    if not isinstance(policy, ThompsonSampling):
        raise ValueError(f"a deferred propensity needs Beta Thompson sampling, not "
                         f"{policy.name}")
    return policy


def draw_deferred(policy: ThompsonSampling, posterior: FloatArray,
                  rng: np.random.Generator | ScalarDraws, *,
                  shapes: list[float] | None = None) -> int:
    """An arm drawn as :func:`deferred_vector` describes for ``posterior`` (``[λ, a…,
    b…]``): with probability ``λ`` a uniform one (the floor), else the policy's draw from
    the ``Beta(a, b)`` posteriors (:meth:`~banditbot.policies.ThompsonSampling.draw`; with
    ``shapes`` and draws made ahead, its float path called directly).
    ``shapes``: ``[a…, b…]`` as Python floats, when the caller has them (a few arms: the
    draw reads no array)."""
    k = int(posterior.shape[0] - 1) // 2
    share = float(posterior[0])
    u = rng.random()
    if u < share:  # u / share is uniform on [0, 1) given u < share
        return min(int(u / share * k), k - 1)
    if shapes is not None and isinstance(rng, ScalarDraws) \
            and type(policy) is ThompsonSampling:  # (one call, compiled or not; a subclass
        # may draw otherwise)
        return beta_argmax(shapes, rng, policy.optimistic)
    return policy.draw(posterior[1:] if shapes is None else shapes, rng)


def deferred_vector(policy_json: str, posterior: FloatArray) -> FloatArray:
    """The exact probability vector of a deferred decision: the policy's (``policy_json``,
    as logged) probability of picking each arm from the logged posterior, mixed with the
    uniform share. Read-only; computed once per distinct posterior in a process."""
    key = (policy_json, posterior.tobytes())
    hit = _memo.get(key)
    if hit is not None:
        return hit
    k = (posterior.shape[0] - 1) // 2
    share = float(posterior[0])
    p = _policy(policy_json).posterior_probabilities(posterior[1:k + 1], posterior[k + 1:])
    out = (1.0 - share) * p + share / k if share else np.array(p, dtype=np.float64)
    out.setflags(write=False)
    with _memo_lock:
        if len(_memo) < _MEMO_SIZE:
            _memo[key] = out
    return out


def resolve_propensities(records: Iterable[DecisionRecord], *,
                         computed: Callable[[ResolvedVector], Any] | None = None
                         ) -> Iterator[DecisionRecord]:
    """The records with every deferred decision's exact vector and propensity filled in
    (``posterior`` kept: the record still says how its propensity is known); others pass as
    they are. Lazy: a long log streams. ``computed`` is told each vector computed here (for
    :meth:`~banditbot.stores.Store.keep_vectors`)."""
    for r in records:
        if r.posterior is None or r.probabilities.size:
            yield r
            continue
        p, propensity = _resolve(r.id, r.policy, r.posterior, r.arms, r.arm, computed)
        yield r._replace(probabilities=p, propensity=propensity)


def _resolve(decision_id: str | None, policy_json: str, posterior: FloatArray,
             arms: Sequence[str], arm: str,
             computed: Callable[[ResolvedVector], Any] | None) -> tuple[FloatArray, float]:
    """One deferred decision's vector and propensity (``computed`` told, given an id)."""
    p = deferred_vector(policy_json, posterior)
    propensity = float(p[arms.index(arm)])
    if computed is not None and decision_id is not None:
        computed(ResolvedVector(decision_id, posterior, p, propensity))
    return p, propensity


def resolve_fields(rows: Iterable[Sequence[Any]], fields: Sequence[str], *,
                   computed: Callable[[ResolvedVector], Any] | None = None
                   ) -> Iterator[tuple[Any, ...]]:
    """Projected rows (``Store.iter_fields``) with the deferred decisions' vectors filled
    in: ``fields`` holds ``probabilities``, ``posterior``, ``policy``, ``arm`` and
    ``arms``; ``propensity`` is filled too when it is read, and ``computed`` is told each
    vector computed here when ``id`` is read."""
    at = {f: i for i, f in enumerate(fields)}
    vec, post, pol, arm, arms = (at[f] for f in ("probabilities", "posterior", "policy",
                                                 "arm", "arms"))
    prop, ident = at.get("propensity"), at.get("id")
    for row in rows:
        posterior = row[post]
        if posterior is None or row[vec].size:
            yield tuple(row)
            continue
        out = list(row)
        out[vec], propensity = _resolve(None if ident is None else row[ident], row[pol],
                                        posterior, row[arms], row[arm], computed)
        if prop is not None:
            out[prop] = propensity
        yield tuple(out)
