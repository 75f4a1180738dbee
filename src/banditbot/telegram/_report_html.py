"""A report as Telegram shows it on a phone: HTML messages, no wide table.

A phone shows about 35–45 monospace columns in a ``<pre>`` block; the CLI's table (about 85
columns with the posterior column) wrapped there into an unreadable mess. Here each arm is a
short block of its own in one ``<pre>`` (every line at most :data:`PRE_COLUMNS` display
columns, an emoji or a CJK character counting as two), and everything that is prose — the
title, the status, the verdict, what the interval is, the notes — is plain HTML text outside
it, which Telegram wraps to the screen. A report too long for one message (many arms, long
notes) is split between arm blocks into several messages, each valid HTML on its own and
saying which part it is. Every piece of text from the report is escaped.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Sequence

from .._report import ArmReport, Report, mean_text, span_text
from .._text import amount_text, count_text

__all__ = ["MESSAGE_LIMIT", "PRE_COLUMNS", "display_width", "fit_reports", "left_out_text",
           "report_messages"]

#: The widest line a ``<pre>`` block of the report holds, in display columns.
PRE_COLUMNS = 40
#: The most characters of HTML one message of the report takes (Telegram's limit is 4,096
#: characters of text after its entities are parsed; the HTML, tags and escapes included, is
#: never shorter, and the rest is room for the part labels).
MESSAGE_LIMIT = 3900
_INDENT = "  "
_SEP = " · "
#: A part label's room, reserved in every message (``<b>…</b> · part 12/12 (arms 331–360 of
#: 360)`` and ``(continued in the next message)``, beside an experiment id of 32 characters).
_LABEL_ROOM = 160


def display_width(text: str) -> int:
    """Columns ``text`` takes in a monospace font: a wide character (CJK, most emoji) two,
    a combining mark or a zero-width joiner none, any other one.

    Examples
    --------
    >>> display_width("P(best) 98%")
    11
    >>> display_width("👍 ok")
    5
    """
    width = 0
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Mn", "Me", "Cf"):
            continue
        wide = unicodedata.east_asian_width(ch) in ("W", "F") or \
            (category == "So" and ord(ch) >= 0x2600)  # emoji such as ⚠ (shown wide)
        width += 2 if wide else 1
    return width


def report_messages(report: Report, *, max_arms: int | None = None,
                    limit: int = MESSAGE_LIMIT, compact: bool = False) -> list[str]:
    """The messages (HTML parse mode) that show ``report`` in Telegram: one, or several when
    one is too short for every arm and note.

    Parameters
    ----------
    report
        What to show.
    max_arms
        Show :meth:`~banditbot.Report.top_arms` of this many and a line on the rest (the
        totals and the verdict stay those of every arm).
    limit
        The most characters of HTML in one message.
    compact
        Leave out what the numbers are and the notes but those that warn (an overview of
        several experiments says once where they are: the report of one).

    Returns
    -------
    list of str
        Messages in order; each is valid HTML on its own, and in a report of several parts
        each one says which part it is.
    """
    shown = report.arms if max_arms is None else report.top_arms(max_arms)
    head = _head(report, shown, legend=not compact)
    priors = report.shows_posterior_mean and not compact
    blocks = [_arm_block(report, a, posterior=priors) for a in shown]
    tail = _tail(report, shown, all_notes=not compact)
    budget = limit - _LABEL_ROOM
    # pack: the head, the arm blocks in <pre> (cut between arms), the tail's paragraphs
    parts: list[_Part] = []
    part = _Part(list(head))
    first = 0
    while first < len(blocks):
        room = budget - part.size - (2 if part.paragraphs else 0) - len("<pre></pre>")
        taken, used = 0, 0
        for block in blocks[first:]:
            extra = len(block) + (2 if taken else 0)  # arm blocks are apart by a blank line
            if used + extra > room:
                break
            taken, used = taken + 1, used + extra
        if taken == 0 and part.paragraphs:  # not even one arm: on to a new message
            parts.append(part)
            part = _Part([])
            continue
        taken = max(taken, 1)  # (an arm block alone is far shorter than a message)
        part.arms = (first, first + taken)
        part.paragraphs.append("<pre>" + "\n\n".join(blocks[first:first + taken]) + "</pre>")
        first += taken
        if first < len(blocks):
            parts.append(part)
            part = _Part([])
    for paragraph in (piece for p in tail for piece in _split(p, budget)):
        if part.paragraphs and part.size + 2 + len(paragraph) > budget:
            parts.append(part)
            part = _Part([])
        part.paragraphs.append(paragraph)
    if part.paragraphs:
        parts.append(part)
    if len(parts) == 1:
        return ["\n\n".join(parts[0].paragraphs)]
    split = sum(p.arms is not None for p in parts) > 1  # the arms over several messages
    # (of the arms shown, which a bandit with many arms leaves some out of: "arms 1-27 of
    # 30" read as if the experiment had 30, and "part 2/2 (arms 28–30 of the 30 shown (44
    # in all))" as a riddle)
    everyone = len(shown) == len(report.arms)
    of = f"of {len(shown)}" if everyone else f"of the {len(shown)} shown here"
    name = html.escape(report.experiment, quote=False)
    messages = []
    for i, part in enumerate(parts):
        body = part.paragraphs
        arms = ""
        if split and part.arms is not None:
            first, end = part.arms[0] + 1, part.arms[1]
            arms = (f"arm {first}" if first == end else f"arms {first}–{end}") + f" {of}"
        label = [] if i == 0 else \
            [f"<b>{name}</b> · part {i + 1}/{len(parts)}" + (f" · {arms}" if arms else "")]
        if i == 0 and arms and not everyone:
            arms += f" (the other {len(report.arms) - len(shown):,}: one line at the end)"
        if i == 0 and arms:  # the arms' range just above their block
            body = [*body[:-1], arms, body[-1]]
        more = ["(continued in the next message)"] if i + 1 < len(parts) else []
        messages.append("\n\n".join([*label, *body, *more]))
    return messages


class _Part:
    """One message of a report while it is packed: its paragraphs (HTML, valid alone) and
    the arms its ``<pre>`` shows (``(first, end)``, ``None`` without one)."""

    def __init__(self, paragraphs: list[str]) -> None:
        self.paragraphs = paragraphs
        self.arms: tuple[int, int] | None = None

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.paragraphs) + 2 * max(len(self.paragraphs) - 1, 0)


def fit_reports(reports: Sequence[Report], *, max_arms: int | None = None,
                limit: int = MESSAGE_LIMIT) -> tuple[str, list[str]]:
    """Reports of several experiments in one message: each without what its numbers are
    and with only the notes that warn (``compact``: a trial's three small experiments did
    not fit, each repeating the same lines), in order, as many as fit in ``limit``
    characters of HTML, and the experiments left out (a report that needs messages of its
    own is one of those; a shorter one after it can still fit).

    Parameters
    ----------
    reports
        In the order to show them.
    max_arms
        As for :func:`report_messages`.
    limit
        The most characters of HTML in the message.

    Returns
    -------
    tuple of (str, list of str)
        The message (``""`` when not even one fits) and the ids of the experiments left out.
    """
    shown: list[str] = []
    left: list[str] = []
    size = 0
    for report in reports:
        messages = report_messages(report, max_arms=max_arms, limit=limit, compact=True)
        text = messages[0]
        if len(messages) > 1 or size + len(text) + 2 > limit:
            left.append(report.experiment)
            continue
        shown.append(text)
        size += len(text) + 2
    return "\n\n".join(shown), left


# --- the parts of a report ---------------------------------------------------------------
def _head(report: Report, shown: Sequence[ArmReport], *, legend: bool = True) -> list[str]:
    """Title and status, the verdict, and (``legend``) what the numbers of the arm blocks
    are."""
    lines = [f"<b>{_e(report.title)}</b>", _e(report.status_line)]
    if report.burn_in is not None:
        lines.append(_e(report.burn_in_text))
    if report.srm is not None and report.srm.flagged:
        lines.append("⚠ " + _e(report.srm.describe()))
    # the answer in plain words first (a trial: every report opened with the policy's
    # settings and the statistician's terms)
    paragraphs = [f"<b>{_e(report.experiment)}</b>: {_e(report.headline)}", "\n".join(lines)]
    if report.verdict:
        paragraphs.append(f"<b>{_e(report.verdict)}</b>")
    if not legend:
        return paragraphs
    legend_lines = []
    if report.estimate_kind:
        legend_lines.append(f"estimate (interval): {report.estimate_kind}")
    if report.anytime_kind and any(a.anytime_low is not None for a in shown):
        legend_lines.append(f"every look: {report.anytime_kind}")
    kinds = sorted({a.uplift.kind for a in shown if a.uplift is not None})
    if report.control is not None and kinds:
        legend_lines.append(f"vs {report.control}: the difference of the estimates, "
                            f"interval: {' / '.join(kinds)}")
    if report.shows_posterior_mean:
        legend_lines.append("posterior: the mean of the posterior behind P(best), the prior "
                            "and the answers imported or added by hand in it (not shown for "
                            "an arm with neither answers nor a prior)")
    paragraphs.append("\n".join(_e(line) for line in legend_lines))
    return paragraphs


def _arm_block(report: Report, a: ArmReport, *, posterior: bool = True) -> str:
    """An arm's lines in the ``<pre>``, escaped: its name (and whether it leads, is the
    control, is retired: ``hello (leads, control)``), then its counts, its estimate, its
    P(best) and allocation, and against the control — each group wrapped to
    :data:`PRE_COLUMNS`. With an operator prior on some arm (and ``posterior``: where the
    legend says what it is), the mean of its posterior, for an arm that has one."""
    leader = report.leader
    tags = [*(["winner"] if report.winner == a.arm else
              ["leads"] if leader is not None and leader.arm == a.arm and report.winner is None
              else []),
            *(["control"] if report.control == a.arm else []),
            *([] if a.active else ["retired"])]
    lines = _pack([a.arm, *([f"({', '.join(tags)})"] if tags else [])], indent="", sep=" ")
    counts = [count_text(a.pulls, "decision"), f"{amount_text(a.answered)} answered"]
    total = f"sum {amount_text(a.reward_sum)}"
    if display_width(_INDENT + _SEP.join([*counts, total])) <= PRE_COLUMNS:
        lines += _pack([*counts, total], indent=_INDENT)
    else:  # (a trial: "582 decisions · 582 answered", then "    sum 2,383" alone, indented
        # as if a fragment of the line above): the sum as a line of its own, said in full
        lines += _pack(counts, indent=_INDENT)
        lines += _pack([f"sum of the answers {amount_text(a.reward_sum)}"], indent=_INDENT)
    interval = [] if a.estimate_low is None or a.estimate_high is None else \
        [f"({span_text(a.estimate_low, a.estimate_high)})"]
    estimate = "–" if a.estimate is None else f"{a.estimate:.3f}"
    lines += _pack([f"estimate {estimate}", *interval], indent=_INDENT, sep=" ")
    if a.anytime_low is not None and a.anytime_high is not None:
        lines += _pack([f"every look {span_text(a.anytime_low, a.anytime_high)}"],
                       indent=_INDENT)
    if posterior and a.posterior_mean is not None:  # ("posterior –" said nothing)
        lines += _pack([f"posterior {mean_text(a.posterior_mean)}"], indent=_INDENT)
    lines += _pack([f"P(best) {report.best_text(a)}",
                    f"allocation {a.allocation:.0%}"], indent=_INDENT)
    if report.control is not None and a.uplift is not None:
        u = a.uplift
        lines += _pack([f"vs {report.control} {u.diff:+.3f}",
                        f"({u.span})"], indent=_INDENT, sep=" ")
    return "\n".join(_e(line) for line in lines)


#: the notes an overview of several experiments keeps: those that warn (the data may be
#: wrong, or incomplete); the others are in one experiment's report
_WARNING_NOTES = frozenset({"answered", "not_in_config", "drift", "unbounded", "range",
                            "policy_changed"})


def _tail(report: Report, shown: Sequence[ArmReport], *, all_notes: bool = True
          ) -> list[str]:
    """What follows the arms: the arms left out, the totals, and the notes (without
    ``all_notes``, those that warn) — one paragraph each (a note can be long: Telegram
    wraps it)."""
    lines = []
    if len(shown) < len(report.arms):
        lines.append(report.more_arms_text(shown))
    lines.append(report.totals_text())
    lines.extend(report.footnotes() if all_notes else report.note_lines(_WARNING_NOTES))
    return [_e(line) for line in lines]


# --- helpers ---------------------------------------------------------------------------------
def _pack(segments: Sequence[str], *, indent: str, sep: str = _SEP) -> list[str]:
    """``segments`` joined by ``sep`` into lines of at most :data:`PRE_COLUMNS` columns: the
    first starting with ``indent``, the ones it wraps into indented further (one segment too
    wide alone is cut, at a space when it has one)."""
    hang = indent + _INDENT
    lines: list[str] = []
    line = ""
    for segment in segments:
        joined = f"{line}{sep}{segment}" if line else segment
        if line and display_width((hang if lines else indent) + joined) > PRE_COLUMNS:
            lines.append((hang if lines else indent) + line)
            line = segment
        else:
            line = joined
    lines.append((hang if lines else indent) + line)
    out = []
    for text in lines:
        while display_width(text) > PRE_COLUMNS:
            cut = len(text)
            while display_width(text[:cut]) > PRE_COLUMNS:
                cut -= 1
            space = text.rfind(" ", len(hang) + 1, cut + 1)
            cut = space if space > 0 else cut  # at a space when there is one
            out.append(text[:cut].rstrip())
            text = hang + text[cut:].lstrip()
        out.append(text)
    return out


def _split(paragraph: str, limit: int) -> list[str]:
    """An escaped text paragraph as pieces of at most ``limit`` characters, each but the
    last ending in `` …`` and each but the first starting with ``… ``: split between words
    (a long note was cut mid-word, its end lost), or where a piece has no space, never
    inside an entity such as ``&amp;``."""
    pieces = []
    rest = paragraph
    while len(rest) > limit:
        room = limit - 2  # (" …")
        cut = rest.rfind(" ", len("… ") + 1, room + 1)
        if cut <= 0:
            cut = room
            amp = rest.rfind("&", 0, cut)
            if amp >= 0 and ";" not in rest[amp:cut]:
                cut = amp
        pieces.append(rest[:cut].rstrip() + " …")
        rest = "… " + rest[cut:].lstrip()
    return [*pieces, rest]


def left_out_text(left: Sequence[str]) -> str:
    """The line under a bare /report's overview on the experiments it leaves out (HTML,
    escaped): ``Too long to show beside the others: big and many. Each report comes alone,
    with its chart: /report big``; a long list names the first few and counts the rest (it
    was cut mid-name).

    Parameters
    ----------
    left
        The ids of the experiments left out (at least one).
    """
    named: list[str] = []
    for i, experiment in enumerate(left):
        more = len(left) - i
        if named and len(", ".join([*named, experiment])) > 200:
            named.append(f"{more:,} more")
            break
        named.append(experiment)
    listed = " and ".join(named) if len(named) == 2 else \
        ", ".join(named[:-1]) + f" and {named[-1]}" if len(named) > 2 else named[0]
    if len(left) == 1:
        return _e(f"{listed} is too long to show beside the others: its report comes alone, "
                  f"with its chart: /report {left[0]}")
    return _e(f"Too long to show beside the others: {listed}. Each report comes alone, with "
              f"its chart: /report {left[0]}")


def _e(text: str) -> str:
    return html.escape(text, quote=False)


