"""setuptools' part of banditbot's build (the metadata is in pyproject.toml): with
``BANDITBOT_COMPILE=1`` the modules of the decision path are compiled by mypyc (see
``build_backend/banditbot_build.py``); without it, nothing here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent / "build_backend"))
from banditbot_build import compiling

#: what a compiled build compiles: the service (its parts one chain of single inheritance),
#: the policies' arithmetic on floats, the checks of subjects and rewards, the stores' shared
#: types, the memory store and the propensity helpers; the policies themselves, the other
#: stores, the config's types and the entry points stay Python
COMPILED = ("src/banditbot/service/*.py", "src/banditbot/policies/_scalar.py",
            "src/banditbot/_values.py", "src/banditbot/stores/_base.py",
            "src/banditbot/stores/_memory.py", "src/banditbot/stores/_propensity.py")


def compiled_modules() -> list[str]:
    """The files :data:`COMPILED` names, in a stable order."""
    here = Path(__file__).resolve().parent
    return sorted(str(p.relative_to(here)) for pattern in COMPILED for p in here.glob(pattern))


#: setuptools' commands that build (the others, such as the metadata's, need no C: mypyc
#: would type-check and translate the tree once more for nothing)
_BUILDS = {"bdist_wheel", "build", "build_ext", "install", "develop", "editable_wheel"}


def _check_compiler() -> None:
    """Refuse a compiled build without a C compiler, saying what to do (setuptools said
    only ``No such file or directory: 'cc'``, after mypy's minute)."""
    import shutil
    import sysconfig

    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    if not cc or shutil.which(cc[0]) is None:
        raise SystemExit(f"BANDITBOT_COMPILE=1 needs a C compiler and found none "
                         f"({' '.join(cc) or 'CC'}): install one (Debian: apt-get install "
                         "gcc python3-dev), or unset BANDITBOT_COMPILE for the interpreted "
                         "build (the same code, without the compiled speed)")


if _BUILDS.intersection(sys.argv[1:]) and compiling():  # (an sdist never compiles)
    _check_compiler()
    from mypyc.build import mypycify

    # (its own build directory: a plain build after it must not find the compiled modules
    # in build/lib and pack them into a wheel that says it is plain)
    # (mypy checks the compiled modules strictly and reads the rest, whose own errors it
    # does not report: they stay Python, and an optional extra's package may be missing)
    setup(ext_modules=mypycify(["--follow-imports=silent", *compiled_modules()],
                               opt_level="3", group_name="banditbot",
                               target_dir="build/compiled/c",
                               debug_level=os.environ.get("MYPYC_DEBUG_LEVEL", "1")),
          options={"build": {"build_base": "build/compiled"}})
else:
    setup()
