"""Telegram handlers: experiments as commands, feedback buttons, /report, admin tools.

Thin: each handler parses the update, calls :class:`~banditbot.BanditService` (in a worker
thread, since stores block), and renders the result. Errors are translated in one place
(:meth:`BanditBot.on_error`): the user gets a short message (an operator's hint, such as
"check the table, credentials and region", never reaches a user), the log gets the error
type and the update id (never a user id), and nothing the user typed is echoed back.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
    User,
)
from telegram.error import BadRequest, Forbidden, TelegramError, TimedOut
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from .._config import CONTROL_CHARACTERS, BanditConfig, ExperimentConfig
from .._errors import (
    BanditBotError,
    ConfigError,
    InvalidRewardError,
    NotAllowedError,
    PayloadError,
    PolicyError,
    StoreError,
    UnknownArmError,
    UnknownExperimentError,
)
from .._markup import markup_problem
from .._text import MESSAGE_UNITS, count_text, fit_message, message_units, one_line
from ..policies import parse_params
from ..service import BanditService, RewardStatus
from ._context import CHAT_FEATURES, chat_context
from ._render import (
    escape,
    keyboard_rows,
    parse_mode_of,
    parse_vote,
    sign_reset,
    verify_reset,
)

if TYPE_CHECKING:  # the report types load with the first /report
    from .._report import Report

__all__ = ["BanditBot", "admin_commands_for", "commands_for", "install", "publish_menus"]

log = logging.getLogger("banditbot.telegram")

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]

_RESET_TTL = 300  # seconds a reset confirmation button stays valid
_ANSWERS = {
    RewardStatus.NOT_YOURS: "this one isn't yours",
    RewardStatus.UNKNOWN: "this poll has closed",
    RewardStatus.INVALID: "that button is no longer valid",
}
#: errors the person who sent the update can fix: the reply carries the error's hint
_FRIENDLY = {
    UnknownExperimentError: "There is no such experiment.",
    UnknownArmError: "There is no such arm.",
    InvalidRewardError: "That value is not allowed here.",
    PolicyError: "That policy or one of its parameters is not valid.",
    ConfigError: "That change is not valid.",
    NotAllowedError: "Not allowed: this command is for admins.",
}
#: user errors whose own message says what is wrong (the others' kind says it)
_SAY_WHY = (PayloadError, ConfigError, PolicyError, InvalidRewardError)
#: errors only an operator can fix: a plain apology, never their hint
_APOLOGY = {
    StoreError: "Sorry, I can't reach my memory right now. Please try again in a moment.",
}
_SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
_HINT = "I don't know that one. Send /help to see what I can do."
#: plain text in a private chat is no command at all: what to send instead
_TEXT_HINT = "I answer commands, not messages. Send /help to see them."
_PARSE_ERROR = "can't parse entities"
_ADMIN_USAGE = {
    "cheat": "/cheat <experiment> <arm> <rewards, e.g. 1101, or 4 5 3 on a rating>",
    # (a rating's prior is pseudo-answers at its ends: a trial's admin could not tell)
    "prior": "/prior <experiment> <arm> <alpha> <beta> (alpha answers at the top of the "
             "scale, beta at the bottom; 👍/👎: successes, failures)",
    "reset": "/reset <experiment>",
    "policy": "/policy <experiment> <name> [key=value …]",
    "arm": "/arm list <experiment> · /arm add|retire <experiment> <arm> [text]",
    "export": "/export <experiment> [all]",
    "audit": "/audit [experiment]",
}
#: what each admin command is for: said after its syntax in /help, and in the admins' menu
_ADMIN_MEANING = {
    "cheat": "add rewards by hand, for testing",
    "prior": "start an arm from a belief, as pseudo-answers",
    "reset": "start an experiment's statistics from zero (asks first; the log is kept)",
    "policy": "switch an experiment's policy (what was learned is kept)",
    "arm": "list an experiment's arms, add one or retire one",
    "export": "the decision log as a CSV file, since the last reset or all of it (in a "
              "private chat only)",
    "audit": "the latest admin actions: who changed what, when",
}
#: refused users whose admin menu this process withdrew (then forgotten, all at once)
_WITHDRAWN_MAX = 4096
#: the most commands Telegram takes in one list (setMyCommands)
_MAX_COMMANDS = 100
#: what a user's name loses before a message shows it: control characters and every
#: direction control (overrides, embeddings, isolates, marks: a name ending in one reordered
#: the "— thanks" after it; a right-to-left name shows as it should without them)
_CONTROLS = re.compile(f"[{CONTROL_CHARACTERS}\\u200e\\u200f\\u202a-\\u202c\\u2066-\\u2069]")


#: the audit log's entries /audit shows (the CLI's ``banditbot audit`` shows more)
_AUDIT_SHOWN = 10


#: the arms a report in Telegram shows (Report.top_arms): a table of 150 rows was cut
#: mid-way, losing its totals and verdict, and its chart (half an inch per arm) passed
#: Telegram's photo limit (width + height at most 10,000 px) and was refused
_SHOWN_ARMS = 30
#: the largest file a bot may send (Bot API sendDocument: 50 MB)
_DOCUMENT_BYTES = 50 * 10**6
#: a reset confirmation pressed by someone who may not use it (both of its buttons say so)
_NOT_YOUR_CONFIRMATION = "this confirmation is not valid (expired or not yours)"


class _TooLargeError(Exception):
    """A file larger than Telegram takes."""


class _CappedText(io.StringIO):
    """A text buffer that stops taking text past ``limit`` characters (a CSV too large to
    send is not kept whole in memory first)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, s: str, /) -> int:
        n = super().write(s)
        if self.tell() > self.limit:
            raise _TooLargeError
        return n


def _display_name(name: str | None) -> str:
    """A user's name as a message may show it: without control characters or direction
    overrides (they would reverse the words after it), its spaces folded, at most 64
    characters (a message's parse mode is escaped by the caller)."""
    return one_line(_CONTROLS.sub("", name or ""), 64)


def _command_of(message: Message) -> str:
    """The command a message starts with, without its slash and ``@bot``: ``start``."""
    words = (message.text or "").split(maxsplit=1)
    return words[0].removeprefix("/").split("@")[0] if words else ""


def _maybe_delivered(error: TimedOut) -> bool:
    """Whether a request that timed out may have reached Telegram: yes when its answer was
    late (Telegram may have acted on it), no when no connection was free or none could be
    opened (python-telegram-bot says "not sent")."""
    import httpx  # (python-telegram-bot's own HTTP client: loaded with it)

    return not isinstance(error.__cause__, (httpx.PoolTimeout, httpx.ConnectTimeout))


class BanditBot:
    """The bot's handlers, bound to a service.

    Parameters
    ----------
    service
        The engine.
    experiments
        Experiment ids to expose as commands (default: all).
    signing_key
        Secret used to sign reset confirmations (the bot token is a good choice).
    """

    def __init__(self, service: BanditService, *, experiments: Sequence[str] | None = None,
                 signing_key: str = "", welcome: bool = True) -> None:
        self.service = service
        self.welcome = welcome
        ids = list(experiments) if experiments is not None else \
            [e.id for e in service.config.experiments]
        self.experiments: list[ExperimentConfig] = [service.experiment(i) for i in ids]
        #: those a chat can answer (a reward with feedback buttons): each a command; the
        #: others (a continuous reward without options) are reported, not run, here
        self.runnable = [e for e in self.experiments if e.reward.buttons]
        for exp in self.experiments:
            if not exp.reward.buttons:
                log.warning("experiment %r has no feedback buttons (a %s reward without "
                            "options): no command runs it in Telegram; /report shows it",
                            exp.id, exp.reward.type)
        self.signing_key = signing_key
        for exp in self.experiments:  # a feature the chat cannot give is zeros, always
            missing = [f.name for f in exp.features if f.name not in CHAT_FEATURES]
            if missing:
                log.warning("experiment %r: the bot's context has no %s (it gives %s): its "
                            "decisions in Telegram see zeros for %s", exp.id,
                            ", ".join(missing), ", ".join(CHAT_FEATURES),
                            "it" if len(missing) == 1 else "them")
        self._reported: set[tuple[str, str]] = set()  # arms whose send failure admins know
        self._withdrawn: set[int] = set()  # refused users whose admin menu was withdrawn

    # --- wiring -----------------------------------------------------------------------------
    def handlers(self) -> list[Any]:
        """PTB handlers for :meth:`Application.add_handlers`. Commands answer new messages
        only: an edited ``/cheat`` would add its rewards twice, an edited prompt command
        would make a second decision."""
        def command(name: str, callback: Any) -> CommandHandler[Any, Any]:
            return CommandHandler(name, callback, filters=filters.UpdateType.MESSAGE)

        out: list[Any] = [
            command("start", self.on_start),
            command("help", self.on_start),
        ] if self.welcome else []
        out += [
            command("experiments", self.on_experiments),
            command("report", self.on_report),
            # exactly banditbot's own data (votes, reset confirmations, the reset's cancel):
            # a host bot's "refresh" or "rate:5" stays the host's
            CallbackQueryHandler(self.on_vote, pattern=r"^v:"),
            CallbackQueryHandler(self.on_reset_confirm, pattern=r"^(r:|rc$)"),
        ]
        for exp in self.runnable:
            out.append(command(exp.telegram.command_for(exp.id),
                               self._experiment_handler(exp.id)))
        for name in _ADMIN_USAGE:
            out.append(command(name, self._admin_handler(name)))
        return out

    def commands(self) -> list[BotCommand]:
        """The command list to publish with ``setMyCommands``."""
        return _commands(self.runnable)

    def admin_commands(self) -> list[BotCommand]:
        """The command list of an admin's private chat: :meth:`commands` and the admin
        commands."""
        return _commands(self.runnable, admin=True)

    async def publish_commands(self, application: Application[Any, Any, Any, Any, Any, Any]
                               ) -> None:
        """Publish :meth:`commands` for everyone and :meth:`admin_commands` in each admin's
        private chat (use as ``post_init``). Telegram refusing them is a warning: the bot
        works without the menu; an admin who has not started the bot yet gets theirs on
        sending /start."""
        await self._publish(application.bot, self.commands(), self.service.admins)

    async def _publish(self, bot: Bot, public: Sequence[BotCommand] | None,
                       admins: Iterable[int]) -> None:
        """:func:`publish_menus` with the admin commands, its problems logged as warnings."""
        _, problems = await publish_menus(bot, public, self.admin_commands(), admins)
        for problem, error in problems:
            log.warning(problem, extra={"error": error[:200]} if error else None)

    async def _refuse(self, update: Update, message: Message, user: User, bot: Bot) -> None:
        """An admin command's refusal: in a private chat with the user's id (a new bot's
        owner has no other way to learn the id the allow-list takes; a group's refusal
        names nobody's), and the chat's admin menu withdrawn."""
        refusal = _FRIENDLY[NotAllowedError]
        asked_in = update.effective_chat
        private = asked_in is not None and asked_in.type == "private"
        if private:
            refusal += (f" Your Telegram user id is {user.id}; the bot's allow-list is "
                        "'admins' in the experiments file or BANDITBOT_ADMINS.")
        await message.reply_text(refusal)
        if private:
            await self._withdraw_menu(bot, user.id)

    async def _withdraw_menu(self, bot: Bot, user_id: int) -> None:
        """Withdraw the admin menu from a user refused an admin command in their private
        chat: an admin taken off the allow-list kept the menu Telegram had for that chat
        (the bot keeps no list of former admins; a refused command is when it learns).
        Once per user and process: a user sending refused commands again costs no call."""
        if user_id in self._withdrawn:
            return
        if len(self._withdrawn) >= _WITHDRAWN_MAX:
            self._withdrawn.clear()
        self._withdrawn.add(user_id)
        try:
            await bot.delete_my_commands(scope=BotCommandScopeChat(user_id))
        except TelegramError as exc:
            self._withdrawn.discard(user_id)  # (tried again at their next refusal)
            log.warning("a refused user's admin menu was not withdrawn",
                        extra={"error": str(exc)[:200]})

    @staticmethod
    async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # --- user commands ----------------------------------------------------------------------
    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start and /help: a short welcome listing what the user can do."""
        message = update.effective_message
        if message is None:
            return
        lines = ["Hi! I try out different messages and learn which ones people like.",
                 "Tap 👍/👎 (or a rating) under a message to teach me.", ""]
        lines += [f"/{e.telegram.command_for(e.id)} — {e.description or 'try experiment ' + e.id}"
                  for e in self.runnable]
        lines += ["/report — what I have learned so far", "/experiments — the experiments",
                  "/help — this message"]
        user, chat = update.effective_user, update.effective_chat
        admin = user is not None and self.service.is_admin(user.id)
        private = chat is None or chat.type == "private"
        if admin and private:  # (one a line: a phone wraps them)
            lines += ["", "Admin:", *(f"{_ADMIN_USAGE[name]} — {meaning}"
                                      for name, meaning in _ADMIN_MEANING.items())]
        elif admin:  # a group reads the reply: the admin section is not its business
            lines += ["", "Admin commands are listed in a private chat with me (send me "
                          "/help there)."]
        await message.reply_text("\n".join(lines))
        if admin and private and user is not None and _command_of(message) == "start":
            # an admin who had never started the bot got no admin menu (Telegram knew no
            # chat with them when the bot published it): now there is one
            await self._publish(context.bot, None, [user.id])

    async def on_experiments(self, update: Update,
                             context: ContextTypes.DEFAULT_TYPE) -> None:
        """/experiments: id, command, arms and policy of each experiment."""
        message = update.effective_message
        if message is None:
            return
        lines = []
        for e in self.experiments:  # (the policy as it runs now: an admin may have switched)
            view = await self._run(self.service.view, e.id)
            run = f"/{e.telegram.command_for(e.id)} · " if e.reward.buttons else \
                "(answered through the HTTP API) · "
            lines.append(f"{run}{e.id}: {count_text(len(view.arms), 'arm')}, {view.policy.name}, "
                         f"{e.reward.type} reward — {e.description or ''}".rstrip(" —"))
        await message.reply_text("\n".join(lines) or "No experiments are configured.")

    def _experiment_handler(self, experiment_id: str) -> Handler:
        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await self.on_experiment(update, context, experiment_id)

        return handler

    async def on_experiment(self, update: Update, context: ContextTypes.DEFAULT_TYPE,
                            experiment_id: str) -> None:
        """An experiment's command: decide, send the arm with feedback buttons, and log the
        decision once Telegram has taken the message.

        A message Telegram refuses (flood control past the retries, a blocked bot, a chat that
        is gone) is never logged: a logged decision nobody saw would count as a pull and, in
        implicit mode, as silence against its arm. A message Telegram took but answered
        too late may be on the user's screen: it is logged (with explicit rewards, where an
        unseen decision is only one without an answer). A button press cannot overtake the log
        write: a chat's updates are handled in order (:class:`~banditbot.telegram.ChatOrder`),
        so the press waits for this handler to finish.

        Content Telegram cannot parse in the experiment's parse mode (validated when it was
        loaded or added, so this is a mismatch with Telegram's rules) is sent as plain text
        instead, counted per arm in the store (counters ``send-failures:<experiment>``) and
        reported once to the admins.
        """
        message, user, chat = update.effective_message, update.effective_user, \
            update.effective_chat
        if message is None or user is None or chat is None:
            return
        exp = self.service.experiment(experiment_id)
        past = None
        if any(f.name == "past_reward_rate" for f in exp.features):
            _, past = await self._run(self.service.subject_history, exp.id, str(user.id))
        ctx = chat_context(update, time_zone=self.service.config.time_zone,
                           past_reward_rate=past)
        planned = await self._run(self.service.plan_decision, exp.id, str(user.id), ctx,
                                  chat=str(chat.id), telegram=True)
        decision = planned.decision
        rows = keyboard_rows(exp, decision.id)
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(**cell) for cell in row]
                                       for row in rows]) if rows and rows[0] else None
        try:
            try:
                sent = await message.reply_text(decision.content, parse_mode=parse_mode_of(exp),
                                                reply_markup=markup)
            except BadRequest as exc:
                if _PARSE_ERROR not in str(exc).lower():
                    raise
                sent = await message.reply_text(decision.content, reply_markup=markup)
                await self._send_failed(context, exp, decision.arm, exc)
        except TimedOut as exc:
            # (in implicit mode a logged decision nobody saw would be counted as silence
            # against its arm: there, as for a refusal, it is not logged)
            if not _maybe_delivered(exc) or exp.reward_mode == "implicit":
                raise
            # Telegram took the message and did not answer in time: it may be on the user's
            # screen, and its buttons must count (a trial: the message arrived, the decision
            # was not logged, and the press was told "this poll has closed"). Logged; if it
            # never arrived, the decision stays unanswered.
            await self._run(self.service.commit_decision, planned)
            log.warning("Telegram did not answer in time; the decision is logged in case its "
                        "message arrived", extra={"experiment": exp.id, "arm": decision.arm})
            return
        try:
            await self._run(self.service.commit_decision, planned)
        except BaseException:
            if markup is not None:  # buttons of a decision that was not logged lead nowhere
                await sent.edit_reply_markup(reply_markup=None)
            raise

    async def _send_failed(self, context: ContextTypes.DEFAULT_TYPE, exp: ExperimentConfig,
                           arm: str, error: TelegramError) -> None:
        """An arm's content did not parse: count it, log it, tell the admins (once per arm
        and process)."""
        log.warning("arm content refused by Telegram; sent as plain text",
                    extra={"experiment": exp.id, "arm": arm, "error": str(error)[:200]})
        await self._run(self.service.store.add_counters, f"send-failures:{exp.id}", {arm: 1.0})
        if (exp.id, arm) in self._reported:
            return
        self._reported.add((exp.id, arm))
        text = (f"Telegram refused the {exp.telegram.parse_mode} of arm {arm} of {exp.id} "
                f"({error}); it was sent as plain text. Fix its content, or /arm retire "
                f"{exp.id} {arm}.")
        for admin in sorted(self.service.admins):
            try:
                await context.bot.send_message(admin, text[:4000])
            except TelegramError as exc:  # an admin who never started the bot
                log.warning("could not tell an admin", extra={"error": type(exc).__name__})

    async def on_vote(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A feedback button: apply the reward exactly once, then show the choice."""
        query = update.callback_query
        if query is None:
            return
        parsed = parse_vote(query.data)
        if parsed is None:
            await self._answer(query, _ANSWERS[RewardStatus.UNKNOWN])
            return
        decision_id, option = parsed
        result = await self._run(self.service.reward, decision_id, None,
                                 str(query.from_user.id), option=option)
        if result.status is not RewardStatus.APPLIED or result.experiment is None:
            # a duplicate's own message says when the silence was counted instead
            await self._answer(query, result.message if result.status is
                               RewardStatus.DUPLICATE else
                               _ANSWERS.get(result.status, "this poll has closed"))
            if result.status is RewardStatus.DUPLICATE and query.message is not None \
                    and getattr(query.message, "reply_markup", None) is not None:
                await self._remove_buttons(query)  # counted already: nothing left to press
            return
        exp = self.service.experiment(result.experiment)
        label = exp.reward.buttons[option].label
        view = await self._run(self.service.view, exp.id)
        # a poll from before a reset counts in the results of its own generation, which
        # /report no longer shows: say so rather than let the vote seem lost
        earlier = result.generation is not None and result.generation < view.meta.generation
        note = " (this poll is from before a reset: it counts in the earlier results)" \
            if earlier else ""
        await self._answer(query, f"Thanks! You answered {label}{note}")
        if result.arm not in view.contents:
            # an arm deleted from the experiments file since the poll: its text is gone
            # with it (the edit replaced the message with the thanks alone), so the message
            # stays as it was and only its buttons go (the log says what the reward met)
            await self._remove_buttons(query)
            return
        mode = parse_mode_of(exp)
        content = view.contents[result.arm]
        chat = query.message.chat if query.message is not None else None
        private = chat is None or chat.type == "private"
        # a group reads the edited message: not "You" (whose?) but the first name of the
        # one who answered (a trial read "Answered 👎" and could not tell who; only the
        # person the prompt replied to can answer it, so the group could see whose it was)
        who = "You" if private else _display_name(query.from_user.first_name)
        thanks = f"{who} answered {label} — thanks{note}" if who else \
            f"Answered {label} — thanks{note}"
        tail = "\n\n" + thanks
        try:
            if mode is not None:
                try:
                    await query.edit_message_text(content + "\n\n" + escape(thanks, mode),
                                                  parse_mode=mode, reply_markup=None)
                    return
                except BadRequest as exc:  # (too long with the note: the arm stays whole,
                    if _PARSE_ERROR not in str(exc).lower():  # below, and its buttons go)
                        raise
            # as plain text: a plain arm, or one that cannot be parsed; an arm the note
            # would make too long (4096 characters: it lost its note) is cut to make room
            await query.edit_message_text(fit_message(content, tail) + tail, reply_markup=None)
        except TelegramError as exc:  # e.g. too old or too long to edit: the vote counts,
            log.warning("could not edit the voted message", extra={"error": str(exc)[:200]})
            await self._remove_buttons(query)  # and the buttons go, so none is pressed again

    @staticmethod
    async def _answer(query: Any, text: str) -> None:
        """Answer a button press (the toast). Telegram refuses the answer to a press older
        than about 15 seconds ("query is too old": presses queued while the bot was down or
        slow); the press was handled all the same, so the refusal is a warning and the
        handler goes on (it edits the message next)."""
        try:
            await query.answer(text[:200])
        except TelegramError as exc:
            log.warning("could not answer the button press", extra={"error": str(exc)[:200]})

    @staticmethod
    async def _remove_buttons(query: Any) -> None:
        """Take the feedback buttons off a message whose text could not be edited."""
        try:
            await query.edit_message_reply_markup(reply_markup=None)
        except TelegramError as exc:
            log.warning("could not remove the buttons", extra={"error": str(exc)[:200]})

    async def on_report(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/report [experiment …]: the report, a short block per arm that a phone shows
        without wrapping (in several messages when one is too short), and for one
        experiment a chart. An experiment with one bandit per chat (or per user) reports
        this chat's (or this user's)."""
        message, user, chat = update.effective_message, update.effective_user, \
            update.effective_chat
        if message is None or user is None or chat is None:
            return
        args = list(context.args or [])
        # several named: their reports together, as with none named (a trial's second name
        # was dropped without a word)
        # (an id and its command name one experiment: reported once)
        ids = list(dict.fromkeys(self._resolve(a) for a in args)) if args else \
            [e.id for e in self.experiments]
        unknown = [i for i in ids if i not in self.service.config.by_id] if len(ids) > 1 else []
        if unknown:  # the others' reports, and this said first (one had failed them all)
            named = ", ".join(unknown)[:200]
            if len(unknown) == len(ids):
                await message.reply_text(f"No experiment named {named} (/experiments lists "
                                         "them).")
                return
            ids = [i for i in ids if i not in unknown]
            await message.reply_text(f"No experiment named {named} (/experiments lists "
                                     "them); the others' reports follow.")
        reports = [await self._run(self.service.report, i,
                                   scope=self.service.scope_of(i, str(user.id),
                                                               chat=str(chat.id)))
                   for i in ids]
        # (a phone shows about 40 columns of a <pre>: a block per arm, the rest as text)
        from ._report_html import fit_reports, left_out_text, report_messages

        if not reports:
            await message.reply_text("No experiments are configured.")
            return
        if len(reports) == 1:  # one experiment: in several messages if one is too short
            for text in report_messages(reports[0], max_arms=_SHOWN_ARMS):
                await message.reply_text(text, parse_mode="HTML")
        else:  # every experiment: whole reports in one message, and which did not fit
            text, left = fit_reports(reports, max_arms=_SHOWN_ARMS, limit=3600)
            if left:  # (each of them named, to ask for alone: see left_out_text)
                text += ("\n\n" if text else "") + left_out_text(left)
            else:  # a chart, the notes and what the numbers are come with one's report
                text += "\n\nFor an experiment's chart, notes and what its numbers are: " \
                    "/report " + escape(reports[0].experiment, "HTML")
            await message.reply_text(text, parse_mode="HTML")
            return
        try:  # the text is the answer; a chart that fails is logged, not apologised for
            png = await self._run(self._chart, reports[0])
            if png is not None:
                await message.reply_photo(
                    InputFile(io.BytesIO(png), filename=f"{reports[0].experiment}.png"),
                    caption=f"{reports[0].experiment}: intervals and allocation over time")
        except Exception as exc:
            log.warning("report chart failed", extra={"experiment": reports[0].experiment,
                                                      "error": type(exc).__name__},
                        exc_info=not isinstance(exc, TelegramError | BanditBotError))

    def _resolve(self, name: str) -> str:
        """An experiment id from what a user typed: its id or its command (with or without
        the slash)."""
        name = name.removeprefix("/")
        if any(e.id == name for e in self.experiments):  # an id wins over a command
            return name
        for e in self.experiments:
            if name == e.telegram.command_for(e.id):
                return e.id
        return name  # unknown: the service raises a friendly error

    def _chart(self, report: Report) -> bytes | None:
        """The report's chart (in a worker thread; one render at a time): the chart of
        ``banditbot report EXP --png``, its allocation the probabilities the policy logged
        (the share of decisions per time bin read 100% for the arm the first decision
        drew, beside a table at 33% each) with the admins' changes marked."""
        try:
            from .._charts import report_png
        except ImportError:
            return None
        series = self.service.report_series(report.experiment, scope=report.scope)
        try:
            return report_png(report, series)  # (its own default: one colour per arm)
        except ImportError:  # matplotlib missing: the table is enough
            return None

    # --- admin --------------------------------------------------------------------------------
    def _admin_handler(self, name: str) -> Handler:
        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await self.on_admin(update, context, name)

        return handler

    async def on_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE,
                       name: str) -> None:
        """Admin commands; everyone not in the allow-list gets "not allowed"."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        if not self.service.is_admin(user.id):
            log.warning("admin command refused", extra={"command": name,
                                                        "update_id": update.update_id})
            await self._refuse(update, message, user, context.bot)
            return
        if message.forward_origin is not None or message.via_bot is not None:
            # someone else's words: an admin forwarding a group's "/cheat …" (to ask about
            # it) ran it with the admin's rights (a review)
            log.warning("forwarded admin command not run", extra={
                "command": name, "update_id": update.update_id})
            await message.reply_text("A forwarded admin command is not run: send it "
                                     "yourself if you mean it.")
            return
        args = list(context.args or [])
        # the experiment may be named by its id or its command, as /report takes it
        named = 1 if name == "arm" else 0
        if len(args) > named:
            args[named] = self._resolve(args[named])
        actor = f"tg:{user.id}"
        svc = self.service
        text: str | None = None
        if name == "cheat" and len(args) >= 3:
            # into the bandit this chat's decisions use (a per-chat experiment's rewards
            # once went to a scope no chat reads)
            chat = update.effective_chat.id if update.effective_chat is not None else user.id
            scope = svc.scope_of(args[0], user.id, chat=chat)
            n = await self._run(svc.cheat, args[0], args[1], " ".join(args[2:]), actor=actor,
                                scope=scope or "")
            where = "" if scope is None else \
                " (this chat's bandit)" if scope.startswith("chat:") else " (your own bandit)"
            text = f"Added {count_text(n, 'reward')} to {args[0]}/{args[1]}{where}."
        elif name == "prior" and len(args) == 4:
            try:
                alpha, beta = float(args[2]), float(args[3])
            except ValueError:
                raise PayloadError(f"the prior is two numbers, not {args[2]!r} {args[3]!r}",
                                   hint="e.g. /prior EXP ARM 8 2: 8 pseudo-successes, "
                                        "2 pseudo-failures") from None
            means = await self._run(svc.set_prior, args[0], args[1], alpha, beta, actor=actor)
            per = svc.experiment(args[0]).scope  # (a trial: /cheat says "this chat's")
            every = "" if per == "shared" else \
                f" It applies to every {'chat' if per == 'chat' else 'user'}'s bandit."
            text = f"Prior of {args[0]}/{args[1]} set to alpha={alpha:g}, beta={beta:g}: " \
                f"{means}.{every}"
        elif name == "reset" and len(args) == 1:
            svc.experiment(args[0])
            data = sign_reset(self.signing_key, args[0], user.id,
                              int(time.time()) + _RESET_TTL)
            markup = InlineKeyboardMarkup([[
                InlineKeyboardButton("Yes, reset", callback_data=data),
                InlineKeyboardButton("Cancel", callback_data="rc")]])
            everywhere = "" if svc.experiment(args[0]).scope == "shared" else " in every chat"
            await message.reply_text(
                f"Reset {args[0]}? Its statistics start from zero{everywhere} (priors are "
                "kept, the decision log is kept).", reply_markup=markup)
            return
        elif name == "policy" and len(args) >= 2:
            policy = await self._run(svc.switch_policy, args[0], args[1],
                                     parse_params(args[2:]), actor=actor)
            text = f"{policy.message}."
        elif name == "arm" and len(args) >= 3 and args[0] in ("add", "retire"):
            if args[0] == "add":
                # the content as typed, its line breaks and spaces kept (the parsed
                # arguments are split on any whitespace)
                parts = (message.text or "").split(None, 4)
                content = parts[4] if len(parts) == 5 else ""
                await self._run(svc.add_arm, args[1], args[2], content, actor=actor)
                if not content:  # a retired arm brought back keeps the content it had
                    content = await self._run(svc.content, args[1], args[2])
                await self._reply_with_content(
                    message, svc.experiment(args[1]),
                    f"Arm {args[2]} added to {args[1]}; it sends:", content)
                return
            also = await self._run(svc.retire_arm, args[1], args[2], actor=actor)
            text = f"Arm {args[2]} of {args[1]} retired (its statistics are kept)." + \
                (f" Note: {also}." if also else "")
        elif name == "arm" and len(args) == 2 and args[0] == "list":
            text = await self._run(self._arms_text, args[1])
        elif name == "export" and (len(args) == 1 or (len(args) == 2 and args[1] == "all")):
            asked_in = update.effective_chat
            if asked_in is not None and asked_in.type != "private":  # (a trial: a group got it)
                await message.reply_text(
                    "The decision log goes to a private chat only (here everyone in the "
                    "group would get each member's decisions): send /export "
                    f"{args[0]} to me directly.")
                return
            whole = len(args) == 2
            data_csv, generation, rows = await self._run(self._export_csv, args[0], whole)
            if data_csv is None:  # (Telegram refuses the file: "Request Entity Too Large")
                await message.reply_text(
                    f"The decision log of {args[0]}{' (every generation)' if whole else ''} "
                    "is larger than the 50 MB Telegram takes in a "
                    f"file: export it with banditbot export {args[0]} --out FILE"
                    f"{' --all-generations' if whole else ''} on the server.")
                return
            since = "" if generation == 0 else \
                f" Every generation, 0 to {generation} (one per reset)." if whole else \
                f" Since the last reset: generation {generation} (every generation: " \
                f"/export {args[0]} all)."
            await message.reply_document(
                InputFile(io.BytesIO(data_csv), filename=f"{args[0]}-decisions.csv"),
                caption=f"Decision log of {args[0]}: {rows}, subjects pseudonymized."
                        f"{since}")
            svc.audit(actor, args[0], "export", "csv, every generation" if whole else "csv")
            return
        elif name == "audit" and len(args) <= 1:
            private = update.effective_chat is None or update.effective_chat.type == "private"
            text = await self._run(self._audit_text, args[0] if args else None, private)
        if text is None:
            await message.reply_text("Usage: " + _ADMIN_USAGE[name])
            return
        await message.reply_text(text)

    @staticmethod
    async def _reply_with_content(message: Message, exp: ExperimentConfig, header: str,
                                  content: str) -> None:
        """``header``, then an arm's content as users see it (rendered in the experiment's
        parse mode, not its source); as plain text, cut at 300 characters, when the two do
        not fit one message (Telegram counts UTF-16 units) or Telegram refuses them."""
        mode = parse_mode_of(exp)
        rendered = escape(header, mode) + "\n" + content
        # (its length as Telegram counts it, the text shown: an arm of 4,400 characters
        # written and 4,000 shown was confirmed as its raw source, cut)
        if mode is not None and markup_problem(rendered, mode) is None:
            try:
                await message.reply_text(rendered, parse_mode=mode)
                return
            except BadRequest as exc:  # cannot parse, or too long once parsed: plain text
                log.info("arm content confirmed as plain text", extra={"error": str(exc)[:200]})
        shown = content if len(content) <= 300 else content[:299] + "…"
        await message.reply_text(f"{header}\n{shown}")

    def _arms_text(self, experiment: str) -> str:
        """/arm list: the arms offered now, each with the start of its content, then the
        retired ones (plain text, cut to one message)."""
        view = self.service.view(experiment)
        active = view.arms
        retired = [a for a in view.contents if a not in active]
        lines = [f"Arms of {experiment}: {len(active)} offered"
                 + (f", {len(retired)} retired" if retired else "") + "."]
        for arm in active:
            lines.append(f"• {arm}: {one_line(view.contents[arm])}")
        if retired:
            lines.append("Retired (/arm add <experiment> <arm> brings one back): "
                         + ", ".join(retired))
        text = "\n".join(lines)
        if message_units(text) <= MESSAGE_UNITS:
            return text
        every = f"\n… (every arm: banditbot arms list {experiment})"
        return fit_message(text, every) + every

    def _audit_text(self, experiment: str | None, private: bool) -> str:
        """The audit log's latest entries (of one experiment, or of the bot's experiments),
        newest first, one line each, their times in the experiments file's ``time_zone``
        (as /report shows them). Outside a private chat an admin's Telegram id is not
        shown (the chat's members would read it)."""
        from .._text import local_time

        if experiment is not None:
            self.service.experiment(experiment)
        mine = {e.id for e in self.experiments}
        records = [r for r in self.service.store.admin_log(experiment, 10 * _AUDIT_SHOWN)
                   if r.experiment in mine][:_AUDIT_SHOWN]
        if not records:
            return f"No admin actions{f' on {experiment}' if experiment else ''} yet."
        zone = self.service.config.time_zone
        lines = [f"Audit log{f' of {experiment}' if experiment else ''}, newest first "
                 f"(times in {zone}):"]
        for r in records:
            actor = r.actor if private or not r.actor.startswith("tg:") else "tg:(an admin)"
            # (each time says its zone, CET or CEST, as the report's "since" does)
            when = local_time(r.at, zone).strftime("%Y-%m-%d %H:%M %Z")
            where = "" if experiment else f" {r.experiment}"
            lines.append(f"{when} · {actor} ·{where} {r.action}"
                         + (f" · {r.details}" if r.details else ""))
        return "\n".join(lines)

    def _export_csv(self, experiment: str, every: bool = False
                    ) -> tuple[bytes | None, int, str]:
        """The current generation's log (``every``: every generation's) as CSV, the current
        generation, and what the rows are (``29 rows (20 decisions, 9 rewards added by
        hand)``, as the CLI says it); no CSV when it is larger than Telegram takes."""
        from .._text import counted_kinds, rows_text
        from ..offline import store_pseudonyms, write_log_csv

        generation = self.service.current_generation(experiment)
        buffer = _CappedText(_DOCUMENT_BYTES)
        kinds: Counter[str] = Counter()
        records = self.service.decisions(experiment, generation=None if every else generation)
        try:
            n = write_log_csv(counted_kinds(records, kinds), buffer,
                              pseudonyms=store_pseudonyms(self.service.store))
        except _TooLargeError:
            return None, generation, ""
        data = buffer.getvalue().encode("utf-8")
        if len(data) > _DOCUMENT_BYTES:
            return None, generation, ""
        return data, generation, rows_text(n, kinds)

    async def on_reset_confirm(self, update: Update,
                               context: ContextTypes.DEFAULT_TYPE) -> None:
        """The reset confirmation buttons."""
        query = update.callback_query
        if query is None:
            return
        # one answer per confirmation, on every server: "Yes" and "Cancel" claim the same key
        # (the message's; it expires with the buttons), so a reset cannot follow its cancel,
        # nor a cancel be reported after the reset was done
        message = query.message
        answered = f"tg-reset:{message.chat.id}:{message.message_id}" \
            if message is not None else f"tg-reset:{query.data}"
        if query.data == "rc":
            if not self.service.is_admin(query.from_user.id):  # e.g. in a group chat
                await self._answer(query, _NOT_YOUR_CONFIRMATION)
                return
            if not await self._run(self.service.store.claim_key, answered, _RESET_TTL + 60):
                await self._answer(query, "already answered: this confirmation was used")
                return
            await self._answer(query, "cancelled")
            await query.edit_message_text("Reset cancelled; nothing changed.", reply_markup=None)
            return
        user_id = query.from_user.id
        experiment = verify_reset(self.signing_key, query.data, user_id, time.time())
        if experiment is None or not self.service.is_admin(user_id):
            await self._answer(query, _NOT_YOUR_CONFIRMATION)
            return
        if not await self._run(self.service.store.claim_key, answered, _RESET_TTL + 60):
            await self._answer(query, "already done: this confirmation was used or cancelled")
            return
        generation = await self._run(self.service.reset, experiment, actor=f"tg:{user_id}")
        await self._answer(query, "reset")
        await query.edit_message_text(
            f"{experiment} was reset (generation {generation}).", reply_markup=None)

    async def on_unknown_callback(self, update: Update,
                                  context: ContextTypes.DEFAULT_TYPE) -> None:
        """A press with callback data nobody understands (stale or forged buttons)."""
        if update.callback_query is not None:
            await self._answer(update.callback_query, _ANSWERS[RewardStatus.UNKNOWN])

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An unknown command or plain text in a private chat: a short hint."""
        message = update.effective_message
        if message is not None:
            command = (message.text or "").startswith("/")
            await message.reply_text(_HINT if command else _TEXT_HINT)

    # --- errors -------------------------------------------------------------------------------
    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one error handler: short reply to the user, traceback to the log."""
        error = context.error
        update_id = getattr(update, "update_id", None)
        if isinstance(error, Forbidden):  # the person blocked the bot or left the chat:
            # routine, and nobody to tell (the decision was not logged: it is logged only
            # once Telegram has taken its message)
            log.warning("Telegram would not deliver to this chat (the bot was blocked or "
                        "removed)", extra={"update_id": update_id, "error": str(error)[:200]})
            return
        friendly = next((text for cls, text in _FRIENDLY.items() if isinstance(error, cls)),
                        None)
        if isinstance(error, BanditBotError) and (friendly is not None
                                                  or isinstance(error, PayloadError)):
            # what is wrong, in the error's own words, where the kind alone does not say it
            # (a bad prior, markup a new arm may not use, a policy parameter)
            detail = f": {error.message}" if isinstance(error, _SAY_WHY) else "."
            text = (friendly or "That input is not valid here.").removesuffix(".") + detail \
                + (f" ({error.hint})" if error.hint else "")
            log.info("user error", extra={"update_id": update_id,
                                          "error": type(error).__name__})
        elif isinstance(error, BanditBotError):  # the operator's to fix: the hint is theirs
            text = next((t for cls, t in _APOLOGY.items() if isinstance(error, cls)), _SORRY)
            log.error("handler failed", extra={"update_id": update_id,
                                               "error": type(error).__name__,
                                               "detail": str(error)[:300]})
        else:
            text = _SORRY
            log.error("handler failed", exc_info=error, extra={"update_id": update_id})
        if not isinstance(update, Update):
            return
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(text[:200])
            elif update.effective_message is not None:
                await update.effective_message.reply_text(text[:4000])
        except TelegramError as exc:
            log.warning("could not send the error reply", extra={"update_id": update_id,
                                                                 "error": str(exc)[:200]})


def commands_for(config: BanditConfig, experiments: Sequence[str] | None = None
                 ) -> list[BotCommand]:
    """The command list a bot for ``config`` publishes (what ``set-webhook`` publishes for
    webhook and Lambda deployments, which never run ``banditbot run``)."""
    ids = list(experiments) if experiments is not None else [e.id for e in config.experiments]
    return _commands([e for e in (config.experiment(i) for i in ids) if e.reward.buttons])


def admin_commands_for(config: BanditConfig, experiments: Sequence[str] | None = None
                       ) -> list[BotCommand]:
    """The command list of an admin's private chat: :func:`commands_for` and the admin
    commands (what ``set-webhook`` publishes for each admin)."""
    ids = list(experiments) if experiments is not None else [e.id for e in config.experiments]
    return _commands([e for e in (config.experiment(i) for i in ids) if e.reward.buttons],
                     admin=True)


def _commands(experiments: Sequence[ExperimentConfig], *, admin: bool = False
              ) -> list[BotCommand]:
    """The menu: each experiment's command, /report, /experiments, /help and (``admin``)
    the admin commands; Telegram takes at most 100, so the experiments past that are left
    out of the menu (their commands still work)."""
    tail = [BotCommand("report", "what the bot has learned"),
            BotCommand("experiments", "list the experiments"),
            BotCommand("help", "what you can do")]
    if admin:
        tail += [BotCommand(name, f"admin: {meaning}") for name, meaning in
                 _ADMIN_MEANING.items()]
    cmds = [BotCommand(e.telegram.command_for(e.id),
                       (e.description.strip() or f"try experiment {e.id}")[:256])
            for e in experiments[:_MAX_COMMANDS - len(tail)]]
    return cmds + tail


async def publish_menus(bot: Bot, public: Sequence[BotCommand] | None,
                        admin: Sequence[BotCommand], admins: Iterable[int]
                        ) -> tuple[int, list[tuple[str, str]]]:
    """Publish the command menus: ``public`` for every chat (``None``: left as it is) and
    ``admin`` in each admin's private chat (``BotCommandScopeChat``: an admin's private
    chat has their user id).

    Telegram answers "chat not found" for an admin who has never started the bot: those
    are counted in one problem, never named (a log carries no user id).

    Returns
    -------
    tuple
        How many admins' menus were published, and the problems: a sentence each, with
        Telegram's words (``""`` when the sentence says it all).
    """
    problems: list[tuple[str, str]] = []
    if public is not None:
        try:
            await bot.set_my_commands(list(public))
        except TelegramError as exc:
            problems.append(("the command list was not published", str(exc)))
    published, unknown, refused = 0, 0, []
    for admin_id in sorted(set(admins)):
        try:
            await bot.set_my_commands(list(admin), scope=BotCommandScopeChat(admin_id))
            published += 1
        except BadRequest as exc:
            if "chat not found" not in str(exc).lower():
                refused.append(str(exc))
                continue
            unknown += 1
        except TelegramError as exc:
            refused.append(str(exc))
    if unknown:
        problems.append((
            f"{count_text(unknown, 'admin')} {'has' if unknown == 1 else 'have'} not started "
            "a private chat with the bot (Telegram: chat not found): the admin commands "
            "appear in an admin's menu once they send the bot /start", ""))
    if refused:
        problems.append((f"the admin command list was not published for "
                         f"{count_text(len(refused), 'admin')}", refused[0]))
    return published, problems


def install(application: Application[Any, Any, Any, Any, Any, Any],
            service: BanditService, *, experiments: Sequence[str] | None = None,
            group: int = 0, answer_unknown_callbacks: bool = False,
            welcome: bool = True) -> BanditBot:
    """Add banditbot's commands, buttons and error handler to an existing PTB application.

    Your own handlers keep working; banditbot only claims its own commands and callback data
    starting with ``v:`` or ``r:`` (and ``rc``). Within one handler group the first matching
    handler wins: pass ``welcome=False`` to keep your own ``/start`` and ``/help``.

    Parameters
    ----------
    application
        A python-telegram-bot ``Application``.
    service
        A :class:`~banditbot.BanditService` (see :func:`banditbot.build_service`).
    experiments
        Experiment ids to expose (default: all).
    group
        PTB handler group.
    answer_unknown_callbacks
        Also answer button presses no handler claims ("this poll has closed"), and unknown
        commands and plain text in private chats (a short hint); only for an application
        that is banditbot's alone.
    welcome
        Answer ``/start`` and ``/help`` with banditbot's welcome (``False``: your bot's own
        handlers answer them).

    Returns
    -------
    BanditBot
        Its :meth:`BanditBot.publish_commands` publishes the command list.
    """
    bot = BanditBot(service, experiments=experiments, signing_key=application.bot.token,
                    welcome=welcome)
    application.add_handlers(bot.handlers(), group=group)
    if answer_unknown_callbacks:
        application.add_handler(CallbackQueryHandler(bot.on_unknown_callback), group=group)
        application.add_handler(MessageHandler(
            filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
            & (filters.COMMAND | filters.TEXT), bot.on_unknown), group=group)
    application.add_error_handler(bot.on_error)
    application.bot_data["banditbot"] = bot
    return bot
