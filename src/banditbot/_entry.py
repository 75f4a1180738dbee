"""The ``banditbot`` command's entry point: the CLI, with Ctrl+C answered from the first
instant (the CLI's own modules take a few tenths of a second to import, and a Ctrl+C in that
window printed an import traceback)."""

from __future__ import annotations

import sys


def main() -> None:
    """Import and run the CLI (``banditbot.cli.main``); Ctrl+C while it loads exits 130."""
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
