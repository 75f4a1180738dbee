"""Exactly once survives lost replies (invariant 7): the DynamoDB store behind a TCP proxy that
applies every fourth write and drops its reply, so botocore retries writes that succeeded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from banditbot import BanditService, parse_config
from banditbot.service import KeyRing, RewardStatus
from banditbot.stores._dynamodb import DynamoDBStore

from ..conftest import FakeClock
from ..lossy_proxy import LossyProxy

PRESSES = 8
CONFIG = {"experiments": [
    {"id": "hello", "arms": [{"id": a, "content": a} for a in ("a", "b", "c")],
     "policy": "thompson"},
    {"id": "tone", "arms": [{"id": a, "content": a} for a in ("formal", "casual")],
     "policy": "linucb", "features": [{"name": "past_reward_rate", "center": 0.5}]},
]}


@pytest.fixture
def proxied(moto_endpoint: str) -> Iterator[tuple[DynamoDBStore, LossyProxy]]:
    import boto3
    from botocore.config import Config

    table = f"lossy-{uuid.uuid4().hex[:8]}"
    DynamoDBStore(table, region="us-east-1", endpoint_url=moto_endpoint).init()
    proxy = LossyProxy(int(moto_endpoint.rsplit(":", 1)[1]), every=4)
    with proxy as url:
        # a short read timeout so a held reply costs little; enough attempts that a request
        # whose retries are held too still gets through
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url,
                              config=Config(read_timeout=0.2, connect_timeout=5,
                                            retries={"total_max_attempts": 10,
                                                     "mode": "standard"}))
        yield DynamoDBStore(table, region="us-east-1", client=client), proxy


def test_presses_survive_lost_replies(proxied: tuple[DynamoDBStore, LossyProxy]) -> None:
    """Webhook claims, decisions, rewards, history counters: each write applied once, each
    caller told the truth, although a fourth of the replies were lost."""
    store, proxy = proxied
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(3),
                            clock=FakeClock())
    outcomes: dict[str, int] = {}
    total = 0.0
    for i in range(PRESSES):
        # the webhook's de-duplication claim: first delivery True, a redelivery False
        assert store.claim_key(f"tg-update:1:{i}", ttl_seconds=3600) is True
        assert store.claim_key(f"tg-update:1:{i}", ttl_seconds=3600) is False
        exp = "tone" if i % 2 else "hello"
        decision = service.decide(exp, f"user-{i % 5}",
                                  {"past_reward_rate": 0.5} if exp == "tone" else None)
        value = i % 2
        result = service.reward(decision.id, value, f"user-{i % 5}")
        outcomes[result.status.value] = outcomes.get(result.status.value, 0) + 1
        total += value if exp == "hello" else 0.0
        again = service.reward(decision.id, value, f"user-{i % 5}")
        assert again.status is RewardStatus.DUPLICATE
    assert outcomes == {"applied": PRESSES}
    assert proxy.lost >= PRESSES  # the fault really happened, often
    hello = store.read_stats("hello", 0, None, ("a", "b", "c"))
    assert hello.pulls.sum() == PRESSES // 2 and hello.n.sum() == PRESSES // 2
    assert hello.total.sum() == total
    tone = store.read_stats("tone", 0, None, ("formal", "casual"))
    assert tone.pulls.sum() == PRESSES // 2 and tone.n.sum() == PRESSES // 2
    # the history counters (one ADD per reward) counted each reward once
    histories = [store.read_counters(f"subject:tone:user-{u}") for u in range(5)]
    assert sum(h.get("n", 0.0) for h in histories) == PRESSES // 2
    # the log holds each decision once
    assert len(list(store.iter_decisions("hello"))) == PRESSES // 2


def test_admin_writes_survive_lost_replies(proxied: tuple[DynamoDBStore, LossyProxy]) -> None:
    """Meta and documents are written under optimistic concurrency: a retried write that
    was applied must not be taken for a conflict (and done twice)."""
    store, proxy = proxied
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(4),
                            clock=FakeClock())
    generations = [service.reset("hello") for _ in range(6)]
    assert generations == [1, 2, 3, 4, 5, 6]
    ring = KeyRing(store)
    names = [f"app-{i}" for i in range(6)]
    for name in names:
        ring.create(name, "decide")
    assert sorted(k.name for k in ring.list()) == names
    assert service.cheat("hello", "a", "1101") == 4
    stats = store.read_stats("hello", 6, None, ("a",))
    assert (stats.pulls[0], stats.total[0]) == (4.0, 3.0)
    assert proxy.lost >= 4


def test_folded_epoch_counts_survive_lost_replies(
        proxied: tuple[DynamoDBStore, LossyProxy]) -> None:
    """Epoch counts too old to weigh move into one total on the condition that they still
    hold what was read: a retried update that was applied finds them gone and adds nothing
    again, so the counts keep adding up to the rewards."""
    from .test_store_conformance import _decision

    store, proxy = proxied
    for arm in ("a", "b", "a", "b"):
        d = _decision(arm=arm)
        store.record_decision(d)
        store.apply_reward(d.id, 1.0, 1.0, {f"ec.{e}@30.0": 1.0 for e in range(6)})
    for e in range(5):
        store.drop_extra("e", 0, [f"ec.{e}@30.0"], keep_total="ec.base@30.0")
    extra = store.read_stats("e", 0, None, ("a", "b")).extra
    assert extra["a"] == pytest.approx({"ec.base@30.0": 10.0, "ec.5@30.0": 2.0})
    assert extra["b"] == pytest.approx({"ec.base@30.0": 10.0, "ec.5@30.0": 2.0})
    assert proxy.lost >= 3


def test_bucket_items_dropped_under_lost_replies_leave_nothing_behind(
        proxied: tuple[DynamoDBStore, LossyProxy]) -> None:
    """A bucket item whose buckets all age out is deleted on the condition that they still
    hold what was read. A retried delete that was applied finds the item gone: it must not
    make it again, empty, by removing its fields (a review found such an item then broke
    every later read of all scopes, and so the pruning). The buckets left read back whole."""
    from .test_store_conformance import _decision

    store, proxy = proxied
    for i in range(6):  # buckets 0–5 in item 0, 32–37 in item 1 (32 a bucket item)
        for index in (i, 32 + i):
            d = _decision(arm="a")
            store.record_decision(d)
            store.apply_reward(d.id, 1.0, 1.0, {f"tb.{index}.n@60.0": 1.0})
    for _ in range(4):  # (each read and delete again: a second pruner, a retried call)
        store.drop_extra("e", 0, [f"tb.{i}.n@60.0" for i in range(6)])
    stats = store.read_stats("e", 0, None, ("a", "b"))
    assert stats.extra["a"] == {f"tb.{32 + i}.n@60.0": 1.0 for i in range(6)}
    assert stats.n[0] == 12
    assert proxy.lost >= 3
