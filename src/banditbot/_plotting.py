"""matplotlib, loaded on first use (needs the ``plots`` extra); nothing here is imported
until a chart is drawn. Charts are :class:`matplotlib.figure.Figure` objects drawn to PNG by
the Agg canvas, never through ``pyplot``: a program that uses banditbot keeps its pyplot
figures and its backend. matplotlib's settings are one set per process, so charts are drawn
one at a time (:func:`styled`: the bot draws from threads)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ._errors import require

__all__ = ["INK", "MUTED", "STYLE", "figure", "styled"]

#: text and its quieter kind (axis ticks, notes)
INK, MUTED = "#1d2330", "#4f5869"
#: the house style of every chart (on the rc file's settings: see :func:`styled`)
STYLE = {"font.size": 12, "axes.titlesize": 13, "axes.titleweight": "bold",
         "axes.labelsize": 12, "xtick.labelsize": 11, "ytick.labelsize": 11,
         "legend.fontsize": 11, "figure.titlesize": 14, "figure.titleweight": "bold",
         "axes.edgecolor": "#767f8e", "axes.labelcolor": INK, "xtick.color": MUTED,
         "ytick.color": MUTED, "axes.spines.top": False, "axes.spines.right": False}

_DRAWING = threading.RLock()


def figure(**kwargs: Any) -> Any:
    """A new ``matplotlib.figure.Figure(**kwargs)``; :class:`MissingDependencyError` with an
    install hint when matplotlib is missing. Nothing keeps it: it is freed with its last
    reference."""
    require("matplotlib", "plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)  # (its renderer measures text before the figure is saved)
    return fig


@contextmanager
def styled(settings: Mapping[str, Any]) -> Iterator[None]:
    """Draw in the block with the settings of matplotlib's rc file (the installation's
    ``matplotlibrc``: a font for other scripts, say) plus ``settings``, whatever the program
    changed since (a ``dark_background`` style gave white titles on white); its settings
    are back afterwards. One block at a time in the process: a chart drawn in another
    thread meanwhile kept this one's settings, or got them mixed with its own."""
    require("matplotlib", "plots")
    import matplotlib

    with _DRAWING, matplotlib.rc_context():
        matplotlib.rc_file_defaults()
        rc: Any = matplotlib.rcParams  # (its stubs type the keys as every rcParams name)
        rc.update(settings)
        yield
