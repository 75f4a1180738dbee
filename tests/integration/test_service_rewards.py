"""Rewards through the service on every backend: the service remembers the decisions it logged
(so a reward needs no read-back), without changing what a reward does or says."""

from __future__ import annotations

from typing import Any

import numpy as np

from banditbot import BanditService, RewardStatus, parse_config
from banditbot.stores import Store

from ..conftest import CONFIG


class _CountingStore:
    """The real store, counting how often a decision is read back."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.reads = 0

    def get_decision(self, decision_id: str) -> Any:
        self.reads += 1
        return self.inner.get_decision(decision_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _service(config: Any, store: Any, seed: int) -> BanditService:
    return BanditService(config, store, rng=np.random.default_rng(seed))


def test_a_reward_through_the_deciding_service_reads_nothing_back(config: Any,
                                                                   store: Store) -> None:
    counting = _CountingStore(store)
    svc = _service(config, counting, 1)
    decisions = [svc.decide("seed", "alice") for _ in range(5)]
    for d in decisions:
        assert svc.reward(d.id, 1, "alice").status is RewardStatus.APPLIED
    assert counting.reads == 0  # on DynamoDB: one request per reward instead of two
    report = svc.report("seed")
    assert sum(a.answered for a in report.arms) == 5
    again = svc.reward(decisions[0].id, 0, "alice")  # the store is asked, and says why
    assert again.status is RewardStatus.DUPLICATE and again.value == 1


def test_a_decision_rewarded_elsewhere_is_a_duplicate_with_the_first_value(
        config: Any, store: Store) -> None:
    here, elsewhere = _service(config, store, 2), _service(config, store, 3)
    d = here.decide("seed", "bob")
    assert elsewhere.reward(d.id, 1, "bob").status is RewardStatus.APPLIED
    late = here.reward(d.id, 0, "bob")  # this service still remembers it as unrewarded
    assert late.status is RewardStatus.DUPLICATE
    assert late.value == 1 and late.arm == d.arm
    arms = {a.arm: a for a in here.report("seed").arms}
    assert arms[d.arm].answered == 1 and sum(a.answered for a in arms.values()) == 1


def test_remembered_decisions_keep_the_subject_and_value_checks(config: Any,
                                                                store: Store) -> None:
    svc = _service(config, store, 4)
    d = svc.decide("seed", "carol")
    assert svc.reward(d.id, 1, "mallory").status is RewardStatus.NOT_YOURS
    assert svc.reward(d.id, 7, "carol").status is RewardStatus.INVALID
    assert sum(a.answered for a in svc.report("seed").arms) == 0
    assert svc.reward(d.id, 0, "carol").status is RewardStatus.APPLIED


def test_decisions_past_the_memory_limit_still_reward_through_the_store(
        config: Any, store: Store) -> None:
    counting = _CountingStore(store)
    svc = _service(config, counting, 5)
    svc.recent_decisions = 3
    decisions = [svc.decide("seed", "dave") for _ in range(8)]
    results = [svc.reward(d.id, 1, "dave").status for d in decisions]
    assert results == [RewardStatus.APPLIED] * 8
    assert counting.reads == 5  # the five oldest were forgotten and read back
    assert sum(a.answered for a in svc.report("seed").arms) == 8


def test_a_reward_for_an_experiment_taken_out_of_the_file_says_so(config: Any,
                                                                  store: Store) -> None:
    """A decision of an experiment since removed from the experiments file: its reward was
    refused as "unknown experiment 'seed' (known experiments: …)", naming an experiment the
    caller never sent. It says the decision's experiment left the file, and records
    nothing."""
    d = _service(config, store, 4).decide("seed", "carol")
    kept = {**CONFIG, "experiments": [e for e in CONFIG["experiments"] if e["id"] != "seed"]}
    later = _service(parse_config(kept), store, 5)
    result = later.reward(d.id, 1, "carol")
    assert result.status is RewardStatus.INVALID and result.experiment == "seed"
    assert result.message == ("this decision's experiment 'seed' is no longer in the "
                              "experiments file: the reward was not recorded")
    assert store.get_decision(d.id).reward is None  # type: ignore[union-attr]
