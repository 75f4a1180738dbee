"""The arm-content check (``banditbot._markup``) and the Bot API double refuse the same
texts: both encode Telegram's rules, so a text the check lets through is one Telegram
takes, and the tests' double cannot accept what Telegram refuses."""

from __future__ import annotations

import pytest

from banditbot._markup import markup_problem

from ..telegram_double import BadRequest, check_html, check_markdown_v2

HTML = [
    ("<b>bold</b> and <i>it</i>", True),
    ("<B>bold</B>", True),  # Telegram reads a tag's name in any case
    ("<span class=\"tg-spoiler\">secret</span>", True),
    ("<span class='tg-spoiler'>secret</span>", True),
    ("<span class=TG-SPOILER>secret</span>", True),  # a bare value is read in lower case
    ("<SPAN class=\"tg-spoiler\">secret</SPAN>", True),
    # an attribute's name is read as written: CLASS is not class (a review)
    ("<span CLASS=\"tg-spoiler\">secret</span>", False),
    ("<tg-emoji emoji-id=\"５\">👍</tg-emoji>", False),  # a full-width digit is no number
    ("<tg-spoiler>secret</tg-spoiler>", True),
    ("<tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>", True),
    ("<a href=\"https://example.com\">a link</a>", True),
    ("5 &lt; 6 &amp; 7 &gt; 2", True),
    # a trial's arm: Telegram refuses a span that is not a spoiler
    ("<span>secret</span> tip", False),
    ("<span class=\"big\">secret</span>", False),
    ("<tg-emoji>👍</tg-emoji>", False),  # a custom emoji names its number
    ("<tg-emoji emoji-id=\"x\">👍</tg-emoji>", False),
    ("<br>", False),
    ("a < b", False),
    ("fish & chips", False),
    ("<b>open", False),
    ("<b>x</i>", False),
]


MARKDOWN_V2 = [
    ("*bold* and _italic_ and \\!", True),
    ("a \\\\ backslash", True),
    ("[a link](https://example.com)", True),
    ("Great news!", False),
    ("*open", False),
    ("ends with \\", False),
]


DOUBLE = {"HTML": check_html, "MarkdownV2": check_markdown_v2}


@pytest.mark.parametrize(("mode", "text", "taken"),
                         [("HTML", *case) for case in HTML] +
                         [("MarkdownV2", *case) for case in MARKDOWN_V2])
def test_the_check_and_the_double_agree(mode: str, text: str, taken: bool) -> None:
    problem = markup_problem(text, mode)
    assert (problem is None) is taken, problem
    if taken:
        DOUBLE[mode](text)
    else:
        with pytest.raises(BadRequest):
            DOUBLE[mode](text)


@pytest.mark.parametrize("text", ["C:\\Übersicht", "`C:\\Ü`", "Hi \\👍"])
def test_a_backslash_before_a_character_telegram_does_not_escape_is_shown(text: str) -> None:
    """Telegram escapes ASCII characters only: before any other the backslash is shown as
    written (a path, a backslash in code): both take it (a rule that refused it, after a
    trial's ``Hi \\👍``, refused such paths; a review)."""
    assert markup_problem(text, "MarkdownV2") is None
    check_markdown_v2(text)


@pytest.mark.parametrize(("text", "mode", "takes"), [
    # a trial: heavy HTML whose text is short was refused by its length as written
    ("<b>x</b>" * 600, "HTML", True),  # 4,800 characters of HTML, 600 shown
    ("ent &amp; " * 450, "HTML", True),  # 4,500 written, 2,700 shown
    ("<b>" + "x" * 4097 + "</b>", "HTML", False),  # 4,097 shown
    ("&lt;" * 4097, "HTML", False),
    ("x" * 4096, None, True),
    ("x" * 4097, None, False),
    ("😀" * 2049, "plain", False),  # 4,098 units: an emoji counts twice
    # MarkdownV2 by what it shows (it was held to its text as written): an escape-heavy arm
    ("v2\\." * 1365, "MarkdownV2", True),  # 5,460 written, 4,095 shown
    ("v2\\." * 1366, "MarkdownV2", False),  # 4,098 shown
    ("*b*" * 1366, "MarkdownV2", True),  # 4,098 written, 1,366 shown
    ("[x](https://example.com/" + "a" * 4100 + ")", "MarkdownV2", True),  # the URL: not shown
    ("`" + "c" * 4097 + "`", "MarkdownV2", False),  # code shows its text
    (">" + "q" * 4096, "MarkdownV2", True),  # a quotation's '>' is not shown
])
def test_the_length_telegram_counts_is_the_text_it_shows(text: str, mode: str | None,
                                                         takes: bool) -> None:
    """The arm check and the double agree on a message's length: what Telegram shows,
    after HTML's tags and entities, in UTF-16 units, at most 4,096."""
    from ..telegram_double import check_text

    problem = markup_problem(text, mode)
    assert (problem is None) == takes, problem
    if mode != "plain":
        try:
            check_text(text, mode)
            double_takes = True
        except BadRequest:
            double_takes = False
        assert double_takes == takes
    if not takes:
        assert problem is not None and "characters as Telegram counts them" in problem


def test_an_experiments_file_takes_heavy_html_and_refuses_a_long_text() -> None:
    """The length is checked where the parse mode is known: an HTML arm of 4,800 characters
    that shows 600 loads (it was refused: "String should have at most 4096 characters");
    a plain arm of 4,097 is refused, naming the arm."""
    from banditbot import ConfigError, parse_config

    def load(content: str, mode: str) -> None:
        parse_config({"experiments": [{
            "id": "tip", "telegram": {"parse_mode": mode},
            "arms": [{"id": "a", "content": content}, {"id": "b", "content": "B"}]}]})

    load("<b>x</b>" * 600, "HTML")
    with pytest.raises(ConfigError, match="arm 'a': the content is 4097 characters"):
        load("x" * 4097, "plain")
