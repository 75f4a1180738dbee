"""Report charts (PNG) with matplotlib; needs the ``plots`` extra."""

from __future__ import annotations

import io
import math
import os
from typing import Any

import numpy as np

from ._plotting import pyplot
from ._report import Report, Timeline

__all__ = ["report_png"]

_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
           "#8C8C8C", "#CCB974", "#64B5CD"]


def report_png(report: Report, timeline: Timeline | None = None,
               path: str | os.PathLike[str] | None = None) -> bytes:
    """Draw the report: 95% intervals and P(best) per arm, and allocation over time.

    Parameters
    ----------
    report
        From :meth:`BanditService.report`.
    timeline
        From :meth:`BanditService.timeline`; the right panel is omitted without it.
    path
        Where to write the PNG (optional).

    Returns
    -------
    bytes
        The PNG image.
    """
    plt = pyplot()
    with_time = timeline is not None and not timeline.empty
    fig, axes = plt.subplots(1, 2 if with_time else 1, figsize=(11 if with_time else 6, 4.2),
                             squeeze=False)
    _intervals(axes[0][0], report)
    if with_time and timeline is not None:
        _allocation(axes[0][1], timeline)
    fig.suptitle(f"{report.title} · {report.total_pulls} decisions",
                 fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    data = buffer.getvalue()
    if path is not None:
        with open(path, "wb") as fh:
            fh.write(data)
    return data


def _intervals(ax: Any, report: Report) -> None:
    arms = list(report.arms)
    y = np.arange(len(arms))[::-1]
    for i, (arm, yy) in enumerate(zip(arms, y, strict=True)):
        color = _COLORS[i % len(_COLORS)]
        if arm.mean is not None:
            ax.plot([arm.mean], [yy], "o", color=color)
        if arm.low is not None and arm.high is not None:
            ax.hlines(yy, arm.low, arm.high, color=color, linewidth=3, alpha=0.7)
        label = f"P(best) {arm.p_best:.0%} · allocation {arm.allocation:.0%} · n={arm.answered:g}"
        ax.annotate(label, (0.01, yy - 0.18), xycoords=("axes fraction", "data"), ha="left",
                    va="top", fontsize=7, color="#444444")
    ax.set_yticks(y, [a.arm + ("" if a.active else " (retired)") for a in arms])
    ax.set_ylim(-0.6, len(arms) - 0.4)
    ax.set_xlabel("mean reward with " + report.interval_kind.split(" (")[0])
    ax.set_title("What each arm earns", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    lows = [a.low for a in arms if a.low is not None]
    highs = [a.high for a in arms if a.high is not None]
    if lows and highs and math.isfinite(min(lows)) and math.isfinite(max(highs)):
        pad = 0.05 * max(max(highs) - min(lows), 1e-6)
        ax.set_xlim(min(lows) - pad, max(highs) + pad)


def _allocation(ax: Any, timeline: Timeline) -> None:
    """Share of decisions per arm along the decision log (x: decisions, not the clock, so
    a pause in traffic draws no spike); dotted lines where allocation periods start."""
    shares = timeline.shares()
    mids = (timeline.edges[:-1] + timeline.edges[1:]) / 2
    stack = [shares[a] for a in timeline.arms]
    ax.stackplot(mids, stack, labels=list(timeline.arms),
                 colors=[_COLORS[i % len(_COLORS)] for i in range(len(stack))], alpha=0.85)
    for start in timeline.periods:
        ax.axvline(start, color="#333333", linestyle=":", linewidth=0.8)
    ax.set_ylim(0, 1)
    ax.set_xlim(float(timeline.edges[0]), float(timeline.edges[-1]))
    ax.set_xlabel("decisions" + (" (dotted: a new allocation period)" if timeline.periods
                                 else ""))
    ax.set_ylabel("share of decisions")
    ax.set_title("Allocation over the experiment", fontsize=10)
    ax.legend(loc="upper left", fontsize=7, ncol=2, framealpha=0.7)
    ax.tick_params(axis="x", labelsize=7)
