"""`banditbot evaluate` after a new-user trial: what it said, and left unsaid, about the
logs it was given (a behaviour log of another time, repeated options, a file's name, an
unreadable time, the table's columns)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ..conftest import run_cli

run = run_cli

#: a short evaluation: one estimator, few replicates, every round evaluated
QUICK = ["-e", "ips", "--n-bootstrap", "20", "--train-share", "0"]


def _export(path: Path, *, start: float = 1_700_000_000.0, decisions: int = 300,
            seconds: float = 1.0, arms: tuple[str, ...] = ("a", "b", "c")) -> Path:
    """An export at ``path`` of experiment ``g`` under ε-greedy (seeded), a decision every
    ``seconds`` on a fake clock from ``start``, each answered."""
    import numpy as np

    from banditbot import BanditService, MemoryStore, parse_config
    from banditbot.offline import export_decisions

    from ..conftest import FakeClock

    clock = FakeClock(start)
    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": a, "content": a} for a in arms],
        "policy": {"name": "epsilon-greedy", "epsilon": 0.3}}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(2), clock=clock)
    rng = np.random.default_rng(3)
    for i in range(decisions):
        clock.advance(seconds)
        d = svc.decide("g", f"u{i}")
        svc.reward(d.id, float(rng.random() < 0.3), f"u{i}")
    export_decisions(svc.decisions("g"), path)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_behavior_log_of_another_time_is_said_with_how_far(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``evaluate big.csv -p behavior:log.csv``, log.csv two seconds of 10:24 and big.csv a
    minute of 10:28, rebuilt every round from log.csv's last propensities and printed a
    confident interval without a word. Now each row says how many evaluated rounds fall
    outside the behaviour log's time and how far; a log of the same time says nothing."""
    monkeypatch.setenv("COLUMNS", "400")
    early = _export(tmp_path / "early.csv", decisions=100)
    late = _export(tmp_path / "late.csv", start=1_700_000_000.0 + 300, decisions=100)
    code, out, err = run(["evaluate", str(late), "-p", f"behavior:{early}", *QUICK,
                          "--json"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)["rows"]
    said = row["warnings"][0]
    assert said.startswith("100 of 100 evaluated rounds fall outside the time the logging "
                           "policy's log spans (2023-11-14 22:13:21 – 22:15:00 UTC), up to "
                           "5m after its last round"), said
    code, out, err = run(["evaluate", str(early), "-p", f"behavior:{late}", *QUICK,
                          "--json"], capsys)
    assert code == 0, err
    assert "up to 5m before its first round" in json.loads(out)["rows"][0]["warnings"][0]
    # the same time (another tool's CSV of the same traffic): nothing to say
    foreign = _write(tmp_path / "foreign.csv", [
        {k: r[k] for k in ("created_at", "arm", "reward", "propensity")}
        for r in _rows(early)])
    code, out, err = run(["evaluate", str(foreign), "-p", f"behavior:{early}", *QUICK,
                          "--json"], capsys)
    assert code == 0, err
    assert not any("outside the time" in w for w in json.loads(out)["rows"][0]["warnings"])


def test_the_evaluate_table_says_what_its_columns_mean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The table gave "95% every look", DR's "–" and DM's ESS (the round count) without a
    word on any; --json explains its intervals in its keys. Now lines under the table say
    what each is, for the estimators shown."""
    monkeypatch.setenv("COLUMNS", "300")
    log = _export(tmp_path / "g.csv")
    code, out, err = run(["evaluate", str(log), "-p", "uniform", "-e", "ips", "-e", "dm",
                          "-e", "dr", "-e", "replay", "--n-bootstrap", "20"], capsys)
    assert code == 0, err
    under = out.split("┘")[-1]
    assert "95% every look: an anytime interval" in under
    assert "IPS and SNIPS only" in under
    assert "– under 95% every look (dm, dr, replay)" in under
    assert "DM weighs no round: its ESS is just the number of evaluated rounds" in under
    assert "replay: the ESS is the matched rounds" in under
    code, out, err = run(["evaluate", str(log), "-p", "uniform", "-e", "ips",
                          "--n-bootstrap", "20"], capsys)
    under = out.split("┘")[-1]
    assert code == 0 and "95% every look:" in under and "DM" not in under, out


def test_an_unreadable_created_at_is_refused_by_its_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An export whose created_at a spreadsheet rewrote (``05/12/2026 10:24``) was read
    without its times and without a word (``--timestamp-col created_at`` refused it at row
    1). Now the default column follows the documented rule: refused by its row, with how to
    go on."""
    rows = _rows(_export(tmp_path / "g.csv", decisions=50))
    rows[0]["created_at"] = "05/12/2026 10:24"
    log = _write(tmp_path / "sheet.csv", rows)
    for extra in ([], ["--timestamp-col", "created_at"]):
        code, out, err = run(["evaluate", str(log), "-p", "uniform", *QUICK, *extra], capsys)
        assert code == 2 and not out, (out, err)
        assert "row 1: time '05/12/2026 10:24' in column 'created_at' is not a time" in err
    code, out, err = run(["evaluate", str(log), "-p", "uniform", *QUICK], capsys)
    assert "export the log again" in err and "--timestamp-col" in err


def test_a_behavior_log_gives_the_same_figures_under_another_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-p behavior:log.csv`` and ``-p behavior:copy_of_log.csv`` (the same bytes) drew
    different bootstrap intervals with the same seed: the random stream was seeded from the
    policy's label, path included. Now from what the log holds."""
    log = _export(tmp_path / "log.csv", decisions=200)
    copy = tmp_path / "copy_of_log.csv"
    copy.write_bytes(log.read_bytes())
    other = _export(tmp_path / "other.csv", decisions=200, arms=("a", "b"))

    def figures(behavior: Path) -> list[tuple[float, float, float]]:
        code, out, err = run(["evaluate", str(log), "-p", f"behavior:{behavior}", "--json",
                              "-e", "ips", "-e", "dr", "--n-bootstrap", "50"], capsys)
        assert code == 0, err
        return [(r["value"], r["low"], r["high"]) for r in json.loads(out)["rows"]]

    assert figures(log) == figures(copy)
    assert figures(log) != figures(other)  # (another log: another stream, other figures)


def test_a_policy_or_estimator_given_twice_is_evaluated_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-p uniform -p uniform -e ips -e ips`` printed four rows, two of each. Now each is
    evaluated once, with the note simulate gives ("a policy given twice runs once")."""
    log = _export(tmp_path / "g.csv", decisions=100)
    code, out, err = run(["evaluate", str(log), "-p", "uniform", "-p", "uniform", "-e", "ips",
                          "-e", "IPS", "-p", f"behavior:{log}", "-p", f"behavior:{log}",
                          "--n-bootstrap", "20", "--train-share", "0", "--json"], capsys)
    assert code == 0, err
    rows = [(r["policy"], r["estimator"]) for r in json.loads(out)["rows"]]
    assert rows == [("uniform", "ips"), (f"logging policy of {log}", "ips")]
    assert "note: ips given more than once; estimated once" in err
    assert f"note: behavior:{log}, uniform given more than once; evaluated once" in err


def test_a_chart_that_replaces_a_file_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``evaluate --png ev2.png`` over an existing file replaced it without a word, while
    simulate says so and export refuses. One rule for images: a chart is made again from
    its data, so it is replaced, and the line that names it says so (report's too)."""
    log = _export(tmp_path / "g.csv", decisions=60)
    png = tmp_path / "ev2.png"
    evaluate = ["evaluate", str(log), "-p", "uniform", *QUICK, "--png", str(png)]
    code, out, err = run(evaluate, capsys)
    assert code == 0 and f"chart: {png}\n" in out, (out, err)
    code, out, err = run(evaluate, capsys)
    assert code == 0, err
    assert f"chart: {png} (replaced the ev2.png that was there; another --png name keeps " \
           "both)" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_report_chart_that_replaces_a_file_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``report EXP --png`` follows the same rule as evaluate's chart."""
    from banditbot import build_service

    from ..conftest import EXAMPLES

    url = f"sqlite:///{tmp_path / 'r.db'}"
    svc = build_service(EXAMPLES, url, seed=1)
    for i in range(20):
        svc.reward(svc.decide("greeting", f"u{i}").id, i % 2, f"u{i}")
    svc.store.close()
    png = tmp_path / "r.png"
    png.write_bytes(b"old")
    code, out, err = run(["report", "greeting", "--png", str(png), "--store", url,
                          "--config", str(EXAMPLES)], capsys)
    assert code == 0, err
    assert f"chart written to {png} (replaced the r.png that was there" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_policy_that_learned_from_no_round_is_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With ``--train-share 0`` thompson's rows were uniform's to the digit (0.29210 both)
    and nothing said why. Now a note says the policy learned from 0 rounds; with a share to
    learn from, or uniform alone, there is none."""
    log = _export(tmp_path / "g.csv", decisions=100)
    evaluate = ["evaluate", str(log), "-e", "ips", "--n-bootstrap", "20"]
    code, out, err = run([*evaluate, "-p", "thompson", "-p", "uniform", "--train-share", "0",
                          "--json"], capsys)
    assert code == 0, err
    said = "thompson(alpha=1, beta=1, optimistic=True) learned from 0 rounds (--train-share " \
           "0 of 100): evaluated untrained"
    assert f"note: {said}" in err
    assert any(n.startswith(said) for n in json.loads(out)["notes"])
    for other in (["-p", "thompson"], ["-p", "uniform", "--train-share", "0"]):
        code, out, err = run([*evaluate, *other], capsys)
        assert code == 0 and "learned from 0 rounds" not in err, err


@pytest.mark.parametrize(("edit", "extra", "said"), [
    # an arm typo read as "propensity 0.25 differs from the logged probability of arm 'HEY'
    # (0)"
    (lambda r: r.update(arm="B"), [],
     "row 1: arm 'B' in column 'arm' is not among the row's logged arms (a b c) (did you "
     "mean b?"),
    # a decimal comma was "not a number" with no word on why
    (lambda r: r.update(reward="0,0"), [],
     "row 1: reward '0,0' in column 'reward' is not a number (a decimal comma? numbers are "
     "read with a point"),
    (lambda r: r.update(propensity="0,7"), [],
     "propensity '0,7' in column 'propensity' is not a number (a decimal comma?"),
    # the hint of a missing column named every column option but the one given
    (lambda r: None, ["--timestamp-col", "nope"],
     "--action-col, --reward-col, --pscore-col, --timestamp-col)"),
])
def test_a_bad_cell_or_column_is_said_in_the_words_that_fix_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: object,
        extra: list[str], said: str) -> None:
    """Messages of a new-user trial, each said now as what it is."""
    rows = _rows(_export(tmp_path / "g.csv", decisions=30))
    edit(rows[0])  # type: ignore[operator]
    log = _write(tmp_path / "edited.csv", rows)
    code, _, err = run(["evaluate", str(log), "-p", "uniform", *QUICK, *extra], capsys)
    assert code == 2 and said in " ".join(err.split()), err


def test_a_parquet_log_named_csv_is_said_to_be_parquet(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Parquet export renamed .csv failed with a UTF-8 decode error; now it is named
    Parquet, with the name that reads it."""
    pytest.importorskip("pyarrow")
    parquet = _export(tmp_path / "g.parquet", decisions=30)
    named = tmp_path / "g.csv"
    named.write_bytes(parquet.read_bytes())
    code, _, err = run(["evaluate", str(named), "-p", "uniform", *QUICK], capsys)
    assert code == 2 and "g.csv: a Parquet file, named .csv (name it g.parquet" in err, err


def test_misspelt_names_and_options_get_a_did_you_mean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial's typos: ``offr`` for an experiment and ``bernouli:`` for an environment got
    no "did you mean" (policies did: the same helper now); ``simulate --steps`` was offered
    --help, --rate, --seed; ``-p behavior:`` with no log said ".: Is a directory"; the
    --obd-root help did not name BANDITBOT_OBD_ROOT."""
    config = tmp_path / "exps.yaml"
    config.write_text("experiments:\n  - id: offer\n    arms:\n      - {id: a, content: A}\n"
                      "      - {id: b, content: B}\n", encoding="utf-8")
    code, _, err = run(["simulate", "--experiment", "offr", "--config", str(config)], capsys)
    assert code == 2 and "unknown experiment 'offr' (did you mean offer? known" in err, err
    simulate = ["simulate", "--runs", "2", "--horizon", "10", "--out", str(tmp_path)]
    code, _, err = run([*simulate, "--env", "bernouli:0.1,0.2"], capsys)
    assert code == 2 and "(did you mean bernoulli:0.1,0.2? bernoulli:…" in err, err
    code, _, err = run(["simulate", "--steps", "10", "--env", "bernoulli:0.1,0.2"], capsys)
    assert code == 2 and "No such option: --steps (did you mean --horizon" in err, err
    log = _export(tmp_path / "g.csv", decisions=30)
    code, _, err = run(["evaluate", str(log), "-p", "behavior:", *QUICK], capsys)
    assert code == 2 and "-p behavior: names no log after the colon" in err, err
    assert "Is a directory" not in err
    code, out, _ = run(["evaluate", "--help"], capsys)
    assert code == 0 and "BANDITBOT_OBD_ROOT" in out


def test_the_store_log_says_what_it_left_out_and_where_the_rest_is(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``evaluate store:greeting``'s title did not say that unanswered rows were left out
    (a file's does); after a reset it said "run the experiment (or banditbot demo) first"
    while the earlier generation's log was in the store. Now the title counts what was
    left out, and after a reset the hint points to the earlier log, as export's does."""
    from banditbot import build_service

    from ..conftest import EXAMPLES

    monkeypatch.setenv("COLUMNS", "300")
    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = build_service(EXAMPLES, url, seed=1)
    for i in range(40):
        d = svc.decide("greeting", f"u{i}")
        if i % 4:
            svc.reward(d.id, i % 2, f"u{i}")
    svc.store.close()
    where = ["--store", url, "--config", str(EXAMPLES)]
    evaluate = ["evaluate", "store:greeting", "-p", "uniform", *QUICK, *where]
    code, out, err = run(evaluate, capsys)
    assert code == 0, err
    assert out.startswith("banditbot decision log (10 of 40 rows left out: 10 unanswered): "
                          "30 rounds"), out
    assert run(["reset", "greeting", "--yes", *where], capsys)[0] == 0
    code, out, err = run(evaluate, capsys)
    assert code == 2, (out, err)
    assert "generation 1 (since the last reset) has none yet; the log before the reset: " \
           "banditbot export greeting --all-generations -o old.csv, then banditbot evaluate " \
           "old.csv" in " ".join(err.split()), err


def test_evaluate_reads_a_log_piped_in(tmp_path: Path) -> None:
    """``banditbot export … -o - | banditbot evaluate -`` said "-: no such file". Now ``-``
    is the log on stdin (CSV here, in a real pipe; Parquet and gzip by their first bytes),
    with the same figures as the file, and nothing piped in is said as such."""
    import os
    import subprocess
    import sys

    log = _export(tmp_path / "g.csv", decisions=80)

    def evaluate(source: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "banditbot", "evaluate", source, "-p",
                               "uniform", *QUICK, "--json"], input=data, capture_output=True,
                              timeout=120, cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})

    piped = evaluate("-", log.read_bytes())
    assert piped.returncode == 0, piped.stderr.decode()
    from_file = evaluate(str(log), b"")
    got, expected = json.loads(piped.stdout), json.loads(from_file.stdout)
    assert got["log"] == "<stdin>" and got["rows"] == expected["rows"]
    empty = evaluate("-", b"")
    assert empty.returncode == 2 and b"<stdin>: nothing was piped in" in empty.stderr


def test_a_parquet_or_gzip_log_piped_in_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Parquet and gzip-compressed CSV on stdin are told by their first bytes; a log and
    a ``behavior:-`` cannot both be stdin."""
    import gzip
    import io
    import sys

    csv_log = _export(tmp_path / "g.csv", decisions=80)
    figures = []
    for data in (gzip.compress(csv_log.read_bytes()),
                 *([_export(tmp_path / "g.parquet", decisions=80).read_bytes()]
                   if _has_pyarrow() else [])):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        code, out, err = run(["evaluate", "-", "-p", "uniform", *QUICK, "--json"], capsys)
        assert code == 0, err
        figures.append(json.loads(out)["rows"])
    assert all(f == figures[0] for f in figures)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(csv_log.read_bytes())))
    code, _, err = run(["evaluate", "-", "-p", "behavior:-", *QUICK], capsys)
    assert code == 2 and "both read stdin, which holds one log" in err, err


def _has_pyarrow() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None
