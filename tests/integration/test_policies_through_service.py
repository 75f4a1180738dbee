"""Every registered policy runs through the service, on every store (memory, SQLite, and
DynamoDB on a local moto server); on PostgreSQL a representative few, one per kind of
statistics a policy reads (core counters, linear sums, importance weights, time buckets)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, MemoryStore, PolicyError, parse_config
from banditbot.policies import available_policies, make_policy

from ..conftest import BACKENDS, FakeClock

FEATURES = [
    {"name": "hour", "type": "cyclic", "period": 24},
    {"name": "language_code", "type": "categorical", "values": ["en", "de"]},
    {"name": "is_premium", "type": "numeric"},
]


def config(policy: str, **more: Any) -> Any:
    # a non-stationary policy names its half-life or window in the service (1000 s here)
    weighting = make_policy(policy, {}).time_weighting()
    spec: Any = policy if weighting is None else \
        {"name": policy, "half_life" if weighting[0] == "discount" else "window": 1000}
    return parse_config({"experiments": [{
        "id": "e", "arms": [{"id": a, "content": a} for a in ("a", "b", "c")],
        "policy": spec, "features": FEATURES, "time_bucket_seconds": 60,
        "track_ips": True, "reward": {"type": "rating", "min": 1, "max": 5}, **more}]})


#: On the network stores, one policy per kind of statistics it reads (plain counts, importance-
#: weighted sums, time buckets, linear sums): the store's part is the same for the others.
NETWORK_REPRESENTATIVES = ("thompson", "exp3", "discounted-thompson", "lin-thompson")
CASES = [pytest.param(backend, policy, id=f"{backend}-{policy}")
         for backend in BACKENDS for policy in sorted(available_policies())
         if backend in ("memory", "sqlite") or policy in NETWORK_REPRESENTATIVES]


@pytest.mark.parametrize(("backend", "policy"), CASES)
def test_policy_decides_and_learns_through_the_service(backend: str, policy: str,
                                                       store_factory: Any) -> None:
    clock = FakeClock()
    svc = BanditService(config(policy), store_factory(backend), rng=np.random.default_rng(3),
                        clock=clock)
    truth = {"a": 2.0, "b": 4.5, "c": 3.0}
    rng = np.random.default_rng(4)
    # learning is shown on the local stores; a network store shows its part (every kind of
    # statistics read and written through it) in fewer rounds
    local = backend in ("memory", "sqlite")
    rounds = 120 if local else 40
    for i in range(rounds):
        clock.advance(30)
        ctx = {"hour": i % 24, "language_code": ["en", "de", "fr"][i % 3],
               "is_premium": bool(i % 2)}
        d = svc.decide("e", f"u{i % 7}", ctx)
        assert 0 < d.propensity <= 1
        assert sum(d.probabilities.values()) == pytest.approx(1.0)
        rating = int(np.clip(round(rng.normal(truth[d.arm], 0.5)), 1, 5))
        assert svc.reward(d.id, rating, f"u{i % 7}").applied
    rep = svc.report("e")
    assert rep.total_answered == rounds
    assert sum(a.allocation for a in rep.arms) == pytest.approx(1.0)
    for r in svc.decisions("e"):
        assert r.context is not None and r.probability_of()[r.arm] == pytest.approx(
            r.propensity)
    if local and policy not in ("exp3", "softmax", "top-two-thompson", "epsilon-greedy"):
        # learners that exploit: the best arm ('b') got the most traffic
        pulls = {a.arm: a.pulls for a in rep.arms}
        assert max(pulls, key=lambda k: pulls[k]) == "b", pulls


def test_network_representatives_cover_every_kind_of_statistics() -> None:
    """What the network store is tested with reaches every kind of statistics a policy can
    need (the reason the others may be left to memory and SQLite)."""
    def kinds(names: Any) -> set[frozenset[Any]]:
        return {frozenset(available_policies()[n].needs_extra) for n in names}

    assert kinds(NETWORK_REPRESENTATIVES) == kinds(available_policies())


def test_switching_between_contextual_and_plain_keeps_statistics() -> None:
    clock = FakeClock()
    svc = BanditService(config("thompson", burn_in=0, floor=0), MemoryStore(),
                        rng=np.random.default_rng(1), clock=clock)
    for _i in range(20):
        clock.advance(1)
        d = svc.decide("e", "u", {"hour": 9, "language_code": "de"})
        svc.reward(d.id, 5 if d.arm == "b" else 1, "u")
    before = [(a.arm, a.answered, a.reward_sum) for a in svc.report("e").arms]
    svc.switch_policy("e", "linucb")
    d = svc.decide("e", "u", {"hour": 9, "language_code": "de"})
    assert d.arm == "b"  # learned through the linear statistics kept all along
    svc.reward(d.id, 5, "u")
    svc.switch_policy("e", "thompson")
    after = {a.arm: (a.answered, a.reward_sum) for a in svc.report("e").arms}
    for arm, rewards, total in before:
        assert after[arm][0] >= rewards and after[arm][1] >= total
    assert sum(v[0] for v in after.values()) == 21


def test_policies_needing_more_statistics_explain_what_to_configure() -> None:
    plain = parse_config({"experiments": [{"id": "p", "arms": [{"id": "a", "content": "A"},
                                                               {"id": "b", "content": "B"}]}]})
    svc = BanditService(plain, MemoryStore())
    for name, hint in [("linucb", "features"), ("discounted-thompson", "time_bucket_seconds"),
                       ("sliding-window-ucb", "time_bucket_seconds")]:
        with pytest.raises(PolicyError) as err:
            svc.switch_policy("p", name)
        assert hint in str(err.value)


def test_exp3_switch_needs_ips_tracking() -> None:
    plain = parse_config({"experiments": [{"id": "p", "arms": [{"id": "a", "content": "A"},
                                                               {"id": "b", "content": "B"}]}]})
    with pytest.raises(PolicyError) as err:
        BanditService(plain, MemoryStore()).switch_policy("p", "exp3")
    assert "track_ips" in str(err.value)


@pytest.mark.slow
def test_discounted_policy_follows_a_swap_through_time_buckets() -> None:
    """Arm a is best (0.60 vs 0.45) for an hour, then arm b: in the 20 minutes after the
    swap, discounted TS (half-life 10 min, 30 s buckets) sends more traffic to b than plain
    Thompson sampling, weighed down by the first hour. Fixed seeds. Over 30 seeds discounted
    TS gave b 0.61 of the traffic after the swap and plain TS 0.14 (mostly ~0.02, now and
    then most of it: a first hour that did not settle); their difference per seed was 0.47,
    sd 0.24. The bound on the mean difference of six seeds, 0.15, is 3.3 sd of that mean
    below 0.47 (a bootstrap of the 30 differences put a false failure below 1 in 1,000);
    and discounted TS must send b most of what it saw over those seeds: its mean share of
    six, sd 0.08, above 0.4 (2.6 sd below 0.61, about 1 in 200)."""
    shares: dict[str, list[float]] = {"discounted-thompson": [], "thompson": []}
    for seed in range(1, 7):
        for policy in shares:
            cfg = parse_config({"experiments": [{
                "id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
                "policy": {"name": policy, **({"half_life": 600} if policy != "thompson"
                                              else {})},
                "time_bucket_seconds": 30}]})
            clock = FakeClock()
            svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(seed),
                                clock=clock)
            rng = np.random.default_rng(seed + 100)
            after_swap = []
            for step in range(1700):
                clock.advance(3)
                rates = {"a": 0.6, "b": 0.45} if step < 1200 else {"a": 0.45, "b": 0.6}
                d = svc.decide("e", "u")
                svc.reward(d.id, int(rng.random() < rates[d.arm]), "u")
                if step >= 1300:
                    after_swap.append(d.arm == "b")
            shares[policy].append(float(np.mean(after_swap)))
    gap = np.mean(shares["discounted-thompson"]) - np.mean(shares["thompson"])
    assert gap > 0.15 and np.mean(shares["discounted-thompson"]) > 0.4, shares


@pytest.mark.parametrize(("policy", "kept_seconds"), [
    ({"name": "discounted-thompson", "half_life": 60}, 50 * 60),
    ({"name": "sw-ucb", "window": 300}, 300),
])
def test_time_buckets_the_policy_no_longer_weighs_are_dropped(policy: dict[str, Any],
                                                              kept_seconds: float) -> None:
    """A non-stationary policy read every time bucket the experiment ever had on each
    decision (a decision cost grew by ~4 us per bucket: 0.7 ms at 100 buckets, 1.8 ms at
    400), and on DynamoDB the buckets pile up in one stats item (400 KB at most). Buckets
    outside a sliding window, or older than 50 half-lives of a discount, are dropped as
    new ones open; the decisions, and the report, go on."""
    cfg = parse_config({"experiments": [{
        "id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
        "policy": policy, "time_bucket_seconds": 30}]})
    clock = FakeClock()
    store = MemoryStore()
    svc = BanditService(cfg, store, rng=np.random.default_rng(1), clock=clock)
    rng = np.random.default_rng(2)
    for _ in range(2000):  # 6,000 s: 200 buckets of 30 s
        clock.advance(3)
        d = svc.decide("e", "u")
        svc.reward(d.id, int(rng.random() < 0.5), "u")
    extra = store.read_stats("e", 0, None, ("a", "b")).extra
    buckets = {int(name.split(".")[1]) for fields in extra.values() for name in fields
               if name.startswith("tb.")}
    newest = int(clock() // 30)
    assert max(buckets) == newest
    assert min(buckets) >= newest - kept_seconds / 30 - 1  # only what still weighs
    assert len(buckets) <= kept_seconds / 30 + 2 < 200
    assert svc.report("e").total_answered == 2000


def test_dropping_old_buckets_never_costs_a_reward(caplog: pytest.LogCaptureFixture) -> None:
    """The drop runs after the reward is written, once per bucket across processes (a
    claim), and a failure of it is logged, not the reward's: rewards were applied only
    after the housekeeping, and its failure failed them."""

    class Failing(MemoryStore):
        def drop_extra(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("the disk is full")

    cfg = parse_config({"experiments": [{
        "id": "e", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
        "policy": {"name": "sw-ucb", "window": 60}, "time_bucket_seconds": 30}]})
    clock = FakeClock()
    store = Failing()
    one = BanditService(cfg, store, rng=np.random.default_rng(1), clock=clock)
    two = BanditService(cfg, store, rng=np.random.default_rng(2), clock=clock)
    first = int(clock() // 30)
    for step in range(100):  # 300 s: ten buckets, most of them outside the window
        clock.advance(3)
        svc = one if step % 2 else two
        d = svc.decide("e", "u")
        assert svc.reward(d.id, 1, "u").applied
    assert one.report("e").total_answered == 100
    assert "could not drop old time buckets" in caplog.text
    # every bucket that opened after the first was claimed (by one of the two services)
    opened = range(first + 1, int(clock() // 30) + 1)
    assert len(opened) >= 9
    assert not any(store.claim_key(f"prune:e:0:{k}", 1) for k in opened)
