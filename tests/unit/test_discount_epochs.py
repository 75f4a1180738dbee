"""A discount's statistics from its epochs' weighted sums: exact in time where an epoch
holds every reward, from the time buckets where not (a switch of half-life, rewards from
before epochs were counted), and nothing counted twice or lost either way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, MemoryStore, SQLiteStore, parse_config
from banditbot.policies import ArmStats, Policy, make_policy
from banditbot.stores import Store

from ..conftest import FakeClock

BUCKET = 30.0
EPOCH = 256 * BUCKET  # seconds in an epoch of 256 buckets


def _service(store: Store, clock: FakeClock, half_life: float) -> BanditService:
    return BanditService(parse_config({"experiments": [{
        "id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
        "policy": {"name": "discounted-thompson", "half_life": half_life},
        "time_bucket_seconds": BUCKET, "burn_in": 0, "floor": 0}]}), store,
        rng=np.random.default_rng(1), clock=clock)


def run_rates(svc: BanditService, clock: FakeClock, steps: int, seed: int,
              rewards: dict[str, list[tuple[float, int]]], step: float = 41.0) -> None:
    """``steps`` decisions on experiment e, ``step`` seconds apart, each rewarded at once
    (arm a at 0.7, b at 0.4; seeded), added to ``rewards`` as (time, value)."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        clock.advance(step)
        d = svc.decide("e", "u")
        value = int(rng.random() < (0.7 if d.arm == "a" else 0.4))
        svc.reward(d.id, value, "u")
        rewards[d.arm].append((clock.now, value))


def weighed_chances(policy: Policy, rewards: dict[str, list[tuple[float, int]]],
                    weight: Callable[[float], float]) -> list[float]:
    """``policy``'s chances for arms a and b on their rewards (time, value) weighed by hand
    by ``weight(time)``."""
    tw_n = np.array([sum(weight(t) for t, _ in rewards[a]) for a in "ab"])
    tw_s = np.array([sum(weight(t) * v for t, v in rewards[a]) for a in "ab"])
    n = np.array([len(rewards[a]) for a in "ab"], dtype=float)
    s = np.array([sum(v for _, v in rewards[a]) for a in "ab"], dtype=float)
    stats = ArmStats(n, s, s, None, None, n, {"tw_n": tw_n, "tw_sums": tw_s,
                                              "tw_sums_sq": tw_s})
    return [float(p) for p in policy.probabilities(stats)]


def _expected(svc: BanditService, clock: FakeClock, half_life: float,
              rewards: dict[str, list[tuple[float, int]]], exact_after: float) -> list[float]:
    """The policy's chances on each arm's rewards weighed by hand: by their own age from
    ``exact_after`` (epochs that hold every reward), by their bucket's middle before it."""
    def weight(t: float) -> float:
        age = clock.now - t if t >= exact_after else \
            max(clock.now - ((t // BUCKET) + 0.5) * BUCKET, 0.0)
        return float(0.5 ** (age / half_life))

    return weighed_chances(make_policy("discounted-thompson", {"half_life": half_life}),
                           rewards, weight)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Store:
    if request.param == "memory":
        return MemoryStore()
    sqlite = SQLiteStore(tmp_path / "b.db")
    sqlite.init()
    return sqlite


def test_a_half_life_switched_mid_epoch_weighs_that_epoch_from_its_buckets(
        store: Store) -> None:
    """After a switch from a 20-minute half-life to a 10-minute one, the epochs before the
    switch (and the one it happened in) have no weighted sums of the new half-life: they
    are read from their buckets, the epochs after it exactly; every reward counts once."""
    clock = FakeClock(start=EPOCH * 1000 + 100.0)
    svc = _service(store, clock, 1200.0)
    rewards: dict[str, list[tuple[float, int]]] = {"a": [], "b": []}
    run_rates(svc, clock, 250, 2, rewards)  # into the second epoch
    switched_in = clock.now // EPOCH
    svc.switch_policy("e", "discounted-thompson", {"half_life": 600.0})
    run_rates(svc, clock, 250, 3, rewards)  # into the third
    assert clock.now // EPOCH == switched_in + 1
    clock.advance(5)
    d = svc.decide("e", "u")
    expected = _expected(svc, clock, 600.0, rewards, (switched_in + 1) * EPOCH)
    assert [d.probabilities[a] for a in "ab"] == pytest.approx(expected, abs=1e-9)


def test_rewards_from_before_epochs_were_counted_are_read_from_their_buckets(
        store: Store) -> None:
    """An experiment that ran before this version has buckets and no epochs (dropped here
    after its first rewards, as an older version left them): its arms' epoch counts fall
    short of their rewards, so the first counted epoch and those before it are read from
    their buckets, later ones exactly, and nothing is lost."""
    clock = FakeClock(start=EPOCH * 1000 + 100.0)
    svc = _service(store, clock, 600.0)
    rewards: dict[str, list[tuple[float, int]]] = {"a": [], "b": []}
    run_rates(svc, clock, 60, 2, rewards)
    fields = {name for f in store.read_stats("e", 0, "", ("a", "b")).extra.values()
              for name in f if not name.startswith("tb.")}
    assert fields and all(name.startswith(("ec.", "ew.")) for name in fields)
    store.drop_extra("e", 0, fields)  # as an older version wrote them: buckets alone
    run_rates(svc, clock, 250, 3, rewards)  # into the next epoch
    first_counted = (EPOCH * 1000 + 100.0 + 61 * 41) // EPOCH
    assert clock.now // EPOCH == first_counted + 1
    clock.advance(5)
    d = svc.decide("e", "u")
    expected = _expected(svc, clock, 600.0, rewards, (first_counted + 1) * EPOCH)
    assert [d.probabilities[a] for a in "ab"] == pytest.approx(expected, abs=1e-9)


def test_a_long_running_discount_decides_on_its_epochs_alone(store: Store) -> None:
    """Twelve epochs at a 10-minute half-life, a reward every 4 minutes: a decision's read
    leaves the buckets out, holds a bounded number of fields, and its chances are the exact
    discount of every reward."""
    clock = FakeClock(start=EPOCH * 1000 + 100.0)
    svc = _service(store, clock, 600.0)
    rewards: dict[str, list[tuple[float, int]]] = {"a": [], "b": []}
    run_rates(svc, clock, 400, 4, rewards, step=231)  # 12 epochs
    clock.advance(5)
    view = svc.view("e")
    lean = store.read_stats("e", 0, "", view.arms, time_buckets=False)
    assert view.weighs_without_buckets(lean, clock.now)
    assert all(len(f) < 60 for f in lean.extra.values())  # not every bucket's fields
    # parts of the epochs' sums (128 buckets each at this half-life) and epochs' counts
    # older than 50 half-lives are dropped, the counts into one total: together they are
    # the arm's rewards still, in a number of fields that does not grow
    names = lean.extra["a"]
    parts = {int(name.split(".")[1]) for name in names if name.startswith("ew.")}
    counted = {int(name.split(".")[1].split("@")[0]) for name in names
               if name.startswith("ec.") and not name.startswith("ec.base")}
    assert len(counted) <= 6 and len(parts) <= 10 and max(parts) // 2 == max(counted)
    assert sum(v for name, v in names.items() if name.startswith("ec.")) == \
        len(rewards["a"]) and names["ec.base@30.0"] > 0
    d = svc.decide("e", "u")
    expected = _expected(svc, clock, 600.0, rewards, 0.0)
    assert [d.probabilities[a] for a in "ab"] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("longer", [60.0, 15.0])
def test_a_change_of_bucket_length_keeps_every_reward_at_its_age(store: Store,
                                                                 longer: float) -> None:
    """Fields name the bucket length they were written with. Changed from 30-second
    buckets to 60 (or 15), a new user's trial saw the discount follow the old data (old
    buckets read on the new grid were twice as old, or in the future) or forget it all, and
    before that every decision raised OverflowError (the old epochs). Now the old buckets
    keep their times: each reward weighs by its age, by its bucket's middle on its own grid
    until the new grid's epochs hold every reward, exactly after."""
    clock = FakeClock(start=EPOCH * 1000 + 100.0)
    svc = _service(store, clock, 600.0)
    rewards: dict[str, list[tuple[float, int]]] = {"a": [], "b": []}
    run_rates(svc, clock, 300, 2, rewards)
    changed_at = clock.now
    svc = BanditService(parse_config({"experiments": [{
        "id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
        "policy": {"name": "discounted-thompson", "half_life": 600.0},
        "time_bucket_seconds": longer, "burn_in": 0, "floor": 0}]}), store,
        rng=np.random.default_rng(5), clock=clock)
    span = 256 * longer
    first = (changed_at + 41) // span  # the new grid's first epoch: it lacks the old rewards
    steps = int(((first + 1) * span - changed_at) // 41) + 20
    run_rates(svc, clock, steps, 3, rewards)
    clock.advance(7)
    d = svc.decide("e", "u")

    def weight(t: float) -> float:
        grid = BUCKET if t <= changed_at else longer
        age = clock.now - t if t >= (first + 1) * span else \
            max(clock.now - ((t // grid) + 0.5) * grid, 0.0)
        return float(0.5 ** (age / 600.0))

    expected = weighed_chances(make_policy("discounted-thompson", {"half_life": 600.0}),
                               rewards, weight)
    assert [d.probabilities[a] for a in "ab"] == pytest.approx(expected, abs=1e-9)


class _Recording(MemoryStore):
    """A memory store that keeps the additive fields of every reward it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.added: list[dict[str, float]] = []

    def apply_reward(self, decision_id: str, value: float, rewarded_at: float,
                     extra: Any = None, **kwargs: Any) -> Any:
        self.added.append(dict(extra or {}))
        return super().apply_reward(decision_id, value, rewarded_at, extra, **kwargs)


def test_weighted_sums_stay_within_dynamodb_digits() -> None:
    """DynamoDB adds numbers exactly and refuses a sum of more than 38 significant digits
    (the reward's write would then fail). A part of an epoch spans at most 8 half-lives, so
    a reward's factor is at most 2**8: 3,000 rewards, with buckets as long as the
    half-life (the longest the config allows), over one epoch, sum within 26 digits a part
    as DynamoDB would add their written forms (one sum an epoch, with factors up to 2**256,
    passed 38 digits after ~600 rewards)."""
    from decimal import Decimal, localcontext

    from banditbot.stores._dynamodb import _num

    store = _Recording()
    span = 256 * 60.0
    clock = FakeClock(start=(1_700_000_000 // span) * span)  # an epoch's start
    svc = BanditService(parse_config({"experiments": [{
        "id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
        "policy": {"name": "discounted-thompson", "half_life": 60},
        "time_bucket_seconds": 60, "burn_in": 0}]}), store, rng=np.random.default_rng(1),
        clock=clock)
    for i in range(3_000):
        d = svc.decide("e", "u")
        svc.reward(d.id, i % 2, "u")
        clock.advance(span / 3_000)
    with localcontext() as ctx:
        ctx.prec = 400
        sums: dict[str, Decimal] = {}
        for fields in store.added:
            for name, value in fields.items():
                if name.startswith("ew."):
                    sums[name] = sums.get(name, Decimal(0)) + Decimal(_num(value)["N"])
        parts = {name.split(".")[1] for name in sums}
        digits = max(len(v.normalize().as_tuple().digits) for v in sums.values())
    assert len(parts) == 32  # of 8 buckets each
    assert digits <= 26


def test_buckets_changed_and_changed_back_keep_the_rewards_between(store: Store) -> None:
    """An experiment old enough to have folded its first epochs' counts into a total,
    moved from 30-second buckets to 60-second ones and back: the rewards of the 60-second
    spell were left out of the discount (a review: 5.9 and 11.4 weighted rewards where
    13.0 and 24.4 were given). Each reward now weighs by its age (exactly, or by its
    bucket's middle: within 1% at this half-life)."""
    clock = FakeClock(start=EPOCH * 1000 + 100.0)
    times: dict[str, list[float]] = {"a": [], "b": []}
    for bucket, steps, step in ((30, 800, 231), (60, 60, 41), (30, 20, 41)):
        svc = BanditService(parse_config({"experiments": [{
            "id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
            "policy": {"name": "discounted-thompson", "half_life": 1200},
            "time_bucket_seconds": bucket, "burn_in": 0, "floor": 0}]}), store,
            rng=np.random.default_rng(bucket + steps), clock=clock)
        for _ in range(steps):
            clock.advance(step)
            d = svc.decide("e", "u")
            svc.reward(d.id, 1, "u")
            times[d.arm].append(clock.now)
    clock.advance(5)
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert "ec.base@30.0" in table.extra["a"]  # (old enough to have folded epochs)
    got = svc.view("e").policy_stats(table, now=clock.now).extra["tw_n"]  # (0/1: unscaled)
    want = [sum(0.5 ** ((clock.now - t) / 1200.0) for t in times[a]) for a in "ab"]
    assert got.tolist() == pytest.approx(want, rel=0.01)
