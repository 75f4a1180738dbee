"""What a new user reads when a command cannot do what was asked (from a new-user audit of
the CLI): one line that says what happened, no traceback, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import EXAMPLES, free_port, run_cli
from ..telegram_double import BotApiDouble


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


@pytest.mark.parametrize("command", [["delete-webhook"],
                                     ["set-webhook", "https://example.invalid/telegram",
                                      "--secret", "the-deployments-secret"]])
def test_an_unreachable_bot_api_is_one_line_naming_it(
        command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """delete-webhook printed python-telegram-bot's traceback (httpx.ConnectError), exit 1;
    set-webhook said "Telegram refused the webhook" of a server it never reached."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, out, err = run_cli([*command, "--token", "123:abc", "--bot-api-url", url], capsys)
    assert code == 2, out
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: the Bot API at {url} could not be reached")
    assert "refused" not in line and "--bot-api-url" in line


def test_a_refusal_is_still_called_one(double: BotApiDouble,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The Bot API answered and said no (plain HTTP): that stays "refused", with its
    reason."""
    code, _, err = run_cli(["set-webhook", "http://bot.example.org/telegram", "--token",
                            double.token, "--bot-api-url", double.base_url, "--secret",
                            "the-deployments-secret"], capsys)
    assert code == 2
    assert "Telegram refused the webhook" in err and "could not be reached" not in err
    assert double.webhook == {}


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


def test_rotate_pseudonyms_on_no_store_creates_none(tmp_path: Path) -> None:
    """With stdin not a terminal, banditbot.db was created before the prompt, which then
    said "aborted; nothing changed" and left the new file behind."""
    proc = subprocess.run([sys.executable, "-m", "banditbot", "keys", "rotate-pseudonyms"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          stdin=subprocess.DEVNULL, env=dict(os.environ))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: no banditbot database at banditbot.db")
    assert "Rotate" not in proc.stdout  # refused before asking
    assert list(tmp_path.iterdir()) == []


def test_cheat_without_rewards_names_every_way_to_give_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["cheat", "greeting", "hey"], capsys)
    assert code == 2
    assert err.startswith("error: no rewards given") and "1101" in err
    assert "--successes" in err and "--failures" in err
    assert list(tmp_path.iterdir()) == []  # no database created for a refused command


def test_a_refused_reward_reads_as_a_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    """"error: unknown: no decision has that id" (the status's name as a prefix)."""
    db = ["--config", str(EXAMPLES), "--store", "sqlite:///cli.db"]
    assert run_cli(["init-db", "--store", "sqlite:///cli.db"], capsys)[0] == 0
    for value in ("1", "abc"):  # (an invalid value too: the first problem is said)
        code, out, err = run_cli(["reward", "does-not-exist", value, *db], capsys)
        assert (code, out) == (2, "")
        assert err.strip() == "error: no decision has that id (does-not-exist)"
    code, out, _ = run_cli(["decide", "greeting", "--subject", "ann", *db], capsys)
    decision = json.loads(out)["decision_id"]
    code, _, err = run_cli(["reward", decision, "7", *db], capsys)
    assert code == 2 and err.startswith("error: reward '7' is not allowed")
    code, _, err = run_cli(["reward", decision, "1", "--subject", "bob", *db], capsys)
    assert code == 2 and err.strip() == "error: the decision belongs to another subject"


def test_decide_says_when_chat_is_ignored(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """--chat on a shared experiment was dropped without a word."""
    cfg = tmp_path / "exps.yaml"
    cfg.write_text("experiments:\n"
                   "  - id: shared\n    arms: [{id: a, content: A}, {id: b, content: B}]\n"
                   "  - id: per-user\n    scope: subject\n"
                   "    arms: [{id: a, content: A}, {id: b, content: B}]\n"
                   "  - id: per-chat\n    scope: chat\n"
                   "    arms: [{id: a, content: A}, {id: b, content: B}]\n")
    db = ["--config", str(cfg), "--store", "sqlite:///cli.db"]
    for experiment, scope in (("shared", "shared"), ("per-user", "subject")):
        code, out, err = run_cli(["decide", experiment, "--chat", "5", *db], capsys)
        assert code == 0 and json.loads(out)["experiment"] == experiment
        assert err.strip().startswith(f"warning: experiment {experiment!r} has scope: "
                                      f"{scope}")
        assert err.strip().endswith("--chat is ignored")
    code, out, err = run_cli(["decide", "per-chat", "--chat", "5", *db], capsys)
    assert code == 0 and json.loads(out)["experiment"] == "per-chat" and err == ""
    code, out, err = run_cli(["decide", "shared", *db], capsys)
    assert code == 0 and err == ""


@pytest.mark.parametrize(("argv", "says"), [
    (["reward", "--help"], "The decision's subject; refused if it differs (default: not "
                           "checked; the operator is trusted)."),
    (["--help"], "publish the bot's command list (with the admin commands in each admin's "
                 "private chat), which `banditbot run` would otherwise do."),
    (["cheat", "--help"], "N rewards at the top of the scale (1 for 👍/👎, the maximum of a "
                          "rating or a bounded number)."),
    (["cheat", "--help"], "required unless --successes or --failures gives some"),
    (["decide", "--help"], """e.g. '{"page": "home"}'"""),
    (["decide", "--help"], "ignored, with a warning, unless the experiment has scope: chat"),
    (["arms", "add", "--help"], "required for a new arm; leave it out only to bring back a "
                                "retired one"),
    (["policy", "--help"], "e.g. epsilon=0.2; each policy's parameters: docs/policies.md or "
                           "GET /v1/policies."),
])
def test_help_says_what_the_option_does(argv: list[str], says: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and says in " ".join(out.split())


def test_a_prompt_that_reads_no_answer_ends_its_line(tmp_path: Path) -> None:
    """With stdin not a terminal, the prompt and "aborted; nothing changed" were one line
    ("… [y/N]: aborted; nothing changed")."""
    db = ["--config", str(EXAMPLES), "--store", f"sqlite:///{tmp_path / 'p.db'}"]
    env = dict(os.environ)
    subprocess.run([sys.executable, "-m", "banditbot", "init-db", "--store",
                    f"sqlite:///{tmp_path / 'p.db'}"], check=True, capture_output=True,
                   timeout=120, env=env)
    proc = subprocess.run(f"{sys.executable} -m banditbot reset greeting {' '.join(db)} 2>&1",
                          shell=True, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[-1] == "aborted; nothing changed", proc.stdout
    assert lines[-2].rstrip().endswith("[y/N]:"), proc.stdout


def test_a_write_with_the_packaged_experiments_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial forgot --config: `decide greeting --store sqlite:///f.db` decided with the
    packaged example's 'greeting' (the same arm ids, other texts) without a word."""
    store = ["--store", f"sqlite:///{tmp_path / 'f.db'}"]
    code, _, err = run_cli(["decide", "greeting", *store], capsys)
    assert code == 0 and "using the packaged example's experiments" in err, err
    code, _, err = run_cli(["decide", "greeting", *store, "--config", str(EXAMPLES)], capsys)
    assert code == 0 and "packaged" not in err, err


def test_a_reward_to_a_store_that_does_not_exist_creates_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A re-trial: a mistyped --store on `reward` made a new database and answered "no
    decision has that id" (as cheat and rotate-pseudonyms did before)."""
    code, _, err = run_cli(["reward", "abc", "1", "--config", str(EXAMPLES), "--store",
                            f"sqlite:///{tmp_path / 'none.db'}"], capsys)
    assert code == 2 and "no banditbot database at" in err, err
    assert not (tmp_path / "none.db").exists()
