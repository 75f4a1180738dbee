"""Charts written to PNG files with matplotlib (the ``plots`` extra): the report of an
experiment and the estimates of an offline evaluation.

Every chart has a title, labelled axes and round, readable ticks, and is drawn for the size
at which Telegram shows a photo (at most 1,280 px on its long side; text at least 11 pt at
160 dpi, so it stays legible on a phone). Time never is an axis: allocation is drawn by
decision count, so a pause in traffic draws neither a spike nor a gap.
"""

from __future__ import annotations

import io
import os
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ._files import write_whole
from ._plotting import INK, MUTED, STYLE, figure, styled
from ._report import ArmReport, Report
from ._series import DecisionSeries
from ._text import count_text
from ._types import FloatArray

__all__ = ["CHART_ARMS", "COLORS", "arm_colors", "evaluation_png", "report_png"]

#: Arm colours: each at least 3:1 against white (WCAG 1.4.11), apart for colour-blind
#: readers (Okabe-Ito, darkened where needed). The dashboard uses the same ones.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC3399", "#7A5195", "#8C6D00", "#00798C",
          "#B8336A", "#5F6B7A", "#A05A2C"]
#: The most arms a report chart draws by default: one colour each
CHART_ARMS = len(COLORS)
#: The arms a chart leaves out are one band in this grey (the dashboard's too), and the
#: arms it draws then take the other colours (:func:`arm_colors`)
OTHERS = "#5F6B7A"
_NOT_OTHERS = [c for c in COLORS if c != OTHERS]
_DPI = 160
_WIDTH = 6.4  # inches: 1,024 px at 160 dpi
#: characters of 11-point text a legend under a panel may take (laid out before drawing; it
#: is centred on the panel, which the arm labels push right)
_LINE_CHARS = 48
#: an arm id longer than this is drawn shortened in its middle (the report has it whole):
#: its label column squeezed both panels to nothing
_ID_CHARS = 30
_LEGEND_ROW = 0.27  # inches per legend row
_ARM_ROW = 0.6  # inches per arm of the estimate panel (its id and its counts)
_LEGEND_DROP = 36.0  # points from the allocation panel's bottom to its legend's top


def report_png(report: Report, series: DecisionSeries | None = None,
               path: str | os.PathLike[str] | None = None, *,
               max_arms: int | None = CHART_ARMS) -> bytes:
    """Draw a report: allocation by decision count, and each arm's estimate with its
    interval.

    Parameters
    ----------
    report
        From :meth:`BanditService.report`.
    series
        The experiment's history by decision count
        (:meth:`BanditService.report_series`: the allocation is the probabilities the
        policy logged, the admins' changes marked; a long log's series kept from an
        earlier look is labelled with it); the CLI and the bot both draw it so. Without
        it, the allocation panel is left out. (A
        :class:`~banditbot.Timeline`'s share of decisions per time bin is not accepted: drawn
        as the allocation, it read 100% for the arm the first decision happened to draw.)
    path
        Where to write the PNG (optional).
    max_arms
        Draw at most this many arms (:meth:`Report.top_arms`: the control, the leader and
        the arms with the most decisions); the others are one "others (N)" band in the
        allocation, and the line under the title says how many arms were drawn of how many.
        Default :data:`CHART_ARMS` (10: beyond, arms would share colours); ``None`` draws
        every arm. A chart that leaves arms out with ``max_arms`` of 10 or fewer draws at
        most 9, none in the others' grey (as the dashboard). A chart grows by half an inch
        per arm: Telegram refuses a photo whose width and height add up to more than
        10,000 px.

    Returns
    -------
    bytes
        The PNG image (1,024 px wide).
    """
    with styled(STYLE):
        return _save(_report_figure(report, series, max_arms), path)


def _report_figure(report: Report, series: DecisionSeries | None,
                   max_arms: int | None = None) -> Any:
    """The report's matplotlib figure (see :func:`report_png`)."""
    everyone = report
    if max_arms is not None and len(report.arms) > max_arms:  # (the rest: one grey band)
        # (up to 10, the band's grey is no drawn arm's: one colour fewer; beyond, arms
        # share colours anyway)
        keep = min(max_arms, len(_NOT_OTHERS)) if max_arms <= len(COLORS) else max_arms
        report = replace(report, arms=report.top_arms(keep))
    arms = list(report.arms)
    colors = arm_colors(arms, others=len(arms) < len(everyone.arms))
    legend_rows = 0 if series is None or series.empty else \
        _legend_layout(_bands(series, report, colors)[1])[1]
    heights = ([3.0 + _LEGEND_ROW * max(legend_rows - 1, 0)] if series is not None else []) \
        + [_ARM_ROW * max(len(arms), 1) + 1.0]
    fig = figure(figsize=(_WIDTH, sum(heights) + 1.3), layout="constrained")
    axes = fig.subplots(len(heights), 1, height_ratios=heights, squeeze=False)
    _intervals(axes[-1][0], report, colors)
    above = 0.0  # room the change labels take above the allocation panel (points)
    if series is not None:
        above = _allocation(axes[0][0], series, report, colors)
        if above:
            axes[0][0].set_title("Allocation by decision count", loc="left",
                                 pad=6.0 + above)
    when = report.local_time(report.generated_at or 0)  # in the config's time zone
    head = report.title.removesuffix(f" · {report.policy}")
    fig.suptitle(head, x=0.02, ha="left")
    policy = textwrap.fill(report.policy, 64, subsequent_indent="  ")
    if len(arms) < len(everyone.arms):
        # (top_arms' rule: "the N with the most decisions" was wrong where the control or
        # the leader, always drawn, had fewer than an arm left out)
        first = "the control, the leader" if report.control in {a.arm for a in arms} \
            else "the leader"
        policy += (f"\n{len(arms)} of {len(everyone.arms):,} arms: {first} and the most "
                   "decisions")
    # (wrapped as the policy is: with the answers added by hand it ran off the image)
    counts = textwrap.fill(f"{count_text(everyone.total_pulls, 'decision')} · "
                           f"{everyone.answered_text} · {when:%Y-%m-%d %H:%M %Z}", 64,
                           subsequent_indent="  ")
    axes[0][0].annotate(
        f"{policy}\n{counts}", (0.02, 1),
        xytext=(0, 26 + above),
        xycoords=("figure fraction", "axes fraction"), textcoords="offset points",
        ha="left", va="bottom", color=MUTED, fontsize=11)
    return fig


def evaluation_png(rows: Sequence[tuple[str, Any]], *, path: str | os.PathLike[str] | None,
                   title: str, baseline: float | None = None) -> bytes:
    """Draw an offline evaluation: each (policy, estimator) estimate with its interval.

    Parameters
    ----------
    rows
        ``(policy, estimate)`` pairs; an estimate has ``estimator``, ``value``, ``low`` and
        ``high`` (:class:`banditbot.offline.Estimate`: the 95% bootstrap interval, as the
        axis says) and may have ``warnings``: each distinct one is numbered beside the
        estimators it concerns and written out under the legend, as the table has them.
    path
        Where to write the PNG (optional).
    title
        What was evaluated (the log, its size).
    baseline
        The logged policy's mean reward on the rounds evaluated, drawn as a dotted line.

    Returns
    -------
    bytes
        The PNG image (1,024 px wide).
    """
    with styled(STYLE):
        return _save(_evaluation_figure(rows, title=title, baseline=baseline), path)


def _evaluation_figure(rows: Sequence[tuple[str, Any]], *, title: str,
                       baseline: float | None) -> Any:
    """The evaluation's matplotlib figure (see :func:`evaluation_png`)."""
    policies = list(dict.fromkeys(policy for policy, _ in rows))
    # each distinct warning of the table once, numbered; a row's label carries its numbers
    notes = list(dict.fromkeys(w for _, e in rows for w in getattr(e, "warnings", ())))
    footnotes = [textwrap.fill(f"[{i}] {w}", 72, subsequent_indent="     ")
                 for i, w in enumerate(notes, 1)]
    n = max(len(rows), 1)
    fig = figure(figsize=(_WIDTH, 0.42 * n + 0.4 * len(policies) + 2.4
                          + 0.25 * sum(f.count("\n") + 1 for f in footnotes)
                          + 0.3 * bool(footnotes)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    for yy, (policy, e) in zip(y, rows, strict=True):
        color = COLORS[policies.index(policy) % len(COLORS)]
        if np.isfinite(e.low) and np.isfinite(e.high):
            ax.hlines(yy, e.low, e.high, color=color, linewidth=4)
        if np.isfinite(e.value):
            ax.plot([e.value], [yy], "o", color=color, markerfacecolor="white",
                    markeredgewidth=2.5, markersize=8)
    for i, (policy, _) in enumerate(rows):  # a rule between two policies' rows
        if i and policy != rows[i - 1][0]:
            ax.axhline(y[i] + 0.5, color="#d5d9e0", linewidth=1)
    marks = [",".join(map(str, sorted({notes.index(w) + 1 for w in getattr(e, "warnings", ())})))
             for _, e in rows]
    ax.set_yticks(y, [f"{e.estimator} [{m}]" if m else e.estimator
                      for (_, e), m in zip(rows, marks, strict=True)])
    ax.set_ylabel("estimator")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=COLORS[i % len(COLORS)], linewidth=4,
                      label=textwrap.fill(p, 60)) for i, p in enumerate(policies)]
    if baseline is not None and np.isfinite(baseline):
        ax.axvline(baseline, color=INK, linestyle=":", linewidth=1.5)
        handles.append(Line2D([], [], color=INK, linestyle=":", linewidth=1.5,
                              label="the logged policy's mean reward on these rounds "
                                    f"({baseline:.4g})"))
    if footnotes:  # the table's warnings (why an interval may mislead), by their numbers
        handles += [Line2D([], [], linestyle="none", label=text) for text in
                    ["warnings (the numbers beside an estimator):", *footnotes]]
    fig.legend(handles=handles, loc="outside lower left", frameon=False, title="policy",
               alignment="left")
    ax.set_xlabel("estimated mean reward per round (95% bootstrap interval)")
    ax.grid(axis="x", alpha=0.35)
    _round_ticks(ax.xaxis)
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    fig.suptitle("What each policy would have earned", x=0.02, ha="left")
    ax.set_title(textwrap.fill(title, 70), loc="left", fontsize=11, fontweight="normal",
                 color=MUTED)
    # the title starts at the panel, which the estimators' labels push right, and the axis
    # label is centred on it: both are wrapped to the room they have (a trial's chart cut
    # them at the figure's edge: "policies learn fro", "(95% bootstrap inte")
    fig.draw_without_rendering()
    box, page = ax.get_window_extent(), fig.bbox
    margin = 0.02 * page.width
    ax.set_title(_wrapped(ax, title, 11, page.x1 - margin - box.x0), loc="left",
                 fontsize=11, fontweight="normal", color=MUTED)
    centre = (box.x0 + box.x1) / 2
    ax.set_xlabel(_wrapped(ax, ax.get_xlabel(), ax.xaxis.label.get_fontsize(),
                           2 * min(centre - margin, page.x1 - margin - centre)))
    return fig


def _wrapped(ax: Any, text: str, size: float, room: float) -> str:
    """``text`` wrapped into lines that fit ``room`` pixels at ``size`` points."""
    line = " ".join(text.split())
    width = _text_width(ax, line, size)
    if width <= room:
        return text
    return textwrap.fill(line, max(12, int(len(line) * room / width)), break_on_hyphens=False)


def _text_width(ax: Any, text: str, size: float) -> float:
    """How wide ``text`` draws at ``size`` points on ``ax``'s figure, in pixels."""
    probe = ax.text(0, 0, text, fontsize=size)
    width = float(probe.get_window_extent(ax.figure.canvas.get_renderer()).width)
    probe.remove()
    return width


def _save(fig: Any, path: str | os.PathLike[str] | None) -> bytes:
    """Write ``fig`` as PNG (to ``path`` too, if given) and return the bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    data = buffer.getvalue()
    if path is not None:
        write_whole(path, data)
    return data


def _round_ticks(axis: Any, *, integer: bool = False) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=4 if not integer else 5, integer=integer,
                                       steps=[1, 2, 2.5, 5, 10]))
    if integer:
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _allocation(ax: Any, series: DecisionSeries, report: Report,
                color: Mapping[str, str]) -> float:
    """The allocation panel (``color``: the drawn arms'); returns the height of the change
    labels above it (points)."""
    ax.set_title("Allocation by decision count", loc="left")
    ax.set_xlabel("decisions" if series.current else _behind(series))
    ax.set_ylabel("share of traffic")
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, 1)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    if series.empty:
        ax.set_xlim(0, 1)
        ax.set_xticks([])
        ax.text(0.5, 0.5, "No decisions yet", transform=ax.transAxes, ha="center",
                va="center", color=MUTED)
        return 0.0
    x = np.concatenate([[0], series.decisions])
    shares, labels, colors = _bands(series, report, color)
    ys = [np.append(share, share[-1]) for share in shares]
    ax.stackplot(x, ys, labels=labels, colors=colors, step="post", edgecolor="white",
                 linewidth=0.6)
    # allocation periods start every few rewards (64 dashed lines hid what mattered): a
    # faint tick each; policy switches and arm changes a labelled line each
    for decisions, _label in series.changes:
        ax.axvline(decisions, color="white", alpha=0.35, linewidth=0.5)
    ax.set_xlim(0, series.total)
    _round_ticks(ax.xaxis, integer=True)
    # below the axis label, a fixed distance from the panel (a fraction of the panel's
    # height put it over the label when the estimates' long caption made the panel short)
    from matplotlib.transforms import ScaledTranslation

    below = ax.transAxes + ScaledTranslation(0.0, -_LEGEND_DROP / 72.0,
                                             ax.figure.dpi_scale_trans)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below,
              ncol=_legend_layout(labels)[0], frameon=False, handlelength=1.2,
              columnspacing=1.2)
    return _events(ax, series)


def _bands(series: DecisionSeries, report: Report, color: Mapping[str, str]
           ) -> tuple[list[FloatArray], list[str], list[str]]:
    """The allocation panel's bands: each drawn arm's share, label and colour, then the
    arms left out of a chart of many (see report_png's max_arms) as one "others" band (the
    panel's height follows its legend, so both read this); ``color``: the drawn arms'
    (:func:`arm_colors`)."""
    drawn = [a.arm for a in report.arms]
    order = [a for a in drawn if a in series.arms]
    shares = [series.allocation[a] for a in order]
    shown = _shown_ids(drawn)
    labels = [shown[a] for a in order]
    colors = [color[a] for a in order]
    others = [a for a in series.arms if a not in order and series.allocation[a].any()]
    if others:
        rest = np.zeros(series.decisions.shape[0])
        for a in others:
            rest += series.allocation[a]
        shares.append(rest)
        labels.append(f"others ({len(others):,})")
        colors.append(OTHERS)
    return shares, labels, colors


def arm_colors(arms: Sequence[ArmReport], *, others: bool = False) -> dict[str, str]:
    """Each of ``arms``' colour, by its place in the experiment's arm list, not by the rows
    drawn: an arm keeps its colour when a reset leaves out the rows of arms retired before
    it and when arms are retired or added. The dashboard follows the same rule, and beyond
    10 rows keeps the grey for the arms it does not colour, as a chart does with
    ``others``.

    Parameters
    ----------
    arms
        The arms a chart draws (at most :data:`CHART_ARMS` for a colour each, 9 with
        ``others``).
    others
        Whether the chart draws the arms it leaves out as one band in :data:`OTHERS`'s grey:
        then no drawn arm takes that grey (at most 9 arms have a colour each), as on the
        dashboard.

    Returns
    -------
    dict[str, str]
        ``arm -> colour``: ``COLORS[position]`` for an arm among the first
        :data:`CHART_ARMS` of the list (:attr:`ArmReport.position`; the row's index when
        it is not known); an arm beyond takes the colours no drawn arm holds, in the
        list's order (beyond those, the palette again).
    """
    palette = _NOT_OTHERS if others else COLORS
    where = {a.arm: i if a.position is None else a.position for i, a in enumerate(arms)}
    colors = {a: COLORS[p] for a, p in where.items()
              if p < len(COLORS) and COLORS[p] in palette}
    free = iter([c for c in palette if c not in colors.values()])
    for a in sorted((a for a in where if a not in colors), key=where.__getitem__):
        colors[a] = next(free, palette[where[a] % len(palette)])
    return colors


def _shown_id(arm: str) -> str:
    """An arm id as a chart draws it: whole up to :data:`_ID_CHARS`, else its start and
    end around an ellipsis (ids of a family differ at the end: ``…-emoji-07``)."""
    if len(arm) <= _ID_CHARS:
        return arm
    tail = _ID_CHARS // 2
    return f"{arm[:_ID_CHARS - tail - 1]}…{arm[-tail:]}"


def _shown_ids(arms: Sequence[str]) -> dict[str, str]:
    """Each of ``arms`` as the chart draws it (:func:`_shown_id`), whole where two would
    be drawn alike (ids that differ only in their middle)."""
    short = {a: _shown_id(a) for a in arms}
    drawn = Counter(short.values())
    return {a: s if drawn[s] == 1 else a for a, s in short.items()}


def _legend_layout(labels: Sequence[str]) -> tuple[int, int]:
    """``(columns, rows)`` of a legend of ``labels`` that fits the image's width (up to 4
    columns; a column wider than the image spread the panels to nothing)."""
    if not labels:
        return 1, 0
    width = max(len(label) for label in labels) + 5  # the swatch and the spacing
    columns = max(1, min(len(labels), 4, _LINE_CHARS // width))
    return columns, -(-len(labels) // columns)


def _behind(series: DecisionSeries) -> str:
    """The x axis of a kept series of a long log: ``decisions (as of decision 1,000,000)``
    (the line under the title gives the counts now; on two lines the note ran into the
    legend)."""
    return f"decisions (as of decision {series.total:,})"


#: Height of a row of change labels above the allocation panel, in points.
_ROW = 15.0


def _events(ax: Any, series: DecisionSeries) -> float:
    """A dashed line at each policy switch and change of the arms offered, and its label
    above the panel, starting at its line (ending there near the right edge) and joined to
    it; those at the same decision share one label. A label that would cover another's
    line or label goes a row higher. (Inside the panel the labels covered the bars and each
    other: the label at 5,000 reached over the line at 4,000.) Returns the height of the
    label rows, in points."""
    at: dict[int, list[str]] = {}
    for decisions, label in series.events:
        at.setdefault(decisions, []).append(label)
    if not at:
        return 0.0
    fig = ax.figure
    fig.draw_without_rendering()  # the layout: where the panel is, in pixels
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    scale = fig.dpi / 72.0  # pixels per point
    gap = 3.0 * scale
    items = []  # (decisions, label, line, left, right, right-aligned), pixels
    for decisions, names in sorted(at.items()):
        ax.axvline(decisions, color=INK, linestyle="--", linewidth=1.2)
        label = " · ".join(names)
        line = box.x0 + box.width * decisions / max(series.total, 1)
        width = _text_width(ax, label, 10)
        flip = line + width > fig.bbox.x1 - gap  # no room on the right: it ends at its line
        items.append((decisions, label, line, line - width if flip else line,
                      line if flip else line + width, flip))
    # from the right, so that a label covering the lines to its right sits above theirs;
    # then those ending at their line, above the lines they cover
    order = [i for i in reversed(items) if not i[5]] + [i for i in items if i[5]]
    placed: list[tuple[int, float, float, float]] = []  # (row, left, right, line)

    def fits(row: int, left: float, right: float, line: float) -> bool:
        return not any(
            (r == row and left - gap < other_right and other_left < right + gap)
            or (r >= row and left - gap <= other_line <= right + gap)  # over its leader
            or (r < row and other_left - gap <= line <= other_right + gap)  # under mine
            for r, other_left, other_right, other_line in placed)

    labels = []
    for decisions, label, line, left, right, flip in order:
        top = 1 + max((r for r, *_ in placed), default=-1)
        row = next((r for r in range(top) if fits(r, left, right, line)), top)
        placed.append((row, left, right, line))
        labels.append((decisions, label, row, flip))
    for decisions, label, row, flip in labels:
        # the leader runs from the top of the dashed line up to the label's near end
        ax.annotate(label, (decisions, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(0.0, 3.0 + _ROW * row), textcoords="offset points",
                    ha="right" if flip else "left", va="bottom", fontsize=10, color=INK,
                    annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": INK, "linewidth": 0.8,
                                "linestyle": "--", "shrinkA": 0, "shrinkB": 0,
                                "relpos": (1.0 if flip else 0.0, 0.0)})
    return _ROW * (1 + max(row for row, *_ in placed))


def _intervals(ax: Any, report: Report, colors: Mapping[str, str]) -> None:
    """Each arm's estimate (circle) and interval (bar): the table's columns, never another
    point. (Before an arm's estimate had 10 answers the chart drew the posterior's mean and
    credible interval instead, a point at 3.5 beside the table's "–".)"""
    arms = list(report.arms)
    kind = report.estimate_kind or report.interval_kind
    withheld = any(a.estimate is None and a.estimate_low is not None for a in arms)
    ax.set_title("Estimate per arm", loc="left")
    note = "\n" + textwrap.fill("bar without a circle: too few answers for a point yet",
                                44) if withheld else ""  # (unwrapped it ran off the image)
    if "unbounded" in report.notes:  # (a shared chart said nothing of it: a trial)
        note += "\n" + textwrap.fill("not corrected for the adaptive allocation: the reward "
                                     "has no min and max", 44)
    ax.set_xlabel(f"estimate\n{textwrap.fill(kind, 44)}{note}")
    y = np.arange(len(arms))[::-1]
    shown = []
    for arm, yy in zip(arms, y, strict=True):
        color = colors[arm.arm]
        value, low, high = arm.estimate, arm.estimate_low, arm.estimate_high
        if low is not None and high is not None and np.isfinite(low) and np.isfinite(high):
            ax.hlines(yy, low, high, color=color, linewidth=5)
            shown += [low, high]
        if value is not None and np.isfinite(value):
            ax.plot([value], [yy], "o", color=color, markerfacecolor="white",
                    markeredgewidth=2.5, markersize=9)
            shown.append(value)
    control = report.control
    shown_ids = _shown_ids([a.arm for a in arms])
    if control in shown_ids:
        value = arms[[a.arm for a in arms].index(control)].estimate
        if value is not None:
            ax.axvline(value, color=INK, linestyle="--", linewidth=1,
                       label=f"control: {shown_ids[control]}")
            # above the panel, beside its title (inside, it covered an arm's marker); below
            # the panel when the two would not fit one line
            if len(f"Estimate per arm    control: {shown_ids[control]}") <= 44:
                ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False,
                          borderaxespad=0.2)
            else:
                ax.figure.legend(loc="outside lower right", frameon=False)
    # each arm's id above its line and its counts below, smaller and muted (two lines of
    # one size, as far apart as two arms' lines, read as belonging to the arm below)
    ax.set_yticks(y, [f"{shown_ids[a.arm]}{'' if a.active else ' (retired)'}"
                      for a in arms])
    for label in ax.get_yticklabels():
        label.set_verticalalignment("bottom")
    for a, yy in zip(arms, y, strict=True):
        ax.annotate(f"{a.answered:,.0f} answered · allocation {a.allocation:.0%}",
                    (0.0, yy), xycoords=("axes fraction", "data"), xytext=(-8.0, -1.0),
                    textcoords="offset points", ha="right", va="top", fontsize=9,
                    color=MUTED, annotation_clip=False)
    ax.set_ylim(-0.6, len(arms) - 0.4)
    ax.grid(axis="x", alpha=0.35)
    if shown:
        lo, hi = min(shown), max(shown)
        pad = 0.06 * max(hi - lo, 1e-3)
        ax.set_xlim(lo - pad, hi + pad)
        _round_ticks(ax.xaxis)
    else:
        ax.set_xticks([])
        # (a trial: "No rewards yet" beside rows that said "2 answered")
        empty = "Too few answers for an estimate yet" \
            if any(a.answered > 0 for a in arms) else "No rewards yet"
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center",
                va="center", color=MUTED)
