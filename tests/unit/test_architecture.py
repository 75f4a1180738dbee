"""The layers hold: every import in the package points down (or sideways within a layer),
only the settings module reads the environment, and nothing outside the service layer
touches the service's private names. See docs/architecture.md."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import ROOT

PACKAGE = ROOT / "src" / "banditbot"

#: Lowest first. A module may import its own layer and the layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("banditbot._types", "banditbot._errors", "banditbot._logging",
              "banditbot._settings", "banditbot._plotting", "banditbot._markup",
              "banditbot._lazy", "banditbot._memo", "banditbot._text", "banditbot._files",
              "banditbot._values")),
    ("statistics", ("banditbot.statistics",)),
    ("policies", ("banditbot.policies",)),
    ("core", ("banditbot._config", "banditbot._features", "banditbot._report",
              "banditbot._segments",
              "banditbot._charts", "banditbot._series", "banditbot.stores", "banditbot.offline",
              "banditbot.sim")),
    ("service", ("banditbot.service",)),
    ("adapters", ("banditbot.api", "banditbot.telegram")),
    ("composition root", ("banditbot._compose",)),
    ("entry points", ("banditbot.cli", "banditbot.aws", "banditbot._demo",
                      "banditbot.__main__", "banditbot._entry", "banditbot")),
]


def _layer(module: str) -> int:
    best = -1, -1  # (prefix length, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = len(prefix), index
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, absolute module)`` of every banditbot import in a file, lazy ones too."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if not node.module or \
                (node.level and not node.module) else [target]
            for name in names:
                if name.startswith("banditbot"):
                    yield node.lineno, name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("banditbot"):
                    yield node.lineno, alias.name


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_import_points_down_a_layer() -> None:
    upward = []
    for path in _sources():
        own = _layer(_module_name(path))
        for line, target in _imports(path):
            if _layer(target) > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target} "
                              f"({LAYERS[own][0]} → {LAYERS[_layer(target)][0]})")
    assert not upward, "\n".join(upward)


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The check above is not vacuous: a core module importing the service is caught."""
    fake = PACKAGE / "stores" / "_probe_for_test.py"
    assert _layer("banditbot.stores._probe_for_test") < _layer("banditbot.service")
    imports = list(_imports_of_text("from ..service import BanditService\n", fake))
    assert imports == [(1, "banditbot.service")]


def _imports_of_text(text: str, path: Path) -> Iterator[tuple[int, str]]:
    probe = path.with_name("_probe_for_test.py")
    probe.write_text(text)
    try:
        yield from _imports(probe)
    finally:
        probe.unlink()


def test_only_the_settings_read_the_environment() -> None:
    readers = []
    for path in _sources():
        if path.name == "_settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            reads = (isinstance(node, ast.Attribute) and node.attr in ("getenv", "environ")
                     and isinstance(node.ctx, ast.Load)
                     and isinstance(node.value, ast.Name) and node.value.id == "os")
            if reads and not _is_write(node, path):
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not readers, "read os.environ through Settings: " + ", ".join(readers)


def _is_write(node: ast.Attribute, path: Path) -> bool:
    """``os.environ.update(...)`` (handing settings to worker processes) is not a read."""
    source = path.read_text(encoding="utf-8").splitlines()[node.lineno - 1]
    return "os.environ.update(" in source


@pytest.mark.parametrize("area", ["api", "telegram", "cli", "aws.py", "_compose.py",
                                  "_demo.py", "offline", "sim"])
def test_no_private_service_names_outside_the_service(area: str) -> None:
    paths = [PACKAGE / area] if area.endswith(".py") else sorted((PACKAGE / area).rglob("*.py"))
    touches = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and \
                    not node.attr.startswith("__") and _names_service(node.value):
                touches.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert not touches, touches


def _names_service(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("service", "svc")
    return isinstance(node, ast.Attribute) and node.attr in ("service", "svc")
