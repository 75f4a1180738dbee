"""The ``banditbot`` command's entry point: the CLI, with Ctrl+C answered from the first
instant (the CLI's own modules take a few tenths of a second to import, and a Ctrl+C in that
window printed an import traceback)."""

from __future__ import annotations

import sys


def main() -> None:
    """Import and run the CLI (``banditbot.cli.main``); Ctrl+C while it loads exits 130.

    The process ends with the exit code chosen here, also under ``python -m banditbot``:
    CPython remembers a ``KeyboardInterrupt`` that left the code of an ``exec``/``eval`` of
    a string (namedtuple and dataclasses make their methods so, as a module is imported,
    also lazily in the middle of a command), even one caught later, and ``python -m`` then
    ends the process by SIGINT (-2 to its parent, whatever the code). Every such ``exec``
    starts by forgetting it: an empty one on the way out does.
    """
    try:
        _main()
    finally:
        exec("")  # (see above: a Ctrl+C answered with 130 died by SIGINT, 5 runs in
        # 1,000 of a long `simulate` under load)


def _main() -> None:
    """The CLI, its Ctrl+C as exit code 130."""
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("aborted\n")
        raise SystemExit(130) from None
    try:
        run()
    except KeyboardInterrupt:  # (before the command runs, as typer builds it: a traceback)
        sys.stderr.write("interrupted (Ctrl+C)\n")
        raise SystemExit(130) from None
