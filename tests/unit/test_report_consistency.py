"""What the report, its chart and the bot's chart say agree with each other and with
docs/results.md (findings of a new-user trial): the bot draws the CLI's chart, a chart shows
no point the table withholds, the 10-answer threshold counts the answers the estimate rests
on, columns read off a vague posterior wait for data, sticky repeats are not the policy's
allocation, and a contextual report says what its verdict is about."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, MemoryStore, parse_config
from banditbot._series import DecisionSeries


def _service(**experiment: Any) -> BanditService:
    exp = {"id": "e", "arms": [{"id": a, "content": a} for a in ("short", "long", "mid")],
           **experiment}
    return BanditService(parse_config({"experiments": [exp]}), MemoryStore(),
                         rng=np.random.default_rng(3))


def test_the_bots_report_chart_is_the_clis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after the first /rate the bot's chart showed 100% for the arm the first decision
    drew (the share of decisions per time bin) while the table said 33% per arm, and no
    dashed line at a policy switch; `banditbot report --png` drew the logged
    probabilities and the switch. The bot now draws that chart."""
    pytest.importorskip("matplotlib")
    import banditbot._charts as charts
    from banditbot.telegram._bot import BanditBot

    svc = _service(burn_in=0)
    decisions = [svc.decide("e", f"u{i}") for i in range(3)]
    svc.reward(decisions[0].id, 1, "u0")
    bot = BanditBot(svc)
    drawn: list[Any] = []
    real = charts.report_png
    monkeypatch.setattr(charts, "report_png",
                        lambda report, series, **kw: drawn.append(series) or real(
                            report, series, **kw))
    assert bot._chart(svc.report("e"))
    (series,) = drawn
    assert isinstance(series, DecisionSeries)
    assert all(v == pytest.approx(1 / 3) for a in series.arms for v in series.allocation[a])
    # the CLI's chart of the same report: the same series, the switch marked in both
    svc.switch_policy("e", "epsilon-greedy", {"epsilon": 0.2}, actor="test")
    svc.decide("e", "u9")
    report = svc.report("e")
    drawn.clear()
    bot._chart(report)
    cli = DecisionSeries.from_records([a.arm for a in report.arms],
                                      svc.decisions("e", generation=report.generation))
    assert drawn[0].to_dict() == cli.to_dict()
    assert [label for _, label in drawn[0].events] == ["policy: epsilon-greedy"]


def test_after_one_rating_the_table_and_chart_show_the_interval_and_no_point() -> None:
    """A rating experiment after one 4: the table showed "–" for the estimate and for its
    interval, while the chart drew the posterior's mean (3.5) with its credible interval.
    docs/results.md: the estimate "–" until 10 answers, its interval from the first."""
    pytest.importorskip("matplotlib")
    from banditbot._charts import _report_figure
    from banditbot._plotting import STYLE, styled

    svc = _service(policy={"name": "gaussian-thompson"},
                   reward={"type": "rating", "min": 1, "max": 5})
    d = svc.decide("e", "u")
    svc.reward(d.id, 4, "u")
    report = svc.report("e")
    rated = next(a for a in report.arms if a.arm == d.arm)
    assert rated.estimate is None
    assert rated.estimate_low is not None and rated.estimate_high is not None
    assert rated.estimate_low <= 4 <= rated.estimate_high
    row = next(line for line in report.to_text().splitlines() if line.startswith(d.arm))
    assert f"{rated.estimate_low:.2f}–{rated.estimate_high:.2f}" in row
    with styled(STYLE):
        fig = _report_figure(report, None)
        (ax,) = fig.axes
        assert not [line for line in ax.lines if line.get_marker() == "o"]  # no point
        spans = {(round(float(c.get_segments()[0][0][0]), 6),
                  round(float(c.get_segments()[0][1][0]), 6)) for c in ax.collections}
        assert (round(rated.estimate_low, 6), round(rated.estimate_high, 6)) in spans
        assert "credible" not in ax.get_xlabel() and "AIPW" in ax.get_xlabel()
        assert "too few answers for a point" in ax.get_xlabel().replace("\n", " ")
        # every line of the label inside the image (the note ran off its right edge)
        fig.canvas.draw()
        label = ax.xaxis.label.get_window_extent()
        assert label.x0 >= 0 and label.x1 <= fig.bbox.x1, (label, fig.bbox)


def test_the_answers_threshold_counts_only_the_answers_the_estimate_rests_on() -> None:
    """Arm b: 4 real answers and 4,000 added by hand showed an estimate (0.573) beside "4,000
    answers ... added by hand or imported are not in it". Below 10 answers of its own an
    arm has no point; at 10 it has one."""
    svc = _service(burn_in=0, policy={"name": "epsilon-greedy", "epsilon": 1.0})
    svc.cheat("e", "long", "1" * 2000 + "0" * 2000, actor="test")
    env = np.random.default_rng(0)
    counts = {"short": 0, "long": 0, "mid": 0}
    i = 0
    while counts["long"] < 4:
        d = svc.decide("e", f"u{i}")
        svc.reward(d.id, int(env.random() < 0.5), f"u{i}")
        counts[d.arm] += 1
        i += 1
    report = svc.report("e")
    long = next(a for a in report.arms if a.arm == "long")
    assert long.answered == 4004 and long.estimate is None
    assert "are not in it" in report.estimate_kind
    while counts["long"] < 10:
        d = svc.decide("e", f"u{i}")
        svc.reward(d.id, int(env.random() < 0.5), f"u{i}")
        counts[d.arm] += 1
        i += 1
    long = next(a for a in svc.report("e").arms if a.arm == "long")
    assert long.estimate is not None


def test_an_unbounded_reward_shows_no_point_or_loss_on_too_little_data() -> None:
    """A continuous reward without bounds, 3 decisions and one reward of -12.5: the estimate
    read -12.500 on one answer and the expected loss 12,630 (a vague posterior's spread).
    Both are "–" (null) until the burn-in is over and the arms have 10 answers each."""
    svc = _service(policy={"name": "epsilon-greedy", "epsilon": 0.2},
                   reward={"type": "continuous"})
    decisions = [svc.decide("e", f"u{i}") for i in range(3)]
    svc.reward(decisions[0].id, -12.5, "u0")
    report = svc.report("e")
    assert all(a.estimate is None and a.expected_loss is None for a in report.arms)
    assert "-12.500" not in report.to_text()
    assert all(a["expected_loss"] is None for a in report.to_dict()["arms"])
    # with the burn-in over and 10 answers per arm, the loss is back, on the rewards' scale
    env = np.random.default_rng(1)
    for i in range(3, 200):
        d = svc.decide("e", f"u{i}")
        svc.reward(d.id, float(env.normal(5.0, 1.0)), f"u{i}")
    report = svc.report("e")
    assert report.status == "running"
    losses = [a.expected_loss for a in report.arms]
    assert all(x is not None and 0 <= x < 2 for x in losses), losses


def test_sticky_repeats_are_not_drawn_as_the_policys_allocation() -> None:
    """A sticky subject's second decision (probability 1 for the held arm) made the
    allocation read "the last 1: short 100%, long 0%" beside a policy at 50/50."""
    cfg = parse_config({"experiments": [{
        "id": "s", "sticky_seconds": 3600,
        "arms": [{"id": a, "content": a} for a in ("short", "long")]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    held = svc.decide("s", "alice", sticky=True).arm
    for _ in range(3):
        assert svc.decide("s", "alice", sticky=True).arm == held
    assert [r.kind for r in svc.decisions("s")] == ["policy", "sticky", "sticky", "sticky"]
    series = DecisionSeries.from_records(["short", "long"], svc.decisions("s"))
    assert series.total == 4  # every decision on the axis
    for arm in ("short", "long"):
        assert series.allocation[arm].tolist() == [0.5] * 4
    assert series.share[held].tolist() == [1.0] * 4  # what users were shown


def test_a_contextual_report_says_what_its_leader_leads() -> None:
    """The LinUCB experiment's verdict read like a plain bandit's; its P(best) is over all
    contexts (from the estimates), and its policy picks per context: the line says so."""
    cfg = parse_config({"experiments": [{
        "id": "c", "arms": [{"id": a, "content": a} for a in ("formal", "casual")],
        "policy": "linucb", "burn_in": 0,
        "features": [{"name": "hour", "type": "cyclic", "period": 24}]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    env = np.random.default_rng(1)
    for i in range(300):
        d = svc.decide("c", f"u{i}", {"hour": i % 24})
        svc.reward(d.id, int(env.random() < (0.6 if d.arm == "formal" else 0.3)), f"u{i}")
    report = svc.report("c")
    assert report.verdict is not None
    assert report.verdict.startswith("no winner yet: formal leads over all contexts")
    assert "picks per context" in report.verdict and report.verdict in report.to_text()
