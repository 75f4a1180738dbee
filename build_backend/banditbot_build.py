"""banditbot's build backend: setuptools' own, and with ``BANDITBOT_COMPILE=1`` the decision
path compiled to C by mypyc (mypy's compiler), which setuptools then builds.

``BANDITBOT_COMPILE=1 pip install .`` asks for mypy in the build's environment (only then,
with the stubs and the project's dependencies it type-checks against) and needs a C
compiler; a wheel built so runs the same code, 1.2-1.4 times as fast a decision
(docs/performance.md, "Twenty-third pass"). An editable install cannot be compiled:
the compiled modules would sit beside the sources and shadow every edit to them, so it is
refused with that said.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools  # type: ignore[import-untyped]
from setuptools.build_meta import (  # type: ignore[import-untyped]  # (as setuptools has them)
    build_sdist,
    build_wheel,
    get_requires_for_build_sdist,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

__all__ = [
    "build_editable", "build_sdist", "build_wheel", "get_requires_for_build_editable",
    "get_requires_for_build_sdist", "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable", "prepare_metadata_for_build_wheel",
]

#: the variable that asks for the compiled build, and its values that say yes and no
COMPILE_ENV = "BANDITBOT_COMPILE"
_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
#: what compiling needs beside the project's own dependencies (mypy type-checks the tree
#: against them before mypyc translates it, so they are installed in the build's
#: environment too: pip installs a package's dependencies only after building it)
COMPILER = ("mypy>=1.10", "types-PyYAML")


def compiling() -> bool:
    """Whether this build compiles: ``BANDITBOT_COMPILE`` is 1, true, yes or on (any case);
    unset, empty, 0, false, no or off do not.

    Raises
    ------
    SystemExit
        Any other value (a typo should not silently build the other kind).
    """
    value = os.environ.get(COMPILE_ENV, "").strip().lower()
    if value not in _YES + _NO:
        raise SystemExit(f"{COMPILE_ENV}={value!r} is neither yes (1, true, yes, on) nor no "
                         "(0, false, no, off, or unset)")
    return value in _YES


def _dependencies() -> list[str]:
    """The project's own dependencies, as pyproject.toml lists them."""
    import tomllib  # (here: an older Python is told by pip that it is too old, not by this)

    with (Path(__file__).resolve().parent.parent / "pyproject.toml").open("rb") as file:
        listed: list[str] = tomllib.load(file)["project"]["dependencies"]
    return listed


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    """setuptools' requirements; for a compiled build, mypy with the stubs and packages it
    type-checks against (setup.py names no others, and asking setuptools would run it
    before mypy is there)."""
    if compiling():
        return [*COMPILER, *_dependencies()]
    needs: list[str] = _setuptools.get_requires_for_build_wheel(config_settings)
    return needs


def _refuse_editable() -> None:
    if compiling():
        raise SystemExit(
            f"{COMPILE_ENV}=1 builds a wheel: install it with `pip install .`, not `-e` (the "
            "compiled modules of an editable install would shadow every edit to their "
            f"sources). Unset {COMPILE_ENV} for an editable install.")


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None
                                    ) -> list[str]:
    """setuptools' requirements; a compiled editable install is refused here."""
    _refuse_editable()
    needs: list[str] = _setuptools.get_requires_for_build_editable(config_settings)
    return needs


def build_editable(wheel_directory: str, config_settings: dict[str, Any] | None = None,
                   metadata_directory: str | None = None) -> str:
    """setuptools' editable wheel; a compiled one is refused."""
    _refuse_editable()
    built: str = _setuptools.build_editable(wheel_directory, config_settings,
                                            metadata_directory)
    return built
