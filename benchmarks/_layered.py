"""The layered prototype of issue #18: the lean function's work in the fewest layers the
issue keeps ("the same service made lean"), timed beside the service by
``decide_reward.py`` (``us_layered``) and compiled with mypyc by ``compiled_floor.py``
(a module of its own, typed for both)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

import numpy as np

from banditbot.service import Decision, RewardResult, RewardStatus
from banditbot.stores import DecisionRecord


def rates(k: int) -> list[float]:
    """The arms' Bernoulli rates, 0.05-0.25 in their order (as ``decide_reward.rates``)."""
    return np.linspace(0.05, 0.25, k).tolist()  # type: ignore[no-any-return]


class _LayeredStore:
    """The least a store behind the protocol does for ε-greedy's loop: one lock, the log,
    the counters as lists (read as a copy), a reward applied once."""

    def __init__(self, arms: tuple[str, ...]) -> None:
        self._lock = threading.Lock()
        self._slot = {a: i for i, a in enumerate(arms)}
        k = len(arms)
        self.pulls, self.answers, self.sums, self.squares = [0.0] * k, [0.0] * k, \
            [0.0] * k, [0.0] * k
        self._log: dict[str, DecisionRecord] = {}
        self._rewards: dict[str, tuple[float, float]] = {}

    def read_counts(self, experiment: str, generation: int, scope: str
                    ) -> tuple[list[float], list[float]]:
        with self._lock:
            return self.answers[:], self.sums[:]

    def record_decision(self, record: DecisionRecord) -> None:
        with self._lock:
            if record.id in self._log:
                raise ValueError("decision id exists")
            self._log[record.id] = record
            self.pulls[self._slot[record.arm]] += 1.0

    def apply_reward(self, decision_id: str, value: float, at: float) -> RewardStatus:
        with self._lock:
            record = self._log.get(decision_id)
            if record is None:
                return RewardStatus.UNKNOWN
            if decision_id in self._rewards:
                return RewardStatus.DUPLICATE
            self._rewards[decision_id] = (value, at)
            i = self._slot[record.arm]
            self.answers[i] += record.weight
            self.sums[i] += value
            self.squares[i] += value * value
            return RewardStatus.APPLIED


class _Probabilities:
    """The answer's probabilities as the service hands them out: a map over the arms
    built when read (its construction is all the loop pays)."""

    __slots__ = ("arms", "p")

    def __init__(self, arms: tuple[str, ...], p: list[float]) -> None:
        self.arms, self.p = arms, p


class _LayeredService:
    """The lean function's work in the fewest layers the issue keeps ("the same service
    made lean"): a service's decide and reward, a store behind its methods, the policy's
    own method for the vector (one tuple per set of leading arms), its shaped vector and
    running sums kept by that tuple and a draw by bisection (as the service's lane since
    the eighteenth pass), the records and answers the service hands out (the real
    ``DecisionRecord``, ``Decision`` and ``RewardResult``), an unrewarded-decisions map;
    the view is one cached object (a dict lookup), no meta read."""

    def __init__(self, k: int, seed: int) -> None:
        from banditbot.policies import EpsilonGreedy, ScalarDraws, draw_cumulative

        self.arms = tuple(f"a{i}" for i in range(k))
        self.contents = {a: f"arm {a}" for a in self.arms}
        self.policy = EpsilonGreedy(epsilon=0.1)
        self.policy_json = '{"name": "epsilon-greedy", "params": {"epsilon": 0.1}}'
        self.store = _LayeredStore(self.arms)
        self.draws = ScalarDraws(np.random.default_rng(seed))  # (as the service draws)
        self.draw_cumulative = draw_cumulative
        self.shaped: dict[int, tuple[Any, list[float], list[float]]] = {}
        self.ids: list[str] = []
        self.unrewarded: dict[str, DecisionRecord] = {}
        self.views = {"bench": self}
        self.floor, self.clock = 0.01, time.time

    def decide(self, experiment: str, subject: str) -> Decision:
        view = self.views[experiment]
        if type(subject) is not str or not 0 < len(subject) <= 128 \
                or not subject.isprintable():
            raise ValueError("subject")
        now = self.clock()
        vector = view.policy.scalar_probabilities(*self.store.read_counts(experiment, 0, ""))
        held = self.shaped.get(id(vector))  # (kept by the vector's object, as the service)
        if held is None or held[0] is not vector:
            k = len(vector)
            low = min(vector)
            p = list(vector)
            if low < view.floor:
                share = (view.floor - low) / (1.0 / k - low)
                p = [(1.0 - share) * x + share / k for x in p]
            held = self.shaped[id(vector)] = (vector, p, list(itertools.accumulate(p)))
        p = held[1]
        index = self.draw_cumulative(held[2], self.draws.random())
        arm = view.arms[index]
        if not self.ids:  # ids drawn 32 per system call, as the service draws them
            digits = os.urandom(16 * 32).hex()
            self.ids = [digits[i:i + 32] for i in range(0, 32 * 32, 32)]
        record = DecisionRecord(  # (the vector kept as its list: the service keeps one too)
            self.ids.pop(), experiment, 0, "", arm, p[index], view.arms,
            p,  # type: ignore[arg-type]
            view.policy_json, subject, now, None, "policy", None, None, 1.0, None)
        self.store.record_decision(record)
        self.unrewarded[record.id] = record
        return Decision(record.id, experiment, arm, view.contents[arm], p[index],
                        _Probabilities(view.arms, p),  # type: ignore[arg-type]
                        subject, now, "", "policy")

    def reward(self, decision_id: str, value: float, subject: str) -> RewardResult:
        record = self.unrewarded.pop(decision_id, None)
        if record is None or record.subject != subject or value not in (0.0, 1.0):
            raise ValueError("reward")
        status = self.store.apply_reward(decision_id, float(value), self.clock())
        return RewardResult(status, decision_id, "reward recorded", record.arm,
                            float(value), record.experiment, record.generation)


def bench_layered(k: int, n: int, seed: int) -> float:
    """The lean function's loop through :class:`_LayeredService`: what the service's
    decide → reward could cost with its layering kept and nothing else (``us_layered``)."""
    svc = _LayeredService(k, seed)
    truth = dict(zip(svc.arms, rates(k), strict=True))
    draws = np.random.default_rng(seed + 1).random(n + 200).tolist()

    def loop(count: int, offset: int) -> None:
        for i in range(count):
            d = svc.decide("bench", "user")
            svc.reward(d.id, 1 if draws[offset + i] < truth[d.arm] else 0, "user")

    loop(200, n)
    start = time.process_time()
    loop(n, 0)
    return (time.process_time() - start) / n * 1e6
