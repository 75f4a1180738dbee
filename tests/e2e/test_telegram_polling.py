"""The real python-telegram-bot Application in polling mode against the Bot API double."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, ConfigError, MemoryStore, SQLiteStore, parse_config
from banditbot.telegram import build_application

from ..conftest import CONFIG, FakeClock
from ..telegram_double import BotApiDouble, SentMessage, check_html, check_markdown_v2

ADMIN = 1001
ALICE = BotApiDouble.user(501, "Alice", "de")
BOB = BotApiDouble.user(502, "Bob")
ADMIN_USER = BotApiDouble.user(ADMIN, "Ada")

SPECIALS = "_*[]()~>#+-=|{}.!"


def bot_config() -> dict[str, Any]:
    cfg = {**CONFIG, "experiments": list(CONFIG["experiments"])}
    cfg["experiments"] += [
        {"id": "plain_specials", "parse_mode": "plain",
         "arms": [{"id": "x", "content": f"All of {SPECIALS} as typed"}],
         "policy": "thompson"},
        {"id": "md_specials", "parse_mode": "MarkdownV2",
         "arms": [{"id": "y", "content": "*Bold* and " + "".join("\\" + c for c in SPECIALS)}],
         "policy": "thompson"},
        {"id": "tone", "arms": [{"id": "formal", "content": "Good day."},
                                {"id": "casual", "content": "Hey!"}],
         "policy": "linucb", "features": [{"name": "past_reward_rate", "center": 0.5}]},
        {"id": "tip", "parse_mode": "HTML", "reward": {"type": "rating"},
         "arms": [{"id": "t1", "content": "<b>Tip</b> &amp; more"}],
         "policy": "gaussian-thompson"},
        {"id": "nps", "parse_mode": "plain", "reward": {"type": "rating", "min": 0, "max": 20},
         "arms": [{"id": "long", "content": "x" * 4090}]},
    ]
    return cfg


@pytest.fixture
def service(tmp_path: Path) -> BanditService:
    store = SQLiteStore(tmp_path / "bot.db")
    store.init()
    return BanditService(parse_config(bot_config()), store, rng=np.random.default_rng(5),
                         clock=FakeClock())


def run_bot(service: BanditService, double: BotApiDouble,
            script: Callable[[], Awaitable[None]], *, admins_started: bool = True) -> None:
    """Run the bot with long polling while ``script`` plays; ``admins_started``: the admins
    have a private chat with the bot already (else Telegram knows no chat of theirs)."""
    if admins_started:
        double.known_chats.update(service.admins)

    async def main() -> None:
        app = build_application(service, double.token, base_url=double.base_url)
        async with app:
            await app.post_init(app)  # what run_polling does: publish the commands
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            try:
                await script()
            finally:
                await app.updater.stop()
                await app.stop()

    asyncio.run(main())


def last_text(double: BotApiDouble, chat: int, n: int = 1) -> Callable[[], SentMessage | None]:
    def find() -> SentMessage | None:
        msgs = [m for m in double.chat_messages(chat) if m.kind == "text"]
        return msgs[-1] if len(msgs) >= n else None

    return find


def test_a_poll_from_before_a_reset_says_where_its_vote_counts(service: BanditService,
                                                                double: BotApiDouble) -> None:
    """A prompt shown, then the experiment reset, then 👍: the vote counts in the earlier
    generation, which /report no longer shows; the answer says so (it said a plain
    "Thanks!", and the vote seemed lost)."""
    async def script() -> None:
        double.send_command(ALICE, 501, "/random")
        prompt = await double.wait_for(last_text(double, 501))
        service.reset("seed", actor="test")
        press = double.press(ALICE, prompt, "👍")
        await double.wait_for(lambda: prompt.edits)
        answer = double.callback_answers[press["callback_query"]["id"]]["text"]
        assert answer == "Thanks! You answered 👍 (this poll is from before a reset: it " \
            "counts in the earlier results)"
        assert "before a reset" in (prompt.text or "")

    run_bot(service, double, script)
    (old,) = service.decisions("seed", generation=0)
    assert old.reward == 1.0 and service.report("seed").total_answered == 0
    assert not double.errors


def test_seed_flow_random_vote_again_report(service: BanditService,
                                            double: BotApiDouble) -> None:
    """/random → 👍 → 👍 again → /report, through real HTTP."""
    seen: dict[str, Any] = {}

    async def script() -> None:
        double.send_command(ALICE, 501, "/random")
        prompt = await double.wait_for(last_text(double, 501))
        assert prompt.text in ("This is arm *1*", "This _is_ arm _2_")
        assert prompt.parse_mode == "MarkdownV2"
        labels = [b["text"] for b in prompt.buttons()]
        assert labels == ["👍", "👎"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in prompt.buttons())
        first = double.press(ALICE, prompt, "👍")
        qid = first["callback_query"]["id"]
        await double.wait_for(lambda: qid in double.callback_answers and prompt.edits)
        assert "Thanks" in double.callback_answers[qid]["text"]
        assert prompt.text.endswith("You answered 👍 — thanks")
        assert prompt.reply_markup is None  # buttons removed
        # a second press (e.g. from a stale client) on the same button
        again = double._push(double.callback_update(ALICE, prompt,
                                                    first["callback_query"]["data"]))
        qid2 = again["callback_query"]["id"]
        await double.wait_for(lambda: qid2 in double.callback_answers)
        assert double.callback_answers[qid2]["text"] == "already counted as 👍 (1)"
        double.send_command(ALICE, 501, "/report random")
        await double.wait_for(lambda: any(m.kind == "photo" for m in double.chat_messages(501)))
        seen["report"] = [m for m in double.chat_messages(501) if m.kind == "text"][-1]
        seen["photo"] = [m for m in double.chat_messages(501) if m.kind == "photo"][-1]
        seen["prompt"] = prompt

    run_bot(service, double, script)
    report = seen["report"]
    # (the answer in plain words first, then the title)
    assert report.parse_mode == "HTML" and report.text.startswith("<b>seed</b>: ")
    assert "\n\n<b>seed · epsilon-greedy" in report.text
    for label in ("decision", "answered", "sum", "estimate", "P(best)", "allocation"):
        assert label in report.text
    assert seen["photo"].file_bytes[:8] == b"\x89PNG\r\n\x1a\n"
    # the store: exactly one reward, on the decided arm
    records = list(service.decisions("seed"))
    assert len(records) == 1
    assert records[0].reward == 1.0
    assert seen["prompt"].text.startswith(service.content("seed", records[0].arm))
    rep = {a.arm: a for a in service.report("seed").arms}
    assert rep[records[0].arm].answered == 1 and service.report("seed").total_answered == 1
    # the press can be checked in the report: the arm's block counts 1 answer summing to 1
    # (the estimate needs more answers and shows "–")
    lines = report.text.replace("<pre>", "").splitlines()
    at = next(i for i, line in enumerate(lines) if line.split(" (")[0] == records[0].arm)
    assert lines[at + 1] == "  1 decision · 1 answered · sum 1", lines[at:at + 4]
    assert not double.errors
    assert {c["command"] for c in double.commands} >= {"random", "report", "help"}


def test_a_report_of_several_named_experiments_shows_each(service: BanditService,
                                                          double: BotApiDouble) -> None:
    """`/report greeting tip` reported greeting alone and dropped tip without a word (a
    trial): several names give their reports together, as /report alone gives all."""
    async def script() -> None:
        double.send_command(ALICE, 501, "/report random tip random")
        await double.wait_for(last_text(double, 501))

    run_bot(service, double, script)
    (text,) = [m.text or "" for m in double.chat_messages(501) if m.kind == "text"]
    assert text.startswith("<b>seed</b>: ") and "\n<b>tip · " in text
    assert text.count("<b>seed · ") == 1
    assert "ts · " not in text  # (only those named)


def test_a_report_of_named_experiments_with_a_typo_shows_the_others(
        service: BanditService, double: BotApiDouble) -> None:
    """`/report seed nosuch` answered only "There is no such experiment" (a trial): the
    unknown name is said, and the known ones reported."""
    async def script() -> None:
        double.send_command(ALICE, 501, "/report random nosuch tip")
        await double.wait_for(lambda: len([m for m in double.chat_messages(501)
                                           if m.kind == "text"]) >= 2)

        # an id and its command are one experiment; names all unknown are named too
        double.send_command(ALICE, 502, "/report seed random")
        await double.wait_for(last_text(double, 502))
        double.send_command(ALICE, 503, "/report nosuch1 nosuch2")
        await double.wait_for(last_text(double, 503))

    run_bot(service, double, script)
    said, text = [m.text or "" for m in double.chat_messages(501) if m.kind == "text"]
    assert said.startswith("No experiment named nosuch (/experiments lists them)")
    assert text.startswith("<b>seed</b>: ") and "\n<b>tip · " in text
    once = [m.text or "" for m in double.chat_messages(502) if m.kind == "text"]
    assert sum(t.count("<b>seed · ") for t in once) == 1, once
    (none,) = [m.text for m in double.chat_messages(503) if m.kind == "text"]
    assert none == "No experiment named nosuch1, nosuch2 (/experiments lists them)."
    assert not double.errors


def test_a_long_markdown_arm_is_confirmed_as_users_see_it(service: BanditService,
                                                          double: BotApiDouble) -> None:
    """A MarkdownV2 arm of 4,400 characters written and 4,000 shown was confirmed as its
    raw source cut at 300 characters (the reply's length was counted as written): it is
    confirmed rendered, as it fits."""
    content = "abcdefghi\\." * 400

    async def script() -> None:
        double.send_command(ADMIN_USER, ADMIN, "/arm add seed near " + content)
        await double.wait_for(last_text(double, ADMIN, 1))

    run_bot(service, double, script)
    (reply,) = [m for m in double.chat_messages(ADMIN) if m.kind == "text"]
    assert reply.parse_mode == "MarkdownV2" and (reply.text or "").endswith(content)
    assert "near" in service.active_arms("seed")
    assert not double.errors


def test_flood_control_delays_a_reply_but_does_not_lose_it(service: BanditService,
                                                            double: BotApiDouble) -> None:
    """Telegram refuses the reply once ("retry after 1"): it arrives a second later."""
    async def script() -> None:
        double.flood["sendMessage"] = 1
        double.send_command(ALICE, 501, "/random")
        prompt = await double.wait_for(last_text(double, 501))
        assert [b["text"] for b in prompt.buttons()] == ["👍", "👎"]
        qid = double.press(ALICE, prompt, "👍")["callback_query"]["id"]
        await double.wait_for(lambda: qid in double.callback_answers)

    run_bot(service, double, script)
    assert double.floods_sent == 1
    assert [m for m, _ in double.calls].count("sendMessage") == 2  # refused, then sent
    assert len(double.chat_messages(501)) == 1  # one reply, not two
    (record,) = service.decisions("seed")
    assert record.reward == 1.0  # the decision the user saw is the one rewarded
    assert not double.errors


def test_a_reply_telegram_never_takes_is_not_logged(service: BanditService,
                                                    double: BotApiDouble) -> None:
    """Refused four times (past the three retries): no prompt, so no decision either."""
    async def script() -> None:
        double.flood["sendMessage"] = 4
        double.send_command(ALICE, 501, "/random")
        sorry = await double.wait_for(last_text(double, 501), timeout=30)
        assert sorry.text.startswith("Sorry, something went wrong")
        double.send_command(ALICE, 501, "/random")  # the bot carries on
        prompt = await double.wait_for(last_text(double, 501, 2))
        assert prompt.buttons()

    run_bot(service, double, script)
    assert double.floods_sent == 4
    (record,) = service.decisions("seed")  # only the prompt that was shown
    assert record.subject == "501" and record.reward is None


def test_someone_elses_message_and_closed_polls(service: BanditService,
                                                double: BotApiDouble) -> None:
    async def script() -> None:
        double.send_command(ALICE, -900, "/random", chat_type="group")
        prompt = await double.wait_for(last_text(double, -900))
        bob = double.press(BOB, prompt, "👎")
        qid = bob["callback_query"]["id"]
        await double.wait_for(lambda: qid in double.callback_answers)
        assert double.callback_answers[qid]["text"] == "this one isn't yours"
        assert prompt.reply_markup is not None  # still open for Alice
        for data in ("v:Q3aJiitbXNC3XZ6BxPAlUw:0", "garbage", "v:" + "A" * 60 + ":1"):
            upd = double._push(double.callback_update(ALICE, prompt, data))
            uid = upd["callback_query"]["id"]
            await double.wait_for(lambda uid=uid: uid in double.callback_answers)
            assert double.callback_answers[uid]["text"] == "this poll has closed"
        # Alice's own press: the group reads the edited message, which says who answered
        # (it said "Answered 👍", and the group could not tell whose answer it was)
        double.press(ALICE, prompt, "👍")
        await double.wait_for(lambda: prompt.edits)
        assert prompt.text.endswith("\n\nAlice answered 👍 — thanks")

    run_bot(service, double, script)
    assert service.report("seed").total_answered == 1
    assert not double.errors


def test_a_press_too_old_to_answer_still_counts_and_shows(service: BanditService,
                                                          double: BotApiDouble) -> None:
    """Telegram refuses to answer a press older than ~15 s (presses queued while the bot
    restarts): the reward was counted, but the refusal failed the handler, so the message
    kept its buttons and never said "You answered 👍"."""
    async def script() -> None:
        double.send_command(ALICE, 503, "/random")
        prompt = await double.wait_for(last_text(double, 503))
        double.query_timeout = 0.0  # every press from now on is too old to answer
        double.press(ALICE, prompt, "👍")
        await double.wait_for(lambda: prompt.edits)
        assert prompt.text.endswith("You answered 👍 — thanks")
        assert prompt.reply_markup is None

    run_bot(service, double, script)
    assert service.report("seed").total_answered == 1
    assert [e for e in double.errors if "too old" in e[1]]  # Telegram did refuse it


def test_rating_buttons_and_html(service: BanditService, double: BotApiDouble) -> None:
    async def script() -> None:
        double.send_command(BOB, 502, "/tip")
        prompt = await double.wait_for(last_text(double, 502))
        assert [b["text"] for b in prompt.buttons()] == ["1", "2", "3", "4", "5"]
        assert prompt.text == "<b>Tip</b> &amp; more" and prompt.parse_mode == "HTML"
        double.press(BOB, prompt, "4")
        await double.wait_for(lambda: prompt.edits)
        assert prompt.text.endswith("You answered 4 — thanks")

    run_bot(service, double, script)
    (record,) = service.decisions("tip")
    assert record.reward == 4.0
    assert not double.errors


def test_a_wide_rating_on_a_message_too_long_to_edit(service: BanditService,
                                                    double: BotApiDouble) -> None:
    """A 0–20 rating: 21 buttons in rows Telegram takes (at most 8 a row; the double refuses
    more), and the top one works. The arm (4,090 characters) is too long to carry "You
    answered …": the vote counts, the buttons go (they stayed, pressable, before), and the
    arm is cut to make room for the note (a trial's 4,096-character arm lost it)."""
    async def script() -> None:
        double.send_command(BOB, 503, "/nps")
        prompt = await double.wait_for(last_text(double, 503))
        rows = prompt.reply_markup["inline_keyboard"] if prompt.reply_markup else []
        assert [len(r) for r in rows] == [7, 7, 7]
        press = double.press(BOB, prompt, "20")
        await double.wait_for(lambda: prompt.reply_markup is None)
        assert double.callback_answers[press["callback_query"]["id"]]["text"] == \
            "Thanks! You answered 20"
        await double.wait_for(lambda: prompt.edits)
        assert prompt.text.endswith("x…\n\nYou answered 20 — thanks"), prompt.text[-60:]
        assert prompt.text.startswith("x" * 4000) and len(prompt.text) == 4096

    run_bot(service, double, script)
    (record,) = service.decisions("nps")
    assert record.reward == 20.0
    assert double.errors == []  # the note fits: no edit was refused


def test_a_formatted_arm_too_long_for_its_note_stays_formatted(tmp_path: Path,
                                                              double: BotApiDouble) -> None:
    """An HTML arm the note would make too long: the vote counts, the buttons go, and the
    message stays as sent (a fallback to plain text showed its raw <b>…</b>; a review)."""
    store = SQLiteStore(tmp_path / "long.db")
    store.init()
    content = "<b>" + "y" * 4080 + "</b>"
    service = BanditService(parse_config({"experiments": [{
        "id": "bightml", "parse_mode": "HTML",
        "arms": [{"id": "a", "content": content}]}]}), store,
        rng=np.random.default_rng(1), clock=FakeClock())

    async def script() -> None:
        double.send_command(ALICE, 501, "/bightml")
        prompt = await double.wait_for(last_text(double, 501))
        double.press(ALICE, prompt, "👍")
        await double.wait_for(lambda: prompt.reply_markup is None)
        assert prompt.text == content and prompt.parse_mode == "HTML"

    run_bot(service, double, script)
    (record,) = service.decisions("bightml")
    assert record.reward == 1.0
    assert [e for e in double.errors if "too long" not in e[1]] == []


@pytest.mark.parametrize("command", ["/plain_specials", "/md_specials"])
def test_markdown_specials_are_accepted(service: BanditService, double: BotApiDouble,
                                        command: str) -> None:
    """Arm text full of MarkdownV2 specials, sent plain and escaped: the double (which
    rejects what Telegram rejects) accepts both the prompt and the bot's own confirmation."""
    async def script() -> None:
        double.send_command(ALICE, 501, command)
        prompt = await double.wait_for(last_text(double, 501))
        double.press(ALICE, prompt, "👍")
        await double.wait_for(lambda: prompt.edits)

    run_bot(service, double, script)
    assert not double.errors
    sent = double.chat_messages(501)[0]
    assert SPECIALS in (sent.text or "").replace("\\", "")


def test_context_and_chat_scope_are_logged(service: BanditService,
                                           double: BotApiDouble) -> None:
    async def script() -> None:
        double.send_command(ALICE, -77, "/perchat", chat_type="supergroup")
        await double.wait_for(last_text(double, -77))

    run_bot(service, double, script)
    (record,) = service.decisions("perchat")
    assert record.scope == "chat:-77"
    assert record.subject == "501"
    assert record.context is not None
    assert record.context["language_code"] == "de"
    assert record.context["chat_type"] == "supergroup"
    assert record.context["is_premium"] is False
    assert 0 <= record.context["hour"] <= 23 and 0 <= record.context["weekday"] <= 6
    assert "Alice" not in str(record.context)


def test_a_users_past_reward_rate_is_part_of_the_context(service: BanditService,
                                                          double: BotApiDouble) -> None:
    """The ``past_reward_rate`` feature: Alice's own mean reward so far, none at first."""
    async def script() -> None:
        for n, button in enumerate(["👍", "👍", "👎", None], start=1):
            service.clock.advance(60)  # type: ignore[attr-defined]  (a FakeClock)
            double.send_command(ALICE, 501, "/tone")
            prompt = await double.wait_for(last_text(double, 501, n))
            if button is not None:
                qid = double.press(ALICE, prompt, button)["callback_query"]["id"]
                await double.wait_for(lambda q=qid: q in double.callback_answers)
        double.send_command(BOB, 502, "/tone")
        await double.wait_for(last_text(double, 502))

    run_bot(service, double, script)
    assert not double.errors
    records = sorted(service.decisions("tone"), key=lambda r: r.created_at)
    alice = [(r.context or {}).get("past_reward_rate") for r in records if r.subject == "501"]
    assert alice == [None, 1.0, 1.0, pytest.approx(2 / 3, abs=1e-6)]
    (bob,) = [r for r in records if r.subject == "502"]
    assert "past_reward_rate" not in (bob.context or {})  # Bob's history is his own
    assert service.subject_history("tone", "501") == (3.0, pytest.approx(2 / 3))


def test_report_in_a_group_shows_that_groups_bandit(service: BanditService,
                                                    double: BotApiDouble) -> None:
    """An experiment with one bandit per chat: /report there is about that chat."""
    async def script() -> None:
        for n in range(1, 4):
            double.send_command(ALICE, -77, "/perchat", chat_type="supergroup")
            await double.wait_for(last_text(double, -77, n))
        double.send_command(BOB, -88, "/perchat", chat_type="group")
        await double.wait_for(last_text(double, -88, 1))
        # an admin's cheat in the group goes into that group's bandit (it once went to a
        # scope no chat reads, while saying it was added)
        double.send_command(ADMIN_USER, -77, "/cheat perchat m 11", chat_type="supergroup")
        added = await double.wait_for(last_text(double, -77, 4))
        assert added.text == "Added 2 rewards to perchat/m (this chat's bandit)."
        double.send_command(BOB, -77, "/report perchat", chat_type="supergroup")
        await double.wait_for(lambda: any(m.kind == "photo" for m in double.chat_messages(-77)))
        # a prior is the experiment's, in every chat: said (as /cheat says "this chat's")
        double.send_command(ADMIN_USER, ADMIN, "/prior perchat n 5 1")
        prior = await double.wait_for(last_text(double, ADMIN, 1))
        assert prior.text.startswith("Prior of perchat/n set to alpha=5, beta=1")
        assert prior.text.endswith(" It applies to every chat's bandit."), prior.text

    run_bot(service, double, script)
    assert not double.errors
    report = [m for m in double.chat_messages(-77) if m.kind == "text"][-1].text or ""
    assert "perchat · chat -77 · softmax" in report
    # this group's three decisions (not -88's); the cheat's two are answers, not decisions
    assert "3 decisions" in report and "added by hand or imported" in report
    assert service.report("perchat", scope="chat:-77").total_answered == 2
    assert service.report("perchat").total_pulls == 4


def test_admin_commands_need_the_allow_list(service: BanditService,
                                            double: BotApiDouble) -> None:
    async def script() -> None:
        double.send_command(BOB, 502, "/cheat seed arm1 1111")
        refusal = await double.wait_for(last_text(double, 502))
        # in a private chat, the id the allow-list takes (a new bot's owner had no way to
        # learn it); in a group, no one's id
        assert refusal.text == "Not allowed: this command is for admins. Your Telegram " \
            "user id is 502; the bot's allow-list is 'admins' in the experiments file or " \
            "BANDITBOT_ADMINS."
        double.send_command(BOB, -90, "/cheat seed arm1 1", chat_type="group")
        in_group = await double.wait_for(last_text(double, -90))
        assert in_group.text == "Not allowed: this command is for admins."
        double.send_command(BOB, 502, "/reset seed")
        await double.wait_for(last_text(double, 502, 2))

        double.send_command(ADMIN_USER, ADMIN, "/cheat seed arm1 1101")
        await double.wait_for(last_text(double, ADMIN, 1))
        # an experiment named by its command (/random), as /report takes it
        double.send_command(ADMIN_USER, ADMIN, "/prior random arm2 3 1")
        await double.wait_for(last_text(double, ADMIN, 2))
        double.send_command(ADMIN_USER, ADMIN, "/policy seed thompson alpha=2")
        await double.wait_for(last_text(double, ADMIN, 3))
        double.send_command(ADMIN_USER, ADMIN, "/policy seed thompson alpha=2")  # again
        await double.wait_for(last_text(double, ADMIN, 4))
        double.send_command(ADMIN_USER, ADMIN, "/arm add /random arm3 Arm three:\n  two lines")
        added = await double.wait_for(last_text(double, ADMIN, 5))
        # the content as users see it, in the experiment's parse mode, not its source
        assert added.text == "Arm arm3 added to seed; it sends:\nArm three:\n  two lines"
        assert added.parse_mode == "MarkdownV2"
        double.send_command(ADMIN_USER, ADMIN, "/cheat seed")
        usage = await double.wait_for(last_text(double, ADMIN, 6))
        assert usage.text.startswith("Usage: /cheat")
        double.send_command(ADMIN_USER, ADMIN, "/export seed")
        await double.wait_for(lambda: any(m.kind == "document"
                                          for m in double.chat_messages(ADMIN)))
        double.send_command(ADMIN_USER, ADMIN, "/reset seed")
        confirm = await double.wait_for(last_text(double, ADMIN, 7))
        assert [b["text"] for b in confirm.buttons()] == ["Yes, reset", "Cancel"]
        # another admin-less user pressing the confirmation changes nothing
        bob_press = double.press(BOB, confirm, "Yes, reset")
        await double.wait_for(lambda: bob_press["callback_query"]["id"]
                              in double.callback_answers)
        double.press(ADMIN_USER, confirm, "Yes, reset")
        await double.wait_for(lambda: confirm.edits)
        assert "was reset" in (confirm.text or "")
        # after a reset the log sent is the new generation's, and its caption says so
        double.send_command(ADMIN_USER, ADMIN, "/export seed")
        await double.wait_for(lambda: sum(m.kind == "document"
                                          for m in double.chat_messages(ADMIN)) == 2)

    before = service.report("seed").total_answered
    run_bot(service, double, script)
    texts = [m.text for m in double.chat_messages(ADMIN) if m.kind == "text"]
    assert texts[0] == "Added 4 rewards to seed/arm1."
    assert texts[1].startswith("Prior of seed/arm2") and "alpha=3, beta=1" in texts[1]
    assert texts[2].startswith("seed now uses thompson(alpha=2")
    # the same policy again: said, and not recorded as a second switch
    assert texts[3].startswith("seed already uses thompson(alpha=2") and \
        "nothing changed" in texts[3]
    assert [r.action for r in service.store.admin_log("seed")].count("policy") == 1
    assert before == 0
    doc, after = [m for m in double.chat_messages(ADMIN) if m.kind == "document"]
    rows = list(csv.DictReader(io.StringIO(doc.file_bytes.decode())))
    assert len(rows) == 4 and {r["kind"] for r in rows} == {"manual"}
    # what the rows are, as the CLI's export says it (the four were added by hand)
    assert (doc.caption or "").startswith(
        "Decision log of seed: 4 rows (4 rewards added by hand), subjects pseudonymized."), \
        doc.caption
    assert "(every generation: /export seed all)" in (after.caption or "")
    assert "reset" not in (doc.caption or "")
    assert service.current_generation("seed") == 1  # reset by the admin only
    assert "arm3" in service.active_arms("seed")
    assert service.content("seed", "arm3") == "Arm three:\n  two lines"  # as typed
    actions = [(r.actor, r.action) for r in service.store.admin_log("seed")]
    assert ("tg:1001", "cheat") in actions and ("tg:1001", "reset") in actions
    assert all(actor == "tg:1001" for actor, _ in actions)
    assert not double.errors


def test_an_admin_lists_the_arms_offered_and_retired(service: BanditService,
                                                     double: BotApiDouble) -> None:
    """A trial found no way in Telegram to see which arms an experiment offers (the CLI has
    `banditbot arms list`): /arm list names them, each with the start of its content."""
    async def script() -> None:
        double.send_command(ADMIN_USER, ADMIN, "/arm add seed arm3 " + "long " * 30)
        await double.wait_for(last_text(double, ADMIN, 1))
        double.send_command(ADMIN_USER, ADMIN, "/arm retire seed arm2")
        await double.wait_for(last_text(double, ADMIN, 2))
        double.send_command(ADMIN_USER, ADMIN, "/arm list /random")  # by its command too
        await double.wait_for(last_text(double, ADMIN, 3))
        double.send_command(ADMIN_USER, ADMIN, "/arm")
        await double.wait_for(last_text(double, ADMIN, 4))

    run_bot(service, double, script)
    texts = [m.text for m in double.chat_messages(ADMIN) if m.kind == "text"]
    assert texts[2].splitlines() == [
        "Arms of seed: 2 offered, 1 retired.",
        "• arm1: This is arm *1*",
        "• arm3: " + ("long " * 12)[:59] + "…",
        "Retired (/arm add <experiment> <arm> brings one back): arm2"]
    assert texts[3].startswith("Usage: /arm list <experiment> · /arm add|retire")
    assert not double.errors


def test_an_admin_reads_the_audit_log_and_a_group_sees_no_admin_id(
        service: BanditService, double: BotApiDouble) -> None:
    """Every admin action was recorded; /audit shows the latest (a trial found no way to
    read them), with an admin's Telegram id only in a private chat."""
    async def script() -> None:
        double.send_command(ADMIN_USER, ADMIN, "/cheat seed arm1 10")
        await double.wait_for(last_text(double, ADMIN, 1))
        double.send_command(ADMIN_USER, ADMIN, "/audit seed")
        await double.wait_for(last_text(double, ADMIN, 2))
        double.send_command(ADMIN_USER, -91, "/audit", chat_type="group")
        await double.wait_for(last_text(double, -91))
        double.send_command(BOB, 502, "/audit seed")
        await double.wait_for(last_text(double, 502))

    service.reset("ts", actor="cli")
    run_bot(service, double, script)
    private = [m.text for m in double.chat_messages(ADMIN) if m.kind == "text"][-1] or ""
    lines = private.splitlines()
    assert lines[0] == "Audit log of seed, newest first (times in UTC):"
    assert lines[1].endswith(" · tg:1001 · cheat · arm=arm1 rewards=10") and len(lines) == 2
    group = [m.text for m in double.chat_messages(-91) if m.kind == "text"][-1] or ""
    assert "tg:(an admin) · seed cheat" in group and "1001" not in group
    assert " · cli · ts reset" in group  # every experiment of the bot, newest first
    refused = [m.text for m in double.chat_messages(502) if m.kind == "text"][-1] or ""
    assert refused.startswith("Not allowed")
    assert not double.errors


def test_export_in_a_group_is_refused_and_sends_nothing(service: BanditService,
                                                        double: BotApiDouble) -> None:
    """A trial's admin typed /export in a group and the decision log (every member's
    decisions, their language and chat type) was posted to the group. In a group the
    bot now says to ask in a private chat and sends no file; in private it sends it."""
    async def script() -> None:
        double.send_command(ADMIN_USER, -92, "/export seed", chat_type="group")
        await double.wait_for(last_text(double, -92))
        double.send_command(ADMIN_USER, ADMIN, "/export seed")
        await double.wait_for(lambda: any(m.kind == "document"
                                          for m in double.chat_messages(ADMIN)))

    run_bot(service, double, script)
    group = double.chat_messages(-92)
    assert [m.kind for m in group] == ["text"]
    assert "private chat only" in (group[0].text or "") and "/export seed" in (group[0].text or "")
    assert any(m.kind == "document" for m in double.chat_messages(ADMIN))
    assert not double.errors


def test_prior_usage_says_where_a_ratings_pseudo_answers_go(service: BanditService,
                                                            double: BotApiDouble) -> None:
    """A trial's admin set a prior on a rating (/prior tip t1 3 1: "4 pseudo-answers
    averaging 4 on 1–5") with no hint in the usage that alpha and beta are answers at the
    top and the bottom of the scale: the usage says so."""
    async def script() -> None:
        double.send_command(ADMIN_USER, ADMIN, "/prior tip t1")
        await double.wait_for(last_text(double, ADMIN))

    run_bot(service, double, script)
    usage = [m.text for m in double.chat_messages(ADMIN) if m.kind == "text"][-1]
    assert usage == "Usage: /prior <experiment> <arm> <alpha> <beta> (alpha answers at the " \
        "top of the scale, beta at the bottom; 👍/👎: successes, failures)"
    assert not double.errors


def test_export_all_sends_every_generation_after_a_reset(service: BanditService,
                                                          double: BotApiDouble) -> None:
    """Right after a reset /export sent a log of no decisions whose caption pointed to the
    CLI's --all-generations, which a chat cannot run: `/export EXP all` sends every
    generation, and the caption of the current one says so."""
    async def script() -> None:
        double.send_command(ADMIN_USER, ADMIN, "/export seed")
        await double.wait_for(lambda: len(docs()) == 1)
        double.send_command(ADMIN_USER, ADMIN, "/export seed all")
        await double.wait_for(lambda: len(docs()) == 2)

    def docs() -> list[SentMessage]:
        return [m for m in double.chat_messages(ADMIN) if m.kind == "document"]

    service.cheat("seed", "arm1", "1101", actor="cli")
    service.reset("seed", actor="cli")
    run_bot(service, double, script)
    current, every = docs()
    assert list(csv.DictReader(io.StringIO(current.file_bytes.decode()))) == []
    assert current.caption == "Decision log of seed: 0 decisions, subjects pseudonymized. " \
        "Since the last reset: generation 1 (every generation: /export seed all)."
    rows = list(csv.DictReader(io.StringIO(every.file_bytes.decode())))
    assert [r["generation"] for r in rows] == ["0"] * 4
    assert every.caption == "Decision log of seed: 4 rows (4 rewards added by hand), " \
        "subjects pseudonymized. Every generation, 0 to 1 (one per reset)."
    assert not double.errors


def test_an_export_larger_than_telegram_takes_says_how_to_get_it(
        service: BanditService, double: BotApiDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log past Telegram's 50 MB file limit would be refused by Telegram ("Request Entity
    Too Large") and the admin told only "sorry": the bot says how to export it instead."""
    import banditbot.telegram._bot as bot_module

    monkeypatch.setattr(bot_module, "_DOCUMENT_BYTES", 300)  # (50 MB, scaled down)

    async def script() -> None:
        double.send_command(ADMIN_USER, ADMIN, "/export seed all")
        await double.wait_for(last_text(double, ADMIN))

    service.cheat("seed", "arm1", "1101", actor="cli")
    run_bot(service, double, script)
    assert [m.kind for m in double.chat_messages(ADMIN)] == ["text"]
    assert double.chat_messages(ADMIN)[0].text == "The decision log of seed (every " \
        "generation) is larger than the 50 MB Telegram takes in a file: export it with " \
        "banditbot export seed --out FILE --all-generations on the server."
    assert not double.errors


def test_a_reward_without_buttons_is_reported_not_run(tmp_path: Path,
                                                      double: BotApiDouble) -> None:
    """A trial's experiment with a continuous reward and no options sent its arm with no
    buttons, so no one could answer and it never learned. The bot runs no command for it
    (it says so in its log), lists it as answered through the HTTP API, and /report still
    shows it; an explicit Telegram command for it is refused in the experiments file."""
    config = {"admins": [ADMIN], "experiments": [
        {"id": "spend", "reward": {"type": "continuous", "min": 0, "max": 100},
         "arms": [{"id": "cheap", "content": "Buy the cheap one"},
                  {"id": "dear", "content": "Buy the dear one"}]},
        {"id": "greet", "arms": [{"id": "hi", "content": "Hi"}]}]}
    with pytest.raises(ConfigError, match=r"telegram\.command 'spend': a continuous reward "
                                          r"has no feedback buttons"):
        parse_config({"experiments": [{**config["experiments"][0],
                                       "telegram": {"command": "spend"}}]})
    store = SQLiteStore(tmp_path / "spend.db")
    store.init()
    service = BanditService(parse_config(config), store, rng=np.random.default_rng(2),
                            clock=FakeClock())
    service.reward(service.decide("spend", "api-user").id, 42.0, "api-user")

    async def script() -> None:
        for i, text in enumerate(("/spend", "/experiments", "/report spend", "/help"), 1):
            double.send_command(ALICE, 501, text)
            await double.wait_for(last_text(double, 501, i))

    run_bot(service, double, script)
    unknown, listed, report, helped = [m.text or "" for m in double.chat_messages(501)
                                       if m.kind == "text"][:4]
    assert "don't know that one" in unknown
    assert "(answered through the HTTP API) · spend: 2 arms" in listed
    assert "/greet · greet" in listed
    assert report.startswith("<b>spend</b>: ") and "\n<b>spend · " in report, report
    assert " · 1 decision\n" in report, report
    assert "/spend" not in helped and "/greet" in helped
    assert [c["command"] for c in double.commands] == ["greet", "report", "experiments", "help"]
    assert len(list(service.decisions("spend"))) == 1  # the API's decision only


def test_admin_help_retire_and_a_cancelled_reset(service: BanditService,
                                                double: BotApiDouble) -> None:
    async def script() -> None:
        double.send_command(ADMIN_USER, ADMIN, "/help")
        help_text = await double.wait_for(last_text(double, ADMIN, 1))
        assert "Admin:" in (help_text.text or "") and "/arm" in (help_text.text or "")
        # one command a line (a trial: one long line joined by " · " on a phone)
        lines = (help_text.text or "").split("\nAdmin:\n", 1)[1].splitlines()
        assert len(lines) > 5 and all(line.startswith("/") for line in lines), lines
        double.send_command(ALICE, 501, "/help")
        user_help = await double.wait_for(last_text(double, 501, 1))
        assert "Admin:" not in (user_help.text or "")
        double.send_command(ADMIN_USER, ADMIN, "/arm retire seed arm1")
        retired = await double.wait_for(last_text(double, ADMIN, 2))
        assert retired.text == "Arm arm1 of seed retired (its statistics are kept)."
        for n in range(1, 7):  # only arm2 is left to show
            double.send_command(ALICE, 501, "/random")
            prompt = await double.wait_for(last_text(double, 501, n + 1))
            assert prompt.text == "This _is_ arm _2_"
        double.send_command(ADMIN_USER, ADMIN, "/reset seed")
        confirm = await double.wait_for(last_text(double, ADMIN, 3))
        bob = double.press(BOB, confirm, "Cancel")["callback_query"]["id"]
        await double.wait_for(lambda: bob in double.callback_answers)
        # as its "Yes, reset" says (the cancel said "not allowed")
        assert double.callback_answers[bob]["text"] == \
            "this confirmation is not valid (expired or not yours)"
        assert not confirm.edits  # Bob cannot close an admin's confirmation
        double.press(ADMIN_USER, confirm, "Cancel")
        await double.wait_for(lambda: confirm.edits)
        assert confirm.text == "Reset cancelled; nothing changed."

    run_bot(service, double, script)
    assert not double.errors
    assert service.current_generation("seed") == 0
    assert service.active_arms("seed") == ("arm2",)
    assert [r.action for r in service.store.admin_log("seed")] == ["arm-retire"]


@pytest.mark.interpreted
def test_start_help_and_errors_keep_the_bot_running(service: BanditService,
                                                    double: BotApiDouble,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def script() -> None:
        double.send_command(ALICE, 501, "/start")
        welcome = await double.wait_for(last_text(double, 501))
        assert "/random" in (welcome.text or "") and "/report" in (welcome.text or "")
        double.send_command(ALICE, 501, "/report no-such-thing")
        friendly = await double.wait_for(last_text(double, 501, 2))
        assert friendly.text.startswith("There is no such experiment")
        assert "no-such-thing" not in friendly.text  # user input is not echoed
        monkeypatch.setattr(service, "report", _boom)
        double.send_command(ALICE, 501, "/report seed")
        sorry = await double.wait_for(last_text(double, 501, 3))
        assert sorry.text.startswith("Sorry, something went wrong")
        monkeypatch.undo()
        double.send_command(ALICE, 501, "/experiments")
        listing = await double.wait_for(last_text(double, 501, 4))
        assert "/random" in (listing.text or "")
        # each with its policy as it runs (a trial: the docstring promised it, and after a
        # switch the report's header was the only place to see it)
        assert "/random · seed: 2 arms, epsilon-greedy, binary reward" in (listing.text or "")
        # a bare /report: every table and no chart, said (a trial expected one)
        double.send_command(ALICE, 501, "/report")
        tables = await double.wait_for(last_text(double, 501, 5))
        said = tables.text or ""
        assert "with its chart: /report " in said or \
            "For an experiment's chart, notes and what its numbers are: /report " in said
        # an unknown command, and plain text (a trial got "I don't know that one" for it)
        double.send_command(ALICE, 501, "/nosuch")
        unknown = await double.wait_for(last_text(double, 501, 6))
        assert (unknown.text or "").startswith("I don't know that one")
        double.send_command(ALICE, 501, "hello there")
        text = await double.wait_for(last_text(double, 501, 7))
        assert (text.text or "").startswith("I answer commands, not messages")

    run_bot(service, double, script)


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("database exploded")


def test_an_experiment_id_wins_over_another_experiments_command() -> None:
    """A review found /cheat survey … going to the experiment whose command was 'survey'
    rather than the experiment whose id it is."""
    from banditbot.telegram import BanditBot

    config = parse_config({"experiments": [
        {"id": "nps", "command": "survey", "arms": [{"id": "a", "content": "a"}]},
        {"id": "survey", "command": "survey2", "arms": [{"id": "b", "content": "b"}]}]})
    bot = BanditBot(BanditService(config, MemoryStore()))
    assert bot._resolve("survey") == "survey" and bot._resolve("/survey2") == "survey"
    assert bot._resolve("nps") == "nps"


def test_a_report_of_many_arms_fits_telegram(tmp_path: Path, double: BotApiDouble) -> None:
    """150 arms: the table was cut at about arm 55 with its totals and verdict gone, and the
    chart (12,848 px tall) broke Telegram's photo limit (width + height <= 10,000 px, which
    the double now enforces) and went missing. Now the 30 arms with the most traffic, a
    line for the rest, the totals and the verdict; the chart draws the same 30."""
    arms = [{"id": f"arm_{i:03d}", "content": f"message {i}"} for i in range(150)]
    cfg = parse_config({"experiments": [{"id": "big", "arms": arms, "burn_in": 0,
                                         "floor": 0.003}]})
    store = SQLiteStore(tmp_path / "big.db")
    store.init()
    service = BanditService(cfg, store, rng=np.random.default_rng(3), clock=FakeClock())
    service.cheat("big", "arm_149", "1" * 30, actor="test")  # a clear leader, listed last
    for _ in range(20):
        d = service.decide("big", "u")
        service.reward(d.id, 0, "u")

    async def script() -> None:
        double.send_command(ALICE, 501, "/report big")
        await double.wait_for(lambda: any(m.kind == "photo" for m in double.chat_messages(501)))

    run_bot(service, double, script)
    assert not double.errors
    text = "\n".join(m.text or "" for m in double.chat_messages(501) if m.kind == "text")
    rows = [line for line in text.replace("<pre>", "").splitlines() if line.startswith("arm_")]
    assert len(rows) == 30 and rows[-1] == "arm_149 (leads)"
    assert "… and 120 more arms with no decisions yet" in text
    assert "20 decisions, 50 answered (30 added by hand or imported)" in text  # (not a slip)
    assert "arm_149 leads" in text
    (photo,) = [m for m in double.chat_messages(501) if m.kind == "photo"]
    png = photo.file_bytes or b""
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == 1024 and width + height <= 10_000


def test_a_report_of_thirty_arms_reads_on_a_phone(tmp_path: Path, double: BotApiDouble) -> None:
    """/report of 30 arms was one <pre> table of about 65 columns (85 with a prior): a phone
    shows about 40 of a <pre>, so every row wrapped into the next. Now a short block per arm,
    no line of a <pre> wider than 40 columns, the verdict and the leader in words; split into
    messages Telegram takes, each under 4,096 characters."""
    import html
    import re

    from banditbot.telegram._report_html import display_width

    arms = [{"id": f"variant_{i:02d}", "content": f"message {i}"} for i in range(30)]
    cfg = parse_config({"experiments": [{"id": "wide", "arms": arms, "burn_in": 0,
                                         "control": "variant_00"}]})
    store = SQLiteStore(tmp_path / "wide.db")
    store.init()
    service = BanditService(cfg, store, rng=np.random.default_rng(3), clock=FakeClock())
    service.set_prior("wide", "variant_07", 3, 1, actor="test")  # the posterior shows too
    rng = np.random.default_rng(4)
    for i in range(600):
        d = service.decide("wide", f"u{i % 11}")
        service.reward(d.id, int(rng.random() < 0.2 + 0.02 * int(d.arm[-2:])), f"u{i % 11}")

    async def script() -> None:
        double.send_command(ALICE, 501, "/report wide")
        await double.wait_for(lambda: any(m.kind == "photo" for m in double.chat_messages(501)))

    run_bot(service, double, script)
    assert not double.errors  # Telegram's rules held for every message
    texts = [m.text or "" for m in double.chat_messages(501) if m.kind == "text"]
    assert all(len(t) < 4096 for t in texts)
    pre = [line for t in texts for block in re.findall(r"<pre>(.*?)</pre>", t, re.S)
           for line in html.unescape(block).split("\n")]
    assert pre and max(display_width(line) for line in pre) <= 40
    assert [line.split(" (")[0] for line in pre if line.startswith("variant_")] == \
        [a["id"] for a in arms]  # every arm, once, in order
    report = service.report("wide")
    assert report.leader is not None and report.verdict is not None
    shown = html.unescape("\n".join(texts))
    assert report.verdict in shown and f"{report.leader.arm} (leads" in shown
    assert "variant_00 (control)" in shown
    assert f"estimate (interval): {report.estimate_kind}" in shown
    if len(texts) > 1:  # a report in parts says so
        assert texts[0].endswith("(continued in the next message)")
        assert texts[1].startswith(f"<b>wide</b> · part 2/{len(texts)}")


def test_in_a_group_the_answered_prompt_names_who_answered_in_its_parse_mode(
        service: BanditService, double: BotApiDouble) -> None:
    """The edited prompt in a group said "Answered 👎 — thanks", not who answered. It names
    the person by first name, escaped for the message's parse mode (a name with
    MarkdownV2's or HTML's specials reads as typed, and Telegram takes the edit)."""
    marked = BotApiDouble.user(505, "Al_i*ce [x]!")
    # (a direction isolate and an embedding, which would reorder "— thanks" after the name)
    tagged = BotApiDouble.user(506, "<b>Bo</b> & co\u2067\u202b")

    async def script() -> None:
        double.send_command(marked, -901, "/random", chat_type="group")
        prompt = await double.wait_for(last_text(double, -901))
        double.press(marked, prompt, "👎")
        await double.wait_for(lambda: prompt.edits)
        double.send_command(tagged, -901, "/tip", chat_type="group")
        tip = await double.wait_for(last_text(double, -901, 2))
        double.press(tagged, tip, tip.buttons()[-1]["text"])
        await double.wait_for(lambda: tip.edits)

    run_bot(service, double, script)
    prompt, tip = [m for m in double.chat_messages(-901) if m.kind == "text"]
    assert prompt.parse_mode == "MarkdownV2" and tip.parse_mode == "HTML"
    assert check_markdown_v2(prompt.text or "").endswith("\n\nAl_i*ce [x]! answered 👎 — thanks")
    assert check_html(tip.text or "").endswith("\n\n<b>Bo</b> & co answered 5 — thanks")
    assert not double.errors


def test_audit_times_are_in_the_configured_time_zone_like_the_reports(
        tmp_path: Path, double: BotApiDouble) -> None:
    """With ``time_zone: Europe/Berlin`` /report said "since … 23:13 CET" while /audit said
    "22:13 UTC" for the same moment. /audit gives the configured zone's time, and its
    header names the zone."""
    store = SQLiteStore(tmp_path / "zone.db")
    store.init()
    service = BanditService(parse_config({**bot_config(), "time_zone": "Europe/Berlin"}),
                            store, rng=np.random.default_rng(5), clock=FakeClock())

    async def script() -> None:
        double.send_command(ALICE, 501, "/random")
        await double.wait_for(last_text(double, 501))
        double.send_command(ADMIN_USER, ADMIN, "/cheat seed arm1 10")
        await double.wait_for(last_text(double, ADMIN, 1))
        double.send_command(ADMIN_USER, ADMIN, "/audit seed")
        await double.wait_for(last_text(double, ADMIN, 2))
        double.send_command(ADMIN_USER, -97, "/audit", chat_type="group")
        await double.wait_for(last_text(double, -97))
        double.send_command(ADMIN_USER, ADMIN, "/report seed")
        await double.wait_for(last_text(double, ADMIN, 3))

    run_bot(service, double, script)
    audit, report = [m.text or "" for m in double.chat_messages(ADMIN) if m.kind == "text"][1:3]
    group = [m.text or "" for m in double.chat_messages(-97) if m.kind == "text"][-1]
    # FakeClock: 2023-11-14 22:13:20 UTC, 23:13 in Berlin (CET)
    assert "since 2023-11-14 23:13 CET" in report  # what the report says …
    assert audit.splitlines() == [  # … and the audit log says the same
        "Audit log of seed, newest first (times in Europe/Berlin):",
        "2023-11-14 23:13 CET · tg:1001 · cheat · arm=arm1 rewards=10"]
    assert group.splitlines()[0] == "Audit log, newest first (times in Europe/Berlin):"
    assert "2023-11-14 23:13 CET · tg:(an admin) · seed cheat" in group
    assert "UTC" not in audit + group
    assert not double.errors


ADMIN_COMMANDS = {"cheat", "prior", "reset", "policy", "arm", "export", "audit"}


def test_admins_find_the_admin_commands_in_their_private_chats_menu(
        tmp_path: Path, double: BotApiDouble, caplog: pytest.LogCaptureFixture) -> None:
    """setMyCommands published the public commands only: no admin found /cheat in the menu.
    Each admin's private chat lists the admin commands too, each with what it is for;
    everyone else's menu, and every group's, stays public. An admin who has never started
    the bot (Telegram answers "chat not found") is one warning line, naming no one, and
    gets the menu on sending /start."""
    import logging

    store = SQLiteStore(tmp_path / "menu.db")
    store.init()
    service = BanditService(parse_config(bot_config()), store, rng=np.random.default_rng(5),
                            clock=FakeClock(), admins=frozenset({1002}))
    newcomer = BotApiDouble.user(1002, "Nia")
    double.known_chats.add(ADMIN)  # Ada has talked to the bot before; Nia has not
    seen: dict[str, list[str]] = {}

    async def script() -> None:
        seen["before"] = double.menu(1002)
        double.send_command(newcomer, 1002, "/start")
        await double.wait_for(lambda: "cheat" in double.menu(1002))

    with caplog.at_level(logging.WARNING, logger="banditbot"):
        run_bot(service, double, script, admins_started=False)
    public = [c["command"] for c in double.commands]
    assert public[-3:] == ["report", "experiments", "help"] and "random" in public
    assert double.menu(ADMIN) == [*public, "cheat", "prior", "reset", "policy", "arm",
                                  "export", "audit"]
    assert double.menu(501) == public and double.menu(-95, "group") == public
    assert seen["before"] == public and double.menu(1002) == double.menu(ADMIN)
    described = {c["command"]: c["description"] for c in double.scoped_commands[
        ('{"chat_id": 1001, "type": "chat"}', "")]}
    assert described["prior"] == "admin: start an arm from a belief, as pseudo-answers"
    assert described["cheat"] == "admin: add rewards by hand, for testing"
    warnings = [r.getMessage() for r in caplog.records
                if r.name.startswith("banditbot") and r.levelno >= logging.WARNING]
    assert warnings == ["1 admin has not started a private chat with the bot (Telegram: chat "
                        "not found): the admin commands appear in an admin's menu once they "
                        "send the bot /start"]
    assert double.errors == [("setMyCommands", "Bad Request: chat not found")]


def test_help_says_what_admin_commands_do_and_keeps_them_out_of_groups(
        service: BanditService, double: BotApiDouble) -> None:
    """/help from an admin in a group printed the admin section to the whole group, and its
    admin lines gave only syntax (/prior … <alpha> <beta>; /cheat, for what?). In a group
    an admin gets the public help and one line on where the admin commands are; in a
    private chat each admin line says what the command is for."""
    async def script() -> None:
        double.send_command(ADMIN_USER, ADMIN, "/help")
        await double.wait_for(last_text(double, ADMIN))
        double.send_command(ADMIN_USER, -93, "/help", chat_type="group")
        await double.wait_for(last_text(double, -93))
        double.send_command(ALICE, -93, "/help", chat_type="group")
        await double.wait_for(last_text(double, -93, 2))

    run_bot(service, double, script)
    private = (double.chat_messages(ADMIN)[0].text or "").splitlines()
    admin_in_group, alice_in_group = [m.text or "" for m in double.chat_messages(-93)]
    assert "/prior <experiment> <arm> <alpha> <beta> (alpha answers at the top of the scale, " \
        "beta at the bottom; 👍/👎: successes, failures) — start an arm from a belief, as " \
        "pseudo-answers" in private
    assert any(line.startswith("/cheat <experiment> <arm> ") and
               line.endswith(" — add rewards by hand, for testing") for line in private)
    admin_lines = private[private.index("Admin:") + 1:]
    assert len(admin_lines) == len(ADMIN_COMMANDS) and all(" — " in x for x in admin_lines)
    assert "/cheat" not in admin_in_group and "Admin:" not in admin_in_group
    assert admin_in_group.endswith("\n\nAdmin commands are listed in a private chat with me "
                                   "(send me /help there).")
    assert admin_in_group.split("\n\nAdmin commands")[0] == alice_in_group
    assert not double.errors


def test_a_bot_with_many_experiments_publishes_menus_telegram_takes(
        tmp_path: Path, double: BotApiDouble) -> None:
    """Telegram takes at most 100 commands in a menu: the public one keeps /report,
    /experiments and /help, and an admin's every admin command, leaving out the
    experiments past that (their commands still work)."""
    config = {"admins": [ADMIN], "experiments": [
        {"id": f"e{i:02d}", "arms": [{"id": "a", "content": "A"}]} for i in range(99)]}
    store = SQLiteStore(tmp_path / "many.db")
    store.init()
    service = BanditService(parse_config(config), store, rng=np.random.default_rng(5),
                            clock=FakeClock())

    async def script() -> None:
        double.send_command(ALICE, 501, "/e98")  # not in the menu, and it runs
        await double.wait_for(last_text(double, 501))

    run_bot(service, double, script)
    public, admin = [c["command"] for c in double.commands], double.menu(ADMIN)
    assert len(public) == 100 and public[-3:] == ["report", "experiments", "help"]
    assert len(admin) == 100 and set(admin) >= ADMIN_COMMANDS | {"report", "help", "e00"}
    assert double.chat_messages(501)[0].text == "A"
    assert not double.errors


def test_an_admin_taken_off_the_allow_list_loses_the_admin_menu(
        tmp_path: Path, double: BotApiDouble) -> None:
    """A trial: an admin removed from the allow-list kept the admin commands in their
    private chat's menu (only refused when used). The first refused admin command withdraws
    that menu: their chat shows the public commands again; a second refused command costs
    Telegram no call; a group's refusal withdraws nothing (the chat is not theirs)."""
    store = SQLiteStore(tmp_path / "former.db")
    store.init()
    config = parse_config(bot_config())
    former = BotApiDouble.user(1002, "Nia")

    async def nothing() -> None:
        return None

    # the last deployment had Nia among its admins: her chat got the admin menu
    run_bot(BanditService(config, store, rng=np.random.default_rng(5), clock=FakeClock(),
                          admins=frozenset({1002})), double, nothing)
    assert "cheat" in double.menu(1002)
    double.known_chats.add(-95)
    public = [c["command"] for c in double.commands]
    seen: dict[str, list[str]] = {}

    async def script() -> None:
        double.send_command(former, -95, "/reset greeting", chat_type="group")
        await double.wait_for(last_text(double, -95))
        seen["after group"] = double.menu(1002)
        double.send_command(former, 1002, "/reset greeting")
        await double.wait_for(lambda: double.menu(1002) == public)
        double.send_command(former, 1002, "/cheat greeting a 1")
        await double.wait_for(last_text(double, 1002, 2))

    run_bot(BanditService(config, store, rng=np.random.default_rng(6), clock=FakeClock()),
            double, script)
    assert "cheat" in seen["after group"]  # a group's refusal left her own chat alone
    assert double.menu(1002) == public and "cheat" in double.menu(ADMIN)
    refusals = [m.text for m in double.chat_messages(1002) if m.kind == "text"]
    assert len(refusals) == 2 and all("not allowed" in t.lower() for t in refusals)
    assert [m for m, _ in double.calls if m == "deleteMyCommands"] == ["deleteMyCommands"]
    assert not double.errors
