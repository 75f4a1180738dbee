"""The bot under trouble, with the real python-telegram-bot Application run by banditbot's own
polling loop against the Bot API double: slow chats, outages, refused commands, content
Telegram cannot parse, a store that fails, a used confirmation, stray messages."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, ConfigError, SQLiteStore, StoreError, parse_config
from banditbot.telegram import build_application, run_polling

from ..conftest import EXAMPLES, FakeClock, free_port, rest_of_output
from ..telegram_double import BotApiDouble, ServerThread, make_app
from .test_telegram_polling import ADMIN_USER, ALICE, BOB, bot_config, last_text


class TroubledStore(SQLiteStore):
    """A real SQLite store that can be made slow (reads of the decision log wait for a gate)
    or failing (statistics reads raise the store's error, hint and all)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()
        self.failing = False
        self.log_failing = False

    def iter_decisions(self, *args: Any, **kwargs: Any) -> Any:
        if self.log_failing:
            raise StoreError("SQLite: disk I/O error", hint="check the disk")
        if not self.gate.is_set():
            self.waiting.set()
            assert self.gate.wait(60), "the test never opened the gate"
        return super().iter_decisions(*args, **kwargs)

    def read_stats(self, *args: Any, **kwargs: Any) -> Any:
        if self.failing:
            raise StoreError("DynamoDB query failed: ResourceNotFoundException",
                             hint="check the table, credentials and region")
        return super().read_stats(*args, **kwargs)

    def read_counts(self, *args: Any, **kwargs: Any) -> Any:
        if self.failing:
            raise StoreError("DynamoDB query failed: ResourceNotFoundException",
                             hint="check the table, credentials and region")
        return super().read_counts(*args, **kwargs)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TroubledStore]:
    s = TroubledStore(tmp_path / "bot.db")
    s.init()
    yield s
    s.gate.set()
    s.close()


@pytest.fixture
def service(store: TroubledStore) -> BanditService:
    return BanditService(parse_config(bot_config()), store, rng=np.random.default_rng(5),
                         clock=FakeClock())


def polling(service: BanditService, double: BotApiDouble,
            script: Callable[[], Awaitable[None]]) -> None:
    """Run the bot as ``banditbot run`` does (:func:`run_polling`) while ``script`` plays
    (the admins have a private chat with the bot: their menu is published)."""
    double.known_chats.update(service.admins)

    async def main() -> None:
        app = build_application(service, double.token, base_url=double.base_url)
        stop = asyncio.Event()
        runner = asyncio.create_task(run_polling(app, stop, timeout=1))
        try:
            await double.wait_for(lambda: app.running or runner.done())
            await script()
        finally:
            stop.set()
            await runner

    asyncio.run(main())


def test_one_chats_slow_work_does_not_delay_another_chats_reply(
        service: BanditService, store: TroubledStore, double: BotApiDouble) -> None:
    """Alice's /report chart waits on a slow store; Bob's /start is answered meanwhile, and
    Alice gets her chart once the store answers."""
    async def script() -> None:
        store.gate.clear()
        double.send_command(ALICE, 501, "/report seed")
        await double.wait_for(store.waiting.is_set)  # Alice's chart is stuck in the store
        double.send_command(BOB, 502, "/start")
        welcome = await double.wait_for(last_text(double, 502), timeout=10)
        assert "/random" in (welcome.text or "")
        assert not any(m.kind == "photo" for m in double.chat_messages(501))  # still stuck
        store.gate.set()
        await double.wait_for(lambda: any(m.kind == "photo"
                                          for m in double.chat_messages(501)))

    polling(service, double, script)


def test_a_chats_updates_keep_their_order(service: BanditService,
                                          double: BotApiDouble) -> None:
    """Within one chat, a press is handled after the command that sent its buttons, and
    replies come in the order the commands were sent."""
    async def script() -> None:
        for text in ("/start", "/experiments", "/help"):
            double.send_command(ALICE, 501, text)
        replies = await double.wait_for(lambda: len(double.chat_messages(501)) == 3 and
                                        double.chat_messages(501))
        assert "/random" in replies[0].text and " · seed" in replies[1].text
        assert replies[2].text == replies[0].text

    polling(service, double, script)


@pytest.mark.interpreted
def test_a_chart_that_fails_after_the_table_is_not_apologised_for(
        service: BanditService, store: TroubledStore, double: BotApiDouble,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("SQLite: disk I/O error", hint="check the disk")

    async def script() -> None:
        # the table was computed; the chart's decision log cannot be read
        monkeypatch.setattr(service, "report_series", unreadable)
        double.send_command(ALICE, 501, "/report seed")
        table = await double.wait_for(last_text(double, 501))
        assert table.text.startswith("<b>seed</b>: ") and "\n<b>seed · " in table.text \
            and "<pre>" in table.text
        double.send_command(ALICE, 501, "/start")  # the next reply comes after the failure
        await double.wait_for(last_text(double, 501, 2))

    with caplog.at_level(logging.WARNING, logger="banditbot"):
        polling(service, double, script)
    texts = [m.text or "" for m in double.chat_messages(501)]
    assert not any(t.startswith("Sorry") for t in texts), texts
    assert any(r.getMessage() == "report chart failed" for r in caplog.records)


def test_a_message_telegram_answered_late_keeps_buttons_that_count(
        service: BanditService, double: BotApiDouble, caplog: pytest.LogCaptureFixture) -> None:
    """A trial: Telegram delivered the arm's message but answered after the bot's read
    timeout (5 s); the decision was not logged, the update failed, and the press on the
    message that did arrive was told "this poll has closed". Now the decision is logged
    (one warning, no apology sent), and the press counts."""
    async def script() -> None:
        double.slow["sendMessage"] = [5.5, 1]
        double.send_command(ALICE, 501, "/random")  # (the command of experiment seed)
        prompt = await double.wait_for(last_text(double, 501))
        await double.wait_for(lambda: list(service.decisions("seed")), timeout=20)
        double.press(ALICE, prompt, "👍")
        await double.wait_for(lambda: double.callback_answers)

    with caplog.at_level(logging.WARNING, logger="banditbot"):
        polling(service, double, script)
    (decision,) = service.decisions("seed")
    assert decision.reward == 1.0
    (answer,) = [a.get("text") or "" for a in double.callback_answers.values()]
    assert answer.startswith("Thanks! You answered 👍"), answer
    texts = [m.text or "" for m in double.chat_messages(501)]
    assert not any(t.startswith("Sorry") for t in texts), texts
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == ["Telegram did not answer in time; the decision is logged in case its "
                      "message arrived"]


def test_with_implicit_rewards_a_message_answered_late_is_not_logged(
        service: BanditService, double: BotApiDouble, caplog: pytest.LogCaptureFixture) -> None:
    """A review: with implicit rewards a logged decision nobody saw is counted as silence
    against its arm, so a message whose delivery is unknown is not logged there (as one
    Telegram refused)."""
    async def script() -> None:
        double.slow["sendMessage"] = [5.5, 1]
        double.send_command(ALICE, 501, "/implicit")
        await double.wait_for(last_text(double, 501))
        await double.wait_for(lambda: double.slow["sendMessage"][1] == 0)
        await asyncio.sleep(6.0)  # (past the bot's read timeout: its handler is done)

    with caplog.at_level(logging.WARNING, logger="banditbot"):
        polling(service, double, script)
    (prompt, *_) = double.chat_messages(501)
    assert prompt.text in ("p", "q") and prompt.buttons()  # the arm was delivered …
    assert list(service.decisions("implicit")) == []  # … and not logged
    assert not any("the decision is logged" in r.getMessage() for r in caplog.records)


def test_a_user_who_blocked_the_bot_is_a_warning_not_a_failure(
        service: BanditService, double: BotApiDouble, caplog: pytest.LogCaptureFixture) -> None:
    """Telegram answers 403 "bot was blocked by the user": one warning line without a
    traceback, no apology sent to someone who cannot receive it, no decision logged."""
    async def script() -> None:
        double.refuse["sendMessage"] = [403, "Forbidden: bot was blocked by the user", 1]
        double.send_command(ALICE, 501, "/random")  # (seed's command: /seed was unknown)
        await double.wait_for(lambda: double.refuse["sendMessage"][2] == 0)
        double.send_command(ALICE, 501, "/start")  # the next update is served as usual
        await double.wait_for(last_text(double, 501))

    with caplog.at_level(logging.WARNING, logger="banditbot"):
        polling(service, double, script)
    sent = [p for m, p in double.calls if m == "sendMessage"]
    assert len(sent) == 2  # the refused prompt and the /start reply: no "Sorry…" attempt
    assert list(service.decisions("seed")) == []
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warned] == [
        "Telegram would not deliver to this chat (the bot was blocked or removed)"]
    assert all(r.exc_info is None for r in warned)


def test_operator_hints_never_reach_users(service: BanditService, store: TroubledStore,
                                          double: BotApiDouble) -> None:
    async def script() -> None:
        store.failing = True
        double.send_command(ALICE, 501, "/random")
        sorry = await double.wait_for(last_text(double, 501))
        assert sorry.text.startswith("Sorry, I can't reach my memory")
        store.failing = False

    polling(service, double, script)
    for message in double.messages:
        assert "credentials" not in (message.text or "") and "table" not in (message.text or "")
    assert list(service.decisions("seed")) == []


def test_a_reset_confirmation_works_once(service: BanditService,
                                         double: BotApiDouble) -> None:
    async def script() -> None:
        double.send_command(ADMIN_USER, 1001, "/reset seed")
        ask = await double.wait_for(last_text(double, 1001))
        data = next(b["callback_data"] for b in ask.buttons() if b["text"] == "Yes, reset")
        first = double.press(ADMIN_USER, ask, "Yes, reset")
        await double.wait_for(lambda: first["callback_query"]["id"] in double.callback_answers)
        # a second tap on the same button (a stale client, a double tap)
        second = double._push(double.callback_update(ADMIN_USER, ask, data))
        await double.wait_for(lambda: second["callback_query"]["id"] in double.callback_answers)
        assert double.callback_answers[second["callback_query"]["id"]]["text"].startswith(
            "already done")
        # Cancel after the reset was done (a double tap, a second admin): not "cancelled"
        # (the buttons are gone from the message; a client that still shows them sends it)
        late = double._push(double.callback_update(ADMIN_USER, ask, "rc"))["callback_query"][
            "id"]
        await double.wait_for(lambda: late in double.callback_answers)
        assert double.callback_answers[late]["text"].startswith("already answered")
        assert "was reset" in (ask.text or "")
        # and the other way round: a cancelled confirmation cannot reset any more
        double.send_command(ADMIN_USER, 1001, "/reset seed")
        again = await double.wait_for(last_text(double, 1001, 2))
        confirm = next(b["callback_data"] for b in again.buttons() if b["text"] == "Yes, reset")
        cancel = double.press(ADMIN_USER, again, "Cancel")["callback_query"]["id"]
        await double.wait_for(lambda: cancel in double.callback_answers)
        yes = double._push(double.callback_update(ADMIN_USER, again, confirm))[
            "callback_query"]["id"]
        await double.wait_for(lambda: yes in double.callback_answers)
        assert double.callback_answers[yes]["text"].startswith("already done")
        assert again.text == "Reset cancelled; nothing changed."

    polling(service, double, script)
    assert service.current_generation("seed") == 1  # once: the cancelled one did nothing


def test_unknown_commands_and_plain_text_get_a_hint(service: BanditService,
                                                    double: BotApiDouble) -> None:
    async def script() -> None:
        double.send_command(ALICE, 501, "/nonsense")
        hint = await double.wait_for(last_text(double, 501))
        assert "/help" in hint.text
        double.send_command(ALICE, 501, "hello there")
        again = await double.wait_for(last_text(double, 501, 2))
        assert "/help" in again.text
        double.send_command(BOB, -700, "chatting among friends", chat_type="group")
        double.send_command(BOB, -700, "/start", chat_type="group")
        await double.wait_for(last_text(double, -700))
        assert len(double.chat_messages(-700)) == 1  # the group's chatter got no answer

    polling(service, double, script)


def test_an_arm_telegram_cannot_parse_is_sent_plain_counted_and_reported(
        service: BanditService, double: BotApiDouble) -> None:
    """Content that slipped past validation (written to the store by an older version):
    the user still sees it, its decision is logged (so the policy learns about it), the
    failure is counted and the admins hear of it once."""
    store = service.store
    meta = store.read_meta("seed")
    store.write_meta("seed", replace(meta, added_arms={"news": "Great news! Try v2.0 now."},
                                     retired_arms=("arm1", "arm2")))

    async def script() -> None:
        for _ in range(2):
            double.send_command(ALICE, 501, "/random")
        await double.wait_for(last_text(double, 501, 2))

    polling(service, double, script)
    shown = [m for m in double.chat_messages(501) if m.kind == "text"]
    assert [m.text for m in shown] == ["Great news! Try v2.0 now."] * 2
    assert all(m.parse_mode is None and m.buttons() for m in shown)
    assert [r.arm for r in service.decisions("seed")] == ["news", "news"]
    assert store.read_counters("send-failures:seed") == {"news": 2.0}
    report = service.report("seed")  # visible where people look
    assert next(a.send_failures for a in report.arms if a.arm == "news") == 2
    assert "news: Telegram refused its formatting 2 time(s)" in report.to_text()
    (notice,) = double.chat_messages(1001)
    assert "arm news of seed" in (notice.text or "")


def test_arm_add_refuses_content_that_breaks_markdown_v2(service: BanditService,
                                                         double: BotApiDouble) -> None:
    async def script() -> None:
        double.send_command(ADMIN_USER, 1001, "/arm add seed arm3 Great news! Try v2.0 now.")
        refused = await double.wait_for(last_text(double, 1001))
        assert refused.text.startswith("That change is not valid")
        assert "MarkdownV2 reserves '!'" in refused.text  # what is wrong
        assert "\\!" in refused.text  # and the fix
        # a prior whose arithmetic would overflow every report: refused, saying the range
        double.send_command(ADMIN_USER, 1001, "/prior seed arm1 1e300 1e300")
        await double.wait_for(lambda: len(double.chat_messages(1001)) == 2)
        prior = double.chat_messages(1001)[-1].text or ""
        assert prior.startswith("That input is not valid here: prior (1e+300, 1e+300)")
        assert "pseudo-counts from 0 to 1e+09" in prior

        # valid MarkdownV2 is confirmed rendered: Telegram shows *bold*, not "\!" escapes
        double.send_command(ADMIN_USER, 1001, "/arm add seed arm_4 *Great* news\\! v2\\.0")
        await double.wait_for(lambda: len(double.chat_messages(1001)) == 3)
        added = double.chat_messages(1001)[-1]
        assert added.parse_mode == "MarkdownV2"
        assert added.text == "Arm arm\\_4 added to seed; it sends:\n*Great* news\\! v2\\.0"

        # Telegram counts UTF-16 units: content of 2,040 emoji (4,080 units) is a message,
        # but not with the confirmation's header — that comes as plain text, cut short
        # (it was refused as too long after the arm had been added)
        double.send_command(ADMIN_USER, 1001, "/arm add seed emoji " + "😀" * 2040)
        await double.wait_for(lambda: len(double.chat_messages(1001)) == 4)
        confirm = double.chat_messages(1001)[-1]
        assert confirm.parse_mode is None and (confirm.text or "").startswith(
            "Arm emoji added to seed; it sends:\n😀") and (confirm.text or "").endswith("…")

    polling(service, double, script)
    assert "arm3" not in service.active_arms("seed")
    assert service.content("seed", "arm_4") == "*Great* news\\! v2\\.0"
    assert "emoji" in service.active_arms("seed")
    with pytest.raises(ConfigError, match="an emoji counts twice"):
        service.add_arm("seed", "huge", "😀" * 2049)  # 4,098 units: Telegram refuses it
    assert service.report("seed").arms  # the report still works


# --- banditbot run as a process -------------------------------------------------------------
def _run(tmp_path: Path, base_url: str, token: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TELEGRAM_TOKEN": token, "BANDITBOT_TELEGRAM_BASE_URL": base_url,
           "BANDITBOT_STORE": f"sqlite:///{tmp_path / 'run.db'}",
           "BANDITBOT_CONFIG": str(EXAMPLES)}
    return subprocess.Popen([sys.executable, "-m", "banditbot", "run", *args], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    if proc.poll() is None:
        proc.terminate()
    _, err = rest_of_output(proc, timeout=60)  # keeps what a readline() had buffered
    return proc.returncode, err


def _answers_a_prompt(proc: subprocess.Popen[str], double: BotApiDouble) -> str:
    """A user's /random gets a prompt with buttons from the running bot; then the bot is
    stopped. Returns its stderr."""
    try:
        double.send_command(ALICE, 501, "/random")
        prompt = _wait(lambda: double.chat_messages(501) and double.chat_messages(501)[0])
        assert prompt.buttons()
    finally:
        _, err = _stop(proc)
    return err


def _wait(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    return asyncio.run(BotApiDouble().wait_for(predicate, timeout))


def test_a_rejected_token_is_one_line_and_exit_2(double: BotApiDouble, tmp_path: Path) -> None:
    wrong = "123456:WRONG-token-that-telegram-rejects-000000"
    proc = _run(tmp_path, double.base_url, wrong)
    code, err = _stop(proc) if proc.wait(timeout=60) is not None else (None, "")
    assert code == 2
    lines = err.strip().splitlines()
    # one sentence, one pair of brackets (it read "(check TELEGRAM_TOKEN (a token … ABC…))")
    assert lines == ["error: Telegram rejected the bot token (check TELEGRAM_TOKEN: a token "
                     "from @BotFather looks like 123456:ABC…)"]
    assert "WRONG-token" not in err


def test_run_does_not_silently_take_a_bot_from_its_webhook(double: BotApiDouble,
                                                           tmp_path: Path) -> None:
    """A production webhook is set: `banditbot run` (say, on a laptop) refuses instead of
    removing it, and takes over only when told to, saying so."""
    double.webhook = {"url": "https://bot.example.com/telegram", "secret_token": "s" * 32}
    proc = _run(tmp_path, double.base_url, double.token)
    proc.wait(timeout=60)
    out, err = rest_of_output(proc, timeout=60)
    assert proc.returncode == 2 and "this bot has a webhook" in err
    assert "--replace-webhook" in err
    assert "is polling" not in out  # (it said so before refusing)
    assert double.webhook.get("url") == "https://bot.example.com/telegram"  # untouched
    err = _answers_a_prompt(_run(tmp_path, double.base_url, double.token,
                                 "--replace-webhook"), double)
    assert not double.webhook.get("url") and "webhook removed" in err


def test_run_says_which_experiments_file_and_commands_it_serves(double: BotApiDouble,
                                                                tmp_path: Path) -> None:
    """A trial's `banditbot run` served a stray ./experiments.yaml without a word, and the
    README's /random answered "I don't know that one". Its first line names the file and
    the commands it runs."""
    import threading

    proc = _run(tmp_path, double.base_url, double.token)
    guard = threading.Timer(60, proc.terminate)  # (a line that never comes fails, not hangs)
    guard.start()
    try:
        assert proc.stdout is not None
        line = " ".join(proc.stdout.readline().split())
    finally:
        guard.cancel()
        _stop(proc)
    assert line.startswith(f"banditbot is polling Telegram; experiments: {EXAMPLES} (/"), line
    assert "/random" in line and "; store: sqlite:///" in line


def test_refused_commands_are_a_warning_and_the_bot_runs_on(double: BotApiDouble,
                                                            tmp_path: Path) -> None:
    double.refuse["setMyCommands"] = [400, "Bad Request: BOT_COMMAND_INVALID", -1]
    err = _answers_a_prompt(_run(tmp_path, double.base_url, double.token), double)
    assert "the command list was not published" in err
    assert "Traceback" not in err


def test_an_unreachable_bot_api_is_retried_with_backoff(tmp_path: Path) -> None:
    """Nothing listens where the Bot API should be: one line says so, the bot retries, and
    once the API is there it starts and answers."""
    port = free_port()
    double = BotApiDouble()
    proc = _run(tmp_path, f"http://127.0.0.1:{port}", double.token)
    lines: list[str] = []
    try:
        def first_line() -> bool:
            lines.append(proc.stderr.readline() if proc.stderr else "")
            return "unreachable" in lines[-1]

        _wait(first_line)
        with ServerThread(make_app(double), port=port) as url:
            double.base_url = url
            _wait(lambda: double.commands)  # connected, published its commands
            double.send_command(ALICE, 501, "/random")
            _wait(lambda: double.chat_messages(501))
            _, err = _stop(proc)
    finally:
        if proc.poll() is None:
            _, err = _stop(proc)
    log = [line for line in lines + err.splitlines() if line.strip()]
    # unreachable, reachable again: nothing per retry, no traceback
    assert [line.split('"message": "')[1].split('"')[0] for line in log] == [
        "Telegram is unreachable; retrying with backoff", "Telegram is reachable again"], log


def test_an_outage_while_polling_is_two_log_lines(service: BanditService,
                                                  double: BotApiDouble,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """getUpdates answered 502 (Telegram or a proxy down) for a while: one line when it
    begins, one when it ends, and the bot answers afterwards."""
    async def script() -> None:
        double.refuse["getUpdates"] = [502, "Bad Gateway", 3]
        await double.wait_for(lambda: double.refuse["getUpdates"][2] == 0, timeout=30)
        double.send_command(ALICE, 501, "/start")
        await double.wait_for(last_text(double, 501), timeout=30)

    caplog.set_level(logging.WARNING)  # every library's warnings, not only banditbot's
    started = time.monotonic()
    polling(service, double, script)
    assert time.monotonic() - started < 30
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == ["Telegram is unreachable; retrying with backoff",
                     "Telegram is reachable again"], lines
