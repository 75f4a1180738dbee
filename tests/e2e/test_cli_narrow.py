"""Tables in a narrow terminal (80 and 60 columns), as a new user meets them: no number cut
to "12…", no arm id cut so that two read the same, no column squeezed to nothing, no line
wider than the window. What a table says piped (at its natural width) it says in the
terminal too, every word of it whole: cells wrap between words, and a table too wide for
that is split into parts that repeat the arm."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from ..conftest import EXAMPLES, cli_sqlite_service

LONG = [f"greeting-warm-emoji-{i:02d}" for i in range(1, 13)]  # 22 characters each
CONFIG = f"""\
experiments:
- id: many
  arms: [{", ".join(f"{{id: {a}, content: hi {i}}}" for i, a in enumerate(LONG))}]
  policy: {{name: thompson}}
  control: {LONG[0]}
  burn_in: 0
- id: four
  arms: [{{id: hello, content: A}}, {{id: hey, content: B}}, {{id: formal, content: C}},
         {{id: playful, content: D}}]
  control: hello
  burn_in: 0
- id: plain
  arms: [{{id: {LONG[6]}, content: A}}, {{id: {LONG[7]}, content: B}}]
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BORDERS = "│┃"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Answered decisions of three experiments (fixed seeds), and admin actions whose
    details name long arm ids; the CLI's store options."""
    svc, options = cli_sqlite_service(tmp_path_factory.mktemp("narrow"), CONFIG, "narrow.db", 3)
    rng = np.random.default_rng(7)
    for exp, n in (("many", 1200), ("four", 400)):
        for t in range(n):
            d = svc.decide(exp, f"{exp}{t}")
            rate = 0.2 + 0.03 * (sum(map(ord, d.arm)) % 5)
            svc.reward(d.id, int(rng.random() < rate), f"{exp}{t}")
    for t in range(60):
        plan = ("enterprise-annual-billing", "free", "pro-monthly")[t % 3]
        d = svc.decide("plain", f"p{t}", {"plan": plan})
        svc.reward(d.id, t % 2, f"p{t}")
    svc.store.close()
    for arm in (LONG[6], LONG[10]):
        assert cli(["cheat", "many", arm, "1101", *options]).returncode == 0
    return options


def cli(argv: list[str], columns: int | None = None) -> subprocess.CompletedProcess[str]:
    """``banditbot ARGV``: piped, or with ``columns`` as a terminal of that width."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR")}
    if columns is not None:  # rich then takes stdout for a terminal of that width
        env.update(COLUMNS=str(columns), TTY_COMPATIBLE="1", NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", "banditbot", *argv], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


@functools.cache
def piped_output(argv: tuple[str, ...]) -> str:
    """What ``banditbot ARGV`` prints piped, at its natural width: each command's reference,
    run once for both terminal widths."""
    return cli(list(argv)).stdout


def words(text: str) -> list[str]:
    """The words inside a table's rows and header (between its borders)."""
    rows = [line for line in text.splitlines() if line[:1] in BORDERS]
    return [w for line in rows for w in re.split(f"[{BORDERS}\\s]+", line) if w]


def folded(text: str) -> list[str]:
    """Each column of each row block with its lines joined: a word folded over lines, read
    down its column (what the eye does)."""
    joined, block = [], []
    for line in [*text.splitlines(), ""]:
        if line[:1] in BORDERS:
            block.append(re.split(f"[{BORDERS}]", line)[1:-1])
            continue
        for cells in zip(*block, strict=False):
            joined.append("".join(cell.strip() for cell in cells))
        block = []
    return joined


COMMANDS = {
    "experiments": ["experiments", "--config", str(EXAMPLES)],
    "report-4-arms": ["report", "four"],
    "report-12-arms": ["report", "many"],
    "report-by": ["report", "plain", "--by", "plan"],
    "audit": ["audit"],
}


@pytest.mark.parametrize("columns", [80, 60])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_narrow_terminal_shows_every_word_of_the_table_whole(
        command: str, columns: int, store: list[str]) -> None:
    argv = COMMANDS[command] + ([] if command == "experiments" else store)
    piped = piped_output(tuple(argv))
    shown = ANSI.sub("", cli(argv, columns).stdout)
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= columns, shown
    assert shown.count("…") == piped.count("…"), shown  # nothing cut short
    wide, narrow = words(piped), set(words(shown))
    assert wide
    missing = sorted({w for w in wide if w not in narrow})
    # a number is never folded; a long id only when no key fits beside a column whole
    # (60 columns, a 30-character segment beside a 22-character arm id), read down its column
    columns_read = folded(shown)
    cut = [w for w in missing if not re.search("[a-z]", w)
           or not any(w in column for column in columns_read)]
    assert not cut, f"{cut}\n{shown}"
    if columns >= 80:
        assert not missing, f"{missing}\n{shown}"  # at 80 columns every word whole
    # every row (its first word: an experiment, an arm, a time) is there
    first = [re.split(f"[{BORDERS}\\s]+", line)[1] for line in piped.splitlines()
             if line[:1] == "│"]
    for word in first:
        if word:
            assert any(word in line for line in [*lines, *columns_read]), word


def test_twelve_long_arm_ids_stay_distinct_at_80_columns(store: list[str]) -> None:
    shown = ANSI.sub("", cli(["report", "many", *store], 80).stdout)
    cells = [cell.strip() for line in shown.splitlines() if line.startswith("│")
             for cell in line.split("│")[1:2]]
    assert {c for c in cells if c.startswith("greeting-")} == set(LONG), shown
    for arm in LONG:  # each arm's numbers sit on its line, in every part of the table
        rows = [line for line in shown.splitlines() if f"│ {arm} " in line]
        assert rows and all(re.search(r"\d|control", row.split("│", 2)[2])
                            for row in rows), arm


def test_a_table_that_fits_is_one_table(store: list[str]) -> None:
    """Wide enough, the terminal shows the piped table's layout, lines for lines."""
    argv = ["report", "four", *store]
    piped = cli(argv).stdout
    width = max(len(line) for line in piped.splitlines() if line[:1] in "┏│└")
    shown = ANSI.sub("", cli(argv, width + 40).stdout)
    table = [line.rstrip() for line in shown.splitlines() if line[:1] in "┏┃┡│└"]
    assert table == [line for line in piped.splitlines() if line[:1] in "┏┃┡│└"]


def _printed(table: object, width: int) -> str:
    import io

    from rich.console import Console

    from banditbot.cli._output import print_table

    out = io.StringIO()
    print_table(table, Console(file=out, width=width, force_terminal=True, color_system=None))
    return out.getvalue()


def test_a_table_narrower_than_its_key_and_one_column_cuts_no_number() -> None:
    """From review: where a key and one column could not sit side by side, rich squeezed
    the table and cropped its cells (``+0.412]`` lost, ``1,234,567`` shown as ``1,23``);
    a one-column table wider than the window printed nothing."""
    from rich.table import Table

    table = Table(title="t")
    table.add_column("arm", no_wrap=True)
    table.add_column("vs greeting-cheerful-emoji-control", justify="right", no_wrap=True)
    table.add_column("decisions", justify="right", no_wrap=True)
    table.add_row("greeting-cheerful-emoji-12", "+0.128 (+40%) [-0.156, +0.412]", "1,234,567")
    for width in (40, 45, 50):
        text = _printed(table, width)
        assert all(len(line) <= width for line in text.splitlines())
        for number in ("+0.128", "(+40%)", "[-0.156,", "+0.412]", "1,234,567"):
            assert number in text, (width, number)
    one = Table()
    one.add_column("arm")
    one.add_row("greeting-cheerful-emoji-control-arm")
    text = _printed(one, 20)
    assert "greeting-cheerful-emoji-control-arm" in re.sub(r"[│┃\s]", "", text)


def test_a_piped_tables_long_title_is_one_line() -> None:
    """A trial piped `banditbot report` to a file: the headline (the table's title), longer
    than the table, wrapped at the table's width mid-sentence ("…(next⏎step below)"), where
    a pipe keeps its natural width. The title is printed whole above the table."""
    import io

    from rich.console import Console
    from rich.table import Table

    from banditbot.cli._output import print_table

    headline = ("greet: no winner yet — hi leads, but 5 arms could still be best; keep "
                "collecting answers to tell them apart (next step below)")
    table = Table(title=headline)
    table.add_column("arm")
    table.add_column("decisions", justify="right")
    table.add_row("hi", "1,234")
    out = io.StringIO()
    print_table(table, Console(file=out, width=80, color_system=None))  # a pipe
    lines = out.getvalue().splitlines()
    assert headline in lines, lines
    assert any("1,234" in line for line in lines)
