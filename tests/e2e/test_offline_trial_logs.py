"""`banditbot evaluate` and `learn` on the logs a new-user trial made by hand from an export
(a cut-down copy with a typo, a reward out of scale, a spreadsheet's blank rows and its
TRUE/FALSE): each is said, or refused, in words that name the row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ..conftest import run_cli
from .test_evaluate_trial import QUICK, _export, _rows, _write

run = run_cli

#: the columns the trial kept of an export
CUT = ("created_at", "arm", "reward", "propensity")


def _cut(tmp_path: Path, name: str = "cut.csv", **kwargs: object) -> list[dict[str, str]]:
    """An export's rows with only the columns the trial kept."""
    rows = _rows(_export(tmp_path / f"full-{name}", **kwargs))  # type: ignore[arg-type]
    return [{k: r[k] for k in CUT} for r in rows]


def test_blank_trailing_rows_are_said_as_blank(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A spreadsheet's trailing ``,,,,`` rows read as "2 not the policy's choice (2 )" in an
    export (their kind is empty) and as unanswered in a cut-down log. Now: "2 blank rows
    ignored", in both."""
    full = _export(tmp_path / "full.csv", decisions=60)
    cut = _write(tmp_path / "cut.csv", [{k: r[k] for k in CUT} for r in _rows(full)])
    for log in (full, cut):
        with log.open("a", encoding="utf-8", newline="") as fh:
            fh.write("," * (len(_rows(log)[0]) - 1) + "\r\n")
            fh.write("," * (len(_rows(log)[0]) - 1) + "\r\n")
        code, out, err = run(["evaluate", str(log), "-p", "uniform", *QUICK, "--json"], capsys)
        assert code == 0, err
        document = json.loads(out)
        assert document["log"] == f"{log} (2 of 62 rows left out: 2 blank rows ignored)"
        assert document["rounds"] == 60
    # a log without propensities (read with -e dm, which needs none) says so too: the
    # column the reading fills in is not one of the file's cells (a review)
    bare = _write(tmp_path / "bare.csv", [{k: r[k] for k in CUT if k != "propensity"}
                                          for r in _rows(full) if r["arm"]])
    with bare.open("a", encoding="utf-8", newline="") as fh:
        fh.write("," * (len(CUT) - 2) + "\r\n")
    code, out, err = run(["evaluate", str(bare), "-p", "uniform", "-e", "dm", "--n-bootstrap", "20",
                          "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["log"].endswith("(1 of 61 rows left out: 1 blank row ignored)")


def test_a_rare_action_that_differs_from_a_common_one_by_case_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The trial changed one answered row's arm ``a`` to ``A`` in a log without the
    export's ``arms`` column: evaluate read 4 actions and thompson, which learned ``A`` as a
    sure winner, scored near 0 with no word on the row. Now it is refused by its row, with
    the override; a close spelling (``aa``) is a note; the clean log says neither."""
    rows = _cut(tmp_path, decisions=200)
    clean = _write(tmp_path / "clean.csv", rows)
    code, out, err = run(["evaluate", str(clean), "-p", "thompson", *QUICK, "--json"],
                         capsys)
    assert code == 0, err
    assert json.loads(out)["actions"] == 3 and "typo" not in err
    typo = [dict(r) for r in rows]
    row = next(i for i, r in enumerate(typo) if r["arm"] == "a" and r["reward"])
    typo[row]["arm"] = "A"
    log = _write(tmp_path / "typo.csv", typo)
    code, out, err = run(["evaluate", str(log), "-p", "thompson", *QUICK], capsys)
    assert code == 2, out
    said = " ".join(err.split())
    assert f"action 'A' in column 'arm' (row {row + 1}) differs from 'a'" in said, said
    assert "only by case or spaces" in said and "--exact-actions" in said
    code, out, err = run(["evaluate", str(log), "-p", "thompson", *QUICK, "--json",
                          "--exact-actions"], capsys)
    assert code == 0 and json.loads(out)["actions"] == 4, err
    typo[row]["arm"] = "aa"
    log = _write(tmp_path / "close.csv", typo)
    code, out, err = run(["evaluate", str(log), "-p", "thompson", *QUICK, "--json"], capsys)
    assert code == 0, err
    (note,) = [n for n in json.loads(out)["notes"] if "typo" in n]
    assert note.startswith(f"action 'aa' (row {row + 1}) is rare and spelt close to 'a'")


def test_true_and_false_rewards_read_as_1_and_0(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A spreadsheet turned the 1/0 rewards into TRUE/FALSE: refused as "reward 'FALSE' ...
    is not a number", though context columns read true/false. Now the same estimate as the
    1/0 log's."""
    rows = _cut(tmp_path, decisions=100)
    numbers = _write(tmp_path / "numbers.csv", rows)
    words = _write(tmp_path / "words.csv", [
        {**r, "reward": ("TRUE" if i % 2 else "true") if float(r["reward"]) else
         ("FALSE" if i % 2 else "False")} for i, r in enumerate(rows)])
    values = []
    for log in (numbers, words):
        code, out, err = run(["evaluate", str(log), "-p", "uniform", *QUICK, "--json"],
                             capsys)
        assert code == 0, err
        values.append(json.loads(out)["rows"][0]["value"])
    assert values[0] == values[1] > 0


def test_a_reward_out_of_a_0_1_logs_scale_is_named_by_its_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One answered reward set to 5 in a 👍/👎 log: evaluate exited 0 with no note, its
    every-look interval for a click rate reaching above 1. Now a note names the row and the
    value; the clean log has none."""
    rows = _cut(tmp_path, decisions=100)
    code, out, err = run(["evaluate", str(_write(tmp_path / "clean.csv", rows)),
                          "-p", "uniform", *QUICK, "--json"], capsys)
    assert code == 0 and not json.loads(out)["notes"], err
    rows[7]["reward"] = "5"
    code, out, err = run(["evaluate", str(_write(tmp_path / "five.csv", rows)),
                          "-p", "uniform", *QUICK, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["notes"][0].startswith("rewards are 0/1 except 5 in row 8: out of "
                                                  "the log's scale")
    assert "note: rewards are 0/1 except 5 in row 8" in " ".join(err.split())
    # a sparse revenue log (mostly 0, a few amounts, no 1) is another scale: no note
    for i, row in enumerate(rows):
        row["reward"] = {7: "12.5", 40: "30"}.get(i, "0")
    code, out, err = run(["evaluate", str(_write(tmp_path / "revenue.csv", rows)),
                          "-p", "uniform", *QUICK, "--json"], capsys)
    assert code == 0 and not [n for n in json.loads(out)["notes"] if "0/1" in n], err


def _two_arm_log(tmp_path: Path, rounds: int) -> Path:
    """A log of ``rounds`` answered rounds of the example experiment ``random``'s arms,
    drawn uniformly (propensity 0.5)."""
    log = tmp_path / "history.csv"
    log.write_text("arm,reward,propensity\n" + "".join(
        f"arm{i % 2 + 1},{i % 3 % 2},0.5\n" for i in range(rounds)), encoding="utf-8")
    return log


def test_rare_actions_spelt_close_to_common_ones_are_named_five_at_most(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: a long-tail log (item_10 … item_999 beside item_1 … item_9) would have
    had a note for each rare action, a thousand lines. Five are named, and a line says
    more were not."""
    rows = [dict(r) for r in _cut(tmp_path, decisions=300,
                                  arms=("item_1", "item_2", "item_3"))]
    for k in range(8):
        rows[10 * k]["arm"] = f"item_{10 + k}"
    code, out, err = run(["evaluate", str(_write(tmp_path / "tail.csv", rows)), "-p",
                          "uniform", *QUICK, "--json"], capsys)
    assert code == 0, err
    notes = [n for n in json.loads(out)["notes"] if "spelt close" in n]
    assert len(notes) == 6 and notes[-1] == ("(only the first 5 rare actions spelt close to "
                                             "common ones are named)"), notes


@pytest.mark.interpreted
def test_learn_shows_its_progress_as_it_writes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``learn`` of a million rows ran 50 s with nothing after "learn: loading big.csv …".
    Now the writes have a progress (here the lines of a non-terminal; a chunk of history
    is 500 rows, so the 3,000 rounds are written in six)."""
    from banditbot import BanditService

    from ..conftest import EXAMPLES

    monkeypatch.setattr(BanditService, "history_chunk", 500)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    code, out, err = run(["learn", str(_two_arm_log(tmp_path, 3000)), "-x", "random",
                          "--store", url, "--config", str(EXAMPLES)], capsys)
    assert code == 0, err
    assert "learn: started, 3,000 rounds" in err and "learn: done, 3,000 rounds in" in err
    assert "started from history: 3,000 rounds" in out
    # one audit line per arm, not one per chunk
    code, out, err = run(["audit", "random", "--json", "--store", url,
                          "--config", str(EXAMPLES)], capsys)
    assert code == 0, err
    assert [e["action"] for e in json.loads(out)].count("import") == 2


@pytest.mark.interpreted
def test_ctrl_c_between_two_chunks_of_learn_leaves_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C 40 s into a learn of a million rows returned at 49.6 s: each arm's rows were
    one insert, during which Python sees no signal. Now they are written a chunk at a time
    (one transaction still): a Ctrl+C seen after the third chunk (of 500 rows, here) stops
    the learn with nothing imported, and says so."""
    from banditbot import BanditService, SQLiteStore, build_service

    from ..conftest import EXAMPLES

    monkeypatch.setattr(BanditService, "history_chunk", 500)
    real = SQLiteStore.record_manual
    sizes: list[int] = []

    def written(self: SQLiteStore, decisions: Any, *args: Any, **kwargs: Any) -> None:
        real(self, decisions, *args, **kwargs)
        sizes.append(len(decisions))
        if len(sizes) == 3:
            raise KeyboardInterrupt  # Ctrl+C, as the third chunk is written

    monkeypatch.setattr(SQLiteStore, "record_manual", written)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    build_service(EXAMPLES, url).store.close()  # an existing store
    store = ["--store", url, "--config", str(EXAMPLES)]
    code, out, err = run(["learn", str(_two_arm_log(tmp_path, 3000)), "-x", "random",
                          *store], capsys)
    assert code == 130, (out, err)
    assert sizes == [500, 500, 500]
    assert "interrupted (Ctrl+C): stopped before anything was imported" in err, err
    code, out, err = run(["report", "random", "--json", *store], capsys)
    assert code == 0, err
    assert sum(a["answered"] for a in json.loads(out)["arms"]) == 0


def test_each_policy_row_says_which_actions_the_policy_chooses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``evaluate log.csv -p ucb1`` gave IPS 0.12 on a log whose best arm earns 0.45,
    unexplained: frozen at the training half's counts, UCB1's bonus picks one arm on every
    evaluated round. Now --json gives each row's average choice, and a row whose policy puts
    nearly all of it on one arm says so; uniform's rows say nothing of the kind."""
    log = _write(tmp_path / "g.csv", _cut(tmp_path, decisions=300))
    code, out, err = run(["evaluate", str(log), "-p", "ucb1", "-p", "uniform", "-e", "ips",
                          "--n-bootstrap", "20", "--json"], capsys)
    assert code == 0, err
    ucb1, uniform = json.loads(out)["rows"]
    (arm, share), *_ = sorted(ucb1["choices"].items(), key=lambda c: -c[1])
    assert share > 0.9
    assert f"the policy chooses {arm} with probability {share:.0%} on average over the " \
           "evaluated rounds, frozen at what it learned from the first 150 rounds" \
           in ucb1["warnings"][0], ucb1["warnings"]
    assert uniform["choices"] == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert not any("the policy chooses" in w for w in uniform["warnings"])
