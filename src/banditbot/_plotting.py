"""matplotlib, loaded on first use (needs the ``plots`` extra); nothing here is imported
until a chart is drawn. Charts are :class:`matplotlib.figure.Figure` objects drawn to PNG by
the Agg canvas, never through ``pyplot``: no global figure registry (threads of the HTTP API
and the bot draw at once), and a third less to import."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ._errors import require

__all__ = ["figure", "styled"]


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
    """matplotlib's ``settings`` (rcParams) for the figures made and drawn in the block."""
    require("matplotlib", "plots")
    import matplotlib

    rc: Any = dict(settings)  # (its stubs type the keys as every rcParams name)
    with matplotlib.rc_context(rc):
        yield
