"""One conformance suite for every store backend (memory, SQLite, DynamoDB).

It pins the invariants of DESIGN.md:
1. no lost update under concurrent writers;
2. exactly-once reward, applied to the decided arm;
3. statistics == fold(decision log) after any sequence of operations;
4. logged propensities in (0, 1], probability vectors summing to 1;
5. bad input changes nothing.
"""

from __future__ import annotations

import math
import random
import secrets
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, RewardStatus
from banditbot.stores import (
    AdminRecord,
    ApplyResult,
    DecisionRecord,
    ExperimentMeta,
    ResolvedVector,
    Store,
)


def _decision(exp: str = "e", arm: str = "a", *, scope: str = "", subject: str = "u1",
              t: float = 1000.0, generation: int = 0, arms: tuple[str, ...] = ("a", "b"),
              context: dict[str, Any] | None = None) -> DecisionRecord:
    p = np.full(len(arms), 1.0 / len(arms))
    return DecisionRecord(
        id=secrets.token_urlsafe(16), experiment=exp, generation=generation, scope=scope,
        arm=arm, propensity=float(p[arms.index(arm)]), arms=arms, probabilities=p,
        policy='{"name":"test"}', subject=subject, created_at=t, context=context)


def fold(store: Store, experiment: str, generation: int) -> dict[tuple[str, str], list[float]]:
    """Statistics recomputed from the decision log: (scope, arm) -> [pulls, n, total, sq]."""
    out: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for r in store.iter_decisions(experiment, generation=generation):
        row = out[(r.scope, r.arm)]
        row[0] += 1
        if r.reward is not None:
            row[1] += r.weight
            row[2] += r.weight * r.reward
            row[3] += r.weight * r.reward * r.reward
    return out


def assert_stats_equal_fold(store: Store, experiment: str, generation: int,
                            arms: tuple[str, ...]) -> None:
    folded = fold(store, experiment, generation)
    scopes = {scope for scope, _ in folded} | {""}
    for scope in scopes:
        table = store.read_stats(experiment, generation, scope, arms)
        for i, arm in enumerate(arms):
            expected = folded.get((scope, arm), [0.0] * 4)
            got = [table.pulls[i], table.n[i], table.total[i], table.total_sq[i]]
            assert got == pytest.approx(expected, abs=1e-9), (scope, arm)
        # the decision path's read of the same counters, as Python floats
        counts = store.read_counts(experiment, generation, scope, arms)
        assert [list(map(float, c)) for c in counts] == [
            table.pulls.tolist(), table.n.tolist(), table.total.tolist(),
            table.total_sq.tolist()], scope


# --- round trips ------------------------------------------------------------------------------
def test_decision_round_trip_keeps_every_field(store: Store) -> None:
    d = _decision(context={"hour": 9, "lang": "de"}, arms=("a", "b", "c"))
    store.record_decision(d)
    got = store.get_decision(d.id)
    assert got is not None
    assert (got.experiment, got.arm, got.subject, got.scope, got.kind) == ("e", "a", "u1", "",
                                                                         "policy")
    assert got.arms == ("a", "b", "c")
    assert got.probabilities.tolist() == pytest.approx([1 / 3] * 3)
    assert got.propensity == pytest.approx(1 / 3)
    assert got.context == {"hour": 9, "lang": "de"}
    assert got.created_at == pytest.approx(1000.0)
    assert got.reward is None
    assert store.get_decision("no-such-decision-id-123") is None


def test_a_deferred_decision_keeps_its_posterior_and_says_so(store: Store) -> None:
    """A decision drawn from a posterior (its exact propensity computed later) comes back
    with the posterior it was drawn from, no vector and an unknown propensity, from a
    whole-record read, a scan and a projection alike; its reward counts as any other."""
    posterior = np.array([0.03, 2.0, 5.5, 1.25, 8.0, 3.0, 1.0])  # λ, a (3 arms), b
    d = _decision(arms=("a", "b", "c"))._replace(
        propensity=math.nan, probabilities=np.empty(0), posterior=posterior)
    exact = _decision(arms=("a", "b", "c"), t=1001.0)
    for record in (d, exact):
        store.record_decision(record)
    got = store.get_decision(d.id)
    assert got is not None and got.propensity_from == "posterior"
    assert got.posterior is not None and got.posterior.tolist() == posterior.tolist()
    assert math.isnan(got.propensity) and got.probabilities.size == 0
    scanned = {r.id: r for r in store.iter_decisions("e", generation=0)}
    assert scanned[d.id].posterior.tolist() == posterior.tolist()  # type: ignore[union-attr]
    assert scanned[exact.id].propensity_from == "decision" and \
        scanned[exact.id].probabilities.tolist() == pytest.approx([1 / 3] * 3)
    rows = list(store.iter_fields("e", ("id", "propensity", "probabilities", "posterior"),
                                  generation=0))
    by_id = {row[0]: row for row in rows}
    assert math.isnan(by_id[d.id][1]) and by_id[d.id][2].size == 0
    assert by_id[d.id][3].tolist() == posterior.tolist()
    assert by_id[exact.id][1] == pytest.approx(1 / 3) and by_id[exact.id][3] is None
    assert store.apply_reward(d.id, 1.0, 1002.0) is ApplyResult.APPLIED
    assert store.read_stats("e", 0, "", ("a", "b", "c")).n.tolist() == [1.0, 0.0, 0.0]
    # the vector computed from it, kept (a store may keep none: DynamoDB; then the reader
    # computes it again), never a different one; a second keep changes nothing
    vector = np.array([0.7, 0.2, 0.1])
    store.keep_vectors([ResolvedVector(d.id, posterior, vector, 0.7),
                        ResolvedVector(exact.id, posterior, vector, 0.7)])  # not deferred
    store.keep_vectors([ResolvedVector(d.id, posterior, np.array([0.1, 0.1, 0.8]), 0.1)])
    kept = store.get_decision(d.id)
    assert kept is not None and kept.posterior is not None
    assert kept.posterior.tolist() == posterior.tolist() and kept.reward == 1.0
    if "dynamodb" not in store.url:
        assert kept.probabilities.tolist() == [0.7, 0.2, 0.1] and kept.propensity == 0.7
        rows = {row[0]: row for row in store.iter_fields(
            "e", ("id", "propensity", "probabilities", "posterior"), generation=0)}
        assert rows[d.id][1] == 0.7 and rows[d.id][2].tolist() == [0.7, 0.2, 0.1]
        assert rows[d.id][3].tolist() == posterior.tolist()
    else:
        assert kept.probabilities.size == 0
    untouched = store.get_decision(exact.id)
    assert untouched is not None and untouched.posterior is None
    assert untouched.probabilities.tolist() == pytest.approx([1 / 3] * 3)


def test_a_decision_adds_one_pull_to_its_arm_only(store: Store) -> None:
    store.record_decision(_decision(arm="b"))
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.pulls.tolist() == [0, 1]
    assert table.n.tolist() == [0, 0]


# --- invariant 2: exactly once, on the decided arm --------------------------------------------
def test_reward_is_applied_once_and_second_call_says_duplicate(store: Store) -> None:
    d = _decision(arm="b")
    store.record_decision(d)
    assert store.apply_reward(d.id, 1.0, 1001.0, None) is ApplyResult.APPLIED
    assert store.apply_reward(d.id, 1.0, 1002.0, None) is ApplyResult.DUPLICATE
    assert store.apply_reward(d.id, 0.0, 1003.0, None) is ApplyResult.DUPLICATE
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.n.tolist() == [0, 1]
    assert table.total.tolist() == [0, 1]
    got = store.get_decision(d.id)
    assert got is not None and got.reward == 1.0 and got.rewarded_at == pytest.approx(1001.0)


def test_a_forged_known_record_cannot_choose_the_arm(store: Store) -> None:
    d = _decision(arm="a")
    store.record_decision(d)
    store.read_counts("e", 0, "", ("a", "b"))  # (a store that caches its counters has them)
    lie = d._replace(arm="b")  # a caller claiming the decision was for arm b
    assert store.apply_reward(d.id, 1.0, 5.0, None, known=lie) is ApplyResult.APPLIED
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.n.tolist() == [1, 0]  # counted on the arm that was decided
    assert store.read_counts("e", 0, "", ("a", "b")).n == [1, 0]  # and read so
    assert store.apply_reward(d.id, 1.0, 6.0, None, known=d) is ApplyResult.DUPLICATE


def test_unknown_decision_reward_changes_nothing(store: Store) -> None:
    d = _decision()
    store.record_decision(d)
    before = store.read_stats("e", 0, "", ("a", "b"))
    forged = secrets.token_urlsafe(16)
    assert store.apply_reward(forged, 1.0, 1.0, None) is ApplyResult.UNKNOWN
    after = store.read_stats("e", 0, "", ("a", "b"))
    assert after.n.tolist() == before.n.tolist()
    assert store.get_decision(forged) is None


@pytest.mark.slow
def test_concurrent_double_reward_is_applied_once(store: Store) -> None:
    decisions = [_decision(arm="a") for _ in range(20)]
    for d in decisions:
        store.record_decision(d)
    barrier = threading.Barrier(4)

    def press(d: DecisionRecord) -> ApplyResult:
        barrier.wait()
        return store.apply_reward(d.id, 1.0, 2000.0, None)

    with ThreadPoolExecutor(4) as pool:
        for d in decisions:
            results = list(pool.map(press, [d] * 4))
            assert results.count(ApplyResult.APPLIED) == 1
            assert results.count(ApplyResult.DUPLICATE) == 3
    assert store.read_stats("e", 0, "", ("a", "b")).n.tolist() == [20, 0]


# --- invariant 1: no lost update --------------------------------------------------------------
@pytest.mark.slow
def test_concurrent_writers_lose_no_update(store: Store) -> None:
    # 16 writers at once on every store; fewer rounds each over the network store's HTTP
    threads, per_thread = 16, 6 if store.url.startswith("dynamodb") else 12
    arms = ("a", "b", "c")
    rng = np.random.default_rng(3)
    plan = [[(arms[int(rng.integers(3))], float(rng.integers(0, 2))) for _ in range(per_thread)]
            for _ in range(threads)]

    def worker(items: list[tuple[str, float]]) -> None:
        for arm, value in items:
            d = _decision(arm=arm, arms=arms)
            store.record_decision(d)
            assert store.apply_reward(d.id, value, 1.0, None) is \
                ApplyResult.APPLIED

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, plan))
    table = store.read_stats("e", 0, "", arms)
    flat = [x for items in plan for x in items]
    for i, arm in enumerate(arms):
        assert table.pulls[i] == sum(1 for a, _ in flat if a == arm)
        assert table.n[i] == sum(1 for a, _ in flat if a == arm)
        assert table.total[i] == sum(v for a, v in flat if a == arm)
    assert_stats_equal_fold(store, "e", 0, arms)


# --- scopes, generations, extra fields ---------------------------------------------------------
def test_scopes_are_separate_and_none_sums_them(store: Store) -> None:
    for scope, arm, value in [("chat:1", "a", 1.0), ("chat:1", "a", 0.0), ("chat:2", "a", 1.0),
                              ("chat:2", "b", 1.0)]:
        d = _decision(arm=arm, scope=scope)
        store.record_decision(d)
        store.apply_reward(d.id, value, 1.0, None)
    one = store.read_stats("e", 0, "chat:1", ("a", "b"))
    both = store.read_stats("e", 0, None, ("a", "b"))
    assert one.n.tolist() == [2, 0] and one.total.tolist() == [1, 0]
    assert both.n.tolist() == [3, 1] and both.total.tolist() == [2, 1]


def test_the_counters_as_floats_follow_the_asked_order(store: Store) -> None:
    for scope, arm, value in [("chat:1", "a", 1.0), ("chat:1", "a", 0.5), ("chat:1", "b", 0.0),
                              ("chat:2", "b", 1.0)]:
        d = _decision(arm=arm, scope=scope)
        store.record_decision(d)
        store.apply_reward(d.id, value, 1.0, None)
    store.record_decision(_decision(arm="b", scope="chat:1"))  # a pull with no answer yet
    counts = store.read_counts("e", 0, "chat:1", ("b", "new", "a"))
    assert counts.pulls == [2.0, 0.0, 2.0] and counts.n == [1.0, 0.0, 2.0]
    assert counts.total == [0.0, 0.0, 1.5] and counts.total_sq == [0.0, 0.0, 1.25]
    assert all(type(x) is float for column in counts for x in column)
    assert store.read_counts("e", 0, "chat:9", ("a", "b")).n == [0.0, 0.0]  # no such bandit
    assert store.read_counts("e", 0, "chat:2", ("a", "b")).total == [0.0, 1.0]


def test_generations_are_separate(store: Store) -> None:
    d0 = _decision(generation=0)
    d1 = _decision(generation=1, arm="b")
    for d in (d0, d1):
        store.record_decision(d)
        store.apply_reward(d.id, 1.0, 1.0, None)
    assert store.read_stats("e", 1, "", ("a", "b")).n.tolist() == [0, 1]
    assert store.read_stats("e", 0, "", ("a", "b")).n.tolist() == [1, 0]
    assert [r.id for r in store.iter_decisions("e", generation=1)] == [d1.id]


def test_extra_fields_are_additive(store: Store) -> None:
    for value in (1.0, 0.5):
        d = _decision(arm="a")
        store.record_decision(d)
        store.apply_reward(d.id, value, 1.0, {"x.0": value, "x.1": 2.0})
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.extra["a"] == pytest.approx({"x.0": 1.5, "x.1": 4.0})
    assert "b" not in table.extra


def test_old_extra_fields_can_be_dropped(store: Store) -> None:
    """Time buckets too old to weigh in any more are removed from every arm and scope of
    the generation (a long-running experiment read all of them on every decision, and a
    DynamoDB stats item would outgrow its 400 KB); other fields, other generations and the
    core counters stay, and a field that is not there is no error."""
    for scope, arm, gen in [("", "a", 0), ("chat:1", "b", 0), ("", "a", 1)]:
        d = _decision(arm=arm, scope=scope, generation=gen)
        store.record_decision(d)
        store.apply_reward(d.id, 1.0, 1.0, {"tb.1.n": 1.0, "tb.2.n": 1.0, "ips.n": 2.0})
    store.drop_extra("e", 0, ["tb.1.n", "tb.9.n"])
    for scope, arm in (("", "a"), ("chat:1", "b")):
        table = store.read_stats("e", 0, scope, ("a", "b"))
        assert table.extra[arm] == pytest.approx({"tb.2.n": 1.0, "ips.n": 2.0}), scope
        assert table.n[("a", "b").index(arm)] == 1.0
    assert store.read_stats("e", 1, "", ("a",)).extra["a"] == pytest.approx(
        {"tb.1.n": 1.0, "tb.2.n": 1.0, "ips.n": 2.0})
    store.drop_extra("e", 0, [])


def test_dropped_fields_can_keep_their_total(store: Store) -> None:
    """The counts of epochs too old to weigh are dropped into one running total per arm
    and scope, atomically (the epochs' counts must keep adding up to the arm's rewards);
    a second drop of the same fields (a retry) adds nothing, and other fields and
    generations stay."""
    for scope, arm, gen, weight in [("", "a", 0, 1.0), ("", "a", 0, 2.0), ("chat:1", "b", 0, 1.0),
                                    ("", "a", 1, 1.0)]:
        d = _decision(arm=arm, scope=scope, generation=gen)
        store.record_decision(d)
        store.apply_reward(d.id, 1.0, 1.0, {"ec.1@30.0": weight, "ec.2@30.0": 0.5,
                                            "ec.3@30.0": 1.0, "ips.n": 2.0})
    for _ in range(2):
        store.drop_extra("e", 0, ["ec.1@30.0", "ec.2@30.0", "ec.9@30.0"],
                         keep_total="ec.base@30.0")
    one = store.read_stats("e", 0, "", ("a", "b")).extra
    assert one["a"] == pytest.approx({"ec.base@30.0": 4.0, "ec.3@30.0": 2.0, "ips.n": 4.0})
    chat = store.read_stats("e", 0, "chat:1", ("a", "b")).extra
    assert chat["b"] == pytest.approx({"ec.base@30.0": 1.5, "ec.3@30.0": 1.0, "ips.n": 2.0})
    assert store.read_stats("e", 0, None, ("a", "b")).extra["a"]["ec.base@30.0"] == \
        pytest.approx(4.0)
    assert "ec.base@30.0" not in store.read_stats("e", 1, "", ("a",)).extra["a"]


def test_a_read_without_time_buckets_keeps_every_other_field(store: Store) -> None:
    """A discount whose epochs hold every reward decides without the time buckets: a read
    with ``time_buckets=False`` leaves out exactly the ``tb.*`` fields, of one scope and of
    all scopes summed, and keeps the epochs' sums, other fields (names around ``tb.`` in
    sort order among them) and the core counters."""
    for scope in ("", "chat:1"):
        d = _decision(arm="a", scope=scope)
        store.record_decision(d)
        store.apply_reward(d.id, 1.0, 1.0, {"tb.7.n": 1.0, "tb.70.s": 0.5, "ec.0": 1.0,
                                            "ew.0.n.60.0": 2.5, "ta.1": 3.0, "tc.1": 4.0,
                                            "tb": 5.0, "tbx.1": 6.0})
    kept = {"ec.0": 1.0, "ew.0.n.60.0": 2.5, "ta.1": 3.0, "tc.1": 4.0, "tb": 5.0, "tbx.1": 6.0}
    one = store.read_stats("e", 0, "", ("a", "b"), time_buckets=False)
    assert one.extra["a"] == pytest.approx(kept) and one.n.tolist() == [1.0, 0.0]
    summed = store.read_stats("e", 0, None, ("a", "b"), time_buckets=False)
    assert summed.extra["a"] == pytest.approx({k: 2 * v for k, v in kept.items()})
    assert summed.n.tolist() == [2.0, 0.0]
    assert store.read_stats("e", 0, "", ("a",)).extra["a"] == pytest.approx(
        {**kept, "tb.7.n": 1.0, "tb.70.s": 0.5})


def test_a_batch_gives_every_write_its_own_outcome(store: Store) -> None:
    """Group commit: decisions, rewards (a duplicate and an unknown one among them), extra
    fields and a nested block, all in one batch; afterwards every outcome is what the calls
    said and the statistics equal the fold of the log."""
    earlier = _decision(arm="a")
    store.record_decision(earlier)
    fresh = [_decision(arm=arm) for arm in ("a", "b", "b")]
    with store.batch():
        for d in fresh:
            store.record_decision(d)
        outcomes = [store.apply_reward(earlier.id, 1.0, 1001.0, {"x": 1.0}),
                    store.apply_reward(earlier.id, 0.0, 1002.0, None),
                    store.apply_reward(fresh[1].id, 1.0, 1003.0, None),
                    store.apply_reward("no-such-decision-id", 1.0, 1004.0, None)]
        with store.batch():  # nested: joins the outer block
            outcomes.append(store.apply_reward(fresh[2].id, 0.0, 1005.0, None))
    assert outcomes == [ApplyResult.APPLIED, ApplyResult.DUPLICATE, ApplyResult.APPLIED,
                        ApplyResult.UNKNOWN, ApplyResult.APPLIED]
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.pulls.tolist() == [2, 2] and table.n.tolist() == [1, 2]
    assert table.total.tolist() == [1, 1] and table.extra["a"] == pytest.approx({"x": 1.0})
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))
    assert store.apply_reward(fresh[1].id, 1.0, 1006.0, None) is ApplyResult.DUPLICATE


# --- idempotency keys of decisions -------------------------------------------------------------
def test_a_key_logs_one_decision_and_names_it_to_every_later_request(store: Store) -> None:
    """A decision logged with a key; a second decision with that key is not logged (no row,
    no pull) and is told the first one's record, fingerprint included (the caller compares
    it); another key logs its own; the record is read back by key."""
    first, second, other = _decision(arm="a"), _decision(arm="b"), _decision(arm="b")
    kept = store.record_keyed_decision(first, "key-1", "request-1", 3600.0)
    assert (kept.key, kept.fingerprint, kept.decision_id) == ("key-1", "request-1", first.id)
    assert store.record_keyed_decision(second, "key-1", "request-2", 3600.0) == kept
    assert store.get_decision(second.id) is None
    assert store.record_keyed_decision(other, "key-2", "request-1", 3600.0).decision_id == \
        other.id
    assert store.keyed_decision("key-1") == kept
    assert store.keyed_decision("never-sent") is None
    assert {r.id for r in store.iter_decisions("e")} == {first.id, other.id}
    assert store.read_stats("e", 0, "", ("a", "b")).pulls.tolist() == [1, 1]
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))


def test_a_keyed_decision_with_a_reward_is_refused_and_logs_nothing(store: Store) -> None:
    """A keyed decision is a request's policy decision: its reward comes later, through
    the reward path (a record carrying one is a caller's bug, refused by every backend)."""
    rewarded = _decision(arm="a")._replace(reward=1.0, rewarded_at=1001.0)
    with pytest.raises(ValueError, match="without its reward"):
        store.record_keyed_decision(rewarded, "key-r", "request", 3600.0)
    assert store.keyed_decision("key-r") is None and store.get_decision(rewarded.id) is None
    assert store.read_stats("e", 0, "", ("a", "b")).pulls.tolist() == [0, 0]


def test_an_expired_key_stands_for_nothing_and_can_be_taken_again(store: Store) -> None:
    old, new = _decision(arm="a"), _decision(arm="b")
    store.record_keyed_decision(old, "key", "request-1", -1.0)  # its time has passed
    assert store.keyed_decision("key") is None
    taken = store.record_keyed_decision(new, "key", "request-2", 3600.0)
    assert (taken.decision_id, taken.fingerprint) == (new.id, "request-2")
    assert store.keyed_decision("key") == taken
    assert store.read_stats("e", 0, "", ("a", "b")).pulls.tolist() == [1, 1]


def test_a_store_leaves_the_global_random_state_alone(store: Store) -> None:
    """An application that seeded Python's ``random`` gets the same draws with a store at
    work: the stores draw their jitter and now-and-then cleanups from their own generator
    (they drew from the global one, moving an application's seeded sequence and, in the
    tests, another thread's property-based draws). Warmed up first: psycopg's pool draws
    a new connection's lifetime from the global generator (in its own threads, at open).
    Not on DynamoDB: its emulator (moto) answers in a thread of this process and draws
    request ids from the global generator itself."""
    if type(store).__name__ == "DynamoDBStore":
        pytest.skip("the DynamoDB emulator runs in this process and draws from random")
    def work(tag: str) -> None:
        for i in range(30):
            store.record_keyed_decision(_decision(arm="a"), f"{tag}-key-{i}", "request",
                                        3600.0)
            assert store.claim_key(f"{tag}-claim-{i}", 60.0)

    work("warm-up")
    random.seed(7)
    state = random.getstate()
    work("seeded")
    assert random.getstate() == state


def test_concurrent_decisions_with_one_key_log_one(store: Store) -> None:
    """Eight writers race with one key (retries of one request arriving together): one
    decision is logged and every writer is told that one."""
    decisions = [_decision(arm=("a", "b")[i % 2]) for i in range(8)]
    barrier = threading.Barrier(len(decisions))

    def write(d: DecisionRecord) -> str:
        barrier.wait()
        return store.record_keyed_decision(d, "same-key", "request", 3600.0).decision_id

    with ThreadPoolExecutor(len(decisions)) as pool:
        told = set(pool.map(write, decisions))
    logged = [r.id for r in store.iter_decisions("e")]
    assert len(told) == 1 and logged == list(told)
    assert store.read_stats("e", 0, "", ("a", "b")).pulls.sum() == 1
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))


def test_a_key_in_a_batch_is_held_for_the_rest_of_the_batch(store: Store) -> None:
    """Group commit: two requests with one key in one batch log one decision."""
    first, second = _decision(arm="a"), _decision(arm="b")
    with store.batch():
        told = [store.record_keyed_decision(d, "key", "request", 3600.0).decision_id
                for d in (first, second)]
    assert told == [first.id, first.id]
    assert [r.id for r in store.iter_decisions("e")] == [first.id]
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))


# --- meta -------------------------------------------------------------------------------------
def test_meta_uses_optimistic_concurrency(store: Store) -> None:
    meta = store.read_meta("e")
    assert meta.generation == 0 and meta.version == 0
    assert store.write_meta("e", ExperimentMeta(generation=1, priors={"a": (2.0, 3.0)}))
    stale = meta  # version 0 again
    assert not store.write_meta("e", stale)
    current = store.read_meta("e")
    assert current.generation == 1 and current.priors == {"a": (2.0, 3.0)}
    assert store.write_meta("e", ExperimentMeta(generation=2, version=current.version))
    assert store.read_meta("e").generation == 2


# --- log access ---------------------------------------------------------------------------------
def test_iter_decisions_pages_in_time_order(store: Store) -> None:
    made = [_decision(t=1000.0 + i) for i in range(7)]
    for d in reversed(made):
        store.record_decision(d)
    first = list(store.iter_decisions("e", limit=3))
    assert [r.id for r in first] == [d.id for d in made[:3]]
    rest = list(store.iter_decisions("e", after_id=first[-1].id))
    assert [r.id for r in rest] == [d.id for d in made[3:]]
    assert [r.id for r in store.iter_decisions("e", since=1005.0)] == [d.id for d in made[5:]]


def test_iter_decisions_limits_the_rounds_of_one_generation_from_a_time(store: Store) -> None:
    """The filters together: the limit counts only the decisions the generation and the time
    let through (a report of the current generation after a reset reads no older ones)."""
    made = [_decision(t=1000.0 + i, generation=i % 2) for i in range(10)]
    for d in made:
        store.record_decision(d)
    wanted = [d.id for d in made if d.generation == 1 and d.created_at >= 1002.0]
    assert [r.id for r in store.iter_decisions("e", generation=1, since=1002.0,
                                               limit=3)] == wanted[:3]
    assert [r.id for r in store.iter_decisions("e", generation=1, since=1002.0)] == wanted
    assert [r.id for r in store.iter_decisions("e", generation=0, limit=0)] == []


def test_iter_fields_is_the_projection_of_the_log(store: Store) -> None:
    """A scan of a few fields (what a report reads on a long log) gives, in time order,
    exactly those fields of the decisions of the generation, kinds and scope asked for."""
    made = []
    for i in range(12):
        d = _decision(arm="ab"[i % 2], scope=("", "chat:1")[i % 3 == 0], t=1000.0 + i,
                      generation=i % 4 // 3, arms=(("a", "b"), ("b", "a", "c"))[i % 2],
                      context={"hour": i} if i % 2 else None)
        made.append(d._replace(kind=("policy", "holdout", "manual", "sticky")[i % 4],
                               reward=float(i % 3) if i % 5 else None))
    for d in reversed(made):  # stored out of order: the scan orders by time
        if d.kind == "manual":
            store.record_manual([d._replace(reward=d.reward or 0.0)])
        else:
            store.record_decision(d._replace(reward=None))
            if d.reward is not None:
                assert store.apply_reward(d.id, d.reward, d.created_at + 1.0) \
                    is ApplyResult.APPLIED

    def plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(v.tolist() if isinstance(v, np.ndarray) else v for v in row)

    for fields in (("arm", "arms", "probabilities", "reward"),
                   ("created_at", "arm", "reward", "allocation_id"), ("id", "context", "kind")):
        for kinds, scope in ((None, None), ({"policy", "holdout"}, None), ({"sticky"}, ""),
                             (set(), None), (None, "chat:1")):
            for generation in (0, 1):
                expected = [plain(tuple(getattr(r, f) for f in fields))
                            for r in store.iter_decisions("e", generation=generation)
                            if (kinds is None or r.kind in kinds)
                            and (scope is None or r.scope == scope)]
                got = [plain(row) for row in store.iter_fields(
                    "e", fields, generation=generation, kinds=kinds, scope=scope)]
                assert got == expected, (fields, kinds, scope, generation)
    assert len(list(store.iter_fields("e", ("id",), generation=0))) == 9
    with pytest.raises(ValueError, match="not decision fields"):
        list(store.iter_fields("e", ("id; DROP TABLE decisions",), generation=0))
    with pytest.raises(ValueError, match="collection of kinds"):
        list(store.iter_fields("e", ("id",), generation=0, kinds="policy"))


def test_pending_decisions_are_the_old_unrewarded_ones(store: Store) -> None:
    old, young, done = _decision(t=100.0), _decision(t=900.0), _decision(t=50.0)
    for d in (old, young, done):
        store.record_decision(d)
    store.apply_reward(done.id, 1.0, 60.0, None)
    assert [r.id for r in store.pending_decisions("e", 0, older_than=500.0)] == [old.id]


def test_manual_records_are_logged_and_counted_atomically(store: Store) -> None:
    records = [DecisionRecord(
        id=secrets.token_urlsafe(16), experiment="e", generation=0, scope="", arm="b",
        propensity=1.0, arms=("b",), probabilities=np.ones(1), policy='{"name":"manual"}',
        subject="manual:cli", created_at=5.0, kind="manual", reward=v, rewarded_at=5.0)
        for v in (1.0, 1.0, 0.0)]
    store.record_manual(records)
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert table.pulls.tolist() == [0, 3] and table.total.tolist() == [0, 2]
    assert {r.kind for r in store.iter_decisions("e")} == {"manual"}
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))


def test_weighted_history_counts_by_its_weight(store: Store) -> None:
    d = DecisionRecord(
        id=secrets.token_urlsafe(16), experiment="e", generation=0, scope="", arm="a",
        propensity=1.0, arms=("a",), probabilities=np.ones(1), policy='{"name":"import"}',
        subject="import", created_at=5.0, kind="import", reward=1.0, rewarded_at=5.0,
        weight=2.5)
    store.record_manual([d])
    table = store.read_stats("e", 0, "", ("a", "b"))
    assert (table.pulls[0], table.n[0], table.total[0]) == (1, 2.5, 2.5)
    assert store.get_decision(d.id).weight == 2.5  # type: ignore[union-attr]
    assert_stats_equal_fold(store, "e", 0, ("a", "b"))


def test_admin_log_and_claims(store: Store) -> None:
    store.log_admin(AdminRecord(1.0, "tg:1001", "e", "reset", "generation=1"))
    store.log_admin(AdminRecord(2.0, "tg:1001", "e", "prior", "arm=a"))
    assert [r.action for r in store.admin_log("e")] == ["prior", "reset"]
    for at in range(3, 8):  # the limit counts the asked actions, not the others
        store.log_admin(AdminRecord(float(at), "tg:1001", "e", "cheat", "arm=a"))
    store.log_admin(AdminRecord(9.0, "tg:1001", "f", "reset", "generation=1"))
    assert [r.at for r in store.admin_log("e", limit=2, actions={"reset", "prior"})] \
        == [2.0, 1.0]
    assert [r.experiment for r in store.admin_log(None, actions={"reset"})] == ["f", "e"]
    assert store.admin_log("e", actions=()) == []
    with pytest.raises(ValueError, match="collection"):  # "policy" in "policy-x" …
        store.admin_log("e", actions="reset")
    assert store.claim_key("update:1", 60.0)
    assert not store.claim_key("update:1", 60.0)
    assert store.claim_key("update:2", 60.0)
    assert store.claim_key("short", -1.0)  # a claim whose time to live has passed …
    assert store.claim_key("short", 60.0)  # … can be made again
    assert not store.claim_key("short", 60.0)


def test_documents_use_optimistic_concurrency(store: Store) -> None:
    assert store.read_document("keys") == (None, 0)
    assert store.write_document("keys", '{"a": 1}', 0)
    assert not store.write_document("keys", '{"b": 2}', 0)  # someone else wrote first
    text, version = store.read_document("keys")
    assert text == '{"a": 1}' and version == 1
    assert store.write_document("keys", '{"a": 2}', version)
    assert store.read_document("keys") == ('{"a": 2}', 2)


def test_named_counters_add_atomically(store: Store) -> None:
    assert store.read_counters("subject:e:u1") == {}

    def bump(_: int) -> None:
        store.add_counters("subject:e:u1", {"n": 1.0, "total": 0.5})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(bump, range(40)))
    assert store.read_counters("subject:e:u1") == pytest.approx({"n": 40.0, "total": 20.0})
    assert store.read_counters("subject:e:u2") == {}


# --- invariants through the service -------------------------------------------------------------
@pytest.mark.slow
def test_service_random_walk_keeps_stats_equal_to_fold(service: BanditService, clock: Any) -> None:
    """Invariant 3 after a random sequence of decide / reward / duplicate / cheat / reset /
    arm changes / policy switches on every experiment."""
    rng = np.random.default_rng(99)
    store = service.store
    open_ids: list[tuple[str, str, str]] = []
    steps = 240 if store.url.startswith(("memory", "sqlite")) else 120  # network: slower
    for step in range(steps):
        clock.advance(1.0)
        exp = ["seed", "ts", "rating", "perchat"][step % 4]
        op = rng.random()
        if op < 0.5 or not open_ids:
            subject = f"u{int(rng.integers(5))}"
            d = service.decide(exp, subject, chat=f"c{int(rng.integers(3))}")
            open_ids.append((d.id, subject, exp))
        elif op < 0.8:
            did, subject, e = open_ids[int(rng.integers(len(open_ids)))]
            value = int(rng.integers(1, 6)) if e == "rating" else int(rng.integers(0, 2))
            service.reward(did, value, subject)
        elif op < 0.86:
            service.cheat(exp, service.active_arms(exp)[0], "5 4" if exp == "rating" else "101",
                          scope="chat:c1" if exp == "perchat" else "")
        elif op < 0.9:
            service.reset(exp)
        elif op < 0.95 and exp == "ts":
            arms = service.active_arms("ts")
            if len(arms) > 2:
                service.retire_arm("ts", arms[-1])
            else:
                service.add_arm("ts", "e", "variant e")
        else:
            service.switch_policy(exp, ["ucb1", "softmax", "thompson"][int(rng.integers(3))])
    for exp in ("seed", "ts", "rating", "perchat"):
        view_arms = tuple(a.arm for a in service.report(exp).arms)
        assert_stats_equal_fold(store, exp, service.current_generation(exp), view_arms)


@pytest.mark.slow
def test_every_logged_propensity_is_a_probability(service: BanditService) -> None:
    """Invariant 4 for every policy the service runs."""
    for exp in ("seed", "ts", "rating", "implicit", "perchat"):
        for i in range(15):
            d = service.decide(exp, f"s{i % 3}", chat="c1")
            service.reward(d.id, 4 if exp == "rating" else i % 2, f"s{i % 3}")
    for exp in ("seed", "ts", "rating", "implicit", "perchat"):
        records = list(service.decisions(exp))
        assert len(records) == 15
        for r in records:
            assert 0.0 < r.propensity <= 1.0
            assert float(np.sum(r.probabilities)) == pytest.approx(1.0, abs=1e-12)
            assert r.probability_of()[r.arm] == pytest.approx(r.propensity)


def test_reward_cannot_choose_arm_and_only_the_subject_can_reward(
        service: BanditService) -> None:
    d = service.decide("ts", "alice")
    other = service.reward(d.id, 1, subject="mallory")
    assert other.status is RewardStatus.NOT_YOURS
    assert service.report("ts").total_answered == 0
    ok = service.reward(d.id, 1, subject="alice")
    assert ok.status is RewardStatus.APPLIED and ok.arm == d.arm
    rep = {a.arm: a for a in service.report("ts").arms}
    assert rep[d.arm].answered == 1
    assert sum(a.answered for a in rep.values()) == 1


@pytest.mark.parametrize(
    ("decision_id", "value", "expected"),
    [
        ("not-an-id", 1, RewardStatus.UNKNOWN),
        ("A" * 500, 1, RewardStatus.UNKNOWN),
        ("Q3aJiitbXNC3XZ6BxPAlUw", 1, RewardStatus.UNKNOWN),  # well-formed, forged
        (None, 2, RewardStatus.INVALID),  # real id, value outside the binary spec
        (None, "yes", RewardStatus.INVALID),
        (None, float("nan"), RewardStatus.INVALID),
    ],
    ids=["malformed", "oversize", "forged", "out-of-spec", "not-a-number", "nan"],
)
def test_bad_reward_input_changes_nothing(service: BanditService, decision_id: str | None,
                                          value: Any, expected: RewardStatus) -> None:
    d = service.decide("ts", "bob")
    before = service.report("ts").to_dict()
    result = service.reward(decision_id or d.id, value, subject="bob")
    assert result.status is expected
    after = service.report("ts").to_dict()
    assert [a["answered"] for a in after["arms"]] == [a["answered"] for a in before["arms"]]
    record = service.store.get_decision(d.id)
    assert record is not None and record.reward is None


def test_many_arms_first_seen_by_decisions_are_counted(store: Store) -> None:
    """Arms a store first hears of through decisions (no statistics read before, as with an
    allocation period) are counted however many there are."""
    arms = tuple(f"arm{i}" for i in range(40))
    for arm in arms:
        store.record_decision(_decision(arm=arm, arms=arms))
    assert store.read_stats("e", 0, "", arms).pulls.tolist() == [1.0] * 40


def test_decisions_among_many_arms_read_back_bit_for_bit(store: Store) -> None:
    """Decisions among 50 arms (where SQLite stores each arm list once and vectors with few
    distinct values compactly) come back with their arm lists and vectors exactly as
    written, by every read: one decision, the scan, the projection, the pending ones, a
    batch of manual rows; and vectors of every kind: ε-greedy's (two values, one arm
    ahead), a tie, a uniform one, both zeros, all distinct (Thompson's)."""
    arms = tuple(f"greeting-variant-{i:02}" for i in range(50))
    other = arms[::-1]  # the same arms in another order: another list
    rng = np.random.default_rng(7)
    greedy = np.full(50, 0.1 / 50)
    greedy[3] += 0.9
    tie = np.full(50, 0.1 / 50)
    tie[[4, 9]] += 0.45
    signed = np.full(50, 0.02)
    signed[:3] = -0.0, 0.0, 0.06  # (a set of floats keeps one of the two zeros)
    distinct = rng.dirichlet(np.ones(50))
    vectors = [greedy, tie, np.full(50, 0.02), signed, distinct, greedy]
    made = []
    for i, p in enumerate(vectors * 2):
        listed = (arms, other)[i % 2]
        made.append(DecisionRecord(
            id=secrets.token_urlsafe(16), experiment="e", generation=0, scope="",
            arm=listed[i], propensity=float(p[i]), arms=listed, probabilities=p,
            policy='{"name":"test"}', subject="u", created_at=1000.0 + i))
    for d in made[:-2]:
        store.record_decision(d)
    store.record_manual([d._replace(kind="manual", reward=1.0, rewarded_at=d.created_at)
                         for d in made[-2:]])
    made[-2:] = [d._replace(kind="manual", reward=1.0, rewarded_at=d.created_at)
                 for d in made[-2:]]

    def same(got: DecisionRecord | None, want: DecisionRecord) -> None:
        assert got is not None and got.id == want.id
        assert got.arms == want.arms and got.arm == want.arm
        assert got.probabilities.tobytes() == want.probabilities.tobytes(), want.id
        assert got.propensity == want.propensity

    for d in made:
        same(store.get_decision(d.id), d)
    for got, d in zip(store.iter_decisions("e"), made, strict=True):
        same(got, d)
    scanned = list(store.iter_fields("e", ("id", "arms", "probabilities"), generation=0))
    assert [(i, a, p.tobytes()) for i, a, p in scanned] == [
        (d.id, d.arms, d.probabilities.tobytes()) for d in made]
    pending = store.pending_decisions("e", 0, older_than=2000.0)
    assert len(pending) == 10
    for got, d in zip(pending, made, strict=False):
        same(got, d)
