"""Group commit in the HTTP server: writes handed over in one event-loop turn share one
SQLite transaction; one bad write fails only its request; a failed commit fails them all and
writes nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import numpy as np

from banditbot import BanditService, RewardStatus, SQLiteStore, StoreError, parse_config
from banditbot.api import GroupCommit, MeteredStore, Metrics

from ..conftest import CONFIG


def _service(path: Path, busy_timeout_ms: int = 30_000) -> tuple[BanditService, Metrics]:
    store = SQLiteStore(path, busy_timeout_ms=busy_timeout_ms)
    store.init()
    metrics = Metrics()
    service = BanditService(parse_config(CONFIG), MeteredStore(store, metrics),
                            rng=np.random.default_rng(3))
    return service, metrics


def _batches(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("banditbot_store_seconds_count", {"op": "batch"})
    return value or 0.0


def test_writes_of_one_turn_share_one_commit(tmp_path: Path) -> None:
    service, metrics = _service(tmp_path / "g.db")

    async def scenario() -> list[object]:
        group = GroupCommit(service.store)
        planned = [service.plan_decision("seed", f"u{i}", None) for i in range(10)]
        await asyncio.gather(*(group.submit(service.store.record_decision, record)
                               for record, _ in planned))
        assert _batches(metrics) == 1
        rewards = [service.plan_reward(d.id, 1, d.subject) for _, d in planned]
        rewards.append(rewards[0])  # a double tap in the same turn
        return list(await asyncio.gather(*(group.submit(service.commit_reward, r)
                                           for r in rewards)))

    results = asyncio.run(scenario())
    assert _batches(metrics) == 2
    statuses = [r.status for r in results]  # type: ignore[attr-defined]
    assert statuses == [RewardStatus.APPLIED] * 10 + [RewardStatus.DUPLICATE]
    report = service.report("seed")
    assert report.total_pulls == 10 and report.total_answered == 10


def test_one_bad_write_fails_only_its_request(tmp_path: Path) -> None:
    service, _ = _service(tmp_path / "g.db")
    first, _ = service.plan_decision("seed", "a", None)
    service.store.record_decision(first)
    good, _ = service.plan_decision("seed", "b", None)

    async def scenario() -> list[object]:
        group = GroupCommit(service.store)
        return list(await asyncio.gather(group.submit(service.store.record_decision, first),
                                         group.submit(service.store.record_decision, good),
                                         return_exceptions=True))

    again, ok = asyncio.run(scenario())
    assert isinstance(again, StoreError) and ok is None  # the id exists already
    assert {d.id for d in service.store.iter_decisions("seed")} == {first.id, good.id}


def test_a_failed_commit_fails_every_request_and_writes_nothing(tmp_path: Path) -> None:
    service, _ = _service(tmp_path / "g.db", busy_timeout_ms=200)
    planned = [service.plan_decision("seed", f"u{i}", None) for i in range(3)]
    holder = sqlite3.connect(tmp_path / "g.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock throughout

    async def scenario() -> list[object]:
        group = GroupCommit(service.store)
        return list(await asyncio.gather(*(group.submit(service.store.record_decision, r)
                                           for r, _ in planned), return_exceptions=True))

    outcomes = asyncio.run(scenario())
    holder.execute("ROLLBACK")
    holder.close()
    assert all(isinstance(o, StoreError) for o in outcomes)
    assert list(service.store.iter_decisions("seed")) == []


def test_planning_reads_only_and_the_commit_writes(tmp_path: Path) -> None:
    """The two steps the server uses: planning a decision or a reward writes nothing (a
    request that fails its checks leaves no trace); committing it does."""
    service, _ = _service(tmp_path / "g.db")
    record, planned = service.plan_decision("seed", "dave", {"hour": 3})
    assert service.store.get_decision(planned.id) is None
    service.store.record_decision(record)
    stored = service.store.get_decision(planned.id)
    assert stored is not None and stored.arm == planned.arm and stored.context == {"hour": 3}
    assert stored.propensity == planned.propensity == planned.probabilities[planned.arm]
    refused = service.plan_reward(planned.id, 1, "eve")
    assert getattr(refused, "status", None) is RewardStatus.NOT_YOURS
    plan = service.plan_reward(planned.id, 1, "dave")
    assert service.report("seed").total_answered == 0
    assert service.commit_reward(plan).status is RewardStatus.APPLIED  # type: ignore[arg-type]
    assert service.report("seed").total_answered == 1
