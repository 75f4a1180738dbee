"""Prometheus metrics, and a store wrapper that measures every store call.

Counters and histograms live in the app's own registry. With several uvicorn workers, set
``PROMETHEUS_MULTIPROC_DIR`` to a shared empty folder and every worker's numbers are merged
at ``/metrics``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from .._errors import StoreError
from ..stores import ApplyResult, DecisionRecord, KeyedDecision, Store
from ._health import StoreHealth

__all__ = ["MeteredStore", "Metrics"]

_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                  0.25, 1.0)
_DELAY_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400)


class Metrics:
    """The app's metrics.

    Parameters
    ----------
    multiprocess
        Merge the numbers of several worker processes at ``/metrics`` (prometheus_client's
        multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` names the shared folder).
    """

    def __init__(self, *, multiprocess: bool = False) -> None:
        self.multiprocess = multiprocess
        self.registry = CollectorRegistry()
        kw: dict[str, Any] = {"registry": self.registry}
        self.decisions = Counter("banditbot_decisions", "Decisions made",
                                 ["experiment", "arm"], **kw)
        self.rewards = Counter("banditbot_rewards", "Rewards applied",
                               ["experiment", "arm"], **kw)
        self.reward_outcomes = Counter("banditbot_reward_outcomes",
                                       "Reward calls by outcome", ["outcome"], **kw)
        self.reward_delay = Histogram("banditbot_reward_delay_seconds",
                                      "Time from a decision to its reward",
                                      ["experiment"], buckets=_DELAY_BUCKETS, **kw)
        self.store_latency = Histogram("banditbot_store_seconds", "Store call latency",
                                       ["op"], buckets=_STORE_BUCKETS, **kw)
        self.requests = Histogram("banditbot_http_request_seconds", "HTTP request latency",
                                  ["method", "route", "status"], **kw)
        self.errors = Counter("banditbot_errors", "Errors by type", ["type"], **kw)
        self.srm_p_value = Gauge("banditbot_srm_p_value",
                                 "Sample-ratio check: its p-value (valid at every read; with "
                                 "periods, corrected for the worst period's own test)",
                                 ["experiment"], multiprocess_mode="liveall", **kw)
        self.srm_flagged = Gauge("banditbot_srm_flagged",
                                 "1 when decisions do not follow their allocation (p < 0.001)",
                                 ["experiment"], multiprocess_mode="liveall", **kw)
        self._children: dict[tuple[object, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, memoized (the lookup costs more than the update)."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def render(self) -> bytes:
        """The exposition text (merged across workers in multiprocess mode)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class MeteredStore:
    """A :class:`~banditbot.stores.Store` that times every call and counts decisions and
    rewards (so the Telegram bot, the API and the CLI all show up in the metrics), and
    tells its :class:`~banditbot.api._health.StoreHealth` when a call succeeds (the end
    of an outage)."""

    def __init__(self, inner: Store, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.url = inner.url
        self.health = StoreHealth()
        self._wrapped: dict[str, Any] = {}
        self._nesting = threading.local()  # batches inside a batch are not timed again

    def _timer(self, op: str) -> Any:
        return self.metrics.child(self.metrics.store_latency, op)

    def __getattr__(self, name: str) -> Any:
        return self._timed(name)

    def _timed(self, name: str) -> Any:
        """The inner store's attribute ``name``; a method timed under its name."""
        found = self._wrapped.get(name)
        if found is not None:
            return found
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr
        histogram = self._timer(name)
        health = self.health

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                result = attr(*args, **kwargs)
            except StoreError:
                health.call_failed(time.perf_counter() - start)
                raise
            finally:
                histogram.observe(time.perf_counter() - start)
            if health.down:
                health.answered()
            return result

        self._wrapped[name] = timed
        return timed

    def record_decision(self, decision: DecisionRecord) -> None:
        start = time.perf_counter()
        try:
            self.inner.record_decision(decision)
        except StoreError:
            self.health.call_failed(time.perf_counter() - start)
            raise
        finally:
            self._timer("record_decision").observe(time.perf_counter() - start)
        if self.health.down:
            self.health.answered()
        self.metrics.child(self.metrics.decisions, decision.experiment, decision.arm).inc()

    def record_keyed_decision(self, decision: DecisionRecord, key: str, fingerprint: str,
                              ttl_seconds: float) -> KeyedDecision:
        keyed: KeyedDecision = self._timed("record_keyed_decision")(decision, key, fingerprint,
                                                                    ttl_seconds)
        if keyed.decision_id == decision.id:  # (else the key's decision is answered again)
            self.metrics.child(self.metrics.decisions, decision.experiment, decision.arm).inc()
        return keyed

    def apply_reward(self, decision_id: str, value: float, rewarded_at: float,
                     extra: Mapping[str, float] | None = None, *,
                     known: DecisionRecord | None = None) -> ApplyResult:
        start = time.perf_counter()
        try:
            result = self.inner.apply_reward(decision_id, value, rewarded_at, extra,
                                             known=known)
        except StoreError:
            self.health.call_failed(time.perf_counter() - start)
            raise
        finally:
            self._timer("apply_reward").observe(time.perf_counter() - start)
        if self.health.down:
            self.health.answered()
        if result is ApplyResult.APPLIED and known is not None:
            self.metrics.child(self.metrics.rewards, known.experiment, known.arm).inc()
            self.metrics.child(self.metrics.reward_delay, known.experiment).observe(
                max(rewarded_at - known.created_at, 0.0))
        return result

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        depth = getattr(self._nesting, "depth", 0)
        self._nesting.depth = depth + 1
        start = time.perf_counter()
        try:
            with self.inner.batch():
                yield
        except StoreError:
            self.health.call_failed(time.perf_counter() - start)
            raise
        finally:
            self._nesting.depth = depth
            if depth == 0:
                self._timer("batch").observe(time.perf_counter() - start)

    def record_manual(self, decisions: Sequence[DecisionRecord],
                      extras: Sequence[Mapping[str, float]] | None = None) -> None:
        self.inner.record_manual(decisions, extras)

