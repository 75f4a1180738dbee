"""The typer app, the options every command shares, and the one place errors become a
one-line message and an exit code."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from .._errors import BanditBotError, ConfigError, PayloadError, UnknownExperimentError
from .._settings import Settings
from ._help import new_app

__all__ = ["ConfigOpt", "ExpArg", "StoreOpt", "app", "arms_app", "config_read", "console",
           "err_console", "keys_app", "main", "png_file", "replaced_text", "service",
           "settings", "writable_file"]

app = new_app(
    name="banditbot",
    help="Adaptive experiments (multi-armed bandits) for chatbots and apps.\n\n"
         "Start with: banditbot demo",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
arms_app = new_app(help="List, add or retire arms of an experiment.", no_args_is_help=True)
app.add_typer(arms_app, name="arms")
keys_app = new_app(help="Create, list or revoke HTTP API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__
        from .._types import compiled

        built = "compiled by mypyc" if compiled() else "interpreted"
        typer.echo(f"banditbot {__version__} (decision path {built})")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """Adaptive experiments (multi-armed bandits) for chatbots and apps."""


# a line of text is one line, also in a pipe or a log file (rich wraps at 80 columns when it
# cannot measure a terminal); tables keep their own layout
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[str | None, typer.Option(
    "--config", "-c",
    help="Experiments YAML (default: BANDITBOT_CONFIG, ./experiments.yaml, "
         "examples/experiments.yaml, or the packaged example).")]
StoreOpt = Annotated[str | None, typer.Option(
    "--store", "-s",
    help="Store URL: sqlite:///banditbot.db (default; or BANDITBOT_STORE), memory://, "
         "postgresql://USER@HOST/DB, dynamodb://TABLE?region=…")]
ExpArg = Annotated[str, typer.Argument(help="Experiment id.")]
#: a command whose arguments are numbers takes ``-5`` as one (a reward, a prior), not as an
#: unknown option: the value is then judged by what it is for, with its reason
NUMBER_ARGUMENTS: dict[str, Any] = {"ignore_unknown_options": True}


@functools.cache
def settings() -> Settings:
    """The process's settings, read once from the environment and ``./.env``."""
    return Settings.from_env()


#: PostgreSQL stores this command opened: closed when it ends, before the interpreter's
#: teardown (a pool left to its finalizer could print "Exception ignored in … __del__");
#: a SQLite file is left as the command left it (closing checkpoints the WAL into it)
_OPENED: list[Any] = []
#: the experiments file the command read (its experiments are the ones it knows)
_CONFIG_READ: list[str] = []


def service(config: str | None, store: str | None, *, seed: int | None = None,
            read_only: bool = False, existing: bool = False, admin: bool = False,
            quiet: bool = False) -> Any:
    """The engine for a command: options win over the settings.

    ``read_only`` for commands that only read (``report``, ``export``, ``arms list``…):
    the store must exist already; nothing is created (no folder, no database, no table).
    ``existing`` for writes that only make sense on a store that has run (``reset``): it
    must exist already, as for a read (a mistyped path would reset an empty new database).
    ``admin`` for changes to an experiment (policy, arms, priors, cheats): refused when
    they would create the default database beside the demo's. ``quiet``: no note that the
    packaged example's experiments are used (a command that says so in its own words).
    """
    from .._compose import build_service, may_init
    from .._config import PACKAGED_CONFIG, BanditConfig, default_config_path, load_config
    from ..stores import SQLiteStore, open_store, store_kind

    chosen = settings()
    path = config if config is not None else chosen.config_path
    used = path if path is not None else default_config_path()
    if path is None and not (read_only or quiet) and used == PACKAGED_CONFIG \
            and (store is not None or chosen.store_given):
        # a write to a store of the user's own with the example's experiments (a trial
        # forgot -c: its decisions went to the packaged 'greeting', of other texts)
        err_console.print("note: no experiments file given (--config, BANDITBOT_CONFIG, "
                          "./experiments.yaml or examples/experiments.yaml): using the "
                          "packaged example's experiments", highlight=False, soft_wrap=True)
    cfg: BanditConfig = load_config(used)
    _CONFIG_READ[:] = [str(used)]  # what an 'unknown experiment' error names
    if admin and not (store is not None or chosen.store_given):
        _not_beside_the_demo(chosen.store_url)
    opened = open_store(store or chosen.store_url, create=not (read_only or existing))
    if store_kind(opened.url) == "postgresql":
        _OPENED.append(opened)  # its pool closed when the command ends (see main)
    if not read_only:
        # a write brings a database up to date (migrations), but never creates a network
        # store: a mistyped table or schema name would start the experiment afresh in a new
        # one (`banditbot init-db` creates it)
        return build_service(cfg, opened, seed=seed, settings=chosen,
                             init=may_init(opened, chosen))
    # an existing SQLite file gets any table it lacks (CREATE … IF NOT EXISTS); a network
    # store is never created by a read
    return build_service(cfg, opened, seed=seed, settings=chosen,
                         init=isinstance(opened, SQLiteStore))


def config_read() -> list[str]:
    """The experiments file the command's :func:`service` read (empty before it)."""
    return list(_CONFIG_READ)


def this_server() -> str:
    """This host and the experiments file the command read, as a warning of
    :meth:`~banditbot.BanditService.compare_config` names a server: ``host vm, file
    experiments.yaml`` (it read "those vm (experiments.yaml) started with")."""
    import socket

    return f"host {socket.gethostname()}, " + \
        (f"file {_CONFIG_READ[0]}" if _CONFIG_READ else "no file")


def _not_beside_the_demo(url: str) -> None:
    """Refuse a write that would create the default database beside the demo's: after the
    demo, ``banditbot policy greeting ucb1`` (no ``--store``) switched the policy of a new,
    empty banditbot.db and said so, the demo's experiment unchanged."""
    from ..stores import new_sqlite_file

    new = new_sqlite_file(url)
    demo = None if new is None else new.with_name("banditbot-demo.db")
    if new is not None and demo is not None and new.name == "banditbot.db" and demo.is_file():
        raise ConfigError(f"no banditbot database at {new}",
                          hint=f"the demo's is --store sqlite:///{demo}; to start a new "
                               f"one here, pass --store sqlite:///{new}")


def writable_file(path: Path, option: str) -> Path:
    """``path`` if its folder exists (checked before a command changes anything)."""
    folder = path.expanduser().parent
    if not folder.is_dir():
        raise PayloadError(f"{option} {path}: the folder {folder} does not exist",
                           hint="create it first, or choose another path")
    if path.is_dir():
        raise PayloadError(f"{option} {path} is a folder", hint="give a file name")
    return path


def png_file(path: Path) -> Path:
    """``path`` for a ``--png`` chart: its folder exists and its name ends in .png (a PNG
    named x.txt opens as nothing); checked before a command reads or changes anything."""
    writable_file(path, "--png")
    if path.suffix.lower() != ".png":
        raise PayloadError(f"--png {path}: the chart is a PNG file, named .png",
                           hint=f"e.g. --png {path.with_suffix('.png').name}")
    return path


def replaced_text(path: Path, existed: bool) -> str:
    """What a chart's line adds when the chart replaced a file: an image is made again
    from its data, so a command replaces it and says so (as simulate does; a log, which
    cannot be made again, is not replaced without --force)."""
    return f" (replaced the {path.name} that was there; another --png name keeps both)" \
        if existed else ""


#: An option of one command given to another that names it otherwise: (command, option
#: given) to what that command calls it, with what it is (``simulate --steps`` was offered
#: "--help, --rate, --seed" by spelling).
_SAID_ELSEWHERE = {
    ("simulate", "--steps"): "--horizon, the decisions per run",
    ("simulate", "--decisions"): "--horizon, the decisions per run",
    ("demo", "--horizon"): "--steps, the simulated visits per experiment",
}


#: the exit code of a command stopped by Ctrl+C (128 + SIGINT, as a shell has it)
_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; translate errors into a one-line message and exit code 2."""
    # a connection pool's retries (PostgreSQL down) would print a multi-line warning per
    # attempt before the command's own one-line error says what failed
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    try:
        code = _run(argv)
    finally:
        while _OPENED:
            with contextlib.suppress(Exception):
                _OPENED.pop().close()
    if code == _INTERRUPTED:  # typer answers Ctrl+C with this code and no word
        err_console.print("interrupted (Ctrl+C): stopped before the end (a file is "
                          "written whole or not at all)", highlight=False, soft_wrap=True)
    if isinstance(code, int) and code != 0:  # typer.Exit(code) returns it here
        sys.exit(code)


def _error_line(message: str, dim: str | None = None) -> Text:
    """``error: message (dim)`` as the console prints it, the words as written: a message
    is never read as console markup (``\\[`` in an escaped MarkdownV2 suggestion had lost
    its backslash)."""
    line = Text.assemble(("error:", "bold red"), " ", message)
    if dim:
        line.append(f" {dim}", style="dim")
    return line


def _run(argv: list[str] | None) -> Any:
    """The command, its errors as one line each (exits 1 or 2)."""
    _CONFIG_READ.clear()
    try:
        return app(args=argv, standalone_mode=False)
    except BanditBotError as exc:
        hint = exc.hint
        if isinstance(exc, UnknownExperimentError) and _CONFIG_READ:
            hint = (f"{hint}; " if hint else "") + f"read from {_CONFIG_READ[0]} — " \
                "--config or BANDITBOT_CONFIG reads another file"
        err_console.print(_error_line(exc.message, f"({hint})" if hint else None),
                          highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as exc:  # a file the user named: missing, a folder, not permitted
        where = f": {exc.filename}" if exc.filename else ""
        err_console.print(_error_line(f"{exc.strerror or exc}{where}"), highlight=False,
                          soft_wrap=True)
        sys.exit(2)
    except typer.Abort:  # (a prompt that read no line left its own line open)
        err_console.print(("" if sys.stdin.isatty() else "\n") + "aborted; nothing changed")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: one line, exit 2
        # (`banditbot`, `banditbot arms`: the help, as Click shows it: on stderr, no
        # "error:", exit 2; by name: typer keeps its Click in a private module)
        if type(exc).__name__ == "NoArgsIsHelpError" and hasattr(exc, "show"):
            exc.show()
            sys.exit(int(getattr(exc, "exit_code", 2)))
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        other = re.match(r"No such option: (--[\w-]+)", message)
        ctx = getattr(exc, "ctx", None)
        meant = _SAID_ELSEWHERE.get((ctx.info_name if ctx is not None else "",
                                     other[1] if other else ""))
        if meant is not None:  # another command's name for it (Click guessed by spelling)
            message = f"{other[0] if other else message} (did you mean {meant}?)"
        if re.match(r"No such option: -[\d.]", message):  # a negative number, read as one
            ctx = getattr(exc, "ctx", None)
            command = f"banditbot {ctx.info_name if ctx is not None else 'reward'}"
            message += (f"; a negative number goes after --, e.g. {command} -- ARGUMENTS "
                        "-2.5 (options before the --)")
        err_console.print(_error_line(message, "(see --help)"), highlight=False,
                          soft_wrap=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
