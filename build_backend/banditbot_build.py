"""banditbot's build backend: setuptools' own, and with ``BANDITBOT_COMPILE=1`` the decision
path compiled to C by mypyc (mypy's compiler), which setuptools then builds.

``BANDITBOT_COMPILE=1 pip install .`` asks for mypy in the build's environment (only then)
and needs a C compiler; a wheel built so runs the same code, 1.2-1.4 times as fast a
decision (docs/performance.md, "A compiled build"). An editable install cannot be compiled:
the compiled modules would sit beside the sources and shadow every edit to them, so it is
refused with that said.
"""

from __future__ import annotations

import os
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

#: the variable that asks for the compiled build, and what it needs to build it
COMPILE_ENV = "BANDITBOT_COMPILE"
COMPILER = "mypy>=1.10"


def compiling() -> bool:
    """Whether this build compiles (``BANDITBOT_COMPILE`` set to anything but "" or 0)."""
    return os.environ.get(COMPILE_ENV, "").strip() not in ("", "0")


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    """setuptools' requirements; for a compiled build, mypy (setup.py names no others, and
    asking setuptools would run it before mypy is there)."""
    if compiling():
        return [COMPILER]
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
