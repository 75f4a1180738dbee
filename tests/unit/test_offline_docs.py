"""docs/offline.md says what the commands print and runs after ``banditbot demo``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..conftest import ROOT, run_cli

DOC = (ROOT / "docs" / "offline.md").read_text(encoding="utf-8")


def test_the_first_commands_read_the_demos_database() -> None:
    """``banditbot export greeting --out log.csv`` and ``evaluate store:greeting --online``
    failed right after the demo (it writes ``banditbot-demo.db``; without ``--store`` they
    read ``banditbot.db``): each command of the first block that reads the store names the
    demo's database, as the README's after-the-demo block does."""
    block = DOC[DOC.index("```bash") + 7:]
    commands = [line for line in block[:block.index("```")].splitlines()
                if line.startswith("banditbot ")]
    reading = [c for c in commands if re.search(r"\bexport greeting\b|store:greeting", c)]
    assert len(reading) == 2, commands
    for command in reading:
        assert "--store sqlite:///banditbot-demo.db" in command, command


def test_the_docs_name_the_columns_evaluate_and_learn_print(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The doc's OBD table called the every-look interval "95% anytime (betting)" and said
    ``learn`` reports "the ESS of the raw and of the clipped weights", where the CLI prints
    "95% every look" and one ``ESS`` column beside ``imported``."""
    monkeypatch.setenv("COLUMNS", "250")
    log = tmp_path / "log.csv"
    log.write_text("arm,reward,propensity\n" + "".join(
        f"{'ab'[i % 2]},{i % 3 % 2},0.5\n" for i in range(60)), encoding="utf-8")
    code, out, err = run_cli(["evaluate", str(log), "-p", "uniform", "-e", "ips",
                              "--n-bootstrap", "10", "--train-share", "0"], capsys)
    assert code == 0, err
    header = next(line for line in DOC.splitlines()
                  if line.startswith("| evaluated policy |"))
    for column in ("95% bootstrap", "95% every look"):
        assert column in out and f"| {column} |" in header, (column, header)
    config = tmp_path / "c.yaml"
    config.write_text("experiments:\n  - id: g\n    arms: [{id: a, content: A}, "
                      "{id: b, content: B}]\n", encoding="utf-8")
    code, out, err = run_cli(["learn", str(log), "-x", "g", "--store",
                              f"sqlite:///{tmp_path / 'g.db'}", "--config", str(config)],
                             capsys)
    assert code == 0, err
    printed = out.splitlines()[0].split()
    assert printed[:4] == ["arm", "rounds", "ESS", "imported"], printed
    bullet = DOC[DOC.index("* prints per arm the rounds"):][:400]
    assert "`ESS` (of the raw weights" in bullet and "`imported` (the clipped" in bullet
    assert "raw and of the clipped" not in DOC
