"""The simulation chart (``simulation.png``) as a reader sees it: what it draws, on which
scale, and what its legend and title say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import make_policy
from banditbot.sim import SimulationResult, lai_robbins, parse_env, plot_regret, simulate

pytest.importorskip("matplotlib")


def _drawn(results: list[SimulationResult], path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Any:
    """The axes of the chart ``plot_regret`` draws (the figure kept as it is drawn)."""
    from banditbot import _plotting

    figures: list[Any] = []
    made = _plotting.figure

    def keep(**kwargs: Any) -> Any:
        figures.append(made(**kwargs))
        return figures[-1]

    monkeypatch.setattr(_plotting, "figure", keep)
    assert plot_regret(results, path).stat().st_size > 0
    (fig,) = figures
    (ax,) = fig.axes
    return ax


def _legend(ax: Any) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def _dashed(ax: Any) -> list[Any]:
    """The dashed lines drawn (not a legend's entry alone)."""
    return [line for line in ax.get_lines()
            if line.get_linestyle() == "--" and len(line.get_xdata())]


@pytest.mark.parametrize("rates", [(0.1, 0.11, 0.12, 0.13), (0.1, 0.2), (0.1, 0.12, 0.15),
                                   (0.05, 0.1, 0.15, 0.2, 0.25)])
def test_the_asymptote_is_within_reach_exactly_from_the_step_said(
        rates: tuple[float, ...]) -> None:
    from banditbot.sim._env import lai_robbins_reach

    r = np.array(rates)
    start = lai_robbins_reach(r)
    gap = float(r.max() - r.min())
    steps = np.arange(start, start * 20 + 2, dtype=float)
    assert np.all(lai_robbins(r, steps) <= gap * steps)  # never above the worst regret after
    if start > 1:
        assert lai_robbins(r, np.array([start - 1.0]))[0] > gap * (start - 1)


def test_close_rates_chart_leaves_out_an_asymptote_no_policy_can_reach(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trial's close rates: the asymptote was a near-vertical line at x≈0 that ran off
    the top of the chart (157 at step 51, when no policy can lose more than 1.5)."""
    env = parse_env("bernoulli:0.10,0.11,0.12,0.13")
    results = [simulate(make_policy(p), env, runs=5, horizon=1000, workers=1, seed=1)
               for p in ("thompson", "ucb1")]
    ax = _drawn(results, tmp_path / "s.png", monkeypatch)
    top = ax.get_ylim()[1]
    assert top < 0.03 * 1000  # the policies' scale, below the worst possible regret
    assert not any(np.max(line.get_ydata()) > top for line in _dashed(ax))
    (said,) = [t for t in _legend(ax) if "Lai–Robbins" in t]
    assert "not drawn" in said and "12,563" in said


def test_the_asymptote_is_drawn_from_where_it_is_within_reach_and_cut_at_the_top(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = parse_env("bernoulli:0.1,0.12,0.15")
    result = simulate(make_policy("thompson"), env, runs=5, horizon=3000, workers=1, seed=1)
    ax = _drawn([result], tmp_path / "s.png", monkeypatch)
    (bound,) = _dashed(ax)
    assert np.min(bound.get_xdata()) >= 1903  # where it falls below 0.05 · t
    (said,) = [t for t in _legend(ax) if "Lai–Robbins" in t]
    assert "from step 1,903" in said
    top = ax.get_ylim()[1]
    assert top < float(np.max(bound.get_ydata()))  # the policy's scale: the bound is cut
    assert "cut at the top" in said or "above the chart" in said


def test_the_change_point_is_in_the_legend(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial: the dotted line at step 5,000 of an abrupt drift was not in the legend."""
    env = parse_env("abrupt:0.3,0.2,0.1/0.1,0.2,0.3@500", horizon=1000)
    result = simulate(make_policy("thompson"), env, runs=3, horizon=1000, workers=1, seed=1)
    ax = _drawn([result], tmp_path / "s.png", monkeypatch)
    (dotted,) = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert list(dotted.get_xdata()) == [500, 500]
    assert dotted.get_label() in _legend(ax) and "change point (step 500" in dotted.get_label()


def test_an_experiments_chart_names_its_arms_beside_their_rates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial: ``--experiment greeting`` titled the chart ``bernoulli 0.2,0.21,…``: which arm
    had which rate was not said."""
    from banditbot import load_config
    from banditbot.sim import experiment_env

    from ..conftest import EXAMPLES

    exp = load_config(EXAMPLES).experiment("greeting")
    env = experiment_env(exp, {"hello": 0.2, "hey": 0.21, "formal": 0.25, "playful": 0.1})
    result = simulate(make_policy("thompson"), env, runs=3, horizon=50, workers=1, seed=1)
    ax = _drawn([result], tmp_path / "s.png", monkeypatch)
    assert ax.get_title().startswith(
        "bernoulli hello=0.2, hey=0.21, formal=0.25, playful=0.1 · 3 runs")
    assert parse_env("bernoulli:0.2,0.21").describe() == "bernoulli 0.2,0.21"  # unnamed
