"""The compiled build (``BANDITBOT_COMPILE=1 pip install .``): what the build backend asks
for, what it refuses, and the shape of the code mypyc needs. (Compiling takes minutes, so
the suite does not; ``benchmarks/compiled_service.py`` builds the wheel and runs it.)"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from banditbot import BanditService
from banditbot.cli import app

ROOT = Path(__file__).resolve().parents[2]
#: (setuptools says its pyproject.toml support is beta each time it reads the project)
pytestmark = pytest.mark.filterwarnings("ignore:Support for `\\[tool.setuptools\\]`")


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "build_backend"))
    return _module("banditbot_build", ROOT / "build_backend" / "banditbot_build.py")


def test_a_compiled_build_asks_for_mypy_and_a_plain_one_does_not(
        backend: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANDITBOT_COMPILE", "1")
    needs = backend.get_requires_for_build_wheel()
    # (mypy type-checks against the dependencies: pip installs them only after the build)
    assert any(r.startswith("mypy") for r in needs) and "types-PyYAML" in needs
    assert any(r.startswith("numpy") for r in needs) and any(r.startswith("pydantic")
                                                              for r in needs)
    for plain in ("", "0", "false", "No", "off"):
        monkeypatch.setenv("BANDITBOT_COMPILE", plain)
        assert not backend.compiling()
    for yes in ("true", "YES", "on"):
        monkeypatch.setenv("BANDITBOT_COMPILE", yes)
        assert backend.compiling()
    monkeypatch.setenv("BANDITBOT_COMPILE", "maybe")  # (a typo builds neither silently)
    with pytest.raises(SystemExit, match="neither yes"):
        backend.compiling()
    monkeypatch.delenv("BANDITBOT_COMPILE")
    monkeypatch.chdir(ROOT)  # (setuptools reads the project it builds from here)
    assert not any(r.startswith("mypy") for r in backend.get_requires_for_build_wheel())


def test_a_compiled_editable_install_is_refused_with_what_to_do(
        backend: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANDITBOT_COMPILE", "1")
    with pytest.raises(SystemExit, match=r"pip install \.`, not `-e`") as refused:
        backend.get_requires_for_build_editable()
    assert "Unset BANDITBOT_COMPILE" in str(refused.value)


def test_the_compiled_modules_are_the_decision_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BANDITBOT_COMPILE", raising=False)
    monkeypatch.syspath_prepend(str(ROOT / "build_backend"))
    monkeypatch.setattr(sys, "argv", ["setup.py", "--name"])  # (setup() only says the name)
    setup = _module("banditbot_setup", ROOT / "setup.py")
    modules = setup.compiled_modules()
    for part in ("_core", "_decisions", "_rewards", "_view", "_service"):
        assert f"src/banditbot/service/{part}.py" in modules
    assert "src/banditbot/stores/_memory.py" in modules
    assert all((ROOT / m).is_file() for m in modules)
    assert "src/banditbot/policies/_scalar.py" in modules  # (their arithmetic on floats)
    assert "src/banditbot/_values.py" in modules  # (a subject's and a reward's checks)
    assert not any(("policies" in m and "_scalar" not in m) or "_sqlite" in m
                   for m in modules)


def _memory_store_branches(tree: ast.Module) -> list[tuple[list[ast.stmt], list[ast.stmt]]]:
    """Every ``if type(store) is MemoryStore:`` in ``tree``, as (its branch, the other one:
    its ``else``, or the statements after it when the branch returns)."""
    found = []
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for at, stmt in enumerate(block):
                if isinstance(stmt, ast.If) and "MemoryStore" in ast.unparse(stmt.test) \
                        and ast.unparse(stmt.test).startswith("type("):
                    found.append((stmt.body, stmt.orelse or block[at + 1:at + 1 + len(stmt.body)]))
    return found


def test_the_memory_stores_own_calls_are_the_protocols_calls() -> None:
    """The service calls the memory store as its own class where it is one (compiled, a
    direct call) and every other store through the protocol: two calls written alike. Were
    one edited alone, the two builds (or two stores) would behave differently and no other
    test would say so: each pair is the same code."""
    pairs = [pair for path in sorted((ROOT / "src/banditbot/service").glob("*.py"))
             for pair in _memory_store_branches(ast.parse(path.read_text(encoding="utf-8")))]
    assert len(pairs) >= 5  # (the meta, the counters twice, the decision, the reward)
    for own, protocol in pairs:
        assert [ast.dump(s) for s in own] == [ast.dump(s) for s in protocol], \
            (ast.unparse(own), ast.unparse(protocol))


def test_the_services_parts_are_one_chain_of_single_inheritance() -> None:
    """mypyc's compiled classes take one base each: a second base on a part of the service
    breaks the compiled build (and only it)."""
    for cls in BanditService.__mro__[:-1]:
        assert len(cls.__bases__) == 1, f"{cls.__name__} has bases {cls.__bases__}"


def test_the_version_says_whether_the_decision_path_is_compiled() -> None:
    """--version finds the build by its files (without importing the service); what runs
    says it too: a compiled method is not a Python function."""
    said = CliRunner().invoke(app, ["--version"]).output
    runs_compiled = not inspect.isfunction(BanditService.decide)
    assert ("compiled by mypyc" if runs_compiled else "interpreted") in said, said


def test_an_sdist_holds_the_build_backend_it_names(backend: ModuleType, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """pyproject.toml names an in-tree backend; an sdist without it could not be built into
    a wheel (``python -m build`` builds the wheel from the sdist)."""
    import shutil
    import subprocess
    import tarfile

    tree = tmp_path / "checkout"  # (the tracked files alone: no metadata of earlier builds)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    monkeypatch.delenv("BANDITBOT_COMPILE", raising=False)
    monkeypatch.chdir(tree)
    name = backend.build_sdist(str(tmp_path))
    with tarfile.open(tmp_path / name) as sdist:
        held = {member.split("/", 1)[-1] for member in sdist.getnames()}
    assert {"build_backend/banditbot_build.py", "setup.py", "pyproject.toml"} <= held


def test_a_compiled_build_without_a_c_compiler_says_what_to_do(tmp_path: Path) -> None:
    """setuptools said only ``No such file or directory: '/nonexistent/cc'`` (a trial)."""
    import os
    import subprocess

    done = subprocess.run([sys.executable, str(ROOT / "setup.py"), "bdist_wheel"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "BANDITBOT_COMPILE": "1",
                               "CC": str(tmp_path / "no-cc")})
    assert done.returncode != 0
    assert "needs a C compiler and found none" in done.stderr
    assert "unset BANDITBOT_COMPILE" in done.stderr
