"""The CLI's output as a terminal user and a script author meet it: --version, help pages,
one JSON document per --json, tables that survive a pipe, a key that `$(…)` captures,
progress on stderr, the install hint for a missing extra, and a light --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest

import banditbot
from banditbot.cli._output import Progress

from ..conftest import EXAMPLES, cli_sqlite_service, run_cli

run = run_cli


def bb(*argv: str, cwd: Path | None = None, columns: int = 80) -> subprocess.CompletedProcess[str]:
    """``banditbot ARGV`` in a new process, its output piped (not a terminal)."""
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "banditbot", *argv], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    """A store that exists (read commands never create one)."""
    from banditbot import SQLiteStore

    store = SQLiteStore(tmp_path / "cli.db")
    store.init()
    store.close()
    return ["--config", str(EXAMPLES), "--store", f"sqlite:///{tmp_path / 'cli.db'}"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["--version"], capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"banditbot {banditbot.__version__} (decision path ")


def test_help_reads_well_at_80_columns_and_loads_little() -> None:
    probe = ("import sys\nsys.argv[0] = 'banditbot'\nfrom banditbot.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "heavy = [m for m in ('numpy', 'pydantic', 'scipy', 'rich.markdown', 'yaml')"
             " if m in sys.modules]\nprint('HEAVY', heavy)\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("HEAVY []")
    page = proc.stdout
    for command in ("demo", "decide", "reward", "report", "export", "evaluate", "keys"):
        assert f"\n  {command} " in page
    commands = page[page.index("\nTry it:"):page.index("HEAVY")]
    assert "<bool>" not in page and "..." not in commands  # no sentence cut short
    assert max(len(line) for line in page.splitlines()) <= 80
    # every command's first sentence is there whole
    words = " ".join(page.split())
    assert "Estimate what other policies would have earned on a log (off-policy " \
        "evaluation)." in words


@pytest.mark.parametrize("command", [["evaluate"], ["simulate"], ["keys", "create"],
                                     ["report"], ["demo"]])
def test_command_help_has_no_type_tags(command: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*command, "--help"], capsys)
    assert code == 0
    assert "<" not in out.replace("<=", "")  # no <bool>, <str>, <list[str]>
    assert "..." not in out
    options = [line for line in out.splitlines() if line.startswith("  -")]
    assert options and all("{" not in line for line in options)


def test_report_json_is_one_document(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    run(["cheat", "greeting", "hey", "1101", *db], capsys)
    code, out, _ = run(["report", "--json", *db], capsys)
    assert code == 0
    reports = json.loads(out)  # the whole output is one JSON document
    assert [r["experiment"] for r in reports] == ["random", "greeting", "tip"]
    code, out, _ = run(["report", "greeting", "--json", *db], capsys)
    assert json.loads(out)["total_answered"] == 4


def test_experiments_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["experiments", "--json", "--config", str(EXAMPLES)], capsys)
    listed = json.loads(out)
    assert code == 0 and [e["id"] for e in listed] == ["random", "greeting", "tip"]
    # the command as the API's experiment gives it, without the slash the table shows
    assert listed[0]["command"] == "random" and listed[0]["policy"].startswith("epsilon-greedy")


def test_a_suggested_markdown_v2_escape_is_printed_as_written_and_validates(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Telegram trial: the error's "to show the text as written" printed ``[`` for ``\\[``
    (the console read the backslash as its own escape), and the copied text then failed on
    an unclosed link, told to "close it with '['". The suggestion is printed as written,
    it validates when pasted into the file, and an open link is told its ``](URL)``."""
    config = tmp_path / "md.yaml"

    def check(content: str) -> tuple[int, str]:
        config.write_text("experiments:\n  - id: hi\n    telegram: {parse_mode: MarkdownV2}\n"
                          f"    arms: [{{id: a, content: '{content}'}}, {{id: b, content: B}}]\n",
                          encoding="utf-8")
        code, _, err = run(["experiments", "--config", str(config)], capsys)
        return code, " ".join(err.split())

    code, err = check("Try this: [ ] ( ) . !")
    assert code == 2
    suggested = err.split("to show the text as written: ", 1)[1].split(" (")[0]
    assert suggested == r"Try this: \[ \] \( \) \. \!", err
    assert check(suggested)[0] == 0
    code, err = check("Try this: [ x")
    assert code == 2 and "close it with '](URL)'" in err and r"write '\['" in err, err


def test_an_experiment_without_buttons_lists_no_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A docs trial: `banditbot experiments` listed /cont for a continuous reward without
    options, which the bot runs no command for (docs/experiments.md says so): the table
    says it is answered over HTTP, the JSON and the API give null."""
    config = tmp_path / "cont.yaml"
    config.write_text("experiments:\n"
                      "  - id: cont\n"
                      "    reward: {type: continuous}\n"
                      "    arms: [{id: a, content: A}, {id: b, content: B}]\n"
                      "  - id: votes\n"
                      "    arms: [{id: a, content: A}, {id: b, content: B}]\n")
    code, out, err = run(["experiments", "--config", str(config)], capsys)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines()
            if line.startswith("│") and line.split("│")[1].strip() in ("cont", "votes")}
    assert "– (HTTP API)" in rows["cont"] and "/cont" not in rows["cont"]
    assert "/votes" in rows["votes"]
    code, out, _ = run(["experiments", "--json", "--config", str(config)], capsys)
    assert [e["command"] for e in json.loads(out)] == [None, "votes"]
    from banditbot import BanditService, MemoryStore, load_config
    from banditbot.api.routes.experiments import experiment_out

    service = BanditService(load_config(config), MemoryStore())
    assert experiment_out(service, "cont").command is None
    assert experiment_out(service, "votes").command == "votes"


def test_experiments_say_how_propensities_are_logged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "deferred.yaml"
    config.write_text("experiments:\n"
                      "  - id: ts\n"
                      "    policy: thompson\n"
                      "    propensity: deferred\n"
                      "    arms: [{id: a, content: A}, {id: b, content: B}]\n"
                      "  - id: plain\n"
                      "    arms: [{id: a, content: A}, {id: b, content: B}]\n")
    code, out, _ = run(["experiments", "--json", "--config", str(config)], capsys)
    assert code == 0
    assert {e["id"]: e["propensity"] for e in json.loads(out)} == {
        "ts": "deferred", "plain": "exact"}
    proc = bb("experiments", "--config", str(config), columns=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("propensity: deferred") == 1


def test_experiments_name_their_context_features(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An experiment's features were in no overview (only the API's /config): the list says
    them, compactly, for the experiments that have them."""
    config = tmp_path / "contextual.yaml"
    config.write_text(
        "experiments:\n"
        "  - id: tone\n"
        "    policy: linucb\n"
        "    arms: [{id: a, content: A}, {id: b, content: B}]\n"
        "    features:\n"
        "      - {name: hour, type: cyclic}\n"
        "      - {name: language_code, type: categorical, values: [en, de, es]}\n"
        "      - {name: past_reward_rate}\n"
        "      - {name: spend, center: 20, scale: 5}\n"
        "      - {name: country, type: categorical, values: [at, be, ch, de, dk, es, fr]}\n"
        "  - id: plain\n"
        "    arms: [{id: a, content: A}, {id: b, content: B}]\n")
    code, out, _ = run(["experiments", "--config", str(config)], capsys)
    assert code == 0
    said = [line for line in out.splitlines() if "features" in line]
    assert said == ["tone features: hour (cyclic, 24), language_code (en, de, es), "
                    "past_reward_rate (numeric), spend (numeric, center 20, scale 5), "
                    "country (at, be, ch, de, dk, … 7 values)"]
    code, out, _ = run(["experiments", "--json", "--config", str(config)], capsys)
    tone, plain = json.loads(out)
    assert tone["features"][:3] == [
        {"name": "hour", "type": "cyclic", "period": 24},
        {"name": "language_code", "type": "categorical", "values": ["en", "de", "es"]},
        {"name": "past_reward_rate", "type": "numeric", "center": 0, "scale": 1}]
    assert len(tone["features"][4]["values"]) == 7 and "features" not in plain


def test_piped_tables_keep_whole_lines(tmp_path: Path) -> None:
    proc = bb("experiments", "--config", str(EXAMPLES), columns=80)
    assert proc.returncode == 0, proc.stderr
    tip = next(line for line in proc.stdout.splitlines() if "tip" in line and "/tip" in line)
    assert "gaussian-thompson(prior_count=1)" in tip
    assert all(line == line.rstrip() for line in proc.stdout.splitlines())


def test_keys_create_prints_only_the_key(db: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["keys", "create", "--name", "app", "--role", "read", *db], capsys)
    assert code == 0 and out.count("\n") == 1 and out.startswith("bb_")
    assert "'app'" in err and "shown once" in err
    code, out, _ = run(["keys", "list", *db], capsys)
    header, *rows = out.splitlines()
    assert header.split() == ["name", "role", "status", "source", "fingerprint"]
    assert any(r.split()[:3] == ["app", "read", "active"] for r in rows)


def test_simulate_reports_progress_on_stderr_when_piped(tmp_path: Path) -> None:
    proc = bb("simulate", "--env", "bernoulli:0.1,0.2", "--runs", "4", "--horizon", "300",
              "-p", "thompson", "-p", "ucb1", "--workers", "1", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "simulate: 2 policies × 4 runs × 300 steps = 2,400 decisions"
    assert lines[1] == "simulate: started, 600 steps × 4 runs"
    assert lines[-1].startswith("simulate: done, 600 steps × 4 runs in ")
    assert "thompson" in proc.stdout and "simulate:" not in proc.stdout  # stdout stays data
    # a short run sits below the Lai-Robbins asymptote: the ratio column says why (read as
    # a floor, every policy had "beaten" it), and the CSV beside the chart is this run's
    ratios = [float(line.split("│")[3]) for line in proc.stdout.splitlines()
              if line.startswith(("│ thompson", "│ ucb1"))]
    assert ratios and (min(ratios) < 1) == ("a finite run may sit below it" in proc.stdout)
    assert (tmp_path / "simulation.csv").read_text().count("\n") > 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["simulation.csv", "simulation.png"]


def test_progress_lines_at_intervals_with_time_left() -> None:
    now = [0.0]
    stream = StringIO()
    with Progress("evaluate", 4, "policies", stream=stream, interval=10,
                  clock=lambda: now[0]) as bar:
        for done, label in enumerate(["uniform", "thompson", "epsilon-greedy", "ucb1"]):
            now[0] += 6.0
            bar.update(done, label)
    lines = stream.getvalue().splitlines()
    assert lines == ["evaluate: started, 4 policies",
                     "evaluate (thompson): 1/4 policies (25%), 12 s elapsed, about 36 s left",
                     "evaluate (ucb1): 3/4 policies (75%), 24 s elapsed, about 8 s left",
                     "evaluate: done, 4 policies in 24 s"]


def test_the_terminal_bar_keeps_its_numbers_in_80_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In an 80-column terminal a long policy name took the room of the steps done and the
    time left (both blank): the name is cut instead."""
    import re

    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", "80")
    stream = Terminal()
    with Progress("simulate", 3000, "steps (× 20 runs)", stream=stream) as bar:
        bar.update(1500, "thompson(alpha=1, beta=1, optimistic=True)")
        bar._bar.refresh()
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "1500/3000" in frames and "elapsed," in frames and "left" in frames
    assert "thompson(" in frames
    assert "optimistic=True" not in frames  # the label was cut, not the numbers

    # a large simulation's longer count and unit: the time left was cut to "0:01" (read as
    # one second) and "elapsed," to "elaps…"; the bar goes first, then the command's name
    stream = Terminal()
    with Progress("simulate", 100_000, "steps (× 20,000 runs)", stream=stream) as bar:
        bar.update(10_000, "thompson(alpha=1, beta=1, optimistic=True)")
        bar._bar.refresh()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    last = [frame for frame in text.split("\r") if "10000/" in frame][-1].rstrip("\n")
    assert len(last) <= 80, last
    assert re.search(r"10000/100000 steps \(× 20,000 runs\) +\d:\d\d:\d\d elapsed, +"
                     r"(-|\d):(--|\d\d):(--|\d\d) left$", last), last
    assert last.startswith("thompson(")  # what runs, cut; not "simulate · t…"

    # eleven hours in: a time of 8 characters, not cut to "11:06:…"
    now = [0.0]
    stream = Terminal()
    with Progress("simulate", 100_000, "steps (× 20,000 runs)", stream=stream,
                  clock=lambda: now[0]) as bar:
        now[0] = 40_000.0
        bar.update(10_000, "thompson")
        bar._bar.refresh()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    last = [frame for frame in text.split("\r") if "10000/" in frame][-1].rstrip("\n")
    assert len(last) <= 80 and "11:06:40 elapsed," in last and last.endswith("left"), last


def test_evaluate_json_and_a_titled_chart(db: list[str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from banditbot import build_service

    svc = build_service(EXAMPLES, db[-1])
    for i in range(60):  # every second decision gets a 👍
        svc.reward(svc.decide("random", f"s{i}").id, i % 2, f"s{i}")
    log = tmp_path / "log.csv"
    run(["export", "random", "--out", str(log), *db], capsys)
    png = tmp_path / "eval.png"
    code, out, err = run(["evaluate", str(log), "-p", "uniform", "-e", "ips", "--json",
                          "--png", str(png), "--n-bootstrap", "20"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["rounds"] == 60 and result["rows"][0]["estimator"] == "ips"
    assert result["rows"][0]["low"] <= result["rows"][0]["value"] <= result["rows"][0]["high"]
    assert "bootstrap" in result["interval"] and "every look" in result["anytime_interval"]
    assert f"chart: {png}" in err and "evaluate: done" in err
    from PIL import Image

    assert Image.open(png).size[0] == 1024


def test_missing_plots_extra_names_the_install_command(
        db: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    code, out, err = run(["report", "random", "--png", str(tmp_path / "r.png"), *db], capsys)
    assert code == 2 and "pip install 'banditbot[plots]'" in err
    code, out, err = run(["simulate", "--env", "bernoulli:0.1,0.2", "--runs", "2",
                          "--horizon", "50", "-p", "ucb1", "--workers", "1",
                          "--out", str(tmp_path)], capsys)
    assert code == 0 and "pip install 'banditbot[plots]'" in out


def test_missing_aws_extra_names_the_install_command(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A walkthrough found: without the aws extra, every DynamoDB command ended in
    "ModuleNotFoundError: No module named 'botocore'" (PostgreSQL's said what to install)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "boto3" else real(name, *a))
    for name in ("boto3", "botocore", "botocore.exceptions", "botocore.config"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed: imports fail
    for command in (["init-db"], ["report", "random"]):
        code, _out, err = run([*command, "--store", "dynamodb://tbl?region=us-east-1"], capsys)
        assert code == 2 and "pip install 'banditbot[aws]'" in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_simulating_an_experiment_includes_its_own_policy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`simulate --experiment` compares the experiment's configured policy with the usual
    ones (it simulated only the defaults, leaving out the policy the experiment runs)."""
    code, out, err = run(["simulate", "--experiment", "random", "--rate", "random.arm1=0.1",
                          "--rate", "random.arm2=0.2", "--runs", "2", "--horizon", "50",
                          "--workers", "1", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    rows = [line for line in out.splitlines() if "(" in line and "regret" not in line]
    assert "epsilon-greedy(epsilon=0.5" in rows[0]  # the shipped experiment's own, first
    assert any("kl-ucb(" in r for r in rows)


def test_simulating_unbounded_rewards_fits_the_defaults_and_refuses_misfits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The --help's own example environments crashed with a worker's traceback: the default
    policies included thompson, which needs reward bounds. The defaults now fit the
    environment; a policy named that does not fit is refused before any work, one line."""
    common = ["--runs", "2", "--horizon", "50", "--workers", "1", "--out", str(tmp_path)]
    code, out, err = run(["simulate", "--env", "gaussian:0,0.5,1", *common], capsys)
    assert code == 0, err
    assert "gaussian-thompson(" in out and "thompson(alpha" not in out
    code, out, err = run(["simulate", "--env", "linear:5,3", "-p", "linucb", "-p",
                          "thompson", *common], capsys)
    assert code == 2 and "Traceback" not in err
    assert "thompson needs rewards with known bounds" in err and "started" not in err


def test_ctrl_c_while_the_cli_loads_is_one_word_not_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's modules take tenths of a second to import; a Ctrl+C then printed an import
    traceback. The entry point answers it: "aborted", exit code 130. (The interrupt is
    raised by the import itself here, deterministically, where a real one lands at random.)"""
    import importlib.abc
    import importlib.machinery

    from banditbot._entry import main

    class Interrupted(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name: str, path: object, target: object = None
                      ) -> importlib.machinery.ModuleSpec | None:
            return importlib.machinery.ModuleSpec(name, self) if name == "banditbot.cli" \
                else None

        def create_module(self, spec: object) -> None:
            return None

        def exec_module(self, module: object) -> None:
            raise KeyboardInterrupt

    monkeypatch.delitem(sys.modules, "banditbot.cli", raising=False)
    monkeypatch.delattr(banditbot, "cli", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupted(), *sys.meta_path])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 130
    assert capsys.readouterr().err == "aborted\n"


def test_a_sample_ratio_check_that_passed_says_so(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A trial: the report printed the check only when it flagged, so a check that passed
    and one that never ran read alike. With periods, and with the allocation recomputed at
    every decision (its decisions against their logged vectors)."""
    def played(experiment: str, update: str, decisions: int) -> list[str]:
        """A two-arm experiment on its own SQLite file after ``decisions`` decisions, each
        rewarded (a third of them 1): the CLI's options to read it."""
        service, opts = cli_sqlite_service(tmp_path, (
            f"experiments:\n- id: {experiment}\n  arms: [{{id: a, content: A}}, "
            f"{{id: b, content: B}}]\n  burn_in: 0\n{update}"), f"{experiment}.db", seed=3)
        for i in range(decisions):
            d = service.decide(experiment, f"u{i}")
            service.reward(d.id, i % 3 == 0, f"u{i}")
        service.store.close()
        return opts

    opts = played("p", "  update: every 20 rewards\n", 200)
    code, out, _ = run(["report", "p", *opts], capsys)
    assert code == 0 and "sample ratio: OK over " in out, out
    assert "mismatch" not in out
    # allocation every decision: each decision against the vector it logged; one that
    # cannot run yet (one decision: too few to test) says why
    opts = played("q", "", 1)
    code, out, _ = run(["report", "q", *opts], capsys)
    assert code == 0 and "sample ratio: not checked yet (too few decisions" in out, out
    opts = played("q", "", 199)  # (on the same file: 200 decisions in all)
    code, out, _ = run(["report", "q", *opts], capsys)
    assert code == 0 and "sample ratio: OK over 200 decisions, each against the vector" \
        in out, out
