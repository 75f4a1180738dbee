"""Imported first by every benchmark script: takes this folder off ``sys.path``, because it
holds ``http.py``, which would otherwise shadow the standard library's ``http``. Also
holds what several scripts share (this folder is not importable after it runs)."""

import sys
from collections.abc import Callable
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def rotated(names: list[str], runs: int, measure: Callable[[str], tuple[float, float]]
            ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Measure every name once per repeat, each repeat starting one name further along (so
    each is timed at every position, and the figures of one repeat were taken in the same
    minute): ``measure(name)`` gives ``(wall, cpu)`` seconds; returns both, per name."""
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            wall, used = measure(name)
            times[name].append(wall)
            cpu[name].append(used)
    return times, cpu
