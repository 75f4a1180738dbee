"""Arm content checked against its Telegram parse mode before it is ever sent.

Telegram refuses a message whose MarkdownV2 or HTML does not parse ("can't parse entities");
an arm with such content would fail every time it is chosen. :func:`markup_problem` applies
the Bot API's rules (https://core.telegram.org/bots/api#formatting-options) when an
experiments file is loaded and when an arm is added, and says what to write instead.
"""

from __future__ import annotations

import html
import re

from ._text import MESSAGE_UNITS, message_units

__all__ = ["escape_markdown_v2", "markup_problem"]

#: characters MarkdownV2 reserves outside entities (each must be written as ``\\c``)
_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_MARKERS = ("```", "||", "__", "`", "*", "_", "~")
_MD2_NAMES = {"```": "pre block", "`": "code", "*": "bold", "_": "italic",
              "__": "underline", "~": "strikethrough", "||": "spoiler", "[": "link"}
_HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
                        "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji"})
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")
#: a tag (Telegram reads its name in any case, as lower case)
_HTML_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_HTML_ATTRIBUTE = re.compile(r"""([a-zA-Z][a-zA-Z0-9-]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")


def escape_markdown_v2(text: str) -> str:
    """``text`` shown as it is in MarkdownV2 (every reserved character escaped).

    Examples
    --------
    >>> escape_markdown_v2("Great news! Try v2.0 now.")
    'Great news\\\\! Try v2\\\\.0 now\\\\.'
    """
    return "".join("\\" + c if c in _MD2_RESERVED or c == "\\" else c for c in text)


def markup_problem(text: str, parse_mode: str | None) -> str | None:
    """Why Telegram would refuse ``text`` in ``parse_mode``, with the fix; ``None`` if it
    would not: its markup, and its length as Telegram counts it, after parsing (HTML's
    tags and entities gone; MarkdownV2's escapes, markers and link URLs gone; ``plain``
    and ``None`` as written).

    Examples
    --------
    >>> markup_problem("Great news! Try v2.0 now.", "MarkdownV2")  # doctest: +ELLIPSIS
    "MarkdownV2 reserves '!' (character 11): write '\\\\!' ..."
    >>> markup_problem("*Bold* and \\\\!", "MarkdownV2") is None
    True
    """
    if parse_mode == "MarkdownV2":
        problem, shown = _markdown_v2(text)
    elif parse_mode == "HTML":
        problem, shown = _html_problem(text), html.unescape(_HTML_TAG.sub("", text))
    else:
        problem, shown = None, text
    if problem is not None:
        return problem
    units = message_units(shown)
    if units > MESSAGE_UNITS:
        parsed = " after its HTML (tags and entities read)" if parse_mode == "HTML" else \
            " after its MarkdownV2 (escapes and markers read)" \
            if parse_mode == "MarkdownV2" else ""
        return (f"the content is {units} characters as Telegram counts them{parsed} (an "
                f"emoji counts twice); a message holds {MESSAGE_UNITS}")
    return None


def _markdown_v2(text: str) -> tuple[str | None, str]:
    """Why Telegram would refuse ``text`` as MarkdownV2 (``None``: it would not), and the
    text it shows, for its length: each escape read as its character, the entities'
    markers, a link's URL and a quotation's ``>`` left out. A pre block's language is kept:
    a bound above, never below, what Telegram counts (an escape-heavy arm of 4,000
    characters shown and 6,000 written was refused by the length as written)."""
    escaped = escape_markdown_v2(text)
    as_text = (f"; to show the text as written: {escaped}" if len(escaped) <= 200 else
               "; or set the experiment's telegram.parse_mode to plain")
    stack: list[tuple[str, int]] = []
    shown: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                return ("MarkdownV2: the text ends with a lone '\\' (write '\\\\' for a "
                        "backslash)"), ""
            shown.append(text[i + 1])
            i += 2
            continue
        if stack and stack[-1][0] in ("`", "```"):  # inside code: only the closing marker
            code = stack[-1][0]
            if text.startswith(code, i) and (code == "```" or not text.startswith("```", i)):
                stack.pop()
                i += len(code)
            else:
                shown.append(c)
                i += 1
            continue
        marker = next((m for m in _MD2_MARKERS if text.startswith(m, i)), None)
        if marker is not None:
            if stack and stack[-1][0] == marker:
                stack.pop()
            elif any(m == marker for m, _ in stack):
                inner, at = stack[-1]
                return (f"MarkdownV2: the {_MD2_NAMES[inner]} opened at character {at + 1} "
                        f"is not closed before character {i + 1}{as_text}"), ""
            else:
                stack.append((marker, i))
            i += len(marker)
            continue
        if c == "[" or (c == "!" and text.startswith("![", i)):
            stack.append(("[", i))
            i += 2 if c == "!" else 1
            continue
        if c == "]" and stack and stack[-1][0] == "[":
            stack.pop()
            if not text.startswith("(", i + 1):
                return (f"MarkdownV2: the link text ending at character {i + 1} needs a "
                        f"(URL) right after it{as_text}"), ""
            j = i + 2
            while j < n and text[j] != ")":
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                return (f"MarkdownV2: the link URL after character {i + 1} is not closed "
                        "with ')'"), ""
            i = j + 1
            continue
        if c == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # a quotation
            continue
        if c in _MD2_RESERVED:
            return (f"MarkdownV2 reserves {c!r} (character {i + 1}): write '\\{c}' to show "
                    f"it{as_text}"), ""
        shown.append(c)
        i += 1
    if stack:
        marker, at = stack[-1]
        closer = "](URL)" if marker == "[" else marker  # (a link's text, then its address)
        return (f"MarkdownV2: the {_MD2_NAMES[marker]} opened at character {at + 1} is never "
                f"closed (close it with {closer!r}, or write '\\{marker[0]}' to show the "
                f"character)"), ""
    return None, "".join(shown)


def _html_problem(text: str) -> str | None:
    for match in re.finditer("&", text):
        if not _HTML_ENTITY.match(text, match.start()):
            return (f"HTML: '&' at character {match.start() + 1} starts no entity (write "
                    "'&amp;')")
    stack: list[str] = []
    position = 0
    for match in re.finditer("<", text):
        if match.start() < position:
            continue
        tag = _HTML_TAG.match(text, match.start())
        if tag is None:
            return f"HTML: '<' at character {match.start() + 1} starts no tag (write '&lt;')"
        closing, name = tag.group(1), tag.group(2).lower()
        if name not in _HTML_TAGS:
            return (f"HTML: Telegram does not support <{name}> (character "
                    f"{match.start() + 1}; write '&lt;' to show '<')")
        problem = None if closing else _html_attribute_problem(name, tag.group(3))
        if problem is not None:
            return f"HTML: <{name}> at character {match.start() + 1} {problem}"
        if closing:
            if not stack or stack[-1] != name:
                return f"HTML: </{name}> at character {match.start() + 1} closes no <{name}>"
            stack.pop()
        else:
            stack.append(name)
        position = tag.end()
    if stack:
        return f"HTML: <{stack[-1]}> is never closed (add </{stack[-1]}>)"
    return None


def _html_attribute_problem(name: str, attributes: str) -> str | None:
    """What Telegram requires of a tag's attributes that ``attributes`` lacks: a span is a
    spoiler (``class="tg-spoiler"``), a custom emoji names its number (``emoji-id``)."""
    # as Telegram reads them: names as written (``CLASS`` is not ``class``), a value in
    # quotes as written, one without them in lower case
    given = {key: value[1:-1] if value[0] in "\"'" else value.lower()
             for key, value in _HTML_ATTRIBUTE.findall(attributes)}
    if name == "span" and given.get("class") != "tg-spoiler":
        return ('needs class="tg-spoiler": Telegram\'s only span is a spoiler (or write '
                "<tg-spoiler>)")
    if name == "tg-emoji":
        emoji = given.get("emoji-id", "")
        if not (re.fullmatch(r"[0-9]{1,19}", emoji) and 0 < int(emoji) < 2**63):
            return ('needs emoji-id="…", the number of a custom emoji (write the emoji '
                    "without the tag to show it as it is)")
    return None
