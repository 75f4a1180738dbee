"""`banditbot simulate` as a new user met it: input it crashed on or silently ignored is
refused in one line (exit 2) before any work; one run says it has no interval; a big job
says how big it is before it starts; `--json` gives a script one document."""

from __future__ import annotations

import csv
import json
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from banditbot.cli._output import Progress

from ..conftest import EXAMPLES, run_cli

SMALL = ["--runs", "3", "--horizon", "50", "--workers", "1"]

REFUSED: list[tuple[str, list[str], str]] = [
    # tracebacks (exit 1) before
    ("a rate for another experiment than an unknown one",
     ["--experiment", "nosuch", "--rate", "greeting.hello=0.2"], "unknown experiment 'nosuch'"),
    ("an unknown experiment, named, not its rate's",
     ["--experiment", "nosuch", "--rate", "x.y=1"], "unknown experiment 'nosuch'"),
    ("a rate for an experiment not simulated",
     ["--experiment", "random", "--rate", "greeting.hello=0.2", "--rate", "random.arm1=0.3",
      "--rate", "random.arm2=0.5"], "'greeting' is not the experiment simulated"),
    ("gaussian sd=abc", ["--env", "gaussian:0,1;sd=abc"], "sd must be a finite number"),
    ("a negative environment seed", ["--env", "linear:5,5;seed=-1"], "seed is a whole number"),
    # accepted and ignored before
    ("a change point beyond the horizon", ["--env", "abrupt:0.3,0.2/0.1,0.4@50000"],
     "outside the horizon"),
    ("a negative change point", ["--env", "abrupt:0.3,0.2/0.1,0.4@-5"], "outside the horizon"),
    ("a change point in a gradual drift", ["--env", "gradual:0.3,0.2/0.1,0.4@20"],
     "no change point"),
    ("an unknown option", ["--env", "gaussian:0,1;foo=1"], "no option 'foo' (its options: sd"),
    ("arms that are not whole", ["--env", "linear:2.7,3.9"], "'2.7' is not a whole number"),
    ("a third number for linear", ["--env", "linear:5,5,7"], "has 3 numbers"),
    ("two environments", ["--env", "bernoulli:0.1,0.2", "--env", "bernoulli:0.3,0.2"],
     "give one --env, got 2"),
    ("a rate without an experiment", ["--env", "bernoulli:0.1,0.2", "--rate", "x.y=1"],
     "--experiment"),
]


@pytest.mark.parametrize(("name", "argv", "says"), REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_input_is_refused_in_one_line_before_any_work(
        name: str, argv: list[str], says: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["simulate", *argv, *SMALL, "--config", str(EXAMPLES),
                              "--out", str(tmp_path / "out")], capsys)
    assert code == 2, err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert says in err
    assert out == "" and not (tmp_path / "out").exists()  # nothing simulated, nothing written


def test_help_of_env_gives_every_spec_and_its_options(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    code, out, _ = run_cli(["simulate", "--help"], capsys)
    page = " ".join(out.split())
    assert code == 0
    for syntax in ("bernoulli:", "gaussian:M,M,…[;sd=1]", "rating:C,C,…[;sd=1]",
                   "abrupt:R,R/R,R[@STEP]", "from 1 to --horizon minus 1",
                   "gradual:",
                   "linear:K[,D][;seed=0]", "default 5", "logistic:K[,D][;seed=0]", "--json"):
        assert syntax in page, syntax


def test_a_policy_given_twice_is_simulated_once_with_a_note(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "-p", "thompson",
                              "-p", "thompson", *SMALL, "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert out.count("thompson(alpha=1") == 1
    assert "given more than once; simulated once" in err
    rows = list(csv.DictReader((tmp_path / "simulation.csv").open()))
    assert len({r["policy"] for r in rows}) == 1


def test_one_run_shows_no_interval_and_counts_in_the_singular(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--runs 1` printed "2.3 ± 0.0" and a CSV with ci95_low == ci95_high."""
    code, out, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "-p", "ucb1",
                              "--runs", "1", "--horizon", "50", "--workers", "1",
                              "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert "1 run × 50 steps" in out and "1 runs" not in out + err
    row = next(line for line in out.splitlines() if "ucb1(" in line)
    assert "± –" in row and "± 0.0" not in row
    assert "1 run: no 95% interval" in out
    rows = list(csv.DictReader((tmp_path / "simulation.csv").open()))
    assert {(r["ci95_low"], r["ci95_high"]) for r in rows} == {("", "")}
    assert all(r["mean_regret"] != "" for r in rows)
    assert "replaced" not in out
    # a second run in the same folder writes over the first's files: said (it was silent)
    code, out, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "-p", "ucb1",
                              "--runs", "1", "--horizon", "50", "--workers", "1",
                              "--out", str(tmp_path)], capsys)
    assert code == 0, err
    data = next(line for line in out.splitlines() if line.startswith("data:"))
    assert data.endswith("(replaced the previous run's; another --out folder keeps both)"), data


def test_json_is_one_document_with_a_row_per_policy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "-p", "ucb1",
                              "-p", "thompson", *SMALL, "--horizon", "300",  # bound in reach
                              "--out", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    document = json.loads(out)  # the whole of stdout: chart and data lines went to stderr
    assert document["environment"] == "bernoulli 0.1,0.2" and document["runs"] == 3
    assert document["data"] == str(tmp_path / "simulation.csv")
    first, second = document["rows"]
    assert first["policy"] == "ucb1(c=1)" and second["policy"].startswith("thompson(")
    for row in document["rows"]:
        assert row["ci95_low"] <= row["regret_mean"] <= row["ci95_high"]
        assert row["regret_over_lai_robbins"] == pytest.approx(
            row["regret_mean"] / row["lai_robbins_asymptotic"])
    code, out, err = run_cli(["simulate", "--env", "gaussian:0,1", "-p", "ucb1", "--runs",
                              "1", "--horizon", "20", "--out", str(tmp_path), "--json"],
                             capsys)
    (row,) = json.loads(out)["rows"]
    assert row["ci95_low"] is None and row["lai_robbins_asymptotic"] is None


def test_the_lai_robbins_column_is_left_out_with_a_reason_where_undefined(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It showed only "–" for non-Bernoulli environments, with no word why."""
    code, out, err = run_cli(["simulate", "--env", "gaussian:0,1", "-p", "ucb1", *SMALL,
                              "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert "Lai–Robbins asymptote" not in out.splitlines()[1]  # the header
    assert out.count("(no regret / Lai–Robbins column: the asymptote is defined for "
                     "stationary Bernoulli arms only") == 1
    code, out, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "-p", "ucb1",
                              *SMALL, "--horizon", "300", "--out", str(tmp_path)], capsys)
    assert "regret / Lai–Robbins asymptote" in out and "no regret / Lai" not in out


def test_close_rates_show_no_ratio_to_an_asymptote_no_policy_can_reach(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial: at rates 0.10-0.13 every policy's ratio read 0.14-0.37 ("beats the theory
    by 3-30x"), against an asymptote above the regret of always playing the worst arm."""
    args = ["simulate", "--env", "bernoulli:0.10,0.11,0.12,0.13", "-p", "thompson", "-p",
            "ucb1", "--runs", "3", "--horizon", "1000", "--workers", "1", "--out",
            str(tmp_path)]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "Lai–Robbins asymptote" not in out.splitlines()[1]  # the header
    note = next(line for line in out.splitlines() if line.startswith("(no regret / Lai"))
    assert "above the regret of always playing the worst arm (30.0)" in note
    assert "before step 12,564" in note and "a finite run may sit below" not in out
    code, out, err = run_cli([*args, "--json"], capsys)
    rows = json.loads(out)["rows"]
    assert [row["regret_over_lai_robbins"] for row in rows] == [None, None]
    assert all(row["lai_robbins_asymptotic"] > 30 for row in rows)  # the CSV's value, kept


def test_a_big_job_says_its_size_and_warns_before_it_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """2,000 runs × 1,000,000 steps of kl-ucb showed no time estimate for 20 s and more."""
    from banditbot.cli import sim

    monkeypatch.setattr(sim, "BIG_JOB", 200)  # the warning's threshold, at a test's size
    code, _, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "-p", "ucb1", "-p",
                            "thompson", *SMALL, "--out", str(tmp_path)], capsys)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == "simulate: 2 policies × 3 runs × 50 steps = 300 decisions"
    assert lines[1].startswith("warning: over 200 decisions can take hours")
    assert lines[2].startswith("simulate: started")  # both before the work
    code, _, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "-p", "ucb1",
                            *SMALL, "--out", str(tmp_path)], capsys)
    assert "warning" not in err  # 150 decisions


def test_progress_gives_the_time_left_after_a_short_calibration() -> None:
    """Not a terminal: the first line with the time left comes after ``first`` seconds,
    the later ones every ``interval``."""
    now = [0.0]
    stream = StringIO()
    with Progress("simulate", 1000, "steps", stream=stream, interval=10, first=3,
                  clock=lambda: now[0]) as bar:
        for second in range(1, 15):
            now[0] = float(second)
            bar.update(second * 10)
    lines = stream.getvalue().splitlines()
    assert lines[1].startswith("simulate: 30/1,000 steps (3%), 3 s elapsed, about 1 min 37 s")
    assert lines[2].startswith("simulate: 130/1,000 steps")  # 10 s later
    assert len(lines) == 4  # started, 3 s, 13 s, done


def test_a_ctrl_c_the_job_lost_is_raised_at_the_next_progress_update() -> None:
    """A long simulation went on to its end after Ctrl+C, about 1 time in 100: numpy's C
    code can clear the KeyboardInterrupt Python raises. The progress keeps the Ctrl+C and
    raises it again at its next update (every quarter second of a simulation), and puts
    Python's own handler back after the job."""
    import os
    import signal

    bar = Progress("simulate", 10, "steps", stream=StringIO())
    with bar:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # (delivered here)
        except KeyboardInterrupt:
            pass  # what C code that clears errors does
        with pytest.raises(KeyboardInterrupt):
            bar.update(1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_the_job_lost_after_its_last_update_stops_it_still() -> None:
    """A Ctrl+C that C code dropped after the job's last progress update let the command
    finish as if nobody had pressed it: the job's end raises it, and says not "done"."""
    import os
    import signal

    stream = StringIO()

    def job() -> None:
        with Progress("simulate", 10, "steps", stream=stream):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.1)  # (delivered here)
            except KeyboardInterrupt:
                pass  # what C code that clears errors does; no update comes after

    with pytest.raises(KeyboardInterrupt):
        job()
    assert "started" in stream.getvalue() and "done" not in stream.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_job_that_cannot_start_gives_python_its_ctrl_c_back() -> None:
    """A progress whose start failed (its stream refused the started line; or a Ctrl+C as
    the bar loads) left its Ctrl+C handler and unraisable hook in place: later Ctrl+Cs
    were this dead job's. Python's are back."""
    import signal
    import sys

    class Closed(StringIO):
        def write(self, text: str) -> int:
            raise OSError("the stream is closed")

    hook = sys.unraisablehook
    with pytest.raises(OSError, match="closed"), Progress("simulate", 10, "steps",
                                                          stream=Closed()):
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert sys.unraisablehook is hook


def test_a_ctrl_c_before_the_command_runs_is_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl+C in the tenth of a second typer takes to build the commands printed a full
    traceback (a trial, 1 time in 4 at that moment): one line and exit 130, as later."""
    import banditbot.cli
    from banditbot._entry import main

    def interrupted(argv: list[str] | None = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(banditbot.cli, "main", interrupted)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "interrupted (Ctrl+C)\n"


def test_the_exit_code_is_the_one_chosen_after_a_ctrl_c_caught_inside_generated_code(
        tmp_path: Path) -> None:
    """A Ctrl+C that lands in code made by ``exec``/``eval`` of a string (numpy builds
    namedtuples so as it imports ``numpy.random`` on first use, in the middle of a
    simulation) is remembered by CPython even once caught, and the process then ended by
    SIGINT (-2 to ``subprocess``) though the command had said "interrupted" and chosen 130:
    1 run in 200 of `simulate` under load. The entry point ends with the code it chose."""
    import subprocess
    import sys

    # (as `python -m banditbot` runs it: a script or `-c` ends by another path)
    (tmp_path / "caught").mkdir()
    # (a command whose Ctrl+C lands in generated code: a namedtuple's, as numpy makes them)
    (tmp_path / "caught" / "__main__.py").write_text(
        "import banditbot.cli\n"
        "def run(argv=None):\n    exec('raise KeyboardInterrupt')\n"
        "banditbot.cli.main = run\n"
        "from banditbot._entry import main\nmain()\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "caught"], capture_output=True, text=True,
                          timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert done.stderr == "interrupted (Ctrl+C)\n"


def test_a_ctrl_c_python_cannot_raise_during_the_job_prints_no_traceback() -> None:
    """A Ctrl+C that comes in a weakref callback (an import's module lock freed) cannot be
    raised there: Python printed "Exception ignored ... Traceback ... KeyboardInterrupt"
    before the next progress update raised it again. During the job it is not printed;
    any other error there still is, and the hook is Python's again after the job."""
    import gc
    import sys
    import weakref

    class Thing:
        pass

    before = sys.unraisablehook
    seen: list[type[BaseException]] = []

    def hook(unraisable: Any) -> None:
        seen.append(unraisable.exc_type)

    sys.unraisablehook = hook
    try:
        bar = Progress("simulate", 10, "steps", stream=StringIO())
        with bar:
            bar.interrupted = True  # the handler ran: it raised in a callback

            def interrupt(_: object) -> None:
                raise KeyboardInterrupt

            def fail(_: object) -> None:
                raise ValueError("a real error")

            for callback in (interrupt, fail):
                thing = Thing()
                ref = weakref.ref(thing, callback)
                del thing
                gc.collect()
                del ref
        after = sys.unraisablehook
    finally:
        sys.unraisablehook = before
    assert seen == [ValueError]  # the Ctrl+C is not printed; the real error is
    assert after is hook  # put back after the job


def test_a_slow_policy_is_announced_before_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A trial: a 12-million-decision run took 60 s, nearly all of it kl-ucb and
    top-two-thompson (about 50,000 decisions/s against millions), and nothing said why."""
    from banditbot.cli import sim

    monkeypatch.setattr(sim, "SLOW_JOB", 100)  # the test's small run counts as long
    code, _, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "-p", "thompson",
                            "-p", "kl-ucb", "-p", "top-two-thompson", *SMALL, "--out",
                            str(tmp_path)], capsys)
    assert code == 0, err
    assert "note: kl-ucb and top-two-thompson run 10-60x slower than the other policies" \
        in err and err.index("note: kl-ucb") < err.index("simulate: started")
    code, _, err = run_cli(["simulate", "--env", "bernoulli:0.1,0.2", "-p", "thompson",
                            *SMALL, "--out", str(tmp_path)], capsys)
    assert "slower" not in err
