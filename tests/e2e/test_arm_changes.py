"""After an admin changes the arms or the policy (a new-user trial): the demo runs the arms
the store runs, a retired arm neither wins nor blocks the winner, its intervals stay as they
were, the chart marks the changes and the report says what changed when."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from banditbot import build_service, parse_config

from ..conftest import EXAMPLES, run_cli


def _decisions(db: Path, experiment: str) -> int:
    svc = build_service(EXAMPLES, f"sqlite:///{db}")
    try:
        return sum(1 for _ in svc.decisions(experiment))
    finally:
        svc.store.close()


def test_the_demo_runs_the_arms_an_admin_added_and_asks_for_their_rate_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`arms add greeting yo` then `demo --keep` crashed with KeyError: 'yo' after logging 9
    decisions, and `--rate greeting.yo=0.6` was refused ("no arm 'yo'"). Now the demo is
    refused before anything is written, saying which rate to pass; with it, yo is sent,
    and the star (the truly best arm) goes to an arm that can still be chosen."""
    db = tmp_path / "adm.db"
    store = ["--config", str(EXAMPLES), "--store", f"sqlite:///{db}"]
    demo = ["demo", *store, "--keep", "--no-live", "--out", str(tmp_path)]
    assert run_cli([*demo, "--steps", "40"], capsys)[0] == 0
    assert run_cli(["arms", "retire", "greeting", "hey", *store], capsys)[0] == 0
    assert run_cli(["arms", "add", "greeting", "yo", "Yo! What's up?", *store], capsys)[0] == 0
    before = _decisions(db, "greeting")

    code, out, err = run_cli([*demo, "--steps", "30"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "no rate for arm 'yo'" in err and "--rate greeting.yo=P" in err
    assert _decisions(db, "greeting") == before  # nothing partial was written

    code, out, err = run_cli([*demo, "--steps", "300", "--rate", "greeting.yo=0.6"], capsys)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines()
            if line.startswith("│") and line.count("│") > 3}
    assert "yo ★" in rows and "hey (retired)" in rows  # not "hey ★": hey cannot be sent
    assert int(rows["yo ★"].split("│")[3]) > 0  # yo was sent


def test_the_demo_refuses_a_rate_for_an_arm_no_one_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A rate for an arm neither in the file nor added is refused, naming the running arms
    (and a new database is not left behind)."""
    db = tmp_path / "new.db"
    code, _, err = run_cli(["demo", "--config", str(EXAMPLES), "--store", f"sqlite:///{db}",
                            "--no-live", "--steps", "5", "--rate", "greeting.yo=0.6"], capsys)
    assert code == 2 and "experiment 'greeting' has no arm 'yo'" in err
    assert "hello, hey, formal, playful" in err and not db.exists()


@pytest.mark.parametrize("weight", ["nan", "0", "-1", "200", "inf"])
def test_learn_says_the_weight_must_be_a_number_in_its_range(
        weight: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`learn … --weight nan` said "Input should be less than or equal to 100"."""
    code, _, err = run_cli(["learn", str(tmp_path / "log.csv"), "--experiment", "greeting",
                            "--weight", weight, "--store", f"sqlite:///{tmp_path / 'w.db'}"],
                           capsys)
    assert code == 2 and "must be a number in (0, 100]" in err
    assert "less than or equal" not in err


_CONFIG = {"experiments": [{
    "id": "g", "arms": [{"id": "hello", "content": "Hello"}, {"id": "hey", "content": "Hey"},
                        {"id": "formal", "content": "Good day"}],
    "policy": {"name": "epsilon-greedy", "epsilon": 1.0}, "reward": {"type": "binary"},
    "control": "hello", "update": "50 rewards"}]}
_RATES = {"hello": 0.2, "hey": 0.5, "formal": 0.3, "yo": 0.9}


def _run(svc: object, n: int, seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    for i in range(n):
        d = svc.decide("g", f"u{i % 50}")  # type: ignore[attr-defined]
        svc.reward(d.id, float(rng.random() < _RATES[d.arm]),  # type: ignore[attr-defined]
                   subject=f"u{i % 50}")


@pytest.fixture
def changed(tmp_path: Path) -> object:
    """hey retired after 900 decisions, yo added, 900 more (uniform over the active arms),
    the policy switched twice."""
    svc = build_service(parse_config(_CONFIG), f"sqlite:///{tmp_path / 'g.db'}", seed=5)
    _run(svc, 900, 1)
    svc.switch_policy("g", "ucb1", actor="cli")
    svc.switch_policy("g", "epsilon-greedy", {"epsilon": 1.0}, actor="cli")
    svc.retire_arm("g", "hey", actor="cli")
    svc.add_arm("g", "yo", "Yo!", actor="cli")
    _run(svc, 900, 2)
    return svc


def test_the_winner_is_among_the_arms_that_can_still_be_chosen(changed: object) -> None:
    """yo (0.9) is far ahead of hello and formal, the arms it shares decisions with; the
    retired hey (0.5) never shared one with it. The trial's report said "no winner yet: yo
    leads" with contenders hey and yo; now yo is the winner and hey is no contender."""
    report = changed.report("g")  # type: ignore[attr-defined]
    assert report.winner == "yo" and report.status == "winner"
    assert "hey" not in report.contenders
    assert report.to_dict()["winner"] == "yo"


def test_a_retired_arms_interval_stops_moving(tmp_path: Path) -> None:
    """The trial's retired arm: one-look interval 0.407-0.450 at retirement, 0.392-0.465
    4,500 decisions later, wider than its every-look interval. Now both stay as they were
    when it was retired, through every later decision."""
    svc = build_service(parse_config(_CONFIG), f"sqlite:///{tmp_path / 'g.db'}", seed=5)
    _run(svc, 900, 1)
    svc.retire_arm("g", "hey", actor="cli")
    at = next(a for a in svc.report("g").arms if a.arm == "hey")
    _run(svc, 900, 2)
    later = next(a for a in svc.report("g").arms if a.arm == "hey")
    assert not later.active
    for name in ("estimate", "estimate_low", "estimate_high", "anytime_low", "anytime_high"):
        assert getattr(later, name) == pytest.approx(getattr(at, name), abs=1e-9), name


def test_the_report_says_what_admins_changed_and_when(changed: object) -> None:
    """The text report showed the current policy alone; now one line gives the policy's
    history and the arm changes (the JSON has them too)."""
    report = changed.report("g")  # type: ignore[attr-defined]
    text = report.to_text()
    line = next(x for x in text.splitlines() if x.startswith("history: "))
    assert "policy epsilon-greedy since " in line and "before: ucb1, epsilon-greedy" in line
    assert "arms: hey retired " in line and ", yo added " in line
    data = json.loads(json.dumps(report.to_dict()))
    assert [(c["action"], c["detail"]) for c in data["history"]][-2:] == [
        ("arm-retire", "hey"), ("arm-add", "yo")]
    assert data["history_text"] == line


def test_the_chart_marks_the_admin_changes_not_every_period(changed: object) -> None:
    """The allocation chart drew a dashed line at each of 64 allocation periods, so the
    switches, the retire and the add were neither distinguishable nor labelled; and the
    control's legend covered an arm's marker. Now one labelled line per change (those at
    the same decision share it), periods barely visible, the legend above the panel."""
    pytest.importorskip("matplotlib")
    from banditbot._charts import _figure, _report_figure
    from banditbot._series import DecisionSeries

    report = changed.report("g")  # type: ignore[attr-defined]
    series = DecisionSeries.from_records([a.arm for a in report.arms],
                                         changed.decisions("g"))  # type: ignore[attr-defined]
    assert len(series.changes) > 20  # the periods are still there, for the dashboard
    assert series.events == ((900, "+yo −hey"),)  # (epsilon-greedy again: no new policy)
    with _figure() as plt:
        fig = _report_figure(report, series)
        allocation, estimates = fig.axes[0], fig.axes[1]
        dashed = [line for line in allocation.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 1
        assert any("+yo −hey" in t.get_text() for t in allocation.texts)
        legend = estimates.get_legend()
        fig.canvas.draw()
        box = legend.get_window_extent()
        assert box.y0 >= estimates.get_window_extent().y1 - 1  # above the data, not on it
        plt.close(fig)
