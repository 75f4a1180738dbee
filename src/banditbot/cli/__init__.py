"""The ``banditbot`` command line (typer + rich). Thin: parse, call the service, render.

One module per area (``reports``, ``decide``, ``admin``, ``telegram``, ``serve``, ``sim``,
``offline``); add a command to the module of its area. Errors are translated in one place
(:func:`main`): a one-line message on stderr and exit code 2, with nothing written.
"""

from . import admin, decide, offline, reports, serve, sim, telegram
from ._app import app, main

__all__ = ["admin", "app", "decide", "main", "offline", "reports", "serve", "sim",
           "telegram"]
