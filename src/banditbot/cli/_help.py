"""Help pages that read well in a terminal and load fast.

Typer's rich help imports ``rich.markdown`` (and markdown-it) on every ``--help`` and tags
every option with its Python type (``<bool>``, ``<list[str]>``). banditbot uses Click's plain
help instead, with three changes:

- options and arguments show a placeholder named after what they hold (``--store STORE``,
  ``EXPERIMENT``), the argparse convention, and flags show none;
- the command list gives each command's whole first sentence, wrapped to the terminal, never
  cut with "...";
- commands are grouped by what a person wants to do;
- text wraps between words only, never inside ``off-policy`` or ``--no-live``.
"""

from __future__ import annotations

import textwrap
from typing import Any

import typer
from typer._click import Context, HelpFormatter
from typer.core import TyperCommand, TyperGroup

__all__ = ["Command", "Group", "new_app"]

#: The section of ``banditbot --help`` each CLI module's commands are listed under.
_SECTIONS = {
    "banditbot.cli.sim": "Try it",
    "banditbot.cli.decide": "Decide and reward",
    "banditbot.cli.reports": "Read the results",
    "banditbot.cli.admin": "Change an experiment",
    "banditbot.cli.offline": "Offline evaluation",
    "banditbot.cli.telegram": "Run the bot and the server",
    "banditbot.cli.serve": "Run the bot and the server",
}
_ORDER = ["Try it", "Decide and reward", "Read the results", "Change an experiment",
          "Offline evaluation", "Run the bot and the server", "Commands"]
_GROUP_SECTIONS = {"arms": "Change an experiment", "keys": "Run the bot and the server"}


def _placeholders(params: list[Any]) -> None:
    """Name each non-flag parameter's value after the parameter (``--store STORE``)."""
    for param in params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        if param.metavar is None and param.name:
            param.metavar = param.name.upper()


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Lines of ``text`` (paragraphs kept) at most ``width`` wide, broken between words."""
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        if lines:
            lines.append("")
        lines += textwrap.wrap(" ".join(paragraph.split()), width, initial_indent=indent,
                               subsequent_indent=indent, break_on_hyphens=False,
                               break_long_words=False) or [""]
    return lines


class _Formatter(HelpFormatter):
    """Click's help formatter, wrapping between words only."""

    def write_text(self, text: str) -> None:
        """Write re-indented paragraphs."""
        indent = " " * self.current_indent
        self.write("\n".join(_wrap(text, self.width, indent)) + "\n")

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        """Write a definition list (options, commands)."""
        rows = list(rows)
        first_col = min(max(len(first) for first, _ in rows), col_max) + col_spacing
        for first, second in rows:
            self.write(" " * self.current_indent + first)
            if not second:
                self.write("\n")
                continue
            if len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - len(first)))
            else:
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = _wrap(second, max(self.width - first_col - 2, 10))
            pad = " " * (first_col + self.current_indent)
            self.write(lines[0] + "\n" + "".join(pad + line + "\n" for line in lines[1:]))


class _Context(Context):
    formatter_class = _Formatter


class Command(TyperCommand):
    """A command whose help shows ``--option NAME`` placeholders instead of type tags."""

    context_class = _Context

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _placeholders(self.params)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``EXPERIMENT`` for a required argument (Typer writes ``{EXPERIMENT}``)."""
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p
                for p in super().collect_usage_pieces(ctx)]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """Arguments, then options; an argument is named by its placeholder alone."""
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                args.append((str(param.metavar or record[0].split(" ")[0]), record[1]))
            else:
                opts.append(record)
        for title, rows in (("Arguments", args), ("Options", opts)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class Group(TyperGroup):
    """A command group whose help lists every command with its whole first sentence,
    grouped by area."""

    context_class = _Context

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _placeholders(self.params)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """List the subcommands by section, each with its first sentence, wrapped."""
        sections: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            module = getattr(cmd.callback, "__module__", "")
            section = _SECTIONS.get(module) or _GROUP_SECTIONS.get(name, "Commands")
            if len(self.list_commands(ctx)) < 8:  # a small group: one list
                section = "Commands"
            sections.setdefault(section, []).append((name, cmd.get_short_help_str(10_000)))
        for section in sorted(sections, key=_ORDER.index):
            with formatter.section(section):
                formatter.write_dl(sections[section])


class _App(typer.Typer):
    """A Typer app whose commands are :class:`Command` unless told otherwise."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


def new_app(**kwargs: Any) -> typer.Typer:
    """A Typer app with banditbot's help pages (plain, fast, no type tags)."""
    kwargs.setdefault("cls", Group)
    return _App(rich_markup_mode=None, add_completion=False, **kwargs)
