"""Admin operations a new-user trial found doing nothing or the wrong thing, through the
service on a SQLite store: a reset, a policy switch and retiring the winner of a stopped
experiment; a policy "switch" to the policy in use; rewards and priors for a retired arm;
rewards added by hand shown as the estimate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from banditbot import BanditService, ConfigError, build_service, parse_config

from ..conftest import EXAMPLES

_STOP = {"experiments": [{
    "id": "w", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
    "policy": "thompson", "reward": {"type": "binary"}, "burn_in": 0,
    "winner": {"rule": "p-best", "on_winner": "stop"}}]}
_RATES = {"a": 0.1, "b": 0.6, "c": 0.3}


def _feed(svc: BanditService, n: int, seed: int, start: int = 0) -> None:
    """``n`` answered decisions of ``w`` at the arms' rates in :data:`_RATES`."""
    rng = np.random.default_rng(seed)
    for i in range(start, start + n):
        d = svc.decide("w", f"u{i}")
        svc.reward(d.id, float(rng.random() < _RATES[d.arm]), subject=f"u{i}")


@pytest.fixture
def stopped(tmp_path: Path) -> BanditService:
    """``w`` stopped on its winner b (b pays 0.6, a 0.1)."""
    svc = build_service(parse_config(_STOP), f"sqlite:///{tmp_path / 'w.db'}", seed=3)
    _feed(svc, 300, 1)
    report = svc.report("w")
    assert (report.status, report.winner) == ("stopped", "b")
    assert {svc.decide("w", f"v{i}").arm for i in range(20)} == {"b"}
    return svc


def _arms_decided(svc: BanditService, n: int = 60) -> set[str]:
    return {svc.decide("w", f"later{i}").arm for i in range(n)}


def test_a_reset_starts_a_stopped_experiment_learning_over(stopped: BanditService) -> None:
    """`reset w -y` left "status: stopped (b) · 0 decisions" and every decision going to b
    with propensity 1. A reset is a new generation: no winner, not stopped, the policy
    decides among both arms."""
    assert stopped.reset("w", actor="test") == 1
    report = stopped.report("w")
    assert report.winner is None and report.status == "running"
    assert "stopped" not in report.to_text()
    d = stopped.decide("w", "fresh")
    assert d.propensity < 1.0 and set(d.probabilities) == {"a", "b"}
    assert min(d.probabilities.values()) > 0.0
    assert _arms_decided(stopped) == {"a", "b"}


def test_retiring_the_winner_of_a_stopped_experiment_lets_it_run_again(
        stopped: BanditService) -> None:
    """`arms add w c C; arms retire w b`: the decisions went 50/50 to a and c while the
    report still said "stopped (b)" and "winner: b (stopped)". Now the retired winner is
    no one's: the report does not name it, the policy decides among a and c, and a note
    says the winner was retired."""
    stopped.add_arm("w", "c", "C", actor="test")
    stopped.retire_arm("w", "b", actor="test")
    report = stopped.report("w")
    assert report.winner != "b" and report.status in ("running", "burn-in")
    assert "stopped" not in report.to_text().split("history:")[0]
    assert "b was the winner, and the experiment stopped on it, until it was retired" in \
        report.notes["winner_retired"]
    assert "b retired" in report.to_text()  # the history line says when
    d = stopped.decide("w", "fresh")  # the policy's choice, not b's with propensity 1
    assert d.arm in ("a", "c") and d.propensity < 1.0
    assert set(d.probabilities) == {"a", "c"} and min(d.probabilities.values()) > 0.0
    # the rule looks among the active arms again: c (0.3) beats a (0.1) in time
    _feed(stopped, 400, 2, start=1000)
    report = stopped.report("w")
    assert (report.status, report.winner) == ("stopped", "c")
    assert _arms_decided(stopped) == {"c"}


def test_a_report_never_names_a_retired_winner(tmp_path: Path) -> None:
    """A meta an older version left (winner b, stopped, b retired since): the report said
    "winner: b (stopped)" while nothing served b."""
    svc = build_service(parse_config(_STOP), f"sqlite:///{tmp_path / 'w.db'}", seed=3)
    svc.add_arm("w", "c", "C", actor="test")
    meta = svc.store.read_meta("w")
    assert svc.store.write_meta("w", replace(meta, winner="b", stopped=True,
                                             retired_arms=("b",)))
    report = svc.report("w")
    assert report.winner != "b" and report.status != "stopped"


def test_a_policy_switch_of_a_stopped_experiment_says_how_to_resume(
        stopped: BanditService) -> None:
    """`policy w epsilon-greedy epsilon=0.3` said "now uses …" and nothing changed. It
    still records the policy, and says the experiment is stopped and how to resume it;
    after the reset it names, the new policy decides."""
    switch = stopped.switch_policy("w", "epsilon-greedy", {"epsilon": 0.3}, actor="test")
    assert switch.changed and switch.stopped and switch.served == "b"
    assert "w now uses epsilon-greedy(epsilon=0.3" in switch.message
    assert "w is stopped: every decision goes to b, and epsilon-greedy(epsilon=0.3" \
        in switch.message
    assert "decides only after a reset starts learning over (banditbot reset w" in \
        switch.message
    assert _arms_decided(stopped) == {"b"}  # as said
    stopped.reset("w", actor="test")
    report = stopped.report("w")
    assert report.policy.startswith("epsilon-greedy(epsilon=0.3") and report.winner is None
    d = stopped.decide("w", "fresh")
    assert d.propensity < 1.0 and _arms_decided(stopped) == {"a", "b"}


def test_switching_to_the_policy_in_use_changes_and_records_nothing(tmp_path: Path) -> None:
    """`policy greeting epsilon-greedy epsilon=0.1` twice gave `history: … → epsilon-greedy
    10:38 → epsilon-greedy 10:38 (now)`; the second now says it already uses it."""
    svc = build_service(EXAMPLES, f"sqlite:///{tmp_path / 'g.db'}", seed=1)
    first = svc.switch_policy("greeting", "epsilon-greedy", {"epsilon": 0.1}, actor="test")
    second = svc.switch_policy("greeting", "epsilon-greedy", {"epsilon": 0.1}, actor="test")
    assert first.changed and first.message.startswith("greeting now uses epsilon-greedy")
    assert not second.changed
    assert second.message == "greeting already uses " \
        f"{second.policy.describe()}: nothing changed"
    svc.decide("greeting", "u")
    history = svc.report("greeting").to_text()
    assert history.count("→ epsilon-greedy") == 1, history
    assert len(svc.store.admin_log("greeting", actions=frozenset({"policy"}))) == 1
    # the policy the experiments file gives, asked for by name: in use already too
    assert not svc.switch_policy("tip", "gaussian-thompson", actor="test").changed
    assert svc.store.admin_log("tip", actions=frozenset({"policy"})) == []
    # other parameters are a switch
    switched = svc.switch_policy("greeting", "epsilon-greedy", {"epsilon": 0.2})
    assert switched.changed
    # code written when it returned the Policy reads the same name and description
    assert (switched.name, switched.describe()) == ("epsilon-greedy",
                                                    switched.policy.describe())


def test_a_retired_arm_takes_no_rewards_by_hand_and_no_prior(tmp_path: Path) -> None:
    """`POST …/cheat {"arm": "hey", …}` on the retired hey answered "added 1 rewards to
    hey" and counted them. Rewards by hand and priors are refused, naming the arm as
    retired and how to bring it back; history imports stay accepted."""
    svc = build_service(EXAMPLES, f"sqlite:///{tmp_path / 'g.db'}", seed=1)
    svc.retire_arm("greeting", "hey", actor="test")
    for attempt in (lambda: svc.cheat("greeting", "hey", "1"),
                    lambda: svc.cheat("greeting", "hey", successes=5),
                    lambda: svc.set_prior("greeting", "hey", 3, 1)):
        with pytest.raises(ConfigError, match="arm 'hey' of 'greeting' is retired") as info:
            attempt()
        assert info.value.hint is not None
        assert "banditbot arms add greeting hey" in info.value.hint
        # (a Telegram admin got only the shell's command)
        assert "/arm add greeting hey in Telegram" in info.value.hint
    with pytest.raises(ConfigError, match="is retired: it takes no prior"):
        svc.set_prior("greeting", "hey", 3, 1)
    hey = next(a for a in svc.report("greeting").arms if a.arm == "hey")
    assert (hey.answered, hey.prior) == (0, None)
    assert svc.import_history("greeting", "hey", [1, 0]) == 2
    svc.add_arm("greeting", "hey", "", actor="test")  # brought back: it takes them again
    assert svc.cheat("greeting", "hey", "1") == 1


def test_rewards_added_by_hand_are_not_the_estimate(tmp_path: Path) -> None:
    """`reset greeting; cheat greeting hello --successes 20000; report` showed hello's
    estimate 1.000 (1.000–1.000) with 0 decisions, and 1.000 (0.999–1.000) after 4 real 👎
    answers. The estimate rests on the policy's answers alone: none, then an interval
    without a point (fewer than 10); P(best) still counts the rewards added by hand."""
    svc = build_service(EXAMPLES, f"sqlite:///{tmp_path / 'g.db'}", seed=1)
    svc.cheat("greeting", "hello", successes=20000)
    hello = svc.report("greeting").arms[0]
    assert hello.arm == "hello" and hello.answered == 20000
    assert (hello.estimate, hello.estimate_low, hello.estimate_high) == (None, None, None)
    assert hello.p_best > 0.99  # the posterior counts them, as documented
    kind = svc.report("greeting").estimate_kind
    assert "20,000 answers added by hand or imported are not in it" in kind
    i = answered = 0
    while answered < 4:
        d = svc.decide("greeting", f"u{i}")
        if d.arm == "hello":
            svc.reward(d.id, 0, subject=f"u{i}")
            answered += 1
        i += 1
    hello = svc.report("greeting").arms[0]
    assert hello.estimate is None  # 4 of the policy's answers: no point yet
    # of those 4 👎 alone (20,000 👍 by hand would put it at 1.0–1.0)
    assert hello.estimate_low is not None and hello.estimate_low < 0.1
    assert hello.estimate_high is not None and hello.estimate_high > hello.estimate_low
    # the table's "–" beside an interval says why (a trial read it as a bug)
    said = [line for line in svc.report("greeting").to_text().splitlines()
            if line.startswith("estimate – (")]
    assert len(said) == 1 and "hello" in said[0]
    assert said[0].endswith("): too few answers for a point yet, or still in burn-in; the "
                            "interval beside it holds already")


def test_arms_retired_before_a_reset_leave_the_new_generations_report(tmp_path: Path) -> None:
    """A trial retired 10 of 40 arms, then reset: the new generation's report (and the
    views built on it) kept ten rows of 0 decisions and 0.000–1.000. An arm retired in an
    earlier generation, with nothing in this one, has no row; one retired with decisions,
    or with a prior, or in this generation keeps its row."""
    svc = build_service(EXAMPLES, f"sqlite:///{tmp_path / 'g.db'}", seed=1)
    for i in range(40):
        d = svc.decide("greeting", f"u{i}")
        svc.reward(d.id, i % 2, f"u{i}")
    svc.retire_arm("greeting", "playful", actor="test")
    arms = [a.arm for a in svc.report("greeting").arms]
    assert "playful" in arms  # its decisions are in this generation
    svc.retire_arm("greeting", "formal", actor="test")
    svc.set_prior("greeting", "hello", 3, 1, actor="test")
    svc.retire_arm("greeting", "hello", actor="test")
    svc.reset("greeting", actor="test")
    rows = {a.arm: a for a in svc.report("greeting").arms}
    assert "playful" not in rows and "formal" not in rows
    assert "hello" in rows  # its prior is kept through the reset: its row says so
    svc.add_arm("greeting", "formal", "", actor="test")
    svc.retire_arm("greeting", "formal", actor="test")  # retired in this generation
    assert "formal" in [a.arm for a in svc.report("greeting").arms]
    svc.add_arm("greeting", "playful", "", actor="test")
    assert "playful" in [a.arm for a in svc.report("greeting").arms]


def test_the_notes_of_a_report_of_many_arms_stay_short(tmp_path: Path) -> None:
    """A trial's 40-arm report said "not ruled out yet: …" in one line of 1,100 characters
    and gave 12 near-identical "compared on the … decisions" lines, one per added arm.
    Beyond 8 arms a note counts them (naming the few ruled out, or the first six), and
    arms compared on the same decisions share one line."""
    arms = [{"id": f"greeting-warm-emoji-{i:02d}", "content": f"m{i}"} for i in range(30)]
    cfg = parse_config({"experiments": [{
        "id": "many", "arms": arms, "burn_in": 0, "control": "greeting-warm-emoji-00",
        "policy": {"name": "epsilon-greedy", "epsilon": 1.0}}]})
    svc = build_service(cfg, f"sqlite:///{tmp_path / 'm.db'}", seed=3)
    env = np.random.default_rng(4)
    for i in range(600):
        d = svc.decide("many", f"u{i}")
        svc.reward(d.id, float(env.random() < 0.2), f"u{i}")
    for i in range(30, 40):
        svc.add_arm("many", f"greeting-warm-emoji-{i:02d}", f"m{i}", actor="test")
    for i in range(600, 1600):
        d = svc.decide("many", f"u{i}")
        svc.reward(d.id, float(env.random() < 0.2), f"u{i}")
    report = svc.report("many")
    assert len(report.contenders) > 8  # (the case: many arms not ruled out)
    notes = report.footnotes()
    assert all(len(line) <= 360 for line in notes), max(notes, key=len)
    ruled = [line for line in notes if line.startswith("not ruled out yet:")]
    assert ruled and f"{len(report.contenders)} of 40 arms" in ruled[0]
    compared = [line for line in notes if "compared on the" in line]
    assert len(compared) == 1 and "and 4 more vs greeting-warm-emoji-00" in compared[0]
