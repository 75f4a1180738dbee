"""`banditbot export`, `evaluate` and `learn` on a log produced by `banditbot demo`, and
`evaluate` on the Open Bandit Dataset sample."""

from __future__ import annotations

import csv
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import EXAMPLES, OBD, ROOT, run_cli


def bb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "banditbot", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env={
                              **__import__("os").environ, "COLUMNS": "200"})


run = run_cli


@pytest.mark.slow
def test_demo_log_export_evaluate_learn(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo and the evaluation run as real processes; export, learn and report (each a
    few lines around a library call) in this process, which saves seven interpreter
    start-ups."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    demo = f"sqlite:///{tmp_path / 'demo.db'}"
    assert bb("demo", "--steps", "600", "--no-live", "--store", demo, "--config",
              str(EXAMPLES), "--out", str(tmp_path), cwd=tmp_path).returncode == 0
    for fmt in ("csv", "parquet"):
        code, out, err = run(["export", "greeting", "--out", str(tmp_path / f"log.{fmt}"),
                              "--store", demo, "--config", str(EXAMPLES)], capsys)
        assert code == 0 and "600 decisions" in out, (code, out, err)
    png = tmp_path / "eval.png"
    evaluated = bb("evaluate", str(tmp_path / "log.parquet"), "-p", "thompson", "-p",
                   "uniform", "-p", "epsilon-greedy:epsilon=0.2", "-e", "ips", "-e", "snips",
                   "-e", "dr", "--n-bootstrap", "100", "--online", "--png", str(png),
                   cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    for text in ("thompson(alpha=1", "uniform", "epsilon-greedy(epsilon=0.2", "snips",
                 "replay-online", "ESS"):
        assert text in evaluated.stdout
    # the title says what the online rows are about too (it named the split alone)
    title = " ".join(evaluated.stdout.split())
    assert re.search(r"\(107 of 600 rows left out.*replay-online learns as it replays all "
                     r"493\)", title), title[:400]
    assert png.read_bytes()[:4] == b"\x89PNG"
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    learn = ["learn", str(tmp_path / "log.csv"), "--experiment", "greeting", "--store", fresh,
             "--config", str(EXAMPLES)]
    report = ["report", "greeting", "--json", "--store", fresh, "--config", str(EXAMPLES)]
    code, out, err = run(learn, capsys)
    # issue #19: Thompson sampling showed some arms with tiny propensities, so their
    # importance-weighted history rests on a few effective rounds: refused, override named
    assert code == 2, (out, err)
    assert "effective sample size" in err and "--min-ess" in err
    assert not (tmp_path / "fresh.db").exists()  # refused: no empty database left behind
    code, out, err = run(report, capsys)
    assert code == 2 and "no banditbot database" in err
    # the override: imported with the evidence each arm really has, said per arm
    code, out, err = run([*learn, "--min-ess", "0"], capsys)
    assert code == 0, err
    assert "ESS" in out and "largest weight" in out
    code, out, err = run(report, capsys)
    reported = json.loads(out)
    assert 0 < reported["total_answered"] < 600 and "warm_start" in reported["notes"]
    code, out, err = run([*learn, "--min-ess", "0"], capsys)
    assert code == 2 and "count every round twice" in err
    code, out, err = run(["evaluate", str(tmp_path / "log.csv"), "--pscore-col", "nope"],
                         capsys)
    assert code == 2 and "missing column" in err


@pytest.mark.slow
def test_evaluate_on_the_open_bandit_dataset(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process (the next test runs ``evaluate`` on the same data as a real one)."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run(["evaluate", "obd:random", "-p", "behavior:obd:bts", "-p", "uniform",
                          "-e", "ips", "-e", "snips", "--train-share", "0", "--n-bootstrap",
                          "100", "--obd-root", str(OBD)], capsys)
    assert code == 0, err
    assert "10,000 rounds, 80 actions" in out
    assert "published BTS policy of obd:bts" in out


def _documented_obd_runs() -> list[tuple[str, list[list[str]]]]:
    """docs/offline.md's Open Bandit Dataset commands, each with the table rows of the
    policy it evaluates (the uniform policy on the BTS log, the published BTS policy on the
    random log)."""
    text = (ROOT / "docs" / "offline.md").read_text(encoding="utf-8")
    section = text[text.index("## Real data: the Open Bandit Dataset"):
                   text.index("## Warm start")]
    block = section[section.index("```bash") + 7:]
    commands = [shlex.split(c) for c in block[:block.index("```")].replace("\\\n", " ")
                .strip().splitlines()]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in section.splitlines()
            if line.startswith("| ") and ("| IPS |" in line or "| SNIPS |" in line
                                          or "| DM |" in line or "| DR |" in line)]
    runs = []
    for command in commands:
        assert command[:2] == ["banditbot", "evaluate"], command
        logged_by = "Bernoulli TS" if command[2] == "obd:bts" else "uniform random"
        runs.append((shlex.join(command[1:]), [r for r in rows if r[1] == logged_by]))
    assert [len(r) for _, r in runs] == [4, 4]
    return runs


def _shown(text: str, value: float | None) -> bool:
    """Whether a figure of the docs' table is ``value`` to the digits it shows (``–``: no
    value)."""
    if text == "–":
        return value is None
    number = text.replace("−", "-").replace(",", "")
    digits = len(number.lstrip("-").replace(".", "").lstrip("0"))
    return value is not None and float(f"{value:.{digits}g}") == float(number)


@pytest.mark.slow
@pytest.mark.parametrize(("command", "documented"), _documented_obd_runs(),
                         ids=["uniform-on-bts", "bts-on-random"])
def test_the_documented_obd_figures_are_what_the_commands_print(
        command: str, documented: list[list[str]], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/offline.md says its commands print exactly the table's figures; the second one's
    bootstrap intervals had drifted (IPS 0.00155 – 0.00986 documented, 0.0015993 –
    0.0090790 printed). Each documented command runs here as written (``--json`` added) and
    every figure of its rows but the real outcome's (not from this command) is checked to
    the digits shown."""
    monkeypatch.chdir(ROOT)  # the commands are written for the root of a clone
    code, out, err = run_cli([*shlex.split(command), "--json"], capsys)
    assert code == 0, err
    printed = {r["estimator"]: r for r in json.loads(out)["rows"]}
    for row in documented:
        estimator, value, boot, anytime, ess, top = row[2:8]
        got = printed[estimator.lower()]
        low, high = re.split(r" – ", boot)
        figures = [(value, got["value"]), (low, got["low"]), (high, got["high"]),
                   (ess, got["ess"]), (top, got["max_weight"])]
        if anytime == "–":
            figures.append((anytime, got["anytime_low"]))
        else:
            a_low, a_high = re.split(r" – ", anytime)
            figures += [(a_low, got["anytime_low"]), (a_high, got["anytime_high"])]
        for text, number in figures:
            assert _shown(text, number), (estimator, text, number)


def test_evaluate_jobs_do_not_change_the_result(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """``--jobs 2`` gives the same numbers as one thread in process for the same seed
    (10,000 rounds × 200 replicates: the threaded path), and the bootstrap's progress goes
    to stderr."""
    from banditbot.offline import evaluate, load_obd

    out = bb("evaluate", "obd:random", "-p", "uniform", "-p", "behavior:obd:bts", "-e",
             "ips", "-e", "snips", "--train-share", "0", "--n-bootstrap", "200",
             "--seed", "3", "--jobs", "2", "--json", "--obd-root", str(OBD), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "400 bootstrap replicates" in out.stderr
    rows = {(r["policy"], r["estimator"]): r for r in json.loads(out.stdout)["rows"]}
    one = evaluate(load_obd("random", root=OBD), ["uniform"],
                   behavior={"obd:bts": load_obd("bts", root=OBD)}, estimators=("ips", "snips"),
                   train_share=0.0, n_bootstrap=200, seed=3, n_jobs=1)
    assert len(rows) == len(one) == 4
    for r in one:
        cli = rows[(r.policy, r.estimate.estimator)]
        assert (cli["value"], cli["low"], cli["high"]) == pytest.approx(
            (r.estimate.value, r.estimate.low, r.estimate.high), rel=1e-12)
        assert cli["low"] <= cli["value"] <= cli["high"]
    code, _, err = run(["evaluate", "obd:random", "--jobs", "0", "--obd-root", str(OBD)],
                       capsys)
    assert code == 2 and "--jobs" in err


def test_the_logged_baseline_is_on_the_evaluated_rounds(
        capsys: pytest.CaptureFixture[str]) -> None:
    """With --train-share 0.5 the estimates are about the last half of the log: the logged
    policy's mean reward beside them (the chart's dotted line, the JSON, the title) is the
    last half's too (it was the whole log's, another baseline: on the BTS sample 0.0042
    against the last half's 0.0034)."""
    from banditbot.offline import load_obd

    code, out, err = run(["evaluate", "obd:bts", "-p", "uniform", "-e", "ips",
                          "--n-bootstrap", "20", "--json", "--obd-root", str(OBD)], capsys)
    assert code == 0, err
    said = json.loads(out)
    reward = load_obd("bts", root=OBD).reward
    assert said["train_rounds"] == 5000
    assert said["logged_mean_reward"] == pytest.approx(float(reward[5000:].mean()), rel=1e-12)
    assert said["logged_mean_reward_all_rounds"] == pytest.approx(float(reward.mean()),
                                                                  rel=1e-12)
    assert said["logged_mean_reward"] != said["logged_mean_reward_all_rounds"]


def test_a_truncated_log_is_one_line_and_exit_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A log cut short in its last row was evaluated as if whole; now `evaluate` refuses it
    in one line, naming the row."""
    log = tmp_path / "cut.csv"
    log.write_text("variant,clicked,prob\nv0,1,0.5\nv1,0,0.5\nv0,1")
    code, out, err = run(["evaluate", str(log), "--action-col", "variant", "--reward-col",
                          "clicked", "--pscore-col", "prob", "--n-bootstrap", "10"], capsys)
    assert code == 2 and not out, (out, err)
    assert err.strip().count("\n") == 0 and "row 3 is short" in err and "truncated" in err


def test_behavior_of_a_banditbot_log_on_a_foreign_log_reads_its_times(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``evaluate minimal.csv -p behavior:g.csv`` on a CSV of another tool with a
    ``created_at`` column failed after "evaluate: started" with "reconstructing a logging
    policy needs timestamps in both logs" (only a library ColumnMap read the column). Now
    ``created_at`` is read when present, ``--timestamp-col`` names another column, and a log
    without times is refused before anything starts, naming the option."""
    monkeypatch.setenv("COLUMNS", "200")
    _exported_log(tmp_path / "g.csv", arms=("a", "b", "c"), epsilon=0.3, decisions=400,
                  seconds=60, rate=0.3)
    with (tmp_path / "g.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    columns = {"created_at": "created_at", "ts": "ts", "none": None}
    for name, column in columns.items():  # another tool's log of the same traffic
        with (tmp_path / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["arm", "reward", "propensity", *([column] if column else [])])
            for r in rows:
                out.writerow([r["arm"], r["reward"], r["propensity"],
                              *([r["created_at"]] if column else [])])
    evaluate = ["evaluate", "-e", "ips", "--n-bootstrap", "20", "--train-share", "0"]
    of_g = ["-p", f"behavior:{tmp_path / 'g.csv'}"]
    code, out, err = run([*evaluate, *of_g, str(tmp_path / "created_at.csv")], capsys)
    assert code == 0, err
    assert f"logging policy of {tmp_path / 'g.csv'}" in out
    # the column options name the columns of both logs (as --action-col does)
    text = (tmp_path / "g.csv").read_text(encoding="utf-8")
    (tmp_path / "g_ts.csv").write_text(text.replace(",created_at,", ",ts,", 1),
                                       encoding="utf-8")
    code, out, err = run([*evaluate, str(tmp_path / "ts.csv"), "--timestamp-col", "ts",
                          "-p", f"behavior:{tmp_path / 'g_ts.csv'}"], capsys)
    assert code == 0, err
    assert f"logging policy of {tmp_path / 'g_ts.csv'}" in out
    for name in ("ts", "none"):  # no time read: refused before it starts, naming the option
        code, out, err = run([*evaluate, *of_g, str(tmp_path / f"{name}.csv")], capsys)
        assert code == 2 and "no time on its rounds" in err and "--timestamp-col" in err
        assert "started" not in out + err
    (tmp_path / "bad.csv").write_text("arm,reward,propensity,ts\na,1,0.5,yesterday\n")
    code, out, err = run([*evaluate, str(tmp_path / "bad.csv"), "--timestamp-col", "ts"],
                         capsys)  # (no behavior: a time named is read, and checked)
    assert code == 2 and "row 1: time 'yesterday' in column 'ts' is not a time" in err


def test_learn_prints_what_it_imports_at_its_weight(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`learn --weight 0.2` printed each arm's effective sample size as "imported" (34.9)
    while it imported a fifth of it (7.0, what the report then counted): the column is what
    the report will count."""
    from .test_offline_order_and_import import _source_log

    monkeypatch.setenv("COLUMNS", "200")
    log, _ = _source_log(tmp_path, capsys)
    fresh = ["--store", f"sqlite:///{tmp_path / 'fresh.db'}", "--config", str(EXAMPLES)]
    code, out, err = run(["learn", str(log), "--experiment", "random", "--weight", "0.2",
                          *fresh], capsys)
    assert code == 0, err
    printed = {m.group(1): float(m.group(2)) for m in re.finditer(
        r"^(arm\d)\s+\d+\s+[\d.]+\s+([\d.]+)\s", out, re.MULTILINE)}
    code, out, _ = run(["report", "random", "--json", *fresh], capsys)
    answered = {a["arm"]: a["answered"] for a in json.loads(out)["arms"]}
    assert set(printed) == {"arm1", "arm2"}
    for arm, imported in printed.items():
        assert imported == pytest.approx(answered[arm], abs=0.05), (arm, out)


def test_the_evaluate_title_says_which_rounds_and_why_rows_were_left_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The title said "logged mean reward 0.44243 on those", read as the mean of all
    rounds, and "569 of 3,000 rows left out: unanswered, or not the policy's choice"
    without how many of each. Now it names the evaluated rounds before the number and
    counts each reason."""
    monkeypatch.setenv("COLUMNS", "300")
    # every tenth unanswered: 20
    _exported_log(tmp_path / "g.csv", arms=("a", "b"), epsilon=0.5, decisions=200,
                  seconds=1, rate=0.4, unanswered=10)
    with (tmp_path / "g.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows[1:4]:  # answered rows another way than by the policy
        r["kind"] = "sticky"
    with (tmp_path / "g.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out, err = run(["evaluate", str(tmp_path / "g.csv"), "-p", "uniform", "-e", "ips",
                          "--n-bootstrap", "10"], capsys)
    assert code == 0, err
    title = " ".join(out.split("┏")[0].split())
    assert "(23 of 200 rows left out: 20 unanswered; 3 not the policy's choice (3 sticky))" \
        in title, title
    kept = [float(r["reward"]) for r in rows if r["reward"] and r["kind"] == "policy"]
    assert len(kept) == 177
    import numpy as np

    assert f"logged mean reward on the 89 evaluated rounds {np.mean(kept[88:]):.5g}" in title, \
        title


def test_a_policy_misspelt_or_copied_from_the_table_is_understood(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``-p thomson`` listed every policy but did not say which was meant; ``-p
    "thompson(alpha=1, beta=1, optimistic=True)"``, copied from the table's policy column,
    was an unknown policy. Now the first suggests ``thompson`` and names the NAME:k=v form,
    and the table's form is read as that form."""
    monkeypatch.setenv("COLUMNS", "300")
    log = tmp_path / "log.csv"
    log.write_text("arm,reward,propensity\n" + "".join(
        f"{'ab'[i % 2]},{i % 3 % 2},0.5\n" for i in range(60)), encoding="utf-8")
    evaluate = ["evaluate", str(log), "-e", "ips", "--n-bootstrap", "10", "--train-share",
                "0"]
    code, out, err = run([*evaluate, "-p", "thomson"], capsys)
    assert code == 2 and "unknown policy 'thomson' (did you mean thompson? use one of" in err
    assert "parameters as NAME:key=value,key=value" in err
    copied = "thompson(alpha=2, beta=1, optimistic=False)"
    code, out, err = run([*evaluate, "-p", copied], capsys)
    assert code == 0, err
    assert f"│ {copied} │ ips" in out


def test_loading_the_open_bandit_dataset_is_said_as_it_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``evaluate obd:bts …`` printed nothing for about 6 s while it loaded, then
    "evaluate: started": a line says the loading as it starts (read here from inside the
    loading); a small file is read without one."""
    import banditbot.offline as offline

    said_before: list[str] = []
    real = offline.load_obd

    def load_obd(*args: object, **kwargs: object) -> object:
        said_before.append(capsys.readouterr().err)
        return real(*args, **kwargs)

    monkeypatch.setattr(offline, "load_obd", load_obd)
    code, out, err = run(["evaluate", "obd:bts", "-p", "uniform", "-e", "ips",
                          "--n-bootstrap", "10", "--obd-root", str(OBD)], capsys)
    assert code == 0, err
    assert said_before == ["evaluate: loading obd:bts …\n"], said_before
    assert err.startswith("evaluate: started")
    log = tmp_path / "log.csv"
    log.write_text("arm,reward,propensity\na,1,0.5\nb,0,0.5\n", encoding="utf-8")
    code, out, err = run(["evaluate", str(log), "-p", "uniform", "-e", "ips",
                          "--n-bootstrap", "10", "--train-share", "0"], capsys)
    assert code == 0 and "loading" not in err and "uniform" in out, err


def _exported_log(path: Path, *, arms: tuple[str, ...], epsilon: float, decisions: int,
                  seconds: float, rate: float, unanswered: int = 0) -> None:
    """An export at ``path`` of experiment ``g`` under ε-greedy (seeded), a decision every
    ``seconds`` on a fake clock, each answered 1 with chance ``rate`` but every
    ``unanswered``-th one (0: all answered)."""
    import numpy as np

    from banditbot import BanditService, MemoryStore, parse_config
    from banditbot.offline import export_decisions

    from ..conftest import FakeClock

    clock = FakeClock()
    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": a, "content": a} for a in arms],
        "policy": {"name": "epsilon-greedy", "epsilon": epsilon}}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(2), clock=clock)
    rng = np.random.default_rng(3)
    for i in range(decisions):
        clock.advance(seconds)
        d = svc.decide("g", f"u{i}")
        if not unanswered or i % unanswered:
            svc.reward(d.id, float(rng.random() < rate), f"u{i}")
    export_decisions(svc.decisions("g"), path)
