"""`evaluate` reads a log in time order whatever the file's row order."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ..conftest import run_cli
from .test_offline_cli import _exported_log

run = run_cli


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns or list(rows[0]), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def test_a_shuffled_log_gives_the_estimates_of_the_log_in_order(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial sorted the demo's CSV by arm (the same rows, the same created_at): Thompson
    sampling's DM went from 0.436 to 0.093, IPS from 0.446 to 0.164, as the oldest half
    the policies learn from was the first half of the file. Now the rounds are read by
    their times: a shuffled copy gives the same rows of estimates, intervals and the
    logged baseline, and a note says the file was out of order; a log without times keeps
    its file's order and says so."""
    _exported_log(tmp_path / "g.csv", arms=("a", "b", "c"), epsilon=0.3, decisions=600,
                  seconds=60, rate=0.3)
    rows = _rows(tmp_path / "g.csv")
    shuffled = [rows[i] for i in np.random.default_rng(5).permutation(len(rows))]
    _write(tmp_path / "shuffled.csv", shuffled)
    _write(tmp_path / "by_arm.csv", sorted(rows, key=lambda r: r["arm"]))
    evaluate = ["-p", "thompson", "-p", "epsilon-greedy", "-e", "ips", "-e", "snips", "-e",
                "dm", "-e", "dr", "--n-bootstrap", "50", "--json", "--online"]
    said = {}
    for name in ("g", "shuffled", "by_arm"):
        code, out, err = run(["evaluate", str(tmp_path / f"{name}.csv"), *evaluate], capsys)
        assert code == 0, err
        said[name] = (json.loads(out), err)
    original = said["g"][0]
    assert "not in time order" not in said["g"][1]
    for name in ("shuffled", "by_arm"):
        document, err = said[name]
        for mine, theirs in zip(document["rows"], original["rows"], strict=True):
            assert mine == theirs, (name, mine, theirs)
        assert document["logged_mean_reward"] == original["logged_mean_reward"]
        assert "note: the rows are not in time order" in err and "oldest first" in err
    _write(tmp_path / "no_time.csv", shuffled, ["arm", "reward", "propensity"])
    code, out, err = run(["evaluate", str(tmp_path / "no_time.csv"), *evaluate], capsys)
    assert code == 0, err
    assert "note: read in the file's order (no time on its rounds)" in err
    assert "--timestamp-col" in err
