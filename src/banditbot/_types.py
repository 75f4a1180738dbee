"""Array aliases, one constructor and the compiler's class marks shared by every layer (the
lowest module: imports only numpy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["BoolArray", "FloatArray", "IntArray", "compiled", "mypyc_attr", "new_tuple"]

_C = TypeVar("_C")

try:  # (mypy's own package: a compiled build marks its classes with it)
    from mypy_extensions import mypyc_attr
except ImportError:  # an interpreted install: the marks mean nothing to Python
    def mypyc_attr(*attrs: str, **kwattrs: object) -> Callable[[_C], _C]:
        """How mypyc compiles the class it marks (nothing, interpreted)."""
        return lambda cls: cls

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

#: ``new_tuple(Named, (field, …))`` builds a named tuple from a tuple of every field in one C
#: call; a named tuple's own ``__new__`` is a Python function (0.12-0.15 µs more a record on
#: the decision path, where four are built per decide → reward)
new_tuple = tuple.__new__


def compiled() -> bool:
    """Whether this install's decision path is the compiled build (``BANDITBOT_COMPILE=1``):
    its service module is an extension module beside its source. Found without importing
    the service (``banditbot --version`` stays light)."""
    from importlib.machinery import EXTENSION_SUFFIXES
    from pathlib import Path

    service = Path(__file__).resolve().parent / "service"
    return any((service / f"_decisions{suffix}").is_file() for suffix in EXTENSION_SUFFIXES)
