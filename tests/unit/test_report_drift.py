"""A non-stationary experiment's report after its best arm changed (a new user's trial:
the rates of two greetings swapped half-way)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from banditbot import BanditService, MemoryStore, Report, parse_config

from ..conftest import FakeClock

SWAP_AT = 3000  # decisions, one a second: 50 minutes at 0.6 / 0.2, then the other way


def _after_swap(policy: dict[str, object]) -> tuple[BanditService, str]:
    """3,000 decisions with hello at 0.6 and hey at 0.2, then 1,500 the other way round
    (fixed seeds), every answer a second after its decision."""
    clock = FakeClock()
    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": "hello", "content": "Hello"},
                            {"id": "hey", "content": "Hey"}],
        "policy": policy, "time_bucket_seconds": 3, "burn_in": 0,
        "winner": {"min_decisions": 100}}]})
    service = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(1), clock=clock)
    draws = np.random.default_rng(2).random(4500)
    for i in range(4500):
        rates = {"hello": 0.6, "hey": 0.2} if i < SWAP_AT else {"hello": 0.2, "hey": 0.6}
        d = service.decide("g", f"u{i}")
        clock.advance(1.0)
        service.reward(d.id, 1 if draws[i] < rates[d.arm] else 0, f"u{i}")
        if i == SWAP_AT - 1:
            service.report("g")  # read daily: the rule had its look before the swap
    return service, "g"


@functools.cache
def _report_after_swap(policy_json: str) -> Report:
    """The report read once after :func:`_after_swap` with ``policy`` (as JSON): the same
    for every test that asks (fixed seeds and a fake clock; the run costs seconds), so the
    tests on discounted Thompson sampling share one run in a process. A report is a look of
    the stopping rule, so each run is reported once, as each test did on its own run (a
    frozen dataclass: no test can change it for another)."""
    service, exp = _after_swap(json.loads(policy_json))
    return service.report(exp)


def _report(policy: dict[str, object]) -> Report:
    return _report_after_swap(json.dumps(policy, sort_keys=True))


@pytest.mark.slow
@pytest.mark.parametrize("policy", [{"name": "discounted-thompson", "half_life": 60},
                                    {"name": "sliding-window-ucb", "window": 120}])
def test_a_non_stationary_report_names_no_winner_and_describes_the_recent_answers(
        policy: dict[str, object]) -> None:
    """Before: `status: winner (hello)` after the swap (discounted Thompson sampling), and
    sliding-window UCB's report said "hello leads (P(best) 63%)" from all-time counts while
    the policy sent hey 99%. Now no winner is named for a policy that assumes the best arm
    can change, the leader and P(best) are of the recent answers the policy decides on, and
    a note says the estimates and their intervals (the table's interval column) are of every
    answer and lag behind (it said the interval column was of the recent answers)."""
    report = _report(policy)
    assert report.winner is None and report.status == "running"
    assert report.winner_rule.startswith(f"none is named: {policy['name']} assumes the best "
                                         "arm can change")
    hey = next(a for a in report.arms if a.arm == "hey")
    hello = next(a for a in report.arms if a.arm == "hello")
    assert hey.p_best > 0.5 > hello.p_best and hey.allocation > 0.5
    assert report.leader is not None and report.leader.arm == "hey"
    assert hey.mean is not None and hello.mean is not None and hey.mean > hello.mean
    assert "weighs recent answers" in report.notes["recent"]
    assert "the estimates and their intervals (at this look and at every look) are of every " \
        "answer since the start" in report.notes["recent"]
    assert "interval column" not in report.notes["recent"]
    # the estimate of every answer still puts hello first (2/3 of the answers are before)
    assert hello.estimate is not None and hey.estimate is not None
    assert hello.estimate > hey.estimate
    assert report.verdict is not None  # said as what it is, not as "the raw counts"
    assert report.verdict.startswith("no winner named (the best arm may change): P(best) "
                                     "favours hey")
    assert "on the recent answers, the estimate hello on every answer" in report.verdict


def test_a_report_says_when_an_estimate_left_its_every_look_interval() -> None:
    """After the swap under discounted Thompson sampling, hey's estimate of every answer
    (0.47) lay outside its every-look interval (0.50-0.58: the interval holds at every look
    at once, and the answers of its two periods cannot share one rate), with no word: a
    drift note names the arm, as it did for crossed interval ends only."""
    report = _report({"name": "discounted-thompson", "half_life": 60})
    outside = [a.arm for a in report.arms if a.estimate is not None
               and a.anytime_low is not None and a.anytime_high is not None
               and not a.anytime_low <= a.estimate <= a.anytime_high]
    assert outside == ["hey"]
    assert report.notes["drift"].startswith("hey: the estimate lies outside the every-look "
                                            "interval: the answers contradict a constant rate")


def test_no_disagreement_is_claimed_for_a_leader_without_an_estimate() -> None:
    """A new user's first minute: hello led P(best) and had no estimate yet (too few
    answers), hey had one; the verdict said "the estimate hey on every answer: after a
    change the estimate lags behind" of a change that never happened. It now says who
    leads. (The report after the swap, with the P(best) leader's estimate withheld.)"""
    from dataclasses import replace

    report = _report({"name": "discounted-thompson", "half_life": 60})
    assert report.leader is not None
    leader = report.leader.arm
    withheld = replace(report, arms=tuple(
        replace(a, estimate=None) if a.arm == leader else a for a in report.arms))
    assert any(a.estimate is not None for a in withheld.arms)
    assert withheld.verdict is not None and "lags behind" not in withheld.verdict
    assert withheld.verdict.startswith(
        f"no winner named (the best arm may change): {leader} leads")
