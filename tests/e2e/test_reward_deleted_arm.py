"""A reward for a decision whose arm was deleted from the experiments file since: counted
once, as before, and the answer says where it counts (it was answered "applied" without a
word, and the report, which leaves the arm out, never showed it) — through the service, the
HTTP API, the CLI and Telegram."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, RewardStatus, SQLiteStore, parse_config

from ..conftest import CONFIG, FakeClock, cli_sqlite_service, run_cli
from ..telegram_double import BotApiDouble, SentMessage
from .test_telegram_polling import run_bot

GONE = "no longer in the experiments file"


def _config(arms: tuple[str, ...]) -> dict[str, Any]:
    return {"experiments": [{"id": "e", "arms": [{"id": a, "content": f"Text {a}"}
                                                 for a in arms],
                             "policy": {"name": "epsilon-greedy", "epsilon": 1.0},
                             "burn_in": 0}]}


def _decided(service: BanditService, arm: str, subject: str = "u") -> str:
    """The id of a decision for ``arm`` (epsilon 1: a uniform pick, drawn until it is)."""
    for _ in range(200):
        d = service.decide("e", subject)
        if d.arm == arm:
            return d.id
    raise AssertionError(f"no decision for {arm}")


def test_the_service_counts_it_once_and_says_the_arm_left_the_file(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    store.init()
    before = BanditService(parse_config(_config(("red", "blue"))), store,
                           rng=np.random.default_rng(1))
    gone, kept = _decided(before, "blue"), _decided(before, "red")
    after = BanditService(parse_config(_config(("red", "green"))), store)
    with caplog.at_level(logging.WARNING, logger="banditbot"):
        first = after.reward(gone, 1, "u")
    assert first.status is RewardStatus.APPLIED and first.arm == "blue"
    assert first.message.startswith(f"thanks, counted to arm 'blue', which is {GONE}")
    assert "the report does not" in first.message
    assert any(GONE in r.getMessage() for r in caplog.records)
    assert after.reward(gone, 1, "u").status is RewardStatus.DUPLICATE  # (exactly once)
    assert next(r for r in after.decisions("e") if r.id == gone).reward == 1.0
    assert after.reward(kept, 1, "u").message == "thanks, counted"  # (an arm of the file)
    # an arm an admin added is no arm of the file, but the report shows it: no word
    after.add_arm("e", "yo", "Yo", actor="test")
    assert after.reward(_decided(after, "yo"), 0, "u").message == "thanks, counted"
    store.close()


def test_the_http_api_and_the_cli_say_so_with_the_reward_applied(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from banditbot.api import create_app

    from ..http_client import HTTP
    from ..telegram_double import ServerThread

    yaml = "experiments:\n  - id: e\n    arms:\n{arms}    policy: {{name: epsilon-greedy, " \
           "epsilon: 1.0}}\n    burn_in: 0\n"
    both = "".join(f"      - {{id: {a}, content: Text {a}}}\n" for a in ("red", "blue"))
    before, _ = cli_sqlite_service(tmp_path, yaml.format(arms=both), "c.db", 1)
    by_cli, by_http = _decided(before, "blue"), _decided(before, "blue", "v")
    before.store.close()
    red = "".join(f"      - {{id: {a}, content: Text {a}}}\n" for a in ("red",))
    after, options = cli_sqlite_service(tmp_path, yaml.format(arms=red), "c.db", 2)

    code, out, err = run_cli(["reward", by_cli, "1", *options], capsys)
    assert code == 0, err
    assert out.startswith(f"applied: thanks, counted to arm 'blue', which is {GONE}")

    app = create_app(after)
    key = app.state.keys.create("admin", "admin")[0]
    with ServerThread(app) as url:
        answer = HTTP.post(f"{url}/v1/decisions/{by_http}/reward", json={"value": 1},
                           headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "applied" and body["arm"] == "blue"
    assert GONE in body["message"]
    after.store.close()


def test_telegram_thanks_the_voter_and_keeps_the_message_text(
        tmp_path: Path, double: BotApiDouble) -> None:
    """The edit that shows the vote rebuilt the message from the arm's content, which left
    with the arm: the prompt became the thanks line alone. It keeps its text; its buttons go."""
    store = SQLiteStore(tmp_path / "bot.db")
    store.init()
    seed = CONFIG["experiments"][0]
    before = BanditService(parse_config({"experiments": [seed]}), store,
                           rng=np.random.default_rng(5), clock=FakeClock())
    seen: dict[str, Any] = {}

    def run(service: BanditService, script: Any) -> None:
        run_bot(service, double, script)

    async def show() -> None:
        double.send_command(BotApiDouble.user(501, "Alice"), 501, "/random")

        def prompt() -> SentMessage | None:
            texts = [m for m in double.chat_messages(501) if m.kind == "text"]
            return texts[-1] if texts else None

        seen["prompt"] = await double.wait_for(prompt)

    run(before, show)
    message: SentMessage = seen["prompt"]
    (decision,) = before.decisions("seed")
    shown = message.text
    kept = [a for a in seed["arms"] if a["id"] != decision.arm]
    after = BanditService(parse_config({"experiments": [{**seed, "arms": kept}]}), store,
                          clock=FakeClock())

    async def vote() -> None:
        press = double.press(BotApiDouble.user(501, "Alice"), message, "👍")
        qid = press["callback_query"]["id"]
        await double.wait_for(lambda: qid in double.callback_answers
                              and message.reply_markup is None)
        seen["answer"] = double.callback_answers[qid]["text"]

    run(after, vote)
    assert seen["answer"] == "Thanks! You answered 👍"
    assert message.text == shown  # (was: "\n\nYou answered 👍 — thanks", the arm's text gone)
    assert next(r for r in after.decisions("seed")).reward == 1.0
    assert not double.errors
    store.close()
