"""matplotlib, loaded on first use with the file-only Agg backend (needs the ``plots``
extra); nothing here is imported until a chart is drawn."""

from __future__ import annotations

from typing import Any

from ._errors import require

__all__ = ["pyplot"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend; :class:`MissingDependencyError` with an
    install hint when matplotlib is missing."""
    require("matplotlib", "plots")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt
