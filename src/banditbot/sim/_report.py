"""Simulation output: a CSV of the regret curves and a PNG with 95% bands."""

from __future__ import annotations

import csv
import io
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._files import write_whole
from ._engine import SimulationResult

__all__ = ["plot_regret", "write_csv"]


def write_csv(results: Sequence[SimulationResult], path: str | os.PathLike[str]) -> Path:
    """One row per (policy, checkpoint): mean cumulative regret, its 95% band, the
    Lai–Robbins bound where defined (``lai_robbins_asymptotic``: an asymptote, ``log t`` times
    the instance's constant; a finite run may sit below it, and early on it can exceed the
    worst possible regret), and the engine that ran it (``numpy`` or ``compiled``: a seed
    gives another stream on each). A cell with no value is empty: the bound outside
    stationary Bernoulli arms, the band of a single run (one run has no interval)."""
    out = Path(path)
    with io.StringIO(newline="") as fh:  # written whole (see write_whole)
        writer = csv.writer(fh)
        writer.writerow(["policy", "environment", "runs", "step", "mean_regret",
                         "ci95_low", "ci95_high", "lai_robbins_asymptotic", "engine"])
        for r in results:
            mean, half = r.mean, r.half_width
            for j, step in enumerate(r.steps):
                bound = "" if r.lower_bound is None else f"{r.lower_bound[j]:.6g}"
                low, high = ("", "") if np.isnan(half[j]) else \
                    (f"{mean[j] - half[j]:.6g}", f"{mean[j] + half[j]:.6g}")
                writer.writerow([r.policy, r.environment, r.runs, int(step), f"{mean[j]:.6g}",
                                 low, high, bound, r.engine])
        write_whole(out, fh.getvalue().encode("utf-8"))
    return out


def plot_regret(results: Sequence[SimulationResult], path: str | os.PathLike[str], *,
                title: str | None = None) -> Path:
    """Cumulative regret per policy with 95% confidence bands (none for a single run); the
    Lai–Robbins asymptote (dashed) for stationary Bernoulli instances, from the step where
    it comes within any policy's reach (the legend says where it is left out or cut: the y
    axis is the policies'); the change point (dotted) for abrupt drift."""
    from .._plotting import STYLE, figure, styled

    with styled(STYLE):  # (the program's own matplotlib style stays out)
        fig = figure(figsize=(8, 4.8))
        ax = fig.subplots()
        for r in results:
            mean, half = r.mean, r.half_width
            band = "" if np.isnan(half[-1]) else f" ± {half[-1]:.1f}"
            (line,) = ax.plot(r.steps, mean, label=f"{r.policy}  ({mean[-1]:.1f}{band})")
            if band:
                ax.fill_between(r.steps, mean - half, mean + half, color=line.get_color(),
                                alpha=0.2)
        first = results[0]
        top = max(float(np.max(r.mean + np.nan_to_num(r.half_width))) for r in results) * 1.25
        if first.lower_bound is not None:
            _draw_bound(ax, first, top)
        if first.change_at is not None:
            ax.axvline(first.change_at, color="grey", linestyle=":", linewidth=1,
                       label=f"change point (step {first.change_at:,}: the rates switch)")
        ax.set_xlabel("step")
        ax.set_ylabel("cumulative regret (mean, 95% band)")
        # (an experiment's arms are named in it: wrapped, not cut at the image's edge)
        ax.set_title(textwrap.fill(title or f"{first.environment} · {first.runs} runs", 100),
                     fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        ax.set_xlim(0, max(int(np.max(r.steps)) for r in results))
        ax.set_ylim(0, top if top > 0 else None)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
    out = Path(path)
    write_whole(out, buffer.getvalue())
    return out


def _draw_bound(ax: Any, result: SimulationResult, top: float) -> None:
    """The Lai–Robbins asymptote, dashed, from the step where it comes within any policy's
    reach (:attr:`SimulationResult.lower_bound_from`), and what the legend says of it. Before
    that step it is above the regret of always playing the worst arm: with close rates a
    near-vertical line at step 0 that ran off the chart, read as "every policy beats the
    theory by 3-30x". The y axis stays the policies' (``top``): above it the line is cut,
    and the legend says so."""
    assert result.lower_bound is not None
    start = result.lower_bound_from or 1
    if not result.bound_in_reach:
        ax.plot([], [], "k--", linewidth=1,
                label=f"Lai–Robbins asymptote not drawn: a limit as t → ∞, above the worst "
                      f"possible regret up to step {start - 1:,}")
        return
    shown = result.steps >= start
    steps, bound = result.steps[shown], result.lower_bound[shown]
    label = "Lai–Robbins asymptote (as t → ∞; a finite run may sit below)"  # (read as a
    # floor, it was "beaten" by every policy of a short run)
    if start > 1:
        label += f",\nfrom step {start:,} (before it, above the worst possible regret)"
    if top > 0 and float(bound.min()) > top:
        label += f"; above the chart ({float(bound[-1]):,.0f} at step {int(steps[-1]):,})"
    elif top > 0 and float(bound.max()) > top:
        label += "; cut at the top"
    ax.plot(steps, bound, "k--", linewidth=1, label=label)
