"""One bad item never fails the others: a write that fails inside a group commit is undone
alone and fails only its own request, whatever it raised."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, RewardStatus, SQLiteStore, parse_config
from banditbot.api import GroupCommit

from ..conftest import CONFIG


@pytest.fixture
def service(tmp_path: Path) -> BanditService:
    store = SQLiteStore(tmp_path / "g.db")
    store.init()
    return BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(8))


def test_a_failing_write_in_a_group_fails_only_itself(service: BanditService) -> None:
    """60 rewards in one turn, one of them a write that fails half-way with an error that is
    not banditbot's (a bug, a feature that cannot be computed): 59 applied, and the failed
    one left nothing behind."""
    decisions = [service.decide("ts", f"u{i}") for i in range(60)]
    extra, _ = service.plan_decision("ts", "half-way", None)

    def fails_half_way(plan: Any) -> None:
        service.store.record_decision(extra)  # a write …
        raise ValueError("feature 'x' cannot be encoded")  # … then a failure

    async def scenario() -> list[Any]:
        group = GroupCommit(service.store)
        plans = [service.plan_reward(d.id, 1, d.subject) for d in decisions]
        futures = [group.submit(fails_half_way if i == 17 else service.commit_reward, plan)
                   for i, plan in enumerate(plans)]
        return list(await asyncio.gather(*futures, return_exceptions=True))

    outcomes = asyncio.run(scenario())
    assert isinstance(outcomes[17], ValueError)
    innocent = outcomes[:17] + outcomes[18:]
    assert [o.status for o in innocent] == [RewardStatus.APPLIED] * 59
    assert service.store.get_decision(extra.id) is None  # the half-done write was undone
    report = service.report("ts")
    assert report.total_pulls == 60 and report.total_answered == 59


def test_a_failing_multi_statement_write_is_undone_alone(service: BanditService) -> None:
    """A store operation of several statements (a reward with extra statistics) that fails
    inside the group keeps none of its statements; the others commit."""
    d1, d2 = service.decide("ts", "a"), service.decide("ts", "b")

    def reward_then_fail(decision_id: str) -> None:
        service.store.apply_reward(decision_id, 1.0, 0.0, {"ips.n": 1.0})
        raise RuntimeError("after the write")

    async def scenario() -> list[Any]:
        group = GroupCommit(service.store)
        return list(await asyncio.gather(
            group.submit(reward_then_fail, d1.id),
            group.submit(service.store.apply_reward, d2.id, 1.0, 0.0, {"ips.n": 1.0}),
            return_exceptions=True))

    failed, applied = asyncio.run(scenario())
    assert isinstance(failed, RuntimeError) and applied.value == "applied"
    first, second = service.store.get_decision(d1.id), service.store.get_decision(d2.id)
    assert first is not None and first.reward is None
    assert second is not None and second.reward == 1.0
    stats = service.store.read_stats("ts", 0, None, ("a", "b", "c", "d"))
    assert stats.n.sum() == 1
    assert sum(f.get("ips.n", 0.0) for f in stats.extra.values()) == 1.0
