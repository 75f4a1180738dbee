"""What a new user reads when a command cannot do what was asked (from a new-user audit of
the CLI): one line that says what happened, no traceback, nothing left behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import run_cli


@pytest.fixture(autouse=True)
def _fresh_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty folder (no .env, no banditbot.db) and settings read afresh (the CLI reads
    them once per process)."""
    from banditbot.cli import _app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BANDITBOT_TELEGRAM_BASE_URL", raising=False)
    _app.settings.cache_clear()
    yield
    _app.settings.cache_clear()


@pytest.mark.parametrize("argv", [[], ["arms"], ["keys"]])
def test_a_bare_group_shows_its_help_not_an_error(argv: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`banditbot`, `banditbot arms`, `banditbot keys`: the help came after "error: Usage:",
    with " (see --help)" glued to its last line. Now the help as Click shows it for a group
    called without a command (exit 2 since Click 8.2)."""
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == ""
    assert err.startswith("Usage: ") and "\nOptions:\n" in err
    assert ("  list " if argv else "  demo ") in err  # the commands, listed
    assert "error" not in err.lower() and "(see --help)" not in err
    assert err.rstrip().splitlines()[-1].rstrip().endswith(".")  # a help line, whole
