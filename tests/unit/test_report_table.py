"""The CLI's report table: every interval named, no probability shown as a certainty."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from banditbot import BanditService, MemoryStore, parse_config
from banditbot._report import chance
from banditbot.cli.reports import render_report


def test_a_chance_never_rounds_to_a_certainty_it_is_not() -> None:
    assert chance(0.9996, 0) == ">99%" and chance(0.99996, 1) == ">99.9%"
    assert chance(0.0004, 1) == "<0.1%" and chance(0.004, 0) == "<1%"
    assert chance(1.0, 0) == "100%" and chance(0.0, 1) == "0.0%"
    assert chance(0.994, 0) == "99%" and chance(0.5, 1) == "50.0%"
    # an estimate from posterior draws is never certain
    assert chance(1.0, 0, exact=False) == ">99%" and chance(0.0, 0, exact=False) == "<1%"


def _answered(rounds: int = 200) -> BanditService:
    """About ``rounds / 2`` answered decisions per arm (every arm half of the decisions),
    base at 0.2 and new at 0.5 (the estimate and its uplift rest on the policy's answers:
    rewards added by hand are not in them)."""
    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": a, "content": a} for a in ("base", "new")],
        "control": "base", "policy": {"name": "epsilon-greedy", "epsilon": 1.0},
        "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for i in range(rounds):
        d = svc.decide("g", f"u{i}")
        svc.reward(d.id, int(rng.random() < {"base": 0.2, "new": 0.5}[d.arm]), f"u{i}")
    return svc


def test_the_uplift_column_is_named_and_shows_the_relative_change() -> None:
    svc = _answered(2000)  # (a relative change: the difference known to ±half of base's)
    out = io.StringIO()
    Console(file=out, width=250, color_system=None).print(render_report(svc.report("g")))
    text = out.getvalue()
    new_row = next(line for line in text.splitlines() if line.startswith("│ new"))
    uplift = svc.report("g").arms[1].uplift
    assert uplift is not None and uplift.relative is not None
    assert f"{uplift.diff:+.3f} ({uplift.relative:+.0%}) [{uplift.low:+.3f}" in new_row
    assert "vs base: difference in the estimate over the decisions that offered both " \
        "(relative change), " + uplift.kind in " ".join(text.split())
    assert svc.report("g").arms[1].chance_to_beat_control > 0.9999  # 30 points ahead
    assert "100%" not in new_row and new_row.rstrip(" │").endswith(">99%")


def test_the_bots_text_report_names_its_uplift_and_counts_in_words() -> None:
    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": a, "content": a} for a in ("base", "new")],
        "control": "base", "policy": {"name": "thompson"}, "burn_in": 0}]})
    one = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    one.decide("g", "u")
    assert "1 decision," in one.report("g").to_text()
    rep = _answered().report("g")
    uplift = rep.arms[1].uplift
    assert uplift is not None
    assert f"new vs base: {uplift.diff:+.3f} ({uplift.low:+.3f} to {uplift.high:+.3f}, " \
           f"{uplift.kind})" in rep.to_text()


def test_the_verdict_names_both_when_p_best_and_the_estimate_disagree() -> None:
    """Rewards added by hand count in the posterior (P(best)) but not in the estimate,
    which weighs the policy's own decisions by their propensities: a walkthrough saw
    "a leads (P(best) 89%)" beside a's lower estimate. The verdict says which favours which."""
    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": a, "content": a} for a in ("a", "b")],
        "policy": {"name": "thompson"}, "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for i in range(400):
        d = svc.decide("g", f"u{i}")
        svc.reward(d.id, int(rng.random() < {"a": 0.2, "b": 0.5}[d.arm]), f"u{i}")
    assert svc.report("g").verdict.startswith("no winner yet: b leads")  # type: ignore[union-attr]
    svc.cheat("g", "a", "1" * 3000)  # by hand: the posterior of a soars, the estimate stays
    rep = svc.report("g")
    est = {x.arm: x.estimate for x in rep.arms}
    assert est["b"] > est["a"] and rep.leader is not None and rep.leader.arm == "a"
    assert rep.verdict is not None and "P(best) favours a" in rep.verdict
    assert "the estimate b" in rep.verdict


def test_a_contextual_report_reads_each_arm_over_all_contexts() -> None:
    """A walkthrough's LinUCB experiment (each arm pays 0.7 in its own language and 0.2 in
    the other: both are worth 0.45) was reported as x 0.647 / y 0.635 with every-look
    intervals that excluded 0.45, an allocation of 99% / 1% for a 51/49 split, and a
    confident P(best). Now: both sequences cover 0.45, the allocation is the logged
    average, P(best) comes from the estimates, and a note says how to read the columns."""
    cfg = parse_config({"experiments": [{
        "id": "ctx", "arms": [{"id": a, "content": a} for a in ("x", "y")],
        "policy": {"name": "linucb"}, "reward": {"type": "binary"},
        "features": [{"name": "lang", "type": "categorical", "values": ["en", "de"]}]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(1))
    rng = np.random.default_rng(2)
    served = {"x": 0, "y": 0}
    for i in range(3000):
        lang = ("en", "de")[int(rng.integers(2))]
        d = svc.decide("ctx", f"u{i}", {"lang": lang})
        served[d.arm] += 1
        good = d.arm == ("x" if lang == "de" else "y")
        svc.reward(d.id, int(rng.random() < (0.7 if good else 0.2)), f"u{i}")
    rep = svc.report("ctx")
    for arm in rep.arms:
        assert arm.anytime_low is not None and arm.anytime_high is not None
        assert arm.anytime_low <= 0.45 <= arm.anytime_high
        assert abs(arm.allocation - served[arm.arm] / 3000) < 0.05
        assert arm.mean is not None and arm.mean > 0.6  # the raw mean flatters each arm
    assert max(a.p_best for a in rep.arms) < 0.99
    assert "value if sent to every context" in rep.notes["context"]
    # its P(best) is read off the estimates: the verdict never says "the raw counts"
    assert rep.verdict is not None and "over all contexts" in rep.verdict
    assert "raw counts" not in rep.verdict


def test_the_leader_is_the_arm_with_the_highest_p_best_and_data_behind_it() -> None:
    """A walkthrough saw "b leads (P(best) 33%)" beside a at 67% (a had no answers yet) and,
    after a prior on a, "b leads (P(best) 2%)" beside a at 98%."""
    cfg = parse_config({"experiments": [{
        "id": "e", "arms": [{"id": a, "content": a} for a in ("a", "b")],
        "policy": {"name": "thompson"}, "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(1))
    d = svc.decide("e", "u1")
    svc.reward(d.id, 0, "u1")
    rep = svc.report("e")
    loser = d.arm
    other = "a" if loser == "b" else "b"
    p = {x.arm: x.p_best for x in rep.arms}
    assert p[other] > p[loser] and rep.verdict is None  # the top arm has no data yet
    svc.set_prior("e", other, 9, 1)
    rep = svc.report("e")
    assert rep.leader is not None and rep.leader.arm == other
    assert rep.verdict is not None and rep.verdict.startswith(f"no winner yet: {other} leads")


def test_the_estimate_says_its_interval_is_conservative_off_binary_rewards() -> None:
    """On ratings the one-look interval uses a 0/1 reward's variance at the mean (the
    widest a reward in the range can have), so the confidence sequence, built on the
    spread seen, can be the narrower: the estimate's name says so there, not on 👍/👎."""
    cfg = parse_config({"experiments": [
        {"id": "r", "reward": {"type": "rating"}, "burn_in": 0,
         "arms": [{"id": "a", "content": "a"}, {"id": "b", "content": "b"}]},
        {"id": "t", "burn_in": 0,
         "arms": [{"id": "a", "content": "a"}, {"id": "b", "content": "b"}]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    for i in range(60):
        for exp, value in (("r", 3 + i % 3), ("t", i % 2)):
            d = svc.decide(exp, f"u{i}")
            svc.reward(d.id, value, f"u{i}")
    assert svc.report("r").estimate_kind == (
        "adaptively weighted AIPW estimate (95% at this look; the interval allows the "
        "widest spread a reward in the range can have)")
    assert svc.report("t").estimate_kind == \
        "adaptively weighted AIPW estimate (95% at this look)"


def test_a_short_table_says_how_busy_the_arms_it_leaves_out_are() -> None:
    """Five arms, a table of three: the line for the rest said "with fewer decisions" even
    when they had as many as a row shown (0 and 0); it says what they have."""
    cfg = parse_config({"experiments": [{
        "id": "m", "arms": [{"id": f"v{i}", "content": f"v{i}"} for i in range(5)],
        "policy": {"name": "epsilon-greedy", "epsilon": 1.0}, "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    assert "2 more arms with no decisions yet" in svc.report("m").to_text(max_arms=3)
    for i in range(60):
        svc.decide("m", f"u{i}")
    report = svc.report("m")
    text = report.to_text(max_arms=3)
    shown = {a.arm for a in report.top_arms(3)}
    most = max(a.pulls for a in report.arms if a.arm not in shown)
    assert f"2 more arms with at most {most} decisions each" in text


def test_a_tie_of_the_estimates_is_not_told_as_a_disagreement() -> None:
    """Every reward 1: the estimates read 1.000 and 1.000 (or 0.989 and 1.000), and the
    verdict said "P(best) favours b (68%), the estimate a" as if the two disagreed."""
    cfg = parse_config({"experiments": [{
        "id": "t", "arms": [{"id": a, "content": a} for a in "ab"],
        "policy": {"name": "epsilon-greedy", "epsilon": 1.0}, "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    for i in range(80):
        svc.reward(svc.decide("t", f"u{i}").id, 1, f"u{i}")
    report = svc.report("t")
    assert all(a.estimate is not None and a.estimate > 0.98 for a in report.arms)
    assert report.verdict is not None and "favours" not in report.verdict
    assert "leads (P(best)" in report.verdict


def test_an_empty_every_look_interval_is_named_as_drift() -> None:
    """A statistics trial: an arm paying 0.9 for 300 decisions, then 0.1, had its every-look
    interval's ends cross from about decision 500 ("0.627–0.565" at 2,000) with no word in
    the report. The report now names the arm and says what crossed ends mean; arms at
    constant rates get no such note (seeds fixed: deterministic)."""
    import numpy as np

    from banditbot import BanditService, MemoryStore, parse_config

    def run(drift: bool) -> dict[str, str]:
        cfg = parse_config({"experiments": [{"id": "d", "policy": "thompson", "arms": [
            {"id": "a0", "content": "x"}, {"id": "a1", "content": "y"}]}]})
        svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
        env = np.random.default_rng(10000)
        for i in range(2000):
            d = svc.decide("d", f"u{i}")
            first = 0.9 if i < 300 or not drift else 0.1
            svc.reward(d.id, int(env.random() < (first if d.arm == "a0" else 0.5)), f"u{i}")
        report = svc.report("d")
        a0 = report.arms[0]
        assert a0.anytime_low is not None and a0.anytime_high is not None
        assert (a0.anytime_low > a0.anytime_high) == drift
        return dict(report.notes)

    notes = run(drift=True)
    assert notes["drift"].startswith("a0: the every-look interval is empty")
    assert "drift" not in run(drift=False)


def test_the_text_table_has_the_cli_s_columns_and_the_interval_at_every_look() -> None:
    """A trial: ``Report.to_text()`` (what a notebook prints) left out the interval valid at
    every look, the one a reader who checks daily needs, and named its columns unlike the
    CLI's table; a sample-ratio check that passed was not said."""
    rep = _answered().report("g")
    text = rep.to_text()
    header = next(line for line in text.splitlines() if line.startswith("arm "))
    assert header.split() == ["arm", "decisions", "answered", "reward", "sum", "estimate",
                              "interval", "every", "look", "P(best)", "allocation"]
    for a in rep.arms:
        assert a.anytime_low is not None and a.anytime_high is not None
        row = next(line for line in text.splitlines() if line.startswith(a.arm + " "))
        assert f"{a.anytime_low:.2f}–{a.anytime_high:.2f}" in row
    assert f"every look: {rep.anytime_kind}" in text
    assert rep.srm is not None and rep.srm.describe() in text
    assert text.count("sample ratio: OK over 200 decisions") == 1


def test_p_best_is_a_certainty_only_with_one_arm_and_a_lead_vs_the_control_is_qualified(
        ) -> None:
    """Two trial findings on the results page and the CLI: a P(best) of 1.0 among two arms
    (a posterior's, rounded) read "100%" and "0%"; and "hey leads (P(best) >99%)" said
    nothing of an uplift interval against the control that still held 0."""
    from dataclasses import replace

    rep = _answered().report("g")
    sure = replace(rep, arms=tuple(replace(a, p_best=1.0 if a.arm == "new" else 0.0)
                                   for a in rep.arms))
    assert [sure.best_text(a) for a in sure.arms] == ["<1%", ">99%"]
    assert [sure.best_text(a, 1) for a in sure.arms] == ["<0.1%", ">99.9%"]
    alone = replace(sure, arms=tuple(replace(a, active=a.arm == "new") for a in sure.arms))
    assert [alone.best_text(a) for a in alone.arms] == ["–", "100%"]  # one arm: certain
    # the leader's every-look interval against the control still holds 0 at 200
    # decisions (its chance to beat the control >99.9%): said; once clear of 0, not
    new = next(a for a in rep.arms if a.arm == "new")
    assert new.uplift is not None and new.uplift.low < 0 < new.uplift.high, new.uplift
    assert new.chance_to_beat_control is not None and new.chance_to_beat_control > 0.999
    assert rep.verdict is not None and rep.verdict.startswith("no winner yet: new leads")
    assert rep.verdict.endswith(
        f"; not yet shown better than base (its interval against it, {new.uplift.low:+.3f} "
        f"to {new.uplift.high:+.3f}, holds 0)")
    clear = replace(rep, arms=tuple(
        replace(a, uplift=replace(new.uplift, low=0.01)) if a.arm == "new" else a
        for a in rep.arms))
    assert clear.verdict is not None and "not yet shown better" not in clear.verdict
    # P(best) can lead where the estimate does not: an interval against the control below
    # 0 (a statistician's review: the line said only "new leads") says the leader is worse
    worse = replace(rep, arms=tuple(
        replace(a, uplift=replace(new.uplift, low=-0.3, high=-0.01)) if a.arm == "new" else a
        for a in rep.arms))
    assert worse.verdict is not None and worse.verdict.endswith(
        "; shown worse than base (its interval against it, -0.300 to -0.010, lies below 0)")


def test_an_index_policy_sending_its_decisions_to_another_arm_than_the_leader_says_why(
        ) -> None:
    """A trial: "A leads (P(best) >99%)" beside an allocation of A 1% and B 98% read as a
    contradiction. UCB1 sends each decision to the highest upper bound: b, tried twice, is
    still uncertain enough, while a leads on 60 answers; a note says so, and none when the
    leader is the arm it sends to."""
    cfg = parse_config({"experiments": [{
        "id": "u", "arms": [{"id": a, "content": a} for a in "abc"], "policy": "ucb1",
        "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    svc.cheat("u", "a", "1" * 50 + "0" * 10)
    svc.cheat("u", "b", "10")
    svc.cheat("u", "c", "1" * 10 + "0" * 50)
    rep = svc.report("u")
    shares = {a.arm: a.allocation for a in rep.arms}
    assert rep.leader is not None and rep.leader.arm == "a" and shares["b"] > 0.9
    assert rep.notes["exploring"] == (
        "ucb1 sends each decision to the arm with the highest upper bound: now b, still "
        "uncertain enough to be tried, not the leader a (an index policy explores by turns, "
        "not by shares)")
    svc.cheat("u", "b", "0" * 200)  # b is known to be poor: UCB1 sends to a, the leader
    assert "exploring" not in svc.report("u").notes


def test_a_sum_of_continuous_rewards_has_two_decimals_grouped() -> None:
    """A revenue's sum read "3,468.3022" beside estimates of three decimals (a trial): two
    decimals, grouped, as the results page shows it."""
    cfg = parse_config({"experiments": [{
        "id": "r", "arms": [{"id": a, "content": a} for a in ("a", "b")],
        "reward": {"type": "continuous"}, "policy": "gaussian-thompson"}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    svc.cheat("r", "a", [1234.567, 2000.1])
    d = svc.decide("r", "u")
    svc.reward(d.id, 10.0, "u")
    out = io.StringIO()
    Console(file=out, width=250, color_system=None).print(render_report(svc.report("r")))
    row = next(line for line in out.getvalue().splitlines() if line.startswith("│ a"))
    assert "3,234.67" in row and "3,234.667" not in row, row
    # without bounds the sample-ratio test never runs: said so, not "not checked yet"
    assert "sample ratio: not checked (a reward without bounds" in out.getvalue()


def test_answers_added_without_decisions_lead_the_headline_with_their_posterior() -> None:
    """A trial warm-started an experiment from a log: its report's headline read "too
    early: 1,486 answers so far, too few to compare the arms" beside P(best) 93%, and every
    estimate was "–" with no mean shown (imported answers count in the posterior, not in
    the estimate). Now the headline names the leader on those answers with its posterior
    mean, and the CLI table, the text table and the bot's report show the posterior mean."""
    from banditbot.telegram._report_html import report_messages

    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": a, "content": a} for a in ("base", "new")],
        "policy": {"name": "thompson"}, "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    svc.cheat("g", "new", "1" * 30 + "0" * 10)
    svc.cheat("g", "base", "1" * 10 + "0" * 30)
    rep = svc.report("g")
    assert rep.headline == ("new leads on the answers imported or added by hand: 74% 👍 "
                            "(posterior mean; P(best) >99%); the estimates start with the "
                            "policy's own answered decisions")
    out = io.StringIO()
    Console(file=out, width=250, color_system=None).print(render_report(rep))
    new_row = next(line for line in out.getvalue().splitlines() if line.startswith("│ new"))
    assert "posterior mean" in out.getvalue() and "0.738" in new_row  # Beta(31, 11)
    assert "posterior mean" in rep.to_text()
    assert "0.738" in "".join(report_messages(rep))


def test_a_leader_without_added_answers_is_not_said_to_lead_on_them() -> None:
    """A review: the headline's "leads on the answers imported or added by hand" was given
    when any arm had such answers, for a leader with a few answers of its own and none
    added. It is given only for a leader with added answers."""
    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": a, "content": a} for a in ("base", "new")],
        "policy": {"name": "thompson"}, "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    svc.cheat("g", "base", "0000")
    for i in range(6):
        d = svc.decide("g", f"u{i}")
        svc.reward(d.id, 1 if d.arm == "new" else 0, f"u{i}")
    rep = svc.report("g")
    assert rep.leader is not None and rep.leader.arm == "new" and not rep.leader.added
    assert "imported or added by hand" not in rep.headline, rep.headline
    assert rep.headline.startswith("too early")
