"""A local double of the Telegram Bot API, served over real HTTP on 127.0.0.1.

The real python-telegram-bot ``Application`` talks to it with ``base_url``. It validates what
Telegram validates (and answers with Telegram's errors): ``callback_data`` of 1–64 bytes,
MarkdownV2 / HTML that parses (HTML: known tags only, each one closed, no entity but
``&lt;`` ``&gt;`` ``&amp;`` ``&quot;`` and numeric ones), text of 1–4096 characters after
entity parsing, captions ≤ 1024, callback answers ≤ 200 characters, a callback query
answered at most once, and setMyCommands' (and deleteMyCommands') limits and scopes (a
chat's menu only for a chat the bot can address: ``known_chats``; ``menu`` shows what a
client lists). Scripted users inject updates (``send_command``, ``press``); tests read
what each chat shows (``chat_messages``).
"""

from __future__ import annotations

import asyncio
import contextlib
import html.parser
import ipaddress
import itertools
import json
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BOT_ID = 7000001
BOT_USERNAME = "banditbot_test_bot"


class BadRequest(Exception):  # noqa: N818  (named after Telegram's error)
    def __init__(self, description: str, code: int = 400) -> None:
        super().__init__(description)
        self.description, self.code = description, code


# --- what Telegram validates ------------------------------------------------------------------
_MD2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MD2_NAMES = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough",
              "||": "Spoiler", "`": "Code", "```": "Pre", "[": "TextUrl"}


def check_markdown_v2(text: str) -> str:  # noqa: C901 - one pass over Telegram's rules
    """Raise BadRequest like Telegram does for MarkdownV2 that does not parse; else the text
    it shows (escapes read; markers, link URLs and a quotation's ``>`` gone; a pre block's
    language kept, which Telegram may not count)."""
    stack: list[str] = []
    shown: list[str] = []
    i, n = 0, len(text)

    def fail(message: str) -> None:
        raise BadRequest(f"Bad Request: can't parse entities: {message}")

    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                fail("Character '\\' is reserved and must be escaped with the preceding '\\'")
            shown.append(text[i + 1])
            i += 2
            continue
        if stack and stack[-1] in ("`", "```"):
            if stack[-1] == "```" and text.startswith("```", i):
                stack.pop()
                i += 3
            elif stack[-1] == "`" and c == "`":
                stack.pop()
                i += 1
            else:
                shown.append(c)
                i += 1
            continue
        for marker in ("```", "||", "__", "`", "*", "_", "~"):
            if text.startswith(marker, i):
                if marker in ("```", "`"):
                    stack.append(marker)
                elif stack and stack[-1] == marker:
                    stack.pop()
                elif marker in stack:
                    fail(f"Can't find end of {_MD2_NAMES[stack[-1]]} entity at byte offset {i}")
                else:
                    stack.append(marker)
                i += len(marker)
                break
        else:
            if c == "[":
                stack.append("[")
                i += 1
            elif c == "]":
                if not stack or stack[-1] != "[":
                    fail("Character ']' is reserved and must be escaped with the preceding '\\'")
                stack.pop()
                if not text.startswith("(", i + 1):
                    fail("Can't find end of TextUrl entity")  # a plain ']' is not allowed
                j = i + 2
                while j < n and text[j] != ")":
                    j += 2 if text[j] == "\\" else 1
                if j >= n:
                    fail("Can't find end of URL")
                i = j + 1
            elif c == ">" and (i == 0 or text[i - 1] == "\n"):
                i += 1  # block quotation
            elif c in _MD2_RESERVED:
                fail(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
            else:
                shown.append(c)
                i += 1
    if stack:
        fail(f"Can't find end of {_MD2_NAMES[stack[-1]]} entity at byte offset {n}")
    return "".join(shown)


_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
              "a", "code", "pre", "blockquote", "tg-emoji"}
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


class _HtmlCheck(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []  # what the message shows: tags gone, entities decoded

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # (html.parser gives names in lower case, as Telegram reads them)
        if tag not in _HTML_TAGS:
            raise BadRequest(f"Bad Request: can't parse entities: Unsupported start tag "
                             f"\"{tag}\"")
        # attributes as Telegram reads them (html.parser lower-cases their names; Telegram
        # does not): names as written, quoted values as written, bare ones in lower case
        raw = self.get_starttag_text() or ""
        given = {name: value[1:-1] if value[:1] in "\"'" else value.lower()
                 for name, value in re.findall(
                     r"""\s([^\s=<>"'/]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""", raw)}
        if tag == "span" and given.get("class") != "tg-spoiler":
            raise BadRequest("Bad Request: can't parse entities: Tag \"span\" must have "
                             "class \"tg-spoiler\"")
        emoji = given.get("emoji-id") or ""
        if tag == "tg-emoji" and not (re.fullmatch(r"[0-9]+", emoji) and
                                      0 < int(emoji) < 2**63):
            raise BadRequest("Bad Request: can't parse entities: Invalid custom emoji "
                             "identifier specified")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise BadRequest(f"Bad Request: can't parse entities: Unmatched end tag \"{tag}\"")
        self.stack.pop()


def check_html(text: str) -> str:
    """Raise BadRequest like Telegram does for HTML that does not parse; else return the
    text the message shows (tags removed, entities decoded), which Telegram's length limit
    applies to."""
    for match in re.finditer(r"&", text):
        if not _HTML_ENTITY.match(text, match.start()):
            raise BadRequest("Bad Request: can't parse entities: Unsupported entity")
    for match in re.finditer(r"<", text):
        if not re.match(r"</?[a-zA-Z][a-zA-Z0-9-]*(\s[^<>]*)?>", text[match.start():]):
            raise BadRequest("Bad Request: can't parse entities: Unexpected '<'")
    parser = _HtmlCheck()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise BadRequest(f"Bad Request: can't parse entities: Can't find end tag "
                         f"corresponding to start tag \"{parser.stack[-1]}\"")
    return "".join(parser.text)


def check_text(text: str | None, parse_mode: str | None, *, limit: int = 4096,
               what: str = "message") -> None:
    """Telegram's rules for a message's text (or a caption): it parses in ``parse_mode``,
    and what it shows — after entity parsing (HTML's tags and escapes gone) and with its
    surrounding white space trimmed — is 1 to ``limit`` characters (UTF-16 code units)."""
    if not text:
        raise BadRequest(f"Bad Request: {what} text is empty")
    shown = text
    if parse_mode == "MarkdownV2":
        shown = check_markdown_v2(text)
    elif parse_mode == "HTML":
        shown = check_html(text)
    elif parse_mode not in (None, ""):
        raise BadRequest(f"Bad Request: unsupported parse_mode {parse_mode}")
    shown = shown.strip()
    if not shown:
        raise BadRequest(f"Bad Request: {what} text is empty")
    if len(shown.encode("utf-16-le")) // 2 > limit:  # Telegram counts UTF-16 code units
        raise BadRequest(f"Bad Request: {what} is too long")


def check_markup(markup: dict[str, Any] | None) -> None:
    rows = (markup or {}).get("inline_keyboard", [])
    # Telegram's inline keyboards: at most 8 buttons in a row and 100 in all (not in the Bot
    # API's text; what the servers answer beyond them)
    if any(len(row) > 8 for row in rows) or sum(len(row) for row in rows) > 100:
        raise BadRequest("Bad Request: reply markup is too long")
    for row in rows:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise BadRequest("Bad Request: BUTTON_DATA_INVALID")


def check_photo(data: bytes) -> None:
    """Telegram's rules for a photo (the Bot API's sendPhoto): at most 10 MB, width and
    height adding up to at most 10,000 px, and a ratio of at most 20 (PNG only here: the
    bot sends its charts as PNG)."""
    if len(data) > 10 * 1024 * 1024:
        raise BadRequest("Bad Request: file is too big")
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise BadRequest("Bad Request: IMAGE_PROCESS_FAILED")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise BadRequest("Bad Request: PHOTO_INVALID_DIMENSIONS")


# --- state --------------------------------------------------------------------------------------
@dataclass
class SentMessage:
    message_id: int
    chat_id: int
    text: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    kind: str = "text"  # text | photo | document
    file_name: str | None = None
    file_bytes: bytes = b""
    caption: str | None = None
    edits: int = 0

    def buttons(self) -> list[dict[str, Any]]:
        return [b for row in (self.reply_markup or {}).get("inline_keyboard", []) for b in row]


@dataclass
class BotApiDouble:
    """In-memory Bot API state plus the scripted-user helpers."""

    token: str = "123456:TEST-token-for-the-double"
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: list[SentMessage] = field(default_factory=list)
    callback_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)  # the default scope's
    # setMyCommands by scope (its JSON, keys sorted) and language: what each chat's menu is
    scoped_commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # chats the bot can address: a private chat exists once its user has written to the bot
    # (Telegram answers "chat not found" for another; a test may add one it started before)
    known_chats: set[int] = field(default_factory=set)
    webhook: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""
    # method -> how many of its next calls Telegram's flood control refuses (429, retry after 1 s)
    flood: dict[str, int] = field(default_factory=dict)
    floods_sent: int = 0
    # method -> [status, description, calls left (-1: all)]: Telegram (or the network in
    # front of it) refusing a method, e.g. 502 Bad Gateway during an outage
    refuse: dict[str, list[Any]] = field(default_factory=dict)
    # method -> [seconds, calls left]: Telegram acting on a call (a message delivered) and
    # answering only after that many seconds, past a client's read timeout
    slow: dict[str, list[Any]] = field(default_factory=dict)
    # seconds a button press can be answered in: Telegram refuses answerCallbackQuery for an
    # older one ("query is too old"; about 15 s), e.g. presses queued while a bot restarts
    query_timeout: float = 15.0
    _query_times: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_update: asyncio.Event | None = None
        #: set by :meth:`close`: an open long poll is answered at once
        self._closing = False

    # -- scripted users --
    @staticmethod
    def user(user_id: int, first_name: str = "Ann", language_code: str = "en") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name,
                "language_code": language_code}

    def close(self) -> None:
        """Answer every open long poll now: a client that stopped leaves its last
        ``getUpdates`` open until its timeout, which the server's shutdown waits for."""
        self._closing = True
        if self._loop is not None and self._new_update is not None:
            self._loop.call_soon_threadsafe(self._new_update.set)

    def _push(self, update: dict[str, Any]) -> dict[str, Any]:
        chat = (update.get("message") or {}).get("chat")
        if chat is not None:
            self.known_chats.add(int(chat["id"]))
        with self._lock:
            update["update_id"] = next(self._ids)
            self.updates.append(update)
        if self._loop is not None and self._new_update is not None:
            self._loop.call_soon_threadsafe(self._new_update.set)
        return update

    def message_update(self, user: dict[str, Any], chat_id: int, text: str,
                       chat_type: str = "private") -> dict[str, Any]:
        entities = []
        if text.startswith("/"):
            length = len(text.split()[0])
            entities = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": 0, "message": {
            "message_id": next(self._message_ids), "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type,
                     **({"title": "group"} if chat_type != "private" else
                        {"first_name": user["first_name"]})},
            "from": user, "text": text, "entities": entities}}

    def send_command(self, user: dict[str, Any], chat_id: int, text: str,
                     chat_type: str = "private") -> dict[str, Any]:
        return self._push(self.message_update(user, chat_id, text, chat_type))

    def callback_update(self, user: dict[str, Any], message: SentMessage,
                        data: str) -> dict[str, Any]:
        qid = f"cq{next(self._message_ids)}"
        self._query_times[qid] = time.monotonic()
        return {"update_id": 0, "callback_query": {
            "id": qid, "from": user, "chat_instance": "ci",
            "data": data, "message": self.message_dict(message)}}

    def press(self, user: dict[str, Any], message: SentMessage, label: str) -> dict[str, Any]:
        button = next(b for b in message.buttons() if b["text"] == label)
        return self._push(self.callback_update(user, message, button["callback_data"]))

    def menu(self, chat_id: int, chat_type: str = "private",
             language_code: str = "") -> list[str]:
        """The commands a Telegram client shows in a chat's menu: the narrowest scope set
        (a chat's own, then all private or all group chats, then the default), in the
        user's language if a list was set for it, else the one without a language."""
        kind = "all_private_chats" if chat_type == "private" else "all_group_chats"
        for scope in ({"type": "chat", "chat_id": chat_id}, {"type": kind},
                      {"type": "default"}):
            key = json.dumps(scope, sort_keys=True)
            for language in dict.fromkeys((language_code, "")):
                found = self.scoped_commands.get((key, language))
                if found:
                    return [c["command"] for c in found]
        return []

    def chat_messages(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.messages if m.chat_id == chat_id]

    def message_dict(self, m: SentMessage) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": m.message_id, "date": int(time.time()),
            "chat": {"id": m.chat_id, "type": "private" if m.chat_id > 0 else "group"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bandit",
                     "username": BOT_USERNAME}}
        if m.kind == "text":
            out["text"] = m.text
        elif m.kind == "photo":
            out["photo"] = [{"file_id": f"ph{m.message_id}", "file_unique_id": "u",
                             "width": 100, "height": 100}]
        else:
            out["document"] = {"file_id": f"doc{m.message_id}", "file_unique_id": "u",
                               "file_name": m.file_name}
        if m.caption:
            out["caption"] = m.caption
        if m.reply_markup:
            out["reply_markup"] = m.reply_markup
        return out

    async def wait_for(self, predicate: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError("timed out waiting for the bot")

    # -- the API --
    async def handle(self, method: str, params: dict[str, Any]) -> Any:
        self.calls.append((method, params))
        if method == "getMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "Bandit",
                    "username": BOT_USERNAME, "can_join_groups": True,
                    "can_read_all_group_messages": False, "supports_inline_queries": False}
        if method == "getUpdates":
            return await self._get_updates(params)
        if method in ("sendMessage", "sendPhoto", "sendDocument"):
            return self._send(method, params)
        if method == "answerCallbackQuery":
            qid = str(params.get("callback_query_id"))
            age = time.monotonic() - self._query_times.get(qid, time.monotonic())
            if qid in self.callback_answers or age > self.query_timeout:
                raise BadRequest("Bad Request: query is too old and response timeout expired "
                                 "or query ID is invalid")
            text = params.get("text") or ""
            if len(text) > 200:
                raise BadRequest("Bad Request: MESSAGE_TOO_LONG")
            self.callback_answers[qid] = params
            return True
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return self._edit(method, params)
        if method == "setMyCommands":
            return self._set_my_commands(params)
        if method == "deleteMyCommands":
            return self._delete_my_commands(params)
        if method == "setWebhook":
            if not _webhook_url_allowed(str(params.get("url") or "")):
                raise BadRequest("Bad Request: bad webhook: HTTPS url must be provided for "
                                 "webhook")
            secret = params.get("secret_token")
            if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
                raise BadRequest("Bad Request: secret token contains unallowed characters")
            self.webhook = {"url": params.get("url"), "secret_token": secret}
            return True
        if method == "deleteWebhook":
            self.webhook = {}
            return True
        if method == "getWebhookInfo":
            return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                    "pending_update_count": 0}
        raise BadRequest(f"Not Found: method {method} not found in the double", 404)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        if self.webhook.get("url"):
            raise BadRequest("Conflict: can't use getUpdates method while webhook is active",
                             409)
        with self._lock:
            if offset:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [u for u in self.updates if u["update_id"] >= offset]
            if pending or self._closing or time.monotonic() >= deadline:
                return pending[: int(params.get("limit") or 100)]
            assert self._new_update is not None
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(),
                                       max(0.01, deadline - time.monotonic()))

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        """Telegram's setMyCommands: at most 100 commands, each 1–32 of ``a-z0-9_`` with a
        description of 1–256 characters, in a scope and language as
        :meth:`_command_scope` checks them."""
        commands = _json(params.get("commands")) or []
        if len(commands) > 100:
            raise BadRequest("Bad Request: BOT_COMMANDS_TOO_MUCH")
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", c["command"]):
                raise BadRequest("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(c["description"]) <= 256:
                raise BadRequest("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        scope, language = self._command_scope(params)
        self.scoped_commands[(json.dumps(scope, sort_keys=True), language)] = commands
        if scope == {"type": "default"} and not language:
            self.commands = commands
        return True

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        """Telegram's deleteMyCommands: the list of that scope and language is gone (a
        chat's menu falls back to the wider scopes' lists); the scope is checked as
        setMyCommands checks it."""
        scope, language = self._command_scope(params)
        self.scoped_commands.pop((json.dumps(scope, sort_keys=True), language), None)
        if scope == {"type": "default"} and not language:
            self.commands = []
        return True

    def _command_scope(self, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The scope and language of a command-list call, as Telegram checks them: a scope
        of a known type, whose chat (if it names one) the bot can address; a language code
        of two letters, or none."""
        scope = _json(params.get("scope")) or {"type": "default"}
        if scope.get("type") not in _SCOPES or \
                any(not isinstance(scope.get(k), int) for k in _SCOPES[scope["type"]]):
            raise BadRequest("Bad Request: can't parse BotCommandScope")
        if "chat_id" in scope and scope["chat_id"] not in self.known_chats:
            raise BadRequest("Bad Request: chat not found")
        language = params.get("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise BadRequest("Bad Request: invalid language code specified")
        return scope, language

    def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        markup = _json(params.get("reply_markup"))
        check_markup(markup)
        parse_mode = params.get("parse_mode")
        if method == "sendMessage":
            check_text(params.get("text"), parse_mode)
            message = SentMessage(next(self._message_ids), chat_id, params["text"], parse_mode,
                                  markup)
        else:
            caption = params.get("caption")
            if caption:
                check_text(caption, parse_mode, limit=1024, what="caption")
            upload = params.get("photo" if method == "sendPhoto" else "document")
            if not isinstance(upload, tuple):
                raise BadRequest("Bad Request: there is no file in the request")
            if method == "sendPhoto":
                check_photo(upload[1])
            message = SentMessage(next(self._message_ids), chat_id, None, parse_mode, markup,
                                  kind="photo" if method == "sendPhoto" else "document",
                                  file_name=upload[0], file_bytes=upload[1], caption=caption)
        self.messages.append(message)
        return self.message_dict(message)

    def _edit(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        message = next((m for m in self.messages
                        if m.chat_id == chat_id and m.message_id == message_id), None)
        if message is None:
            raise BadRequest("Bad Request: message to edit not found")
        markup = _json(params.get("reply_markup"))
        check_markup(markup)
        if method == "editMessageText":
            check_text(params.get("text"), params.get("parse_mode"))
            if params["text"] == message.text and markup == message.reply_markup:
                raise BadRequest("Bad Request: message is not modified")
            message.text = params["text"]
            message.parse_mode = params.get("parse_mode")
        message.reply_markup = markup
        message.edits += 1
        return self.message_dict(message)


#: BotCommandScope's types and the fields each one needs
_SCOPES = {"default": (), "all_private_chats": (), "all_group_chats": (),
           "all_chat_administrators": (), "chat": ("chat_id",),
           "chat_administrators": ("chat_id",), "chat_member": ("chat_id", "user_id")}


def _webhook_url_allowed(url: str) -> bool:
    """Telegram's rule for a webhook URL: HTTPS (here, as a local Bot API server allows it:
    plain HTTP to a loopback address too, for tests that serve the webhook themselves)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise BadRequest("Bad Request: can't parse JSON") from None
    return value


def make_app(double: BotApiDouble) -> Starlette:
    async def endpoint(request: Request) -> JSONResponse:
        token, method = request.path_params["token"], request.path_params["method"]
        if token != double.token:
            return JSONResponse({"ok": False, "error_code": 401,
                                 "description": "Unauthorized"}, 401)
        params: dict[str, Any] = {}
        ctype = request.headers.get("content-type", "")
        if "json" in ctype:
            params = await request.json()
        elif ctype:
            form = await request.form()
            for key, value in form.multi_items():
                if hasattr(value, "read"):
                    params[key] = (value.filename, await value.read())
                else:
                    params[key] = value
            # PTB refers to uploads as attach://name
            for key, value in list(params.items()):
                if isinstance(value, str) and value.startswith("attach://"):
                    params[key] = params.get(value.removeprefix("attach://"))
        refusal = double.refuse.get(method)
        if refusal is not None and refusal[2] != 0:
            refusal[2] -= 1 if refusal[2] > 0 else 0
            double.calls.append((method, params))
            return JSONResponse({"ok": False, "error_code": refusal[0],
                                 "description": refusal[1]}, refusal[0])
        if double.flood.get(method, 0) > 0:
            double.flood[method] -= 1
            double.floods_sent += 1
            double.calls.append((method, params))
            return JSONResponse({"ok": False, "error_code": 429,
                                 "description": "Too Many Requests: retry after 1",
                                 "parameters": {"retry_after": 1}}, 429)
        try:
            result = await double.handle(method, params)
        except BadRequest as exc:
            double.errors.append((method, exc.description))
            return JSONResponse({"ok": False, "error_code": exc.code,
                                 "description": exc.description}, exc.code)
        late = double.slow.get(method)
        if late is not None and late[1] > 0:  # done, and said too late
            late[1] -= 1
            await asyncio.sleep(late[0])
        return JSONResponse({"ok": True, "result": result})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        double._loop = asyncio.get_running_loop()
        double._new_update = asyncio.Event()
        yield

    return Starlette(routes=[Route("/bot{token}/{method}", endpoint, methods=["GET", "POST"])],
                     lifespan=lifespan)


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 (port 0) in a thread; stops on exit."""

    def __init__(self, app: Any, port: int = 0) -> None:
        # a request still open at the end (a long poll of a client that is gone) is given
        # two seconds, not its whole timeout; the app's lifespan shutdown still runs
        self.config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                     lifespan="on", loop="asyncio", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
