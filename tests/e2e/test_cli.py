"""The CLI as a user runs it: real processes for the main job, in-process for the rest."""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import EXAMPLES, run_cli

run = run_cli


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    """A store that exists (read commands never create one)."""
    from banditbot import SQLiteStore

    store = SQLiteStore(tmp_path / "cli.db")
    store.init()
    store.close()
    return ["--config", str(EXAMPLES), "--store", f"sqlite:///{tmp_path / 'cli.db'}"]


@pytest.mark.slow
def test_demo_runs_to_its_charts_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # 80 columns: a pipe's
    proc = subprocess.run(
        [sys.executable, "-m", "banditbot", "demo", "--steps", "400",
         "--rate", "greeting.hey=0.8",
         "--out", str(tmp_path), "--store", f"sqlite:///{tmp_path / 'demo.db'}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    # every table says what its interval is, in full (a caption was cut at 80 columns)
    for kind in ("confidence interval (Wilson)", "credible interval (Beta posterior)"):
        assert f"mean and interval: 95% {kind}" in proc.stdout
    for exp in ("random", "greeting", "tip"):
        png = tmp_path / f"banditbot-demo-{exp}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(png) in proc.stdout.replace("\n", "")
    assert "database:" in proc.stdout and (tmp_path / "demo.db").exists()
    # the demo's store holds what the table showed
    from banditbot import build_service

    svc = build_service(EXAMPLES, f"sqlite:///{tmp_path / 'demo.db'}")
    rep = svc.report("greeting")
    assert rep.total_pulls == 400
    # 'hey' at 0.8 against <= 0.35 elsewhere: found within 400 visits (fixed seed)
    assert rep.leader is not None and rep.leader.arm == "hey"
    assert next(a for a in rep.arms if a.arm == "hey").pulls > 200
    assert "winner: hey" in proc.stdout or "hey leads" in proc.stdout  # said, not just drawn


def test_demo_default_needs_no_config_or_token(tmp_path: Path) -> None:
    """From an empty folder: packaged experiments, default demo database."""
    proc = subprocess.run([sys.executable, "-m", "banditbot", "demo", "--steps", "50",
                           "--no-live"], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "banditbot-demo.db").exists()
    assert (tmp_path / "banditbot-demo-random.png").exists()
    # piped: no live table, so the progress goes to stderr (not silence until the end)
    assert proc.stderr.startswith("demo: started, 50 visits per experiment")
    assert "demo: done, 50 visits per experiment in" in proc.stderr


def test_decide_reward_report_export_round_trip(db: list[str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["decide", "random", "--subject", "alice", *db], capsys)
    assert code == 0
    decision = json.loads(out)
    assert decision["arm"] in ("arm1", "arm2") and 0 < decision["propensity"] <= 1
    code, out, err = run(["reward", decision["decision_id"], "1", "--subject", "alice", *db],
                         capsys)
    assert code == 0 and out.startswith("applied"), (code, out, err)
    code, out, _ = run(["reward", decision["decision_id"], "1", "--subject", "alice", *db],
                       capsys)
    assert code == 1 and out.startswith("duplicate")  # nothing changed: a script can tell
    code, out, err = run(["reward", decision["decision_id"], "1", "--subject", "eve", *db],
                         capsys)
    assert code == 2 and out == ""
    assert err.strip() == "error: the decision belongs to another subject"
    code, out, err = run(["reward", "A" * 22, "1", *db], capsys)
    assert code == 2 and err.strip() == f"error: no decision has that id ({'A' * 22})"
    # a negative number is read as the value it is (it was taken for an unknown option)
    code, _, err = run(["reward", decision["decision_id"], "-2", *db], capsys)
    assert code == 2 and err.strip() == "error: reward '-2' is not allowed (a " \
        "binary reward is 1 (👍) or 0 (👎))"
    code, _, err = run(["prior", "random", "arm1", "-1", "2", *db], capsys)
    assert code == 2 and err.strip().startswith("error: prior (-1, 2) is not valid (alpha and "
                                                "beta are pseudo-counts")
    png = tmp_path / "r.png"
    code, out, _ = run(["report", "random", "--png", str(png), *db], capsys)
    assert code == 0 and "P(best)" in out and png.stat().st_size > 1000
    code, out, _ = run(["report", "random", "--json", *db], capsys)
    assert json.loads(out)["total_answered"] == 1
    csv_path = tmp_path / "log.csv"
    code, out, _ = run(["export", "random", "--out", str(csv_path), *db], capsys)
    assert code == 0
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 1 and rows[0]["decision_id"] == decision["decision_id"]
    assert float(rows[0]["reward"]) == 1.0 and rows[0]["subject"] != "alice"  # pseudonymized
    parquet = tmp_path / "log.parquet"
    code, _, _ = run(["export", "random", "--out", str(parquet), *db], capsys)
    import pyarrow.parquet as pq

    assert pq.read_table(parquet).num_rows == 1
    # a format that contradicts the file's name is refused before anything is written
    wrong = tmp_path / "log2.csv"
    code, out, err = run(["export", "random", "--out", str(wrong), "--format", "parquet",
                          *db], capsys)
    assert code == 2 and "log2.parquet" in out + err and not wrong.exists()
    # "-" is stdout (the data there, the count on stderr); .csv.gz is compressed CSV
    code, out, err = run(["export", "random", "--out", "-", *db], capsys)
    assert code == 0 and out == csv_path.read_bytes().decode() and "written to stdout" in err
    assert not (tmp_path / "-").exists()
    gz = tmp_path / "log.csv.gz"
    code, _, _ = run(["export", "random", "--out", str(gz), *db], capsys)
    import gzip

    assert code == 0 and gzip.decompress(gz.read_bytes()) == csv_path.read_bytes()
    code, _, err = run(["export", "random", "--out", "-", "--format", "parquet", *db], capsys)
    assert code == 2 and "give a file name for Parquet" in err


def test_report_of_one_chats_bandit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "chats.yaml"
    cfg.write_text("experiments:\n  - id: welcome\n    scope: chat\n    policy: thompson\n"
                   "    arms: [{id: hi, content: Hi}, {id: yo, content: Yo}]\n"
                   "  - id: other\n    arms: [{id: a, content: A}]\n")
    db = ["--config", str(cfg), "--store", f"sqlite:///{tmp_path / 'chats.db'}"]
    for chat in ("100", "100", "200"):
        code, _, _ = run(["decide", "welcome", "--subject", "u", "--chat", chat, *db], capsys)
        assert code == 0
    code, out, _ = run(["report", "welcome", "--scope", "chat:100", "--json", *db], capsys)
    assert code == 0 and json.loads(out)["total_pulls"] == 2
    png = tmp_path / "chat.png"
    code, out, _ = run(["report", "welcome", "--scope", "chat:200", "--png", str(png), *db],
                       capsys)
    assert code == 0 and "welcome · chat 200" in out and png.stat().st_size > 1000
    code, out, _ = run(["report", "welcome", "--scope", "chat:999", *db], capsys)
    assert code == 0 and "no decisions for chat 999 in this generation" in out
    code, out, err = run(["report", "welcome", "--scope", "subject:u", *db], capsys)
    assert code == 2 and "use chat:ID" in out + err
    code, out, err = run(["decide", "welcome", "--subject", "u", *db], capsys)
    assert code == 2 and "--chat" in err  # not a bandit made up from the subject's id
    code, out, err = run(["report", "--scope", "chat:100", *db], capsys)
    assert code == 2 and "needs one experiment" in out + err


def test_admin_commands(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["cheat", "random", "arm1", "1101", *db], capsys)[0] == 0
    assert run(["prior", "random", "arm2", "3", "1", *db], capsys)[0] == 0
    code, out, _ = run(["policy", "random", "thompson", "alpha=2", *db], capsys)
    assert code == 0 and "thompson(alpha=2" in out
    assert run(["arms", "add", "random", "arm3", "Arm *3*", *db], capsys)[0] == 0
    assert run(["arms", "retire", "random", "arm1", *db], capsys)[0] == 0
    code, _, err = run(["arms", "retire", "random", "arm1", *db], capsys)
    assert code == 2 and "retired already" in err and "adding it again brings it back" in err
    code, out, _ = run(["arms", "list", "random", *db], capsys)
    assert "arm1" in out and "retired" in out and "arm3" in out
    code, out, _ = run(["report", "random", "--json", *db], capsys)
    rep = json.loads(out)
    arms = {a["arm"]: a for a in rep["arms"]}
    assert arms["arm1"]["answered"] == 4 and arms["arm1"]["reward_sum"] == 3
    assert arms["arm2"]["prior"] == [3.0, 1.0]
    assert run(["reset", "random", "--yes", *db], capsys)[0] == 0
    code, out, _ = run(["report", "random", "--json", *db], capsys)
    assert json.loads(out)["total_answered"] == 0
    # a trial: an arm retired before the reset (no results in this generation, so not in
    # the report) had gone from the list too, though it is still the experiment's
    code, out, _ = run(["arms", "list", "random", *db], capsys)
    assert code == 0 and re.search(r"^arm1\s+retired", out, re.M), out
    code, out, err = run(["report", "random", *db], capsys)
    assert "generation 1: counted since a reset" in out
    code, out, err = run(["settle", "random", *db], capsys)  # explicit: nothing to settle
    assert code == 2 and "reward_mode: explicit" in err and "implicit" in err
    code, out, err = run(["export", "random", "--out", "-", *db], capsys)
    assert code == 0 and "--all-generations" in err  # the cheated rows are before the reset
    code, out, err = run(["export", "random", "--out", "-", "--all-generations", *db],
                         capsys)
    assert code == 0 and out.count("\n") >= 5 and "--all-generations" not in err
    # the rows added by hand are counted as what they are (a trial read "29 decisions
    # written" where 9 were hand-added rewards): the 1101 added to arm1
    assert "4 rows (4 rewards added by hand) written to stdout" in err, err


def test_arms_list_shows_each_arm_on_one_row(db: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A trial's arm of several lines ran over several rows of `arms list` (the bot's /arm
    list shows it on one line): each arm is one row, its content on one line, whole (a
    terminal has the room the bot's list cuts at 60 characters)."""
    assert run(["arms", "add", "random", "arm3", "Line one\nline two", *db], capsys)[0] == 0
    assert run(["arms", "add", "random", "arm4", "long " * 30, *db], capsys)[0] == 0
    code, out, _ = run(["arms", "list", "random", *db], capsys)
    assert code == 0
    rows = out.splitlines()
    assert len(rows) == 4, out
    assert re.fullmatch(r"arm3\s+active\s+Line one line two", rows[2]), rows
    assert rows[3].endswith("  " + ("long " * 30).strip()), rows
    # an id past 16 characters (a trial's long_friendly_greeting_variant_1): the states
    # stay in one column
    long_id = "long_friendly_greeting_variant_1"
    assert run(["arms", "add", "random", long_id, "Hi there", *db], capsys)[0] == 0
    rows = run(["arms", "list", "random", *db], capsys)[1].splitlines()
    assert len({row.index("active") for row in rows}) == 1, rows


@pytest.mark.parametrize("argv", [
    ["decide", "nope"],
    ["cheat", "random", "arm9", "1"],
    ["cheat", "random", "arm1", "12"],
    ["reward", "x", "1"],
    ["policy", "random", "epsilon-greedy", "epsilon=3"],
    ["prior", "random", "arm1", "-1", "2"],
    ["decide", "random", "--context", "{oops"],
])
def test_bad_input_is_one_line_exit_2_nothing_written(argv: list[str], db: list[str],
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    before = run(["report", "random", "--json", *db], capsys)[1]
    code, out, err = run([*argv, *db], capsys)
    assert code == 2
    message = (err or out).strip()
    assert len(message.splitlines()) == 1 and message
    after = run(["report", "random", "--json", *db], capsys)[1]
    assert json.loads(after)["arms"] == json.loads(before)["arms"]


def test_an_unknown_experiment_names_the_experiments_file(db: list[str],
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """A report on an experiment the file does not list (it may well be in the store) says
    which file the command read and how to read another."""
    code, _, err = run(["report", "offer", *db], capsys)
    assert code == 2 and "unknown experiment 'offer'" in err
    assert str(EXAMPLES) in err and "--config" in err


def test_a_read_without_a_database_points_to_the_demos(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """After the demo, a command without --store finds no banditbot.db: the error points
    to the demo's own database beside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BANDITBOT_STORE", raising=False)
    code, _, err = run(["report", "greeting"], capsys)
    assert code == 2 and "no banditbot database at banditbot.db" in err
    assert "demo" not in err
    (tmp_path / "banditbot-demo.db").write_bytes(b"")
    code, _, err = run(["report", "greeting"], capsys)
    assert code == 2 and "--store sqlite:///banditbot-demo.db" in err
    # a reset there reset a new, empty banditbot.db it made ("greeting reset (generation
    # 1)"), the demo's database untouched
    code, out, err = run(["reset", "greeting", "-y"], capsys)
    assert code == 2 and "--store sqlite:///banditbot-demo.db" in err and out == ""
    assert not (tmp_path / "banditbot.db").exists()
    # so did every admin command: "greeting now uses ucb1(c=1)" of a new, empty database
    for command in (["policy", "greeting", "ucb1"], ["arms", "retire", "greeting", "hey"],
                    ["prior", "greeting", "hey", "2", "2"], ["cheat", "greeting", "hey", "1"]):
        code, out, err = run(command, capsys)
        assert code == 2 and out == "" and "--store sqlite:///banditbot-demo.db" in err, \
            command
        assert "to start a new one here, pass --store sqlite:///banditbot.db" in err
    assert not (tmp_path / "banditbot.db").exists()
    # the README's next steps (an API key, then serve) start their own database here
    code, out, err = run(["keys", "create", "--name", "web", "--role", "decide"], capsys)
    assert code == 0 and out.strip(), err
    code, out, err = run(["policy", "greeting", "ucb1", "--store", "sqlite:///banditbot.db"],
                         capsys)  # a change there, asked for
    assert code == 0 and "now uses ucb1" in out, err


def test_a_database_that_cannot_be_read_now_is_not_called_foreign(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A banditbot database another process holds locked (or one on a read-only disk) was
    reported as "not a banditbot database"; a file that is not SQLite still is."""
    import sqlite3

    from banditbot import SQLiteStore

    path = tmp_path / "b.db"
    store = SQLiteStore(path)
    store.init()
    store.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")  # a rollback journal: readers wait
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = run(["report", "random", "--store", f"sqlite:///{path}"], capsys)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2 and f"cannot read SQLite database {path}: database is locked" in err
    assert "not a banditbot database" not in err
    other = tmp_path / "notes.db"
    other.write_text("a text file")
    code, _, err = run(["report", "random", "--store", f"sqlite:///{other}"], capsys)
    assert code == 2 and "is not a banditbot database" in err


def test_broken_yaml_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments: [\n")
    code, _, err = run(["experiments", "--config", str(bad)], capsys)
    assert code == 2 and "broken YAML" in err
    # a key given twice: PyYAML keeps the last one silently (a second policy: would replace
    # the first unseen); refused, naming both lines. Merge keys (<<) still merge.
    twice = tmp_path / "twice.yaml"
    twice.write_text("experiments:\n  - id: g\n"
                     "    arms: [{id: a, content: A}, {<<: {content: B}, id: b}]\n"
                     "    policy: thompson\n    policy: ucb1\n")
    code, _, err = run(["experiments", "--config", str(twice)], capsys)
    assert code == 2 and "the key 'policy' is given twice (first at line 4)" in err
    assert "line 5" in err and "keep one of them" in err
    twice.write_text(twice.read_text().replace("    policy: ucb1\n", ""))
    code, _, err = run(["experiments", "--config", str(twice)], capsys)
    assert code == 0, err
    # on one line too (a review found `{id: a, id: b}` kept b: only lines were compared)
    inline = tmp_path / "inline.yaml"
    inline.write_text("experiments:\n  - {id: g, id: h, arms: [{id: a, content: A}]}\n")
    code, _, err = run(["experiments", "--config", str(inline)], capsys)
    assert code == 2 and "the key 'id' is given twice (first at line 2)" in err


def test_an_experiments_file_in_json_is_the_same_document(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An experiments file may be JSON (YAML's subset; read without importing PyYAML, which
    a Lambda's cold start then does not pay): the packaged examples as JSON list the same
    experiments; broken JSON and a key given twice are refused, with where and what."""
    import json

    import yaml

    from banditbot import load_config

    as_json = tmp_path / "experiments.json"
    document = json.dumps(yaml.safe_load(EXAMPLES.read_text(encoding="utf-8")))
    as_json.write_text(document)
    assert load_config(as_json) == load_config(EXAMPLES)
    as_json.write_text("\ufeff" + document, encoding="utf-8")  # (as some editors save it)
    assert load_config(as_json) == load_config(EXAMPLES)
    code, out, err = run(["experiments", "--config", str(as_json)], capsys)
    assert code == 0 and "/random" in out and "valid" in out, err
    as_json.write_text('{"experiments": [\n  {"id": "g",}\n]}')
    code, _, err = run(["experiments", "--config", str(as_json)], capsys)
    assert code == 2 and "broken JSON at line 2, column 14: Expecting property name" in err
    as_json.write_text('{"experiments": [{"id": "g", "arms": [{"id": "a", "content": "A"}], '
                       '"policy": "thompson", "policy": "ucb1"}]}')
    code, _, err = run(["experiments", "--config", str(as_json)], capsys)
    assert code == 2 and "the key 'policy' is given twice" in err and "keep one of them" in err


def test_experiments_lists_and_validates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["experiments", "--config", str(EXAMPLES)], capsys)
    assert code == 0 and "/random" in out and "valid" in out


def test_help_lists_the_commands() -> None:
    proc = subprocess.run([sys.executable, "-m", "banditbot", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("demo", "decide", "reward", "report", "export", "cheat", "prior", "reset",
                    "policy", "arms"):
        assert command in proc.stdout


def test_a_line_of_text_stays_one_line_in_a_pipe(db: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Output read by a script or written to a log: rich wrapped lines at 80 columns when
    no terminal told it the width ("…averaging 0.75 on\\n0–1")."""
    code, out, _ = run(["prior", "random", "arm1", "3000", "1000", *db], capsys)
    assert code == 0
    (line,) = out.splitlines()
    assert len(line) > 80 and line.endswith("does not move)")
    assert "4000 pseudo-answers averaging 0.75 on 0–1" in line


def test_an_unreachable_postgres_is_one_line() -> None:
    """Nothing listens on port 1: the command's one-line error, not two lines of the
    connection pool's per attempt before it (a real process: pytest's own log handlers
    would hide them in process); one line before it says how long it waits."""
    store = "postgresql://u:p@127.0.0.1:1/db?retry_seconds=2"
    proc = subprocess.run([sys.executable, "-m", "banditbot", "report", "random", "--config",
                           str(EXAMPLES), "--store", store], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    # the wait said as it begins (a mistyped port waited 15 s in silence), then the error
    waiting, line = proc.stderr.strip().splitlines()
    assert waiting == ("PostgreSQL at 127.0.0.1:1 does not answer (Connection refused); each "
                       "call waits up to 2 s for it (retry_seconds in the store URL)")
    assert line.startswith("error: PostgreSQL") and "p@" not in line  # and no password
    # a read says it was reading, and does not speak of writes
    assert "half-written" not in line and "read_meta" not in line


def test_serve_refuses_a_port_it_cannot_have(tmp_path: Path) -> None:
    """A port out of range is refused (uvicorn took 99999 as 99999 - 65536 and logged
    99999); a port another process holds is one line with the fix, not uvicorn's JSON log
    and exit 3. Real processes with a timeout: a server that started anyway fails the test
    instead of hanging it."""
    store = ["--store", f"sqlite:///{tmp_path / 's.db'}"]

    def serve(port: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "banditbot", "serve", "--port", str(port),
                               *store], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)

    out = serve(99999)
    assert out.returncode == 2 and "65535" in out.stderr
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = serve(port)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"error: port {port} on 127.0.0.1 is already in use (stop "
                                  "the other server, or pass --port with another port)")


@pytest.mark.parametrize("argv", [
    ["demo", "--seed", "-1", "--steps", "5", "--no-live", "--store", "memory://"],
    ["evaluate", "log.csv", "--seed", "-1"],
    ["simulate", "--seed", "-1"],
])
def test_a_negative_seed_is_refused_up_front(argv: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """numpy refuses a negative seed deep inside a run (a traceback after "started");
    the option says so before anything runs."""
    code, out, err = run(argv, capsys)
    assert code == 2 and "--seed" in err and "Traceback" not in out + err


@pytest.mark.parametrize(("argv", "said"), [
    (["evaluate", "log.csv", "-e", "nosuch"], "unknown estimator 'nosuch'"),
    (["evaluate", "obd:foo"], "unknown Open Bandit Dataset sample 'foo' (obd:random or "
                              "obd:bts)"),
    (["evaluate", "demo.db"], "demo.db: a database, not a log file (read a store's log with "
                              "store:EXPERIMENT --store sqlite:///demo.db"),
    # a PNG named x.txt was written
    (["evaluate", "log.csv", "--png", "x.txt"], "--png x.txt: the chart is a PNG file, named "
                                                ".png (e.g. --png x.png)"),
    # the names --policy takes beside the policies' were missing from the list
    (["evaluate", "log.csv", "--policy", "nope"], "ucb1-tuned, uniform, or behavior:LOG"),
])
def test_evaluate_says_what_is_wrong_before_it_starts(
        argv: list[str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown estimator was refused after "evaluate: started"; obd:foo read as a file
    missing under the dataset's folder; a database given as the log was an "unknown log
    format '.db'"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo.db").write_bytes(b"")
    (tmp_path / "log.csv").write_text("arm,reward,propensity\na,1,0.5\n")
    code, out, err = run(argv, capsys)
    assert code == 2 and said in err and "started" not in out + err


def test_report_refuses_a_chart_not_named_png(db: list[str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`report EXP --png x.txt` wrote a PNG named x.txt (which opens as nothing); it is
    refused as evaluate's is, in the same words, before the store is read."""
    chart = tmp_path / "x.txt"
    code, out, err = run(["report", "random", "--png", str(chart), *db], capsys)
    assert code == 2 and out == ""
    assert f"--png {chart}: the chart is a PNG file, named .png (e.g. --png x.png)" in err
    assert not chart.exists()
    code, _, err = run(["report", "random", "--png", str(tmp_path / "X.PNG"), *db], capsys)
    assert code == 0 and (tmp_path / "X.PNG").stat().st_size > 1000  # any case of .png


def test_decide_says_what_a_context_gave_the_features_that_they_cannot_use(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`decide --context` on a contextual experiment printed the decision alone, where the
    HTTP API answers what the features could not use: the same warnings, in the JSON."""
    cfg = tmp_path / "exps.yaml"
    cfg.write_text("experiments:\n- id: tone\n  policy: linucb\n"
                   "  arms: [{id: a, content: A}, {id: b, content: B}]\n"
                   "  features: [{name: rate, center: 0.5}, "
                   "{name: lang, type: categorical, values: [en, de]}]\n")
    opts = ["--config", str(cfg), "--store", f"sqlite:///{tmp_path / 'c.db'}"]
    code, out, _ = run(["decide", "tone", "--context", '{"rate": 1e12, "Lang": "de"}',
                        *opts], capsys)
    assert code == 0
    said = " | ".join(json.loads(out)["warnings"])
    assert "no 'lang' in the context" in said and "not features of this experiment" in said
    assert "rate=1000000000000.0 is 1e+12 scales from its center 0.5" in said
    code, out, _ = run(["decide", "tone", "--context", '{"rate": 0.4, "lang": "en"}', *opts],
                       capsys)
    assert code == 0 and "warnings" not in json.loads(out)
def test_export_says_an_unknown_format_is_unknown(db: list[str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``--format parqet`` was told it contradicts the file's suffix (``--format parqet but
    y.csv says csv (name the file y.parqet …)``), not that it is no format."""
    code, _, err = run(["export", "random", "--out", str(tmp_path / "y.csv"), "--format",
                        "parqet", *db], capsys)
    assert code == 2 and "unknown --format 'parqet'" in err and "csv or parquet" in err
    assert "says csv" not in err and not (tmp_path / "y.csv").exists()


def test_export_replaces_an_existing_file_only_with_force(
        db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An export replaced another experiment's log in silence."""
    keep = tmp_path / "keep.csv"
    keep.write_text("another experiment's log\n")
    code, out, err = run(["export", "random", "--out", str(keep), *db], capsys)
    assert code == 2 and str(keep) in err and "--force" in err
    assert keep.read_text() == "another experiment's log\n"
    code, out, err = run(["export", "random", "--out", str(keep), "--force", *db], capsys)
    assert code == 0 and keep.read_text().startswith("decision_id,")
    code, out, _ = run(["export", "--help"], capsys)
    assert "--force" in out and "exists" in out


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_failed_write_names_the_users_path(db: list[str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A folder that takes no new file was named by the export's hidden part file
    (``error: No such file or directory: /proc/.x.csv.mp115j12``)."""
    code, _, err = run(["export", "random", "--out", "/proc/x.csv", *db], capsys)
    assert code == 2 and err.strip().endswith(": /proc/x.csv") and ".x.csv." not in err


def test_the_audit_log_lists_who_did_what_newest_first(db: list[str],
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """The admin actions were recorded with their actor, but no command showed them."""
    assert run(["audit", *db], capsys)[1].startswith("no admin actions in the audit log")
    assert run(["cheat", "random", "arm1", "11", *db], capsys)[0] == 0
    assert run(["prior", "random", "arm2", "3", "1", *db], capsys)[0] == 0
    assert run(["reset", "random", "-y", *db], capsys)[0] == 0
    code, out, _ = run(["audit", "random", "--json", *db], capsys)
    assert code == 0
    assert [(e["actor"], e["action"], e["details"]) for e in json.loads(out)] == [
        ("cli", "reset", "generation=1 keep_priors=True"),
        ("cli", "prior", "arm=arm2 alpha=3 beta=1"), ("cli", "cheat", "arm=arm1 rewards=11")]
    code, out, _ = run(["audit", "--action", "prior", *db], capsys)
    assert code == 0 and "arm=arm2 alpha=3 beta=1" in out and "cheat" not in out
    code, _, err = run(["audit", "--action", "resett", *db], capsys)
    assert code == 2 and "the actions are cheat, import, prior, reset" in err
    code, _, err = run(["audit", "randon", *db], capsys)  # a typo: refused, known ones named
    assert code == 2 and "randon" in err and "random" in err


def test_the_audit_log_shows_the_configured_time_zone_like_the_reports(
        db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`banditbot audit` had a "time (UTC)" column while reports showed the experiments
    file's ``time_zone`` for the same events: the column is that zone's (and names it);
    ``--json`` stays UTC, as the HTTP API gives it."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from banditbot import SQLiteStore

    berlin = tmp_path / "berlin.yaml"
    berlin.write_text(EXAMPLES.read_text(encoding="utf-8").replace(
        "time_zone: UTC ", "time_zone: Europe/Berlin ", 1), encoding="utf-8")
    assert "Europe/Berlin" in berlin.read_text(encoding="utf-8")
    zoned = ["--config", str(berlin), *db[2:]]
    assert run(["cheat", "random", "arm1", "11", *zoned], capsys)[0] == 0
    store = SQLiteStore(db[-1].removeprefix("sqlite:///"))
    (record,) = store.admin_log("random")
    store.close()
    code, out, _ = run(["audit", *zoned], capsys)
    assert code == 0
    (row,) = [line for line in out.splitlines() if "cheat" in line]
    local = datetime.fromtimestamp(record.at, ZoneInfo("Europe/Berlin"))
    assert "time (Europe/Berlin)" in out and "UTC" not in out
    assert local.strftime("%Y-%m-%d %H:%M:%S") in row
    code, out, _ = run(["audit", "--json", *zoned], capsys)
    assert json.loads(out)[0]["at"].endswith("+00:00")


def test_an_experiment_removed_from_the_config_keeps_its_audit_log(
        db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`audit OLD` refused an experiment no longer in the experiments file ("unknown
    experiment"), though its actions are in the log."""
    assert run(["cheat", "random", "arm1", "11", *db], capsys)[0] == 0
    other = tmp_path / "other.yaml"
    other.write_text("experiments:\n  - id: fresh\n    arms:\n      - {id: a, content: A}\n"
                     "      - {id: b, content: B}\n")
    moved = ["--config", str(other), *db[2:]]
    code, out, err = run(["audit", "random", "--json", *moved], capsys)
    assert code == 0, err
    assert [(e["experiment"], e["action"]) for e in json.loads(out)] == [("random", "cheat")]
    code, _, err = run(["audit", "gone", *moved], capsys)
    assert code == 2 and "gone" in err and "fresh" in err


def test_a_key_is_not_created_in_a_store_that_ends_with_the_command(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`keys create --store memory://` printed a key that no server could ever accept."""
    code, out, err = run(["keys", "create", "--name", "m", "--role", "read", "--store",
                          "memory://"], capsys)
    assert code == 2 and out == "" and "gone when this command ends" in err

