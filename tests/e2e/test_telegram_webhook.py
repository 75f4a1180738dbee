"""Webhook mode: Telegram-shaped JSON posted over HTTP to the ASGI app ``banditbot serve``
runs, with replies going to the Bot API double."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.api import create_app
from banditbot.telegram import build_application

from ..http_client import HTTP
from ..telegram_double import BOT_ID, BotApiDouble, ServerThread
from .test_telegram_polling import bot_config

SECRET = "s3cret-token_for-tests"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def service(tmp_path: Path) -> BanditService:
    store = SQLiteStore(tmp_path / "hook.db")
    store.init()
    return BanditService(parse_config(bot_config()), store, rng=np.random.default_rng(9))


@pytest.fixture
def server(service: BanditService, double: BotApiDouble) -> Iterator[str]:
    telegram = build_application(service, double.token, base_url=double.base_url,
                                 webhook=True)
    app = create_app(service, telegram=telegram, webhook_secret=SECRET)
    with ServerThread(app) as url:
        yield url


def post(url: str, update: dict[str, Any] | bytes, secret: str | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    return HTTP.post(f"{url}/telegram", content=body, headers=headers, timeout=10)


def wait(predicate: Any, timeout: float = 10.0) -> Any:
    return asyncio.run(BotApiDouble().wait_for(predicate, timeout))


def test_secret_token_is_required(server: str, double: BotApiDouble) -> None:
    update = double.message_update(double.user(501), 501, "/random")
    update["update_id"] = 1
    assert post(server, update, secret=None).status_code == 403
    assert post(server, update, secret="wrong").status_code == 403
    assert post(server, update, secret=SECRET[:-1]).status_code == 403
    assert double.messages == []
    response = post(server, update)
    assert response.status_code == 200
    wait(lambda: double.chat_messages(501))


def test_redelivered_update_has_no_second_effect(server: str, double: BotApiDouble,
                                                 service: BanditService) -> None:
    update = double.message_update(double.user(501), 501, "/random")
    update["update_id"] = 42
    assert post(server, update).status_code == 200
    prompt = wait(lambda: double.chat_messages(501) and double.chat_messages(501)[0])
    assert post(server, update).status_code == 200  # Telegram re-delivers after a timeout
    press = double.callback_update(double.user(501), prompt,
                                   prompt.buttons()[0]["callback_data"])
    press["update_id"] = 43
    assert post(server, press).status_code == 200
    assert post(server, press).status_code == 200
    wait(lambda: prompt.edits)
    assert len(double.chat_messages(501)) == 1
    assert len(list(service.decisions("seed"))) == 1
    assert service.report("seed").total_answered == 1
    assert len(double.callback_answers) == 1


def test_an_update_is_answered_once_handled_and_a_dead_claim_is_handled_again(
        server: str, double: BotApiDouble, service: BanditService) -> None:
    """`serve` answered 200 before it handled an update and claimed it for a week: a crash
    in between lost the update (the redelivery was ignored as a duplicate). Now the prompt
    is sent before the 200, and an update whose claim is held (a process handling it) is
    answered 503 until the claim lapses or the update is handled."""
    update = double.message_update(double.user(502), 502, "/random")
    update["update_id"] = 77
    assert post(server, update).status_code == 200
    assert len(double.chat_messages(502)) == 1  # handled before the answer, no waiting
    # a process that claimed update 78 and died: its lease stands …
    service.store.claim_key(f"tg-update:{BOT_ID}:78", ttl_seconds=60.0)
    update["update_id"] = 78
    held = post(server, update)
    assert held.status_code == 503 and "delivers it again" in held.json()["detail"]
    assert len(double.chat_messages(502)) == 1
    # … and once it has lapsed (a claim whose time has passed), the redelivery is handled
    service.store.claim_key(f"tg-update:{BOT_ID}:79", ttl_seconds=-1.0)
    update["update_id"] = 79
    assert post(server, update).status_code == 200
    assert len(double.chat_messages(502)) == 2
    assert post(server, update).json()["detail"] == "duplicate update ignored"
    # a handled update stays ignored after its lease has lapsed (the lease was tested
    # first, and a lapsed one let the update be handled again): handled, no lease left
    service.store.claim_key(f"tg-update:{BOT_ID}:80:done", ttl_seconds=3600.0)
    update["update_id"] = 80
    assert post(server, update).json()["detail"] == "duplicate update ignored"
    assert len(list(service.decisions("seed"))) == 2


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    (b"[1, 2, 3]", 400),
    (b'{"message": {"text": "/random"}}', 400),  # no update_id
    (b'{"update_id": "seven"}', 400),
    (b'{"update_id": 5, "padding": "' + b"x" * 1_100_000 + b'"}', 413),
])
def test_malformed_or_oversize_updates_are_refused(server: str, double: BotApiDouble,
                                                   service: BanditService, body: bytes,
                                                   status: int) -> None:
    assert post(server, body).status_code == status
    assert double.messages == []
    assert list(service.decisions("seed")) == []


def test_unknown_and_forged_callbacks_change_nothing(server: str, double: BotApiDouble,
                                                     service: BanditService) -> None:
    update = double.message_update(double.user(501), 501, "/random")
    update["update_id"] = 100
    post(server, update)
    prompt = wait(lambda: double.chat_messages(501) and double.chat_messages(501)[0])
    for i, data in enumerate(["v:Q3aJiitbXNC3XZ6BxPAlUw:0", "unknown-data", "v:x:1"]):
        forged = double.callback_update(double.user(501), prompt, data)
        forged["update_id"] = 200 + i
        assert post(server, forged).status_code == 200
    wait(lambda: len(double.callback_answers) == 3)
    assert {a["text"] for a in double.callback_answers.values()} == {"this poll has closed"}
    assert service.report("seed").total_answered == 0
    assert prompt.reply_markup is not None


@pytest.mark.slow
def test_fifty_users_pressing_at_once_each_count_once(server: str, double: BotApiDouble,
                                                      service: BanditService) -> None:
    users = [double.user(10_000 + i) for i in range(50)]
    for i, user in enumerate(users):
        update = double.message_update(user, user["id"], "/random")
        update["update_id"] = 1000 + i
        assert post(server, update).status_code == 200
    prompts = wait(lambda: len(double.messages) == 50 and
                   {m.chat_id: m for m in double.messages})
    presses = []
    for i, user in enumerate(users):
        p = double.callback_update(user, prompts[user["id"]],
                                   prompts[user["id"]].buttons()[i % 2]["callback_data"])
        p["update_id"] = 5000 + i
        presses.append(p)
    # every press twice (double taps), all at once
    bodies = [json.dumps(p).encode() for p in presses + presses]

    async def fire() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            responses = await asyncio.gather(*(
                client.post(f"{server}/telegram", content=b,
                            headers={HEADER: SECRET, "Content-Type": "application/json"})
                for b in bodies))
        return [r.status_code for r in responses]

    statuses = asyncio.run(fire())
    # a copy that came while its twin was being handled is answered 503 (Telegram delivers
    # it again later), never handled twice; delivered again, it is a known duplicate
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 50
    for body, status in zip(bodies, statuses, strict=True):
        if status == 503:
            again = post(server, body)
            assert again.status_code == 200 and again.json()["detail"] == \
                "duplicate update ignored"
    wait(lambda: len(double.callback_answers) == 50, timeout=30)
    rewards = [r.reward for r in service.decisions("seed")]
    assert len(rewards) == 50 and all(r is not None for r in rewards)
    assert service.report("seed").total_answered == 50
    assert sum(rewards) == 25  # every even user pressed 👍 (1), every odd 👎 (0)
    assert not double.errors


def test_set_and_delete_webhook_commands(double: BotApiDouble, tmp_path: Path) -> None:
    env = {**os.environ, "TELEGRAM_TOKEN": double.token,
           "BANDITBOT_TELEGRAM_BASE_URL": double.base_url}
    env.pop("BANDITBOT_WEBHOOK_SECRET", None)
    proc = subprocess.run([sys.executable, "-m", "banditbot", "set-webhook",
                           "https://bot.example.org/telegram"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    stored = (tmp_path / ".env").read_text()
    assert stored.startswith("BANDITBOT_WEBHOOK_SECRET=")  # a new file: no empty first line
    secret = stored.split("BANDITBOT_WEBHOOK_SECRET=")[1].strip()
    assert len(secret) >= 32
    assert double.webhook == {"url": "https://bot.example.org/telegram", "secret_token": secret}
    assert secret not in proc.stdout + proc.stderr  # never printed
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0
    proc = subprocess.run([sys.executable, "-m", "banditbot", "delete-webhook"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert double.webhook == {}


def test_set_webhook_publishes_the_admin_commands_in_each_admins_private_chat(
        double: BotApiDouble, tmp_path: Path) -> None:
    """A webhook deployment never runs `banditbot run`: set-webhook publishes the menus,
    the admin commands in each admin's private chat; an admin Telegram knows no chat
    with (never started the bot) is a warning, and the rest is published."""
    env = {**os.environ, "TELEGRAM_TOKEN": double.token,
           "BANDITBOT_TELEGRAM_BASE_URL": double.base_url, "BANDITBOT_ADMINS": "1001,1002",
           "BANDITBOT_WEBHOOK_SECRET": SECRET}
    double.known_chats.add(1001)  # 1002 has never written to the bot
    proc = subprocess.run([sys.executable, "-m", "banditbot", "set-webhook",
                           "https://bot.example.org/telegram"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    public = [c["command"] for c in double.commands]
    assert "cheat" not in public and "random" in public
    assert double.menu(1001) == [*public, "cheat", "prior", "reset", "policy", "arm",
                                 "export", "audit"]
    assert double.menu(1002) == public
    assert f"command list published ({len(public)} commands; the admin commands too, in " \
        "the private chats of 1 admin)" in proc.stdout
    assert " ".join(proc.stderr.split()) == (
        "warning: 1 admin has not started a private chat with the bot (Telegram: chat not "
        "found): the admin commands appear in an admin's menu once they send the bot /start")


def test_an_admins_start_through_the_webhook_publishes_their_menu(
        server: str, double: BotApiDouble) -> None:
    """An admin who had not started the bot when its menus were published gets the admin
    commands in the menu on sending /start (a webhook deployment publishes nothing at its
    own start)."""
    update = double.message_update(double.user(1001, "Ada"), 1001, "/start")
    update["update_id"] = 41
    double.known_chats.add(1001)  # (Telegram knows the chat from that message on)
    assert post(server, update).status_code == 200
    assert "cheat" in wait(lambda: double.menu(1001))
    assert "cheat" not in double.menu(501)


def test_run_without_token_says_how_to_get_one(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """In this process (the conftest leaves TELEGRAM_TOKEN unset); `run` as a process is
    test_run_polls_with_a_token's."""
    from banditbot.cli import main

    monkeypatch.chdir(tmp_path)  # no .env to read a token from
    with pytest.raises(SystemExit) as exited:
        main(["run"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "@BotFather" in err and "banditbot demo" in err


def test_run_polls_with_a_token(double: BotApiDouble, tmp_path: Path) -> None:
    """`banditbot run` as a process: publishes its commands and answers /random."""
    env = {**os.environ, "TELEGRAM_TOKEN": double.token,
           "BANDITBOT_TELEGRAM_BASE_URL": double.base_url,
           "BANDITBOT_STORE": f"sqlite:///{tmp_path / 'run.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "banditbot", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait(lambda: double.commands, timeout=30)
        double.send_command(double.user(501), 501, "/random")
        prompt = wait(lambda: double.chat_messages(501) and double.chat_messages(501)[0],
                      timeout=30)
        assert [b["text"] for b in prompt.buttons()] == ["👍", "👎"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_an_edited_command_is_not_run_again(server: str, double: BotApiDouble,
                                            service: BanditService) -> None:
    """Telegram sends an edit of a message as ``edited_message``: an admin correcting a
    /cheat must not add its rewards twice, nor an edited /random make a second decision."""
    admin, alice = double.user(1001), double.user(501)
    for n, (user, text) in enumerate(((admin, "/cheat seed arm1 1"), (alice, "/random"))):
        edited = double.message_update(user, user["id"], text)
        edited = {"update_id": 700 + n, "edited_message": {
            **edited["message"], "edit_date": int(time.time())}}
        assert post(server, edited).status_code == 200
    barrier = double.message_update(alice, 501, "/random")  # a new message after the edits
    barrier["update_id"] = 710
    assert post(server, barrier).status_code == 200
    wait(lambda: double.chat_messages(501))
    time.sleep(0.5)  # an edit handled concurrently would have answered by now
    assert len(list(service.decisions("seed"))) == 1  # the barrier's only
    assert service.report("seed").total_answered == 0  # no cheat
    assert double.chat_messages(1001) == [] and len(double.chat_messages(501)) == 1


def test_a_webhook_bot_refuses_to_poll(service: BanditService, double: BotApiDouble) -> None:
    """A webhook bot's getUpdates is refused at once, as Telegram refuses it while a webhook
    is set, and never reaches the Bot API; the bot itself starts, answers and stops."""
    from telegram.error import Conflict

    telegram = build_application(service, double.token, base_url=double.base_url,
                                 webhook=True)

    async def run() -> None:
        await telegram.initialize()
        try:
            with pytest.raises(Conflict, match="by webhook"):
                await telegram.bot.get_updates()
            await telegram.bot.send_message(501, "still talking")
        finally:
            await telegram.shutdown()

    asyncio.run(run())
    assert "getUpdates" not in [method for method, _ in double.calls]
    assert [m.text for m in double.chat_messages(501)] == ["still talking"]


def _serve_with_a_bot(tmp_path: Path, base_url: str, token: str) -> tuple[Any, str, Path]:
    from ..conftest import EXAMPLES
    from ..serve_process import start_serve, wait_healthy

    env = {**os.environ, "TELEGRAM_TOKEN": token, "BANDITBOT_TELEGRAM_BASE_URL": base_url,
           "BANDITBOT_WEBHOOK_SECRET": SECRET, "BANDITBOT_CONFIG": str(EXAMPLES),
           "BANDITBOT_STORE": f"sqlite:///{tmp_path / 'serve.db'}"}
    proc, base, log_path = start_serve(tmp_path, env)
    wait_healthy(base, proc, log_path)
    return proc, base, log_path


def _stop_serve(proc: Any) -> None:
    if proc.poll() is None:
        proc.terminate()
    proc.wait(timeout=30)


def test_serve_comes_up_while_telegram_is_unreachable_and_connects_later(
        tmp_path: Path) -> None:
    """A new-user trial found `serve` with TELEGRAM_TOKEN exits 3 with a traceback when
    Telegram cannot be reached: the HTTP API comes up anyway (one warning line), the webhook
    answers 503 (Telegram delivers again), and the bot starts once Telegram answers."""
    from ..conftest import free_port
    from ..telegram_double import make_app

    bot_port = free_port()
    double = BotApiDouble()
    proc, base, log_path = _serve_with_a_bot(tmp_path, f"http://127.0.0.1:{bot_port}",
                                             double.token)
    try:
        assert HTTP.get(f"{base}/v1/experiments", timeout=10).status_code in (200, 401)
        assert HTTP.get(f"{base}/", timeout=10).status_code == 200
        update = double.message_update(double.user(501), 501, "/random")
        update["update_id"] = 5
        assert post(base, update, secret="wrong").status_code == 403
        assert post(base, update).status_code == 503
        with ServerThread(make_app(double), port=bot_port) as url:
            double.base_url = url
            deadline = time.monotonic() + 30
            while (status := post(base, update).status_code) == 503:
                assert time.monotonic() < deadline, "the bot never connected"
                time.sleep(0.3)
            assert status == 200
            wait(lambda: double.chat_messages(501))
            _stop_serve(proc)
    finally:
        _stop_serve(proc)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    assert "Traceback" not in "\n".join(lines)
    warned = [json.loads(x)["message"] for x in lines if "Telegram" in x]
    assert len(warned) == 2 and "unreachable" in warned[0] and "answers 503" in warned[0]


def test_serve_comes_up_when_telegram_refuses_the_token(double: BotApiDouble,
                                                         tmp_path: Path) -> None:
    wrong = "123456789:WRONG-token-that-telegram-rejects-000000"
    proc, base, log_path = _serve_with_a_bot(tmp_path, double.base_url, wrong)
    try:
        assert HTTP.get(f"{base}/readyz", timeout=10).status_code == 200
        update = double.message_update(double.user(501), 501, "/random")
        update["update_id"] = 6
        assert post(base, update).status_code == 503
    finally:
        _stop_serve(proc)
    text = log_path.read_text()
    assert "WRONG-token" not in text and "Traceback" not in text
    assert len([x for x in text.splitlines() if "rejected the bot token" in x]) == 1


def test_a_forwarded_admin_command_is_not_run(server: str, double: BotApiDouble,
                                              service: BanditService) -> None:
    """A review: an admin who forwarded a group member's "/cheat …" to the bot (to ask
    about it) ran it with the admin's rights. A forwarded command is someone else's words:
    it is not run, and the admin is told how to run it."""
    admin, stranger = double.user(1001), double.user(501)
    forwarded = double.message_update(admin, 1001, "/cheat seed arm1 1111111111")
    forwarded["update_id"] = 720
    forwarded["message"]["forward_origin"] = {"type": "user", "date": int(time.time()),
                                              "sender_user": stranger}
    assert post(server, forwarded).status_code == 200
    (answer,) = wait(lambda: double.chat_messages(1001))
    assert answer.text is not None and "forwarded admin command is not run" in answer.text
    assert service.report("seed").total_answered == 0
    own = double.message_update(admin, 1001, "/cheat seed arm1 11")  # sent by the admin
    own["update_id"] = 721
    assert post(server, own).status_code == 200
    wait(lambda: len(double.chat_messages(1001)) == 2 and double.chat_messages(1001))
    assert service.report("seed").total_answered == 2


def test_a_decide_key_cannot_reward_a_telegram_users_decision(
        service: BanditService, double: BotApiDouble) -> None:
    """A review: a decide key read a Telegram decision's id in the log and rewarded it by
    naming the user's Telegram id as the subject (200, counted: a forged vote). A decision
    the bot made is rewarded by its user's button, or over HTTP by an admin key; a decide
    key is refused (403, in the API's problem envelope) without being told whether the id
    or the subject was right. An HTTP client's own decisions are rewarded as before."""
    from banditbot.service import KeyRing

    ring = KeyRing(service.store)
    decide, admin = (ring.create(f"{role}-key", role)[0] for role in ("decide", "admin"))
    telegram = build_application(service, double.token, base_url=double.base_url,
                                 webhook=True)
    with ServerThread(create_app(service, telegram=telegram, webhook_secret=SECRET)) as url:
        def reward(decision_id: str, key: str, **body: Any) -> httpx.Response:
            return HTTP.post(f"{url}/v1/decisions/{decision_id}/reward", json=body,
                             headers={"Authorization": f"Bearer {key}"}, timeout=10)

        for update_id, user in ((300, 601), (301, 602)):
            update = double.message_update(double.user(user), user, "/random")
            update["update_id"] = update_id
            assert post(url, update).status_code == 200
        log = HTTP.get(f"{url}/v1/experiments/seed/decisions",
                       headers={"Authorization": f"Bearer {decide}"}, timeout=10)
        first, second = (json.loads(line)["decision_id"] for line in log.text.splitlines())
        forged = reward(first, decide, value=1, subject="601")
        assert forged.status_code == 403
        assert forged.headers["content-type"] == "application/problem+json"
        assert forged.json()["title"] == "not allowed"
        assert "Telegram" in forged.json()["detail"] and "admin key" in forged.json()["hint"]
        # the same answer for a wrong subject, or an id no decision has: nothing is told
        def told(answer: httpx.Response) -> tuple[int, str, str]:
            return answer.status_code, answer.json()["detail"], answer.json()["hint"]

        assert told(reward(first, decide, value=1, subject="999")) == told(forged)
        assert told(reward(first[:-4] + "0000", decide, value=1, subject="601")) == \
            told(forged)
        assert service.report("seed").total_answered == 0
        # the user's own button counts it; an admin key may reward the other one
        prompt = wait(lambda: double.chat_messages(601) and double.chat_messages(601)[0])
        press = double.callback_update(double.user(601), prompt,
                                       prompt.buttons()[0]["callback_data"])
        press["update_id"] = 302
        assert post(url, press).status_code == 200
        assert reward(second, admin, value=0).status_code == 200
        assert service.report("seed").total_answered == 2
        # an HTTP client's decide → reward is unchanged
        mine = HTTP.post(f"{url}/v1/experiments/seed/decisions", json={"subject": "601"},
                         headers={"Authorization": f"Bearer {decide}"}, timeout=10).json()
        assert reward(mine["decision_id"], decide, value=1, subject="601").status_code == 200
