"""`simulate`'s time left: policies run one after another, each at its own pace."""

from __future__ import annotations

import re
from io import StringIO

import pytest

from banditbot.cli._output import Progress


def _run(stream: StringIO) -> list[str]:
    """Three policies of 100 steps: the first two 100 steps a second, the third (kl-ucb,
    as in the trial) 5 a second; a line at 0.5 s, then every 4 s."""
    now = [0.0]
    with Progress("simulate", 300, "steps", stream=stream, interval=4, first=0.5,
                  clock=lambda: now[0],
                  parts=(100, "policy", "policies")) as bar:
        for i, (label, pace) in enumerate((("thompson", 100), ("ucb1", 100),
                                           ("kl-ucb", 5))):
            bar.update(i * 100, label)
            for step in range(1, 101):
                now[0] += 1 / pace
                bar.update(i * 100 + step)
    return stream.getvalue().splitlines()


def test_the_time_left_is_the_running_policys_at_its_own_pace() -> None:
    """The trial's "about N s left" grew (9 s at 3 s, 24 s at 13 s, 27 s at 24 s; done at
    32 s): extrapolated from the fast policies to the slow one. Now each line gives the
    running policy's time left from its own pace, and counts the policies still to come
    without timing them; on the slow policy it falls as the time passes."""
    lines = _run(StringIO())
    assert lines[0] == "simulate: started, 300 steps"
    slow = [line for line in lines if line.startswith("simulate (kl-ucb):")]
    assert len(slow) >= 4, lines
    said = [float(m[1] or 0) for line in slow  # ("under 1 s": 0)
            if (m := re.search(r"(?:about (\d+)|under 1) s left for this policy$", line))]
    assert len(said) == len(slow), slow
    for line, left in zip(slow, said, strict=True):  # the truth: (100 − done) / 5 a second
        done = int(re.search(r": (\d+)/300", line)[1]) - 200  # type: ignore[index]
        assert left == pytest.approx((100 - done) / 5, abs=1), line
    assert said == sorted(said, reverse=True)
    first = [line for line in lines if line.startswith("simulate (thompson)")]
    assert first and all(", then 2 more policies (not timed yet)" in line for line in first), lines


def test_the_bar_shows_the_running_policys_time_left_and_the_policies_after_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", "100")
    now = [0.0]
    stream = Terminal()
    with Progress("simulate", 300, "steps", stream=stream, clock=lambda: now[0],
                  parts=(100, "policy", "policies")) as bar:
        bar.update(0, "thompson")
        now[0] = 2.0
        bar.update(50)  # 50 steps in 2 s: 2 s left of thompson
        bar._bar.refresh()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    last = [frame for frame in text.split("\r") if "50/300" in frame][-1].rstrip("\n")
    assert len(last) <= 100 and re.search(r"0:00:02 left, 2 more policies$", last), last


def test_a_part_with_under_a_second_left_says_so() -> None:
    """A trial read "about 0 s left for this policy, then 3 more policies" at 44%: a fast
    policy's time left rounds to 0 s while work remains. It reads "under 1 s left"."""
    lines = _run(StringIO())
    fast = [line for line in lines if line.startswith("simulate (thompson)")]
    assert fast and all("under 1 s left for this policy" in line for line in fast), fast
    assert not any("about 0 s left" in line for line in lines), lines
