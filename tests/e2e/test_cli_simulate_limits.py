"""``banditbot simulate`` refuses an environment or a simulation too big for memory with
one line (``error: … (hint)``), before any work, instead of numpy's traceback after the
allocation failed (37 GiB for ``linear:1e9,5``, 75 GiB for ``linear:3,100000``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from banditbot import make_policy
from banditbot.sim import (
    MAX_ARMS,
    MAX_FEATURES,
    MAX_MEMORY,
    memory_estimate,
    parse_env,
    simulate,
)

from ..conftest import run_cli


@pytest.mark.parametrize(("env", "says"), [
    ("linear:1e9,5", "1,000,000,000 arms; the simulator takes at most 10,000"),
    ("linear:3,100000", "100,000 features; the simulator takes at most 100"),
    ("logistic:100000,3", "100,000 arms"),
    ("bernoulli:" + ",".join(["0.1"] * 20_000), "20,000 arms"),
    ("gaussian:" + ",".join(["1"] * 10_001), "10,001 arms"),
    ("abrupt:" + ",".join(["0.1"] * 10_001) + "/" + ",".join(["0.2"] * 10_001), "10,001 arms"),
    ("gaussian:1,2;sd=1e308", "at most 1e+12 in size"),
    ("gaussian:1,2;sd=inf", "finite number"),
    ("gaussian:1e308,2", "at most 1e+12"),
    ("gaussian:nan,2", "finite number"),
    ("gaussian:5", "at least two arms"),
])
def test_too_big_or_broken_environments_get_one_line(env: str, says: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    code, out, err = run_cli(["simulate", "--env", env, "--runs", "2", "--horizon", "10",
                              "--out", str(tmp_path)], capsys)
    assert code != 0 and out == ""
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert says in err
    assert not (tmp_path / "simulation.csv").exists()


def test_a_simulation_over_the_memory_limit_is_refused_before_it_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A million runs of four policies keep 18 GiB of regret curves: refused with the
    estimate, the limit and what to reduce, before the work line or any file."""
    code, out, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "--runs", "1000000",
                              "--horizon", "10000000", "--out", str(tmp_path)], capsys)
    assert code != 0 and out == ""
    assert err.startswith("error: this simulation would hold about ") and \
        "the limit is 4 GiB" in err and "fewer --runs" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "simulation.csv").exists()


def test_the_limits_are_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["simulate", "--help"], capsys)
    flat = " ".join(out.replace("│", " ").split())
    assert code == 0
    assert f"at most {MAX_ARMS:,} arms and {MAX_FEATURES} features" in flat
    assert f"about {MAX_MEMORY // 2**30} GiB of memory" in flat


def test_the_largest_allowed_contextual_environment_fits_the_limit() -> None:
    """Within the limits a default simulation (200 runs) of a linear policy fits in memory
    at 50 arms × 100 features, and its estimate grows past the limit with 2,000 runs."""
    env = parse_env("linear:50,100")
    policy = make_policy("linucb")
    assert memory_estimate(policy, env, runs=200, horizon=10_000) < MAX_MEMORY
    assert memory_estimate(policy, env, runs=2_000, horizon=10_000) > MAX_MEMORY


def test_a_window_longer_than_the_run_costs_only_the_run() -> None:
    """sliding-window-ucb with window=1e9 (a valid parameter) kept a ring of 1e9 slots per
    run (1.6 TB for 200 runs); a window longer than the run drops nothing, so the run's
    length is enough, with the same result as the window of exactly the run."""
    env = parse_env("bernoulli:0.2,0.5")
    long = simulate(make_policy("sliding-window-ucb", window=1e9), env, runs=20, horizon=300,
                    seed=3, workers=1)
    run = simulate(make_policy("sliding-window-ucb", window=300), env, runs=20, horizon=300,
                   seed=3, workers=1)
    assert long.regret.tolist() == run.regret.tolist()
