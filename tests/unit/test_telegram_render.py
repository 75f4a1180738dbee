"""Escaping, callback data and reset signatures — checked against the double's validators,
which reject what Telegram rejects."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from banditbot.telegram._render import (
    escape,
    parse_vote,
    sign_reset,
    verify_reset,
    vote_data,
)

from ..telegram_double import BadRequest, check_html, check_markdown_v2, check_text


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_escaped_text_always_parses(text: str) -> None:
    check_markdown_v2(escape(text, "MarkdownV2"))
    check_html(escape(text, "HTML"))


@pytest.mark.parametrize("text", ["1.5", "a-b", "(x)", "50!", "#tag", "a_b", "*x", "[y", "~"])
def test_the_double_rejects_unescaped_markdown_v2(text: str) -> None:
    with pytest.raises(BadRequest) as err:
        check_markdown_v2(text)
    assert "can't parse entities" in err.value.description


@pytest.mark.parametrize("text", ["This is arm *1*", "This _is_ arm _2_", "__u__ ~s~ ||sp||",
                                  "[link](http://example.org/a\\)b)", "`code.!`", "> quote",
                                  "```\npre . !\n```"])
def test_the_double_accepts_valid_markdown_v2(text: str) -> None:
    check_markdown_v2(text)


@pytest.mark.parametrize("text", ["a < b", "Tom & Jerry", "<b>bold", "<script>x</script>",
                                  "<b><i>x</b></i>", "line<br>break", "<pre>x", "a&nbsp;b",
                                  "x</b>", "<tg-foo>x</tg-foo>"])
def test_the_double_rejects_broken_html(text: str) -> None:
    with pytest.raises(BadRequest):
        check_html(text)


def test_the_double_counts_html_after_entity_parsing() -> None:
    """Telegram's 4,096 characters are those the message shows: tags and escapes do not
    count (a report full of &lt; was refused by the double, not by Telegram), and a message
    showing nothing is empty."""
    assert check_html("<b>R&amp;D</b> &lt;1% &#x1F44D;") == "R&D <1% 👍"
    check_text("<pre>" + "&lt;" * 4096 + "</pre>", "HTML")  # 16,395 characters of HTML
    check_text("<b>" + "👍" * 2048 + "</b>", "HTML")  # 2,048 emoji: 4,096 UTF-16 units
    with pytest.raises(BadRequest, match="too long"):
        check_text("<b>" + "x" * 4097 + "</b>", "HTML")
    with pytest.raises(BadRequest, match="too long"):
        check_text("<b>" + "👍" * 2048 + "x</b>", "HTML")
    for empty in ("<pre></pre>", "<b> \n </b>"):
        with pytest.raises(BadRequest, match="empty"):
            check_text(empty, "HTML")


def test_text_limits() -> None:
    check_text("x" * 4096, None)
    with pytest.raises(BadRequest):
        check_text("x" * 4097, None)
    with pytest.raises(BadRequest):
        check_text("", None)


def test_vote_data_fits_and_round_trips() -> None:
    decision_id = secrets.token_urlsafe(16)
    data = vote_data(decision_id, 4)
    assert len(data.encode()) <= 64
    assert parse_vote(data) == (decision_id, 4)
    for bad in (None, "", "v:short:1", "v:" + decision_id, "x:" + decision_id + ":1",
                "v:" + decision_id + ":1:extra", "v:" + "A" * 70 + ":1"):
        assert parse_vote(bad) is None


def test_reset_confirmation_is_signed_and_expires() -> None:
    data = sign_reset("token", "greeting", 1001, expires=2_000)
    assert len(data.encode()) <= 64
    assert verify_reset("token", data, 1001, now=1_000) == "greeting"
    assert verify_reset("token", data, 1002, now=1_000) is None  # another user
    assert verify_reset("other", data, 1001, now=1_000) is None  # another bot
    assert verify_reset("token", data, 1001, now=3_000) is None  # expired
    tampered = data.replace("greeting", "random")
    assert verify_reset("token", tampered, 1001, now=1_000) is None


def test_the_bots_own_commands_are_the_ones_experiments_may_not_take() -> None:
    """The config refuses an experiment that would run as one of the bot's commands (an
    experiment "export" once took /export from admins); that list is the bot's."""
    import numpy as np
    from telegram.ext import CommandHandler

    from banditbot import BanditService, MemoryStore, parse_config
    from banditbot._config import BOT_COMMANDS
    from banditbot.telegram._bot import BanditBot

    config = parse_config({"experiments": [{"id": "greet", "arms": [
        {"id": "a", "content": "hi"}]}]})
    bot = BanditBot(BanditService(config, MemoryStore(), rng=np.random.default_rng(0)))
    names = {c for h in bot.handlers() if isinstance(h, CommandHandler) for c in h.commands}
    assert names - {"greet"} == BOT_COMMANDS


def test_a_feature_the_chat_cannot_give_is_warned_about(
        caplog: pytest.LogCaptureFixture) -> None:
    """An experiment whose feature the bot's chat context lacks (a typo, or an app's own
    feature) decided every Telegram decision on zeros for it, silently: the bot says so
    when it starts, naming the features it gives."""
    import numpy as np

    from banditbot import BanditService, MemoryStore, parse_config
    from banditbot.telegram._bot import BanditBot

    config = parse_config({"experiments": [{"id": "greet", "policy": "linucb", "arms": [
        {"id": "a", "content": "hi"}, {"id": "b", "content": "hey"}], "features": [
        {"name": "hour", "type": "cyclic", "period": 24},
        {"name": "plan", "type": "categorical", "values": ["free", "pro"]}]}]})
    with caplog.at_level("WARNING", logger="banditbot.telegram"):
        BanditBot(BanditService(config, MemoryStore(), rng=np.random.default_rng(0)))
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "'greet'" in said[0] and "no plan (it gives hour," in said[0]


@pytest.mark.parametrize("top", [1, 5, 10, 20, 99])
def test_rating_keyboards_fit_telegram_and_every_button_parses(top: int) -> None:
    """Rows of at most 8 (Telegram's limit), the buttons in order, each one's data a vote the
    bot reads back (a 0–100 rating's "100" once did not parse)."""
    from banditbot import parse_config
    from banditbot.telegram._render import keyboard_rows, parse_vote

    config = parse_config({"experiments": [{"id": "r", "arms": [{"id": "a", "content": "x"}],
                                            "reward": {"type": "rating", "min": 0,
                                                       "max": top}}]})
    decision = secrets.token_hex(16)
    rows = keyboard_rows(config.experiment("r"), decision)
    cells = [c for row in rows for c in row]
    assert all(len(row) <= 8 for row in rows) and len({len(r) for r in rows[:-1]}) <= 1
    assert [c["text"] for c in cells] == [str(v) for v in range(top + 1)]
    assert [parse_vote(c["callback_data"]) for c in cells] == \
        [(decision, i) for i in range(top + 1)]
