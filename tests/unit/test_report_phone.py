"""The report as the bot sends it: readable on a phone (no line of a ``<pre>`` wider than
40 columns, where the CLI's table of about 85 wrapped into a mess), every message valid HTML
that Telegram takes (checked by the double's validators), the leader and the verdict in it,
and a report of many arms split into messages that each say which part they are."""

from __future__ import annotations

import dataclasses
import html
import re
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, MemoryStore, Report, parse_config
from banditbot.telegram._report_html import display_width, fit_reports, report_messages

from ..conftest import FakeClock
from ..telegram_double import check_text

#: the columns a phone shows of a <pre> block, about (35–45)
PHONE_COLUMNS = 40


def _service(experiment: dict[str, Any], rounds: int, *, seed: int = 3) -> BanditService:
    """An experiment after ``rounds`` decisions, each answered: arm i pays off with a
    chance that grows with i (so the last arms lead)."""
    svc = BanditService(parse_config({"experiments": [experiment]}), MemoryStore(),
                        rng=np.random.default_rng(seed), clock=FakeClock())
    rng = np.random.default_rng(seed + 1)
    arms = [a["id"] for a in experiment["arms"]]
    features = experiment.get("features")
    for i in range(rounds):
        context = {"past_reward_rate": float(rng.random())} if features else None
        d = svc.decide(experiment["id"], f"user{i % 9}", context=context)
        p = 0.2 + 0.6 * arms.index(d.arm) / max(len(arms) - 1, 1)
        svc.reward(d.id, int(rng.random() < p), f"user{i % 9}")
    return svc


THREE = {"id": "greeting", "policy": "thompson", "control": "hello",
         "arms": [{"id": "hello", "content": "Hello"}, {"id": "hey", "content": "Hey"},
                  {"id": "howdy", "content": "Howdy"}]}
THIRTY = {"id": "many", "policy": "thompson",
          "arms": [{"id": f"variant_{i:02d}", "content": f"message {i}"} for i in range(30)]}
CONTEXTUAL = {"id": "tone", "policy": "linucb",
              "features": [{"name": "past_reward_rate", "center": 0.5}],
              "arms": [{"id": "formal", "content": "Good day."},
                       {"id": "casual", "content": "Hey!"}]}
DRIFTING = {"id": "season", "policy": {"name": "discounted-thompson", "half_life": 1000},
            "time_bucket_seconds": 60,
            "arms": [{"id": "summer", "content": "Sun"}, {"id": "winter", "content": "Snow"}]}


def _report(experiment: dict[str, Any], rounds: int) -> Report:
    return _service(experiment, rounds).report(experiment["id"])


def _pre_lines(messages: list[str]) -> list[str]:
    """Every line of every <pre> block, as the phone shows it (entities decoded)."""
    return [line for m in messages for block in re.findall(r"<pre>(.*?)</pre>", m, re.S)
            for line in html.unescape(block).split("\n")]


def _shown(messages: list[str]) -> str:
    """What the chat shows: tags gone, entities decoded."""
    return html.unescape(re.sub(r"</?(b|pre)>", "", "\n".join(messages)))


@pytest.mark.parametrize(("experiment", "rounds", "note"), [
    (THREE, 300, None), (THIRTY, 900, None), (CONTEXTUAL, 200, "context"),
    (DRIFTING, 300, "recent")], ids=["3 arms", "30 arms", "contextual", "non-stationary"])
def test_the_report_fits_a_phone_and_says_who_leads(experiment: dict[str, Any], rounds: int,
                                                   note: str | None) -> None:
    report = _report(experiment, rounds)
    messages = report_messages(report, max_arms=30)
    lines = _pre_lines(messages)
    assert lines, "the arms are in a fixed-width block"
    too_wide = [line for line in lines if display_width(line) > PHONE_COLUMNS]
    assert not too_wide
    for message in messages:
        check_text(message, "HTML")  # Telegram takes it (and it is under 4,096 characters)
        assert len(message) < 4096
    shown = _shown(messages)
    leader = report.leader
    assert leader is not None and report.verdict is not None
    assert report.verdict in shown
    assert any(line.startswith(f"{leader.arm} (leads") for line in lines)  # its block says so
    # every arm's block: its name, then its counts, estimate and interval, P(best)
    for a in report.arms:
        block = lines[lines.index(next(x for x in lines if x.split(" (")[0] == a.arm)):]
        assert block[1].strip().startswith(f"{a.pulls:,} decision")
        assert f"estimate {a.estimate:.3f} ({a.estimate_low:.2f}–{a.estimate_high:.2f})" \
            in block[2]
        # the interval valid however often the chat reads the report, when the report has it
        rest = 3
        if a.anytime_low is not None and a.anytime_high is not None:
            assert block[3].strip() == f"every look {a.anytime_low:.2f}–{a.anytime_high:.2f}"
            rest = 4
        assert "P(best) " in block[rest]
    assert f"estimate (interval): {report.estimate_kind}" in shown  # what the interval is
    if any(a.anytime_low is not None for a in report.arms):
        assert f"every look: {report.anytime_kind}" in shown
    if note is not None:  # the notes, as text outside the block
        assert f"{note}: {report.notes[note]}" in shown
        assert not any(report.notes[note][:30] in line for line in lines)


def test_the_leader_and_the_control_are_named_in_their_blocks() -> None:
    report = _report(THREE, 300)
    lines = _pre_lines(report_messages(report))
    leader = report.leader
    assert leader is not None and leader.arm != "hello"
    assert "hello (control)" in lines and f"{leader.arm} (leads)" in lines
    # against the control, the interval of the difference, in the leader's block
    u = leader.uplift
    assert u is not None
    assert f"  vs hello {u.diff:+.3f} ({u.low:+.3f} to {u.high:+.3f})" in lines


def test_text_from_the_report_is_escaped() -> None:
    """Arm names, the control and notes with <, > and & reach Telegram escaped (a name like
    'a<b' would be refused as a tag, 'R&D' as an entity)."""
    report = _report(THREE, 300)
    names = {"hello": "<hello>", "hey": "R&D", "howdy": "a<b&c>"}
    odd = dataclasses.replace(
        report, control="<hello>", notes={"odd": "x < y & z <b>not bold</b>"},
        arms=tuple(dataclasses.replace(a, arm=names[a.arm]) for a in report.arms))
    messages = report_messages(odd)
    for message in messages:
        check_text(message, "HTML")
    shown = _shown(messages)
    assert "odd: x < y & z <b>not bold</b>" in shown
    assert {"<hello> (control)", "a<b&c>"} <= {line.split(" (leads")[0]
                                              for line in _pre_lines(messages)}


def test_many_arms_are_split_into_parts_that_say_so() -> None:
    """When one message is too short for every arm, the arm blocks go on in the next message:
    each valid alone, each saying which part and which arms it holds, no arm lost."""
    report = _report(THIRTY, 900)
    messages = report_messages(report, max_arms=30, limit=1500)
    assert len(messages) > 2
    for i, message in enumerate(messages):
        check_text(message, "HTML")
        assert len(message) <= 1500
        if i:
            assert message.startswith(f"<b>many</b> · part {i + 1}/{len(messages)}")
        if i + 1 < len(messages):
            assert message.endswith("(continued in the next message)")
    names = [line for line in _pre_lines(messages) if line.startswith("variant_")]
    assert [n.split(" (")[0] for n in names] == [a.arm for a in report.arms]
    assert "arms 1–" in messages[0] and "of 30" in messages[0]
    assert report.verdict is not None and report.verdict in _shown(messages)


def test_a_hundred_and_fifty_arms_show_thirty_and_say_how_many_more() -> None:
    arms = [{"id": f"arm_{i:03d}", "content": f"m {i}"} for i in range(150)]
    svc = _service({"id": "big", "arms": arms, "burn_in": 0, "floor": 0.003}, 40)
    report = svc.report("big")
    messages = report_messages(report, max_arms=30)
    names = [line for line in _pre_lines(messages) if line.startswith("arm_")]
    assert len(names) == 30
    assert "… and 120 more arms with" in _shown(messages)
    # split over messages, a part's arms count among the 30 shown, not as if 30 were all
    split = report_messages(report, max_arms=30, limit=1500)
    assert len(split) > 2
    assert "arms 1–" in split[0] and "of the 30 shown here (the other 120: one line at " \
        "the end)" in split[0], split[0]
    assert all(" of 30" not in m for m in split)
    # a later part's label: which part, and which arms, without parentheses in parentheses
    assert re.match(r"<b>big</b> · part 2/\d+ · arms \d+–\d+ of the 30 shown here\n",
                    split[1]), split[1][:120]
    for message in messages:
        check_text(message, "HTML")


def test_every_experiment_in_one_message_says_which_did_not_fit() -> None:
    """A bare /report: whole reports in one message; a report that needs messages of its
    own is named instead, and a shorter one after it still shows."""
    three, thirty, tone = (_report(THREE, 60), _report(THIRTY, 300),
                           _report(CONTEXTUAL, 60))
    text, left = fit_reports([three, thirty, tone], max_arms=30, limit=3600)
    assert left == ["many"]
    check_text(text, "HTML")
    assert "<b>greeting · thompson" in text and "<b>tone · linucb" in text
    assert len(text) <= 3600


def test_the_shipped_examples_fit_one_overview() -> None:
    """A trial: a new user's bare /report showed two of the three shipped experiments and
    "Not shown: tip", each report repeating what its numbers are and its notes. The
    overview leaves those to one experiment's report: all three fit, each with its verdict,
    arms and totals."""
    from banditbot import load_config

    from ..conftest import EXAMPLES

    config = load_config(EXAMPLES)
    svc = BanditService(config, MemoryStore(), rng=np.random.default_rng(2),
                        clock=FakeClock())
    rng = np.random.default_rng(3)
    for exp in config.experiments:
        for i in range(80):
            d = svc.decide(exp.id, f"u{i}", chat=f"{i}")
            svc.reward(d.id, exp.reward.buttons[int(rng.integers(len(exp.reward.buttons)))]
                       .value, f"u{i}")
    reports = [svc.report(e.id) for e in config.experiments]
    text, left = fit_reports(reports, max_arms=30, limit=3600)
    assert left == [] and len(reports) >= 3
    check_text(text, "HTML")
    for report in reports:
        assert f"<b>{report.experiment} · " in text and report.totals_text() in text
    assert "estimate (interval):" not in text  # (what the numbers are: in one's report)
    assert "estimate (interval):" in report_messages(reports[0])[0]
    # a note that warns stays in the overview (a review: a lost answer's note had gone)
    from dataclasses import replace

    warned = replace(reports[1], notes={**reports[1].notes, "answered": "b for 3% of …",
                                        "recent": "not a warning"})
    text, _ = fit_reports([reports[0], warned, reports[2]], max_arms=30, limit=3600)
    assert "answered: b for 3% of …" in text and "not a warning" not in text


def test_display_width_counts_wide_characters_twice() -> None:
    assert display_width("P(best) 98%") == 11
    assert display_width("👍 ok") == 5 and display_width("⚠") == 2
    assert display_width("日本") == 4
    assert display_width("e\u0301") == 1  # a combining accent takes no column


@pytest.mark.parametrize(("burn_in", "expected"), [
    ({"done": 3, "needed": 10, "answers": 7, "answers_needed": 5},
     "burn-in per arm (the fewest): 3/10 decisions (answers: done)"),
    ({"done": 12, "needed": 10, "answers": 0, "answers_needed": 3},
     "burn-in per arm (the fewest): 0/3 answers (decisions: done)"),
    ({"done": 7, "needed": 10, "answers": 3, "answers_needed": 5},
     "burn-in per arm (the fewest): 7/10 decisions, 3/5 answers"),
    ({"done": 7, "needed": 10, "answers": 9, "answers_needed": 0},
     "burn-in per arm (the fewest): 7/10 decisions"),
])
def test_burn_in_says_what_it_still_waits_for(burn_in: dict[str, int], expected: str) -> None:
    """'3/10 decisions, 7/5 answers' read like a bug: a part already reached says done."""
    report = dataclasses.replace(_report(THREE, 10), burn_in=burn_in)
    assert report.burn_in_text == expected
    assert expected in report.to_text()
    assert expected in _shown(report_messages(report))


def test_a_burn_in_whose_answers_are_in_says_so_in_the_cli_and_the_bot() -> None:
    experiment = {"id": "warm", "burn_in": {"min_per_arm": 10, "min_answers": 1},
                  "arms": [{"id": "a", "content": "a"}, {"id": "b", "content": "b"}]}
    report = _service(experiment, 8).report("warm")
    assert report.burn_in is not None and report.burn_in["answers"] >= 1
    line = f"burn-in per arm (the fewest): {report.burn_in['done']}/10 decisions " \
           "(answers: done)"
    assert line in report.to_text()
    assert line in _shown(report_messages(report))


def test_large_numbers_wrap_inside_the_block_rather_than_widen_it() -> None:
    """A busy experiment on a wide rating scale: millions of decisions, sums and estimates
    in the thousands still give lines a phone shows whole."""
    report = _report(THREE, 60)
    busy = dataclasses.replace(report, arms=tuple(dataclasses.replace(
        a, pulls=12_345_678, answered=12_345_678.5, reward_sum=987_654_321.25,
        estimate=-1234.567, estimate_low=-98765.43, estimate_high=98765.43)
        for a in report.arms))
    lines = _pre_lines(report_messages(busy))
    assert max(display_width(line) for line in lines) <= PHONE_COLUMNS
    # wrapped between the parts (indented further), never inside a number; the sum on a
    # line of its own, said in full
    assert lines[1:6] == ["  12,345,678 decisions", "    12,345,678.5 answered",
                          "  sum of the answers 987,654,321.2", "  estimate -1234.567",
                          "    (-98765.43–98765.43)"]


def test_a_long_name_keeps_its_tags_on_an_indented_line() -> None:
    """An arm id of 32 characters, retired: its tag goes on the next line, indented, so it
    does not read as an arm of its own."""
    report = _report(THREE, 60)
    long = "a_really_long_arm_name_of_32_chr"
    odd = dataclasses.replace(report, arms=tuple(
        dataclasses.replace(a, arm=long, active=False) if a.arm == "howdy" else a
        for a in report.arms))
    lines = _pre_lines(report_messages(odd))
    at = lines.index(long)
    assert lines[at + 1] == "  (retired)"
    assert lines[at + 2].startswith("  ") and "decision" in lines[at + 2]


def test_the_report_opens_with_its_answer_in_plain_words() -> None:
    """A trial: every report opened with the policy's settings and the statistician's
    terms. The first line is the headline, the title and the rest after it."""
    report = _report(THREE, 300)
    first = report_messages(report)[0]
    assert first.startswith(f"<b>greeting</b>: {html.escape(report.headline, quote=False)}"
                            "\n\n<b>greeting · thompson")
    overview, _ = fit_reports([report, _report(CONTEXTUAL, 60)], limit=3600)
    assert overview.startswith(f"<b>greeting</b>: {html.escape(report.headline, quote=False)}")
    assert "<b>tone</b>: formal leads over all contexts" in overview or \
        "<b>tone</b>: casual leads over all contexts" in overview


def test_a_sum_that_does_not_fit_beside_the_counts_is_a_line_of_its_own() -> None:
    """A trial's rating report: "582 decisions · 582 answered", then "    sum 2,383" alone,
    indented as if a piece of the line above."""
    report = _report(THREE, 60)
    rated = dataclasses.replace(report, arms=tuple(dataclasses.replace(
        a, pulls=582, answered=582, reward_sum=2383) for a in report.arms))
    lines = _pre_lines(report_messages(rated))
    assert lines[1:3] == ["  582 decisions · 582 answered", "  sum of the answers 2,383"]
    # (what fits stays on one line)
    assert _pre_lines(report_messages(report))[1].count(" · ") == 2


def test_a_posterior_is_shown_only_where_it_says_something() -> None:
    """"posterior –" (an arm with neither answers nor a prior) said nothing, and in the
    overview nothing said what a posterior was."""
    report = _report(THREE, 60)
    odd = dataclasses.replace(report, arms=tuple(
        dataclasses.replace(a, prior=(2.0, 1.0)) if a.arm == "hello" else
        dataclasses.replace(a, posterior_mean=None) if a.arm == "howdy" else a
        for a in report.arms))
    messages = report_messages(odd)
    lines = [line.strip() for line in _pre_lines(messages)]
    assert "posterior –" not in lines
    assert sum(line.startswith("posterior ") for line in lines) == 2  # hello's and hey's
    assert "posterior: the mean of the posterior behind P(best), the prior and the answers " \
           "imported or added by hand in it (not shown for an arm with neither answers nor " \
           "a prior)" in _shown(messages)
    overview, _ = fit_reports([odd], limit=3600)  # (no legend there: no posterior either)
    assert "posterior" not in overview


def test_a_note_longer_than_a_message_goes_on_between_words() -> None:
    """A long note was cut mid-word and its end lost; it goes on in the next message."""
    report = _report(THREE, 60)
    words = [f"variant_number_{i:02d}_with_a_long_id" for i in range(60)]
    long = dataclasses.replace(report, notes={"history": " ".join(words)})
    messages = report_messages(long, limit=1000)
    assert len(messages) > 2
    for message in messages:
        check_text(message, "HTML")
        assert len(message) <= 1000
    shown = _shown(messages).replace(" …\n\n(continued in the next message)", " ") \
        .replace("\n\n… ", " ")
    said = re.findall(r"variant_number_\d\d_with_a_long_id\S*", shown)
    assert said == words  # every one, whole, in order
