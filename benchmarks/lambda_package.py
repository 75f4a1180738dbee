"""Lambda package: a cold start with the bytecode that src/Makefile ships, and without it.

`sam build`'s own Python builder copies the sources without ``__pycache__`` and unpacks the
wheels uncompiled, and ``/var/task`` is read-only: every cold start compiles every module
of banditbot and its requirements, and can keep none of it. src/Makefile (the template's
``BuildMethod: makefile``) ships each module's .pyc, compiled by the runtime's Python in
unchecked-hash mode. This measures what that saves.

It builds the package twice into temporary folders, offline, from this interpreter's
environment: banditbot (the ``src`` folder this checkout imports) and the distributions
src/requirements.txt resolves to here (the packages the real build installs, at this
environment's versions; SciPy's test suites left out, as the Makefile does). One has every
module compiled the way the Makefile compiles them (``compileall --invalidation-mode
unchecked-hash``), the other no bytecode at all, as `sam build` shipped it before. boto3
and its dependencies go to a third folder, precompiled, as the Lambda runtime brings them.
Each cold start is a fresh interpreter with ``-S`` (no site-packages: only the package, the
runtime's folder and the standard library) and ``PYTHONDONTWRITEBYTECODE=1`` (a read-only
/var/task), timing the webhook path's imports (``banditbot.aws``, the composition root, the
Telegram layer, the DynamoDB store, boto3) and those imports + the first invocation's build
(:func:`banditbot._compose.build_lambda`, as benchmarks/lambda_cold_start.py times it), each
with and without bytecode, in an order that rotates each repeat.

    python benchmarks/lambda_package.py [--runs N]

Prints one JSON line: CPU time (user + system of each interpreter) and wall time, medians
and [min, max] ranges, the ratios without / with bytecode (of the medians, and the range of
the per-repeat ratios), the package's size with and without bytecode, and two checks of
the emulation, from one untimed run each: the modules loaded from outside the three folders
(none expected) and the package modules compiled from source at import with bytecode
shipped (none expected).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata as metadata
import importlib.util
import json
import os
import py_compile
import re
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import _isolate  # first: keeps benchmarks/http.py from shadowing http
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

IMPORTS, TOKEN, BUILD = _isolate.LAMBDA_IMPORTS, _isolate.LAMBDA_TOKEN, _isolate.LAMBDA_BUILD
#: what the Lambda Python runtime brings (precompiled): boto3 and what it requires
RUNTIME = ("boto3",)


def closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """The installed distributions that ``requirements`` resolve to, with their own
    requirements (extras and markers evaluated as pip would)."""
    found: dict[str, metadata.Distribution] = {}
    extras: dict[str, set[str]] = {}
    todo = [(r, {""}) for r in requirements]
    while todo:
        req, wanted_by = todo.pop()
        if req.marker is not None and not any(req.marker.evaluate({"extra": e})
                                              for e in wanted_by):
            continue
        name = canonicalize_name(req.name)
        new_extras = set(req.extras) - extras.get(name, set())
        if name in found and not new_extras:
            continue
        extras.setdefault(name, set()).update(req.extras)
        try:
            dist = found.get(name) or metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here (e.g. a marker of another platform)
        found[name] = dist
        todo += [(Requirement(r), {""} | extras[name]) for r in dist.requires or []]
    return found


def copy_distributions(dists: dict[str, metadata.Distribution], to: Path) -> None:
    """Each distribution's installed files (its RECORD), without any bytecode: what pip
    unpacks from its wheel."""
    for dist in dists.values():
        base = Path(str(dist.locate_file(""))).resolve()
        for entry in dist.files or []:
            source = Path(str(dist.locate_file(entry))).resolve()
            if (source.suffix == ".pyc" or "__pycache__" in source.parts
                    or not source.is_relative_to(base) or not source.is_file()):
                continue  # bytecode, or a script outside site-packages
            target = to / source.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def seconds(statement: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of a fresh ``python -S -c statement``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-S", "-c", statement], check=True, capture_output=True,
                   env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def checks(statement: str, env: dict[str, str], package: Path,
           allowed: list[Path]) -> tuple[list[str], list[str]]:
    """From one ``-v`` run: the modules loaded from outside ``allowed`` (which would mean the
    emulation leaks) and the package modules compiled from source at import."""
    probe = (statement + "\nimport sys\nprint('\\n'.join(str(getattr(m, '__file__', None)) "
             "for m in list(sys.modules.values())))")
    proc = subprocess.run([sys.executable, "-S", "-v", "-c", probe], check=True,
                          capture_output=True, text=True, env=env)
    files = [Path(f) for f in proc.stdout.splitlines() if f not in ("None", "")]
    outside = sorted({str(f) for f in files
                      if not any(f.resolve().is_relative_to(a) for a in allowed)})
    compiled = re.findall(r"^# code object from '?(\S+?\.py)'?$", proc.stderr, re.MULTILINE)
    return outside, sorted(c for c in compiled if Path(c).is_relative_to(package))


def spread(values: list[float], digits: int = 3) -> list[float]:
    return [round(min(values), digits), round(max(values), digits)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="repeats (default 7)")
    args = parser.parse_args()
    spec = importlib.util.find_spec("banditbot")
    assert spec is not None and spec.origin is not None, "banditbot is not importable"
    src = Path(spec.origin).parent.parent
    requirements = [Requirement(line.split("#")[0].strip()) for line in
                    (src / "requirements.txt").read_text(encoding="utf-8").splitlines()
                    if line.split("#")[0].strip()]
    runtime = closure([Requirement(r) for r in RUNTIME])
    package_dists = {k: v for k, v in closure(requirements).items() if k not in runtime}
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    platstdlib = Path(sysconfig.get_paths()["platstdlib"]).resolve()

    with tempfile.TemporaryDirectory(prefix="lambda-package-") as tmp:
        root = Path(tmp)
        folders = {"runtime": root / "runtime", "with": root / "with_bytecode",
                   "without": root / "without_bytecode"}
        copy_distributions(runtime, folders["runtime"])
        for name in ("with", "without"):
            copy_distributions(package_dists, folders[name])
            shutil.copytree(src / "banditbot", folders[name] / "banditbot",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            for tests in list((folders[name] / "scipy").rglob("tests")):
                shutil.rmtree(tests, ignore_errors=True)  # as src/Makefile does
        # the Makefile's compileall (src/Makefile); the runtime's own modules are
        # precompiled too (as in /var/runtime)
        for folder in (folders["with"], folders["runtime"]):
            compileall.compile_dir(folder, quiet=1, force=True, workers=0,
                                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        sizes = {name: size(folders[name]) for name in ("with", "without")}

        base_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        envs = {name: {**base_env, "PYTHONDONTWRITEBYTECODE": "1",
                       "PYTHONPATH": f"{folders[name]}{os.pathsep}{folders['runtime']}"}
                for name in ("with", "without")}
        statements: dict[str, tuple[str, dict[str, str]]] = {}
        for name in ("with", "without"):
            build = BUILD.format(
                config=str(folders[name] / "banditbot" / "data" / "experiments.yaml"),
                token=TOKEN)
            statements[f"imports_{name}"] = (IMPORTS, envs[name])
            statements[f"build_{name}"] = (IMPORTS + build, envs[name])

        allowed = [folders["with"].resolve(), folders["runtime"].resolve(), stdlib,
                   platstdlib]
        outside, compiled = checks(statements["build_with"][0], envs["with"],
                                   folders["with"], allowed)
        _, compiled_without = checks(statements["build_without"][0], envs["without"],
                                     folders["without"], [])
        before = {p: p.stat().st_mtime_ns for p in folders["with"].rglob("*")}

        for statement, env in statements.values():  # warm the file cache once, untimed
            seconds(statement, env)
        times, cpu = _isolate.rotated(list(statements), args.runs,
                                       lambda name: seconds(*statements[name]))
        unchanged = before == {p: p.stat().st_mtime_ns for p in folders["with"].rglob("*")}

    def med(values: dict[str, list[float]], name: str) -> float:
        return round(statistics.median(values[name]), 3)

    def ratio(values: dict[str, list[float]], part: str) -> float:
        return round(statistics.median(values[f"{part}_without"])
                     / statistics.median(values[f"{part}_with"]), 2)

    def per_repeat(values: dict[str, list[float]], part: str) -> list[float]:
        return spread([x / y for x, y in zip(values[f"{part}_without"],
                                             values[f"{part}_with"], strict=True)], 2)

    print(json.dumps({
        "benchmark": "lambda_package",
        "runs": args.runs,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "statement": IMPORTS + " (+ build_lambda for 'build')",
        "cpu_s": {name: med(cpu, name) for name in statements},
        "cpu_range_s": {name: spread(cpu[name]) for name in statements},
        "wall_s": {name: med(times, name) for name in statements},
        "wall_range_s": {name: spread(times[name]) for name in statements},
        "without_over_with_imports_cpu": ratio(cpu, "imports"),
        "without_over_with_imports_cpu_per_repeat": per_repeat(cpu, "imports"),
        "without_over_with_build_cpu": ratio(cpu, "build"),
        "without_over_with_build_cpu_per_repeat": per_repeat(cpu, "build"),
        "without_over_with_imports_wall": ratio(times, "imports"),
        "without_over_with_build_wall": ratio(times, "build"),
        "saved_build_cpu_s": round(statistics.median(cpu["build_without"])
                                   - statistics.median(cpu["build_with"]), 3),
        "package_mb": {name: round(sizes[name] / 1e6, 1) for name in sizes},
        "distributions": sorted(package_dists),
        "runtime_distributions": sorted(runtime),
        "loaded_from_elsewhere": outside,
        "compiled_at_import_with_bytecode": compiled,
        "compiled_at_import_without_bytecode": len(compiled_without),
        "package_unchanged": unchanged,
    }))


if __name__ == "__main__":
    main()
