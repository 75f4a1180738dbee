"""Charts a reader understands: titled, labelled axes, round ticks, by decision count (never
wall-clock time), nothing clipped, a size Telegram shows legibly; and the dashboard's colours
meet WCAG AA contrast."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, MemoryStore, SQLiteStore, load_config, parse_config
from banditbot._charts import (
    COLORS,
    OTHERS,
    _evaluation_figure,
    _report_figure,
    evaluation_png,
    report_png,
)
from banditbot._plotting import STYLE, styled
from banditbot._series import DecisionSeries
from banditbot.offline import Estimate

from ..conftest import EXAMPLES, ROOT

pytest.importorskip("matplotlib")
STATIC = ROOT / "src" / "banditbot" / "api" / "static"


@pytest.fixture
def service() -> BanditService:
    svc = BanditService(load_config(EXAMPLES), MemoryStore(), rng=np.random.default_rng(1))
    rng = np.random.default_rng(2)
    truth = {"hello": 0.2, "hey": 0.55, "formal": 0.35, "playful": 0.15}
    for i in range(600):
        d = svc.decide("greeting", f"u{i}")
        if rng.random() < 0.8:
            svc.reward(d.id, int(rng.random() < truth[d.arm]), f"u{i}")
    return svc


def _series(svc: BanditService, experiment: str) -> DecisionSeries:
    report = svc.report(experiment)
    return DecisionSeries.from_records([a.arm for a in report.arms],
                                       svc.decisions(experiment))


def _inside(fig: Any, artist: Any) -> bool:
    fig.canvas.draw()
    box, page = artist.get_window_extent(), fig.bbox
    return bool(box.x0 >= page.x0 and box.x1 <= page.x1 and box.y0 >= page.y0
                and box.y1 <= page.y1)


def _texts(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def test_the_report_chart_is_titled_labelled_and_by_decision_count(
        service: BanditService) -> None:
    with styled(STYLE):
        fig = _report_figure(service.report("greeting"), _series(service, "greeting"))
        allocation, intervals = fig.axes
        assert fig._suptitle.get_text() == "greeting" and _inside(fig, fig._suptitle)
        assert allocation.get_title(loc="left") == "Allocation by decision count"
        assert allocation.get_xlabel() == "decisions"
        assert allocation.get_ylabel() == "share of traffic"
        ticks = [t.get_text() for t in allocation.get_xticklabels()]
        assert ticks[0] == "0" and all(re.fullmatch(r"[\d,]+", t) for t in ticks), ticks
        assert allocation.get_xlim()[1] == 600  # every decision, no time gaps
        assert [t.get_text() for t in allocation.get_yticklabels()][-1] == "100%"
        assert "AIPW" in intervals.get_xlabel()  # names the estimate the report leads with
        assert "hey" in " ".join(t.get_text() for t in intervals.get_yticklabels())
        assert any("600 decisions" in t for t in _texts(fig))
        # each arm's counts just under its id, on the page (as one two-line label of one
        # size, an arm's counts sat as close to the next arm's id as to its own); its share
        # is the allocation the next decision draws from, named so (a trial read "75% of
        # traffic" for an arm that had 17 of 40 decisions)
        report = service.report("greeting")
        counts = {t.get_text(): t for t in intervals.texts if "answered" in t.get_text()}
        for arm, label in zip(report.arms, intervals.get_yticklabels(), strict=True):
            assert label.get_text().startswith(arm.arm)
            below = counts[f"{arm.answered:,.0f} answered · allocation {arm.allocation:.0%}"]
            assert _inside(fig, below) and _inside(fig, label)
            name, under = label.get_window_extent(), below.get_window_extent()
            assert 0 <= name.y0 - under.y1 < 0.25 * name.height  # just under, not over
            assert under.x1 <= intervals.get_window_extent().x0  # beside the panel
        for axis in fig.axes:
            assert _inside(fig, axis.xaxis.label)
        assert _inside(fig, allocation.get_legend())


def test_an_empty_experiment_keeps_its_title_inside(service: BanditService) -> None:
    report = service.report("tip")
    with styled(STYLE):
        fig = _report_figure(report, _series(service, "tip"))
        assert fig._suptitle.get_text() == "tip" and _inside(fig, fig._suptitle)
        assert "No decisions yet" in _texts(fig) and "No rewards yet" in _texts(fig)


def test_answers_too_few_for_an_estimate_are_not_called_none() -> None:
    """A trial's chart said "No rewards yet" beside rows that said "2 answered" (a rating
    reward whose estimates need more answers): it says there are too few for an estimate."""
    cfg = parse_config({"experiments": [{"id": "tip", "reward": {"type": "rating"},
                                         "arms": [{"id": a, "content": a} for a in "ab"]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    svc.cheat("tip", "a", [4, 5])
    with styled(STYLE):
        texts = _texts(_report_figure(svc.report("tip"), _series(svc, "tip")))
    assert "Too few answers for an estimate yet" in texts and "No rewards yet" not in texts
    assert any(t.startswith("2 answered") for t in texts)


def test_the_chart_says_its_time_in_the_configured_zone() -> None:
    """`time_zone: Europe/Berlin`: the text report said 23:20 CET and its chart 22:20 UTC;
    and one decision is "1 decision", not "1 decisions"."""
    cfg = parse_config({"time_zone": "Europe/Berlin", "experiments": [
        {"id": "e", "arms": [{"id": "a", "content": "x"}, {"id": "b", "content": "y"}]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0),
                        clock=lambda: 1796220000.0)  # 2026-12-02 14:00 UTC
    svc.decide("e", "u")
    with styled(STYLE):
        fig = _report_figure(svc.report("e"), None)
        said = " ".join(_texts(fig))
        assert "2026-12-02 15:00 CET" in said and "UTC" not in said
        assert "1 decision ·" in said


def test_before_ten_answers_the_chart_shows_the_table_s_intervals() -> None:
    """Three answers, all to b: the table shows each arm's estimate interval and no point
    yet; the chart drew the summary's means instead (an arm with no answer at 0.5, "Mean
    reward per arm"), which the table did not show anywhere."""
    cfg = parse_config({"experiments": [{"id": "e", "burn_in": 0, "arms": [
        {"id": x, "content": x} for x in "abc"]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(5))
    for i in range(3):
        svc.reward(svc.decide("e", f"u{i}").id, 1, f"u{i}")
    report = svc.report("e")
    assert all(a.estimate is None for a in report.arms)
    with styled(STYLE):
        fig = _report_figure(report, None)
        (ax,) = fig.axes
        assert ax.get_title(loc="left") == "Estimate per arm"
        assert not [line for line in ax.lines if line.get_marker() == "o"]  # no points
        spans = sorted((float(c.get_segments()[0][0][0]), float(c.get_segments()[0][1][0]))
                       for c in ax.collections)
        assert spans == sorted((a.estimate_low, a.estimate_high) for a in report.arms)


@pytest.mark.slow
def test_pngs_fit_telegram(service: BanditService) -> None:
    from PIL import Image

    for data in (report_png(service.report("greeting"), _series(service, "greeting")),
                 report_png(service.report("tip"))):
        width, height = Image.open(io.BytesIO(data)).size
        assert width == 1024 and height <= 1280  # Telegram shows up to 1,280 px


def test_the_evaluation_chart_has_a_title_and_names_each_policy() -> None:
    rows = [("uniform", Estimate("ips", 0.004, 0.003, 0.005, 300.0, 1000)),
            ("thompson(alpha=1, beta=1, optimistic=True)",
             Estimate("ips", 0.005, 0.002, 0.007, 90.0, 1000))]
    with styled(STYLE):
        fig = _evaluation_figure(rows, title="log.csv: 1000 rounds", baseline=0.0041)
        (ax,) = fig.axes
        assert fig._suptitle.get_text() == "What each policy would have earned"
        assert "1000 rounds" in ax.get_title(loc="left") and ax.get_xlabel().startswith("estimated")
        (key,) = fig.legends
        legend = [t.get_text() for t in key.get_texts()]
        assert legend[:2] == [rows[0][0], rows[1][0]] and "0.0041" in legend[2]
        assert _inside(fig, key) and _inside(fig, fig._suptitle)
    assert evaluation_png(rows, path=None, title="t")[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_evaluation_chart_carries_the_tables_warnings_and_names_its_interval() -> None:
    """The chart dropped the table's warnings (a zero-width interval drew as a dot, with
    nothing saying it is "no width, not no uncertainty") and its axis said "95% interval",
    not which: each warning is now numbered beside its estimators and written out once."""
    flat = ("every bootstrap resample gave the same value (the rewards that count are all "
            "alike): the interval has no width, not no uncertainty")
    few = "effective sample 40 of 1,000 rounds (4.0%): the bootstrap interval may be too narrow"
    rows = [("uniform", Estimate("ips", 0.004, 0.004, 0.004, 40.0, 1000, (few, flat))),
            ("uniform", Estimate("dm", 0.004, 0.003, 0.005, 1000.0, 1000)),
            ("thompson", Estimate("ips", 0.005, 0.002, 0.007, 40.0, 1000, (few,)))]
    with styled(STYLE):
        fig = _evaluation_figure(rows, title="log.csv: 1000 rounds", baseline=None)
        (ax,) = fig.axes
        assert "95% bootstrap interval" in ax.get_xlabel()
        assert sorted(t.get_text() for t in ax.get_yticklabels()) == [
            "dm", "ips [1,2]", "ips [1]"]
        (key,) = fig.legends
        legend = " ".join(" ".join(t.get_text().split()) for t in key.get_texts())
        assert legend.count(f"[1] {few}") == 1 and legend.count(f"[2] {flat}") == 1
        assert _inside(fig, key)


def test_the_evaluation_charts_long_title_and_axis_label_stay_on_the_page() -> None:
    """Long estimator labels push the panel right; the subtitle starts at the panel and the
    axis label is centred on it, and a trial's chart cut both at the figure's edge
    ("policies learn fro", "(95% bootstrap inte"). Both are wrapped to fit; a label's
    warning numbers read in order."""
    import matplotlib.text

    warnings = tuple(f"warning number {i} about this estimate" for i in range(12))
    rows = [("uniform", Estimate("ips", 0.4, 0.3, 0.5, 40.0, 1000, warnings[:2])),
            ("epsilon-greedy(epsilon=0.1, initial_value=0)",
             Estimate("switch-dr", 0.45, 0.43, 0.47, 58.0, 2454, warnings[::-1]))]
    title = ("banditbot decision log: 4,907 rounds (policies learn from the first 2,453, "
             "evaluated on the last 2,454; replay-online learns as it replays all 4,907), "
             "7 actions, logged mean reward 0.43358 on those")
    with styled(STYLE):
        fig = _evaluation_figure(rows, title=title, baseline=0.43)
        (ax,) = fig.axes
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert "switch-dr [1,2,3,4,5,6,7,8,9,10,11,12]" in labels
        shown = ax.get_title(loc="left")
        assert " ".join(shown.split()) == title and "\n" in shown
        (head,) = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() == shown]
        assert _inside(fig, head) and _inside(fig, ax.xaxis.label)
        assert " ".join(ax.get_xlabel().split()) == \
            "estimated mean reward per round (95% bootstrap interval)"


def _contrast(a: str, b: str) -> float:
    def luminance(color: str) -> float:
        r, g, b_ = (int(color.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b_)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_chart_colours_and_input_borders_meet_wcag_aa() -> None:
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    page_colors = re.findall(r"#[0-9A-Fa-f]{6}", script[script.index("const COLORS"):
                                                         script.index("];")])
    assert [c.upper() for c in page_colors] == [c.upper() for c in COLORS]  # one palette
    for color in COLORS:  # WCAG 1.4.11: graphics at least 3:1 against the background
        assert _contrast(color, "#ffffff") >= 3.0, color
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    edge = re.search(r"--edge:\s*(#[0-9a-fA-F]{6})", css)
    assert edge and _contrast(edge.group(1), "#ffffff") >= 3.0  # input borders
    muted = re.search(r"--muted:\s*(#[0-9a-fA-F]{6})", css)
    assert muted and _contrast(muted.group(1), "#f7f8fa") >= 4.5  # small grey text


def test_a_chart_file_is_written_whole_or_not_at_all(service: BanditService,
                                                     tmp_path: Any) -> None:
    """A chart (and a simulation's CSV, an export) replaces its file in one rename: a run
    that fails leaves the previous file and nothing beside it (a chart was written in
    place: a failure left half a PNG, and a simulation's CSV of one run sat beside the PNG
    of another). A link keeps pointing at the new file; /dev/null stays a device; an error
    names the path asked for, not the part file."""
    import os

    from banditbot._files import replacing, write_whole

    path = tmp_path / "r.png"
    data = report_png(service.report("greeting"), path=path)
    assert path.read_bytes() == data

    def failed_run() -> None:
        with replacing(path) as part:
            part.write_bytes(b"half a")
            raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError):
        failed_run()
    assert path.read_bytes() == data and sorted(os.listdir(tmp_path)) == ["r.png"]
    link = tmp_path / "latest.png"
    link.symlink_to(path)
    write_whole(link, b"new")
    assert link.is_symlink() and path.read_bytes() == b"new"
    write_whole(os.devnull, b"x")
    assert not os.path.isfile(os.devnull)
    missing = tmp_path / "no" / "such.png"
    with pytest.raises(FileNotFoundError) as failed:
        write_whole(missing, b"x")
    assert failed.value.filename == str(missing)


def test_a_part_folder_a_killed_run_left_is_cleared_by_the_next_write(tmp_path: Any) -> None:
    """A run killed while it wrote (``kill -9``: no clean-up runs) left its hidden part
    folder beside the file for good. The next write of that file removes such a folder
    once nothing in it was written for a day; a folder a live run writes in (newer), one
    holding anything else, and other hidden folders stay."""
    import os
    import subprocess
    import sys
    import time

    from banditbot._files import write_whole

    path = tmp_path / "log.csv"
    killed = ("import os, sys\n"
              "from banditbot._files import replacing\n"
              "with replacing(sys.argv[1]) as part:\n"
              "    part.write_bytes(b'half a log')\n"
              "    os._exit(9)\n")
    for _ in range(3):
        assert subprocess.run([sys.executable, "-c", killed, str(path)],
                              check=False).returncode == 9
    old, recent, kept = sorted(tmp_path.iterdir(), key=lambda p: p.name)
    assert old.name.startswith(".log.csv.part-") and not path.exists()
    (kept / "notes.txt").write_text("mine")  # (something that is not a part file)
    (tmp_path / ".log.csv.backup").mkdir()
    dated = tmp_path / ".log.csv.20240101"  # a user's backup that looks like one (review)
    dated.mkdir()
    (dated / "log.csv").write_text("precious")
    day_and_more = time.time() - 25 * 3600
    for folder in (old, kept, dated):
        for item in (*folder.iterdir(), folder):
            os.utime(item, (day_and_more, day_and_more))
    write_whole(path, b"the whole log")
    assert path.read_bytes() == b"the whole log"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".log.csv.backup", dated.name, recent.name, kept.name, "log.csv"])
    assert (dated / "log.csv").read_text() == "precious"


def test_the_allocation_legend_stays_below_the_axis_label(service: BanditService) -> None:
    """A trial's chart put the allocation panel's legend over its axis label: the legend
    hung a fraction of the panel's height below it, and a long caption under the estimates
    made the panel short. It hangs a fixed distance below the panel now, under the label,
    in a short panel as in the usual one."""
    cfg = parse_config({"experiments": [{"id": "r", "arms": [
        {"id": "arm1", "content": "1"}, {"id": "arm2", "content": "2"}]}]})
    short = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    for i in range(3):
        short.decide("r", f"u{i}")
    short.cheat("r", "arm1", "1" * 1000)  # (a long caption: answers outside the log)
    short.add_arm("r", "new_arm", "n")
    short.retire_arm("r", "arm1")
    short.retire_arm("r", "arm2")
    d = short.decide("r", "u9")
    short.reward(d.id, 1, "u9")
    with styled(STYLE):
        for svc, exp in ((short, "r"), (service, "greeting")):
            fig = _report_figure(svc.report(exp), _series(svc, exp))
            fig.canvas.draw()
            allocation = fig.axes[0]
            legend = allocation.get_legend().get_window_extent()
            label = allocation.xaxis.label.get_window_extent()
            assert legend.y1 <= label.y0, (exp, legend, label)
            assert _inside(fig, allocation.get_legend())


def test_a_chart_of_many_arms_draws_the_control_the_leader_and_the_busiest() -> None:
    """40 arms, 9 drawn: the control and the leader always (a leader with few decisions
    of its own, from answers added by hand, was cut when the ranking was by decisions
    alone), then the arms with the most decisions; the rest are one grey band, and the line
    under the title says how many of how many. No drawn arm is in that grey (the arm at the
    ninth place of the list was, beside the band), and each has a colour of its own."""
    arms = [{"id": f"a{i:02d}", "content": f"m{i}"} for i in range(40)]
    cfg = parse_config({"experiments": [{"id": "many", "arms": arms, "burn_in": 0,
                                         "control": "a00", "floor": 0.005}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(4))
    svc.cheat("many", "a39", "1" * 40)  # the leader, by answers added by hand
    for i in range(300):
        d = svc.decide("many", f"u{i}")
        svc.reward(d.id, 0, f"u{i}")
    report = svc.report("many")
    shown = [a.arm for a in report.top_arms(10)]
    assert len(shown) == 10 and {"a00", "a39"} <= set(shown)
    busiest = sorted((a for a in report.arms if a.arm not in ("a00", "a39")),
                     key=lambda a: -a.pulls)
    assert min(a.pulls for a in report.arms if a.arm in shown[1:-1]) >= busiest[8].pulls
    with styled(STYLE):
        fig = _report_figure(report, _series(svc, "many"), max_arms=10)
        texts = " ".join(_texts(fig))
        assert "others (31)" in texts
        assert "9 of 40 arms: the control, the leader and the most decisions" in texts
        from matplotlib.colors import to_hex

        legend = fig.axes[0].get_legend()
        bands = {t.get_text(): to_hex(h.get_facecolor()) for t, h in
                 zip(legend.get_texts(), legend.legend_handles, strict=True)}
        bars = [to_hex(c.get_color()[0]) for c in fig.axes[1].collections]
    grey = bands.pop("others (31)")
    assert grey == OTHERS.lower() and len(bands) == 9
    assert len(set(bands.values())) == 9 and grey not in bands.values()
    assert sorted(bars) == sorted(bands.values())  # the intervals in the same colours
    with styled(STYLE):  # more than 10 asked for: that many (colours are shared anyway)
        texts = " ".join(_texts(_report_figure(report, _series(svc, "many"), max_arms=12)))
    assert "12 of 40 arms: the control, the leader and the most decisions" in texts


def _drawn_colours(svc: BanditService, experiment: str) -> dict[str, str]:
    """The colour the report chart draws each arm in: its allocation band (the legend) and
    its interval bar, which must agree."""
    from matplotlib.colors import to_hex

    with styled(STYLE):
        fig = _report_figure(svc.report(experiment), svc.report_series(experiment))
        allocation, intervals = fig.axes
        legend = allocation.get_legend()
        bands = {t.get_text(): to_hex(h.get_facecolor()) for t, h in
                 zip(legend.get_texts(), legend.legend_handles, strict=True)}
        rows = {tick.get_position()[1]: tick.get_text().removesuffix(" (retired)")
                for tick in intervals.get_yticklabels()}
        bars = {rows[c.get_segments()[0][0][1]]: to_hex(c.get_color()[0])
                for c in intervals.collections}
    assert bars == bands
    return bars


def test_an_arm_keeps_its_colour_after_a_reset_and_arms_retired_or_added(
        tmp_path: Path) -> None:
    """A new-user trial: after a reset the charts drew arms in other arms' colours (the
    report leaves out the row of an arm retired before the reset, and colours went by row:
    hey took hello's blue). An arm's colour follows its place in the experiment's arm list
    (the configured arms, then those added, in the order added: the store keeps them by
    id, which put aa, added later, before yo)."""
    cfg = parse_config({"experiments": [{"id": "e", "burn_in": 0, "arms": [
        {"id": a, "content": a} for a in ("hello", "hey", "formal")]}]})
    store = SQLiteStore(tmp_path / "colours.db")
    store.init()
    svc = BanditService(cfg, store, rng=np.random.default_rng(6))

    def visits(n: int) -> None:
        for i in range(n):
            svc.reward(svc.decide("e", f"u{i}").id, i % 2, f"u{i}")

    svc.add_arm("e", "yo", "Yo", actor="admin")
    visits(40)
    before = _drawn_colours(svc, "e")
    palette = [c.lower() for c in COLORS]
    assert list(before.values()) == palette[:4]  # the list's order: hello, hey, formal, yo
    svc.retire_arm("e", "hello", actor="admin")
    svc.add_arm("e", "aa", "Aa", actor="admin")
    svc.reset("e", actor="admin")
    visits(40)
    after = _drawn_colours(svc, "e")
    assert set(after) == {"hey", "formal", "yo", "aa"}  # hello's row is left out now
    assert {a: after[a] for a in ("hey", "formal", "yo")} == \
        {a: before[a] for a in ("hey", "formal", "yo")}
    assert after["aa"] == palette[4]  # a colour of its own
    store.close()


@pytest.mark.parametrize("count", [4, 40])
def test_long_arm_ids_leave_both_panels_their_room_and_every_legend_inside(
        count: int) -> None:
    """Arm ids of 22-32 characters (greeting-cheerful-emoji-07) squeezed both panels of
    the chart to nothing ("constrained_layout not applied because axes sizes collapsed to
    zero"): an empty image with a clipped legend, even with 4 arms. Both panels keep at
    least half the image's width, every legend and label is inside it, no id is drawn
    longer than 30 characters, and by default at most 10 arms (one colour each) are."""
    import warnings

    ids = [f"greeting-cheerful-emoji-long-{i:03d}" for i in range(count)]  # 32: the most
    cfg = parse_config({"experiments": [{
        "id": "long", "arms": [{"id": a, "content": a} for a in ids], "burn_in": 0,
        "control": ids[0]}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(4))
    env = np.random.default_rng(5)
    for i in range(400):
        d = svc.decide("long", f"u{i}")
        svc.reward(d.id, int(env.random() < 0.1 + ids.index(d.arm) / (2 * count)), f"u{i}")
    report = svc.report("long")
    with styled(STYLE), warnings.catch_warnings():
        warnings.simplefilter("error")  # the collapse is only a warning
        fig = _report_figure(report, _series(svc, "long"),
                             max_arms=None if count == 4 else 10)
        fig.canvas.draw()
        for ax in fig.axes:
            assert ax.get_window_extent().width >= 0.5 * fig.bbox.width
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
        assert all(_inside(fig, legend) for legend in legends if legend is not None)
        for ax in fig.axes:
            for label in ax.get_yticklabels():
                assert _inside(fig, label)
        drawn = [t for t in _texts(fig) if "greeting-" in t]
        assert drawn and all(len(line.removeprefix("control: ")) <= 30
                             for t in drawn for line in t.split("\n") if "greeting-" in line)
    assert report_png.__kwdefaults__["max_arms"] == len(COLORS)


def test_long_ids_that_differ_only_in_their_middle_are_drawn_whole() -> None:
    """Ids over 30 characters are drawn shortened in their middle, so two that differ only
    there (…mor… and …eve…) were drawn as the same label, in the legend and
    on the estimate axis; such ids are now drawn whole, the others still shortened."""
    ids = ["greeting-cheermor-ful-emoji-v001", "greeting-cheereve-ful-emoji-v001",
           "greeting-formal-no-emoji-varia02"]  # 32 characters, the longest allowed
    assert {len(a) for a in ids} == {32}
    cfg = parse_config({"experiments": [{
        "id": "mid", "arms": [{"id": a, "content": a} for a in ids], "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(4))
    env = np.random.default_rng(5)
    for i in range(300):
        d = svc.decide("mid", f"u{i}")
        svc.reward(d.id, int(env.random() < 0.2 + 0.2 * ids.index(d.arm)), f"u{i}")
    with styled(STYLE):
        fig = _report_figure(svc.report("mid"), _series(svc, "mid"), max_arms=None)
        texts = {t.split("\n")[0] for t in _texts(fig) if "greeting-" in t}
        axis = {t.get_text() for t in fig.axes[-1].get_yticklabels()}
    # the legend and the estimate axis: the two alike drawn whole, the other shortened
    assert texts == axis == {ids[0], ids[1], "greeting-forma…o-emoji-varia02"}


def test_a_programs_matplotlib_style_stays_out_of_the_chart_and_is_kept(
        service: BanditService) -> None:
    """A trial drew a report inside a program that had set pyplot's ``dark_background``:
    white titles and legend on a white page. A chart is the same image whatever style the
    program set; the program's settings are as it left them afterwards; banditbot never
    imports pyplot (which would pick a backend for the program)."""
    import subprocess
    import sys

    import matplotlib
    import matplotlib.style

    report, series = service.report("greeting"), _series(service, "greeting")
    plain = report_png(report, series)
    with matplotlib.style.context("dark_background"):
        theirs = dict(matplotlib.rcParams)
        dark = report_png(report, series)
        assert dict(matplotlib.rcParams) == theirs
    assert dark == plain
    code = ("import sys, numpy as np\n"
            "from banditbot import BanditService, MemoryStore, load_config\n"
            "from banditbot._charts import report_png\n"
            f"svc = BanditService(load_config({str(EXAMPLES)!r}), MemoryStore())\n"
            "report_png(svc.report('greeting'))\n"
            "print('matplotlib.pyplot' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_charts_drawn_from_threads_at_once_are_the_charts_drawn_alone(
        service: BanditService, tmp_path: Path) -> None:
    """matplotlib's settings are one set per process: eight threads drawing at once left
    the house style set in the process afterwards (10 of 10 runs of a trial) and a
    simulation chart drawn meanwhile got a mix of two styles. Charts are drawn one at a
    time: each of four threads' comes out as drawn alone, and the settings are back
    afterwards."""
    import threading

    import matplotlib

    from banditbot.policies import make_policy
    from banditbot.sim import BernoulliEnv, plot_regret, simulate

    report, series = service.report("greeting"), _series(service, "greeting")
    result = simulate(make_policy("thompson"), BernoulliEnv([0.1, 0.2]), runs=4,
                      horizon=200, seed=1, workers=1)
    before = dict(matplotlib.rcParams)
    alone = report_png(report, series)
    solo = plot_regret([result], tmp_path / "solo.png").read_bytes()
    for meanwhile in (False, True):  # threads alone, then a simulation chart beside them
        got: list[bytes] = []

        def draw(out: list[bytes] = got) -> None:
            out.append(report_png(report, series))

        threads = [threading.Thread(target=draw) for _ in range(4)]
        for t in threads:
            t.start()
        during = plot_regret([result], tmp_path / "during.png").read_bytes() \
            if meanwhile else solo
        for t in threads:
            t.join()
        assert got == [alone] * len(threads)
        assert during == solo
        assert {k for k, v in before.items() if matplotlib.rcParams[k] != v} == set()


def test_charts_keep_the_installations_matplotlibrc(tmp_path: Path) -> None:
    """A review: resetting to matplotlib's built-in defaults (to keep a program's style
    out) also dropped the installation's ``matplotlibrc`` — a font for other scripts, set
    there, gave way to DejaVu Sans and arm names in it drew as boxes. A chart starts from
    the rc file, then the house style; what the program set since stays out."""
    import subprocess
    import sys

    (tmp_path / "matplotlibrc").write_text("font.sans-serif: Foo Sans, DejaVu Sans\n")
    code = ("import matplotlib\n"
            "from banditbot._plotting import STYLE, styled\n"
            "matplotlib.rcParams['axes.facecolor'] = 'black'\n"
            "with styled(STYLE):\n"
            "    print(matplotlib.rcParams['font.sans-serif'][0],"
            " matplotlib.rcParams['axes.facecolor'])\n"
            "print(matplotlib.rcParams['axes.facecolor'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "MATPLOTLIBRC": str(tmp_path)})
    assert out.stdout.split() == ["Foo", "Sans", "white", "black"]


def test_a_chart_of_many_arms_draws_active_arms_before_retired_ones() -> None:
    """A trial: retiring a busy arm of 12 left it drawn in its colour while an active arm
    went into the grey band, and the dashboard, which puts active arms first, coloured
    other arms than the chart. Active arms come first (after the control and the leader)."""
    arms = [{"id": f"a{i:02d}", "content": f"m{i}"} for i in range(12)]
    cfg = parse_config({"experiments": [{"id": "many", "arms": arms, "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(5))
    for i in range(600):
        d = svc.decide("many", f"u{i}")
        svc.reward(d.id, int(d.arm in ("a03", "a07")), f"u{i}")
    report = svc.report("many")
    leader = max(report.arms, key=lambda a: a.p_best).arm
    busy = max((a for a in report.arms if a.arm != leader), key=lambda a: a.pulls).arm
    svc.retire_arm("many", busy, actor="admin")
    report = svc.report("many")
    retired = next(a for a in report.arms if a.arm == busy)
    shown = {a.arm for a in report.top_arms(9)}
    assert busy not in shown and leader in shown and not retired.active
    assert retired.pulls > min(a.pulls for a in report.arms if a.arm in shown)
