"""The Lambda package that `sam build` makes with src/Makefile: banditbot ships its bytecode,
compiled by the runtime's Python version in unchecked-hash mode, and a cold start on a
read-only /var/task imports banditbot from it without compiling anything.

The Makefile's own target runs (as `sam build` calls it), with SKIP_DEPS=1: banditbot only,
no pip, no network. The requirements' half (Lambda-platform wheels from PyPI) is the same
compileall over the same folder; its size is checked by hand (docs/performance.md)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import ROOT

MAKEFILE = ROOT / "src" / "Makefile"
WEBHOOK_PATH = ("banditbot.aws", "banditbot._compose", "banditbot.telegram",
                "banditbot.stores._dynamodb")


def makefile_python_version() -> str:
    match = re.search(r"^PYTHON_VERSION := (\d+\.\d+)$", MAKEFILE.read_text(encoding="utf-8"),
                      re.MULTILINE)
    assert match, "src/Makefile sets PYTHON_VERSION"
    return match.group(1)


def make(*args: str, makefile: Path = MAKEFILE) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed (sam build needs it for this package too)")
    return subprocess.run(["make", "--no-print-directory", "-f", str(makefile), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make build-BanditFunction`` into an empty ARTIFACTS_DIR without the requirements,
    compiled by this interpreter: the build is the same for the runtime's version (3.12,
    which the tests' machine may not have), and the package it makes must load here."""
    artifacts = tmp_path_factory.mktemp("artifacts")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    proc = make("build-BanditFunction", f"ARTIFACTS_DIR={artifacts}", "SKIP_DEPS=1",
                f"PYTHON={sys.executable}", f"PYTHON_VERSION={version}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return artifacts


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*")}


def test_every_module_ships_its_unchecked_hash_bytecode(package: Path) -> None:
    sources = sorted((package / "banditbot").rglob("*.py"))
    assert len(sources) > 50 and (package / "banditbot" / "aws.py") in sources
    tag = sys.implementation.cache_tag  # cpython-311
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        assert pyc.name == f"{source.stem}.{tag}.pyc" and pyc.is_file(), source
        header = pyc.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, pyc
        # PEP 552 flags: 0b01 = hash-based, source not checked (0 would be a timestamp pyc)
        assert int.from_bytes(header[4:8], "little") == 1, pyc
    pycs = sorted(package.rglob("*.pyc"))
    # one pyc per module and nothing else: no other version's, none from a checkout
    assert len(pycs) == len(sources) and all(tag in p.name for p in pycs)
    # the package data ships, the build files do not
    assert (package / "banditbot" / "data" / "experiments.yaml").is_file()
    assert not (package / "Makefile").exists() and not (package / "requirements.txt").exists()


def test_a_read_only_cold_start_imports_the_bytecode_and_writes_nothing(
        package: Path) -> None:
    """What a cold start on Lambda does: PYTHONDONTWRITEBYTECODE (as on a read-only
    /var/task), the package first on the path. ``-v`` names the file each module's code
    came from: for banditbot, always its .pyc, never its source."""
    before = snapshot(package)
    env = {**os.environ, "PYTHONPATH": str(package), "PYTHONDONTWRITEBYTECODE": "1"}
    probe = ("import sys, " + ", ".join(WEBHOOK_PATH) + "\n"
             "print('\\n'.join(sorted(m.__file__ for m in list(sys.modules.values()) "
             "if (m.__name__ + '.').startswith('banditbot.'))))")
    proc = subprocess.run([sys.executable, "-B", "-v", "-c", probe], capture_output=True,
                          text=True, timeout=120, env=env, cwd=package)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = proc.stdout.split()
    assert len(loaded) > 20
    assert all(Path(f).is_relative_to(package) for f in loaded), "banditbot from elsewhere"
    code_from = {line.split("code object from ", 1)[1].strip("'")
                 for line in proc.stderr.splitlines() if "# code object from " in line}
    from_source = sorted(f for f in code_from if f.endswith(".py")
                         and Path(f).is_relative_to(package))
    assert not from_source, f"compiled at import: {from_source}"
    for source in loaded:
        assert importlib.util.cache_from_source(source) in code_from, source
    assert snapshot(package) == before

    # and a writable package too is left as it is: no pyc is stale or missing
    env.pop("PYTHONDONTWRITEBYTECODE")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, env=env, cwd=package)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert snapshot(package) == before


def test_the_build_says_what_is_wrong_without_the_runtimes_python(tmp_path: Path) -> None:
    proc = make("build-BanditFunction", f"ARTIFACTS_DIR={tmp_path}", "SKIP_DEPS=1",
                f"PYTHON={tmp_path / 'python3.11'}")
    assert proc.returncode != 0
    version = makefile_python_version()
    assert f"was not found or is not Python {version}" in proc.stderr
    assert "sam build --use-container" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing built


def test_the_template_builds_with_the_makefile_for_its_python() -> None:
    """The function's runtime is the version the Makefile compiles with (a pyc of another
    minor version is silently ignored: every cold start would compile again)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    doc = yaml.load((ROOT / "deploy" / "template.yaml").read_text(encoding="utf-8"),
                    Loader=Loader)
    function = doc["Resources"]["BanditFunction"]
    assert function["Metadata"]["BuildMethod"] == "makefile"
    assert function["Properties"]["Runtime"] == f"python{makefile_python_version()}"
    assert function["Properties"]["CodeUri"] == "../src"
    assert function["Properties"]["Architectures"] == ["x86_64"]
    assert "PLATFORM ?= manylinux2014_x86_64" in MAKEFILE.read_text(encoding="utf-8")
    assert (ROOT / "src" / "Makefile").is_file()  # SAM looks for it in CodeUri
    requirements = (ROOT / "src" / "requirements.txt").read_text(encoding="utf-8")
    assert "boto3" not in re.sub(r"#.*", "", requirements)  # the runtime brings it


def test_the_build_stops_on_an_invalid_experiments_file(tmp_path: Path) -> None:
    """A new-user trial put an experiments file with a mistake in src/: the package built and
    deployed, and the function answered 500 to every update. The build reads each
    experiments file it ships as the function will, and stops on the first mistake, naming
    it (a copy of src/ with one more file: what SAM builds from)."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    (src / "my-experiments.yaml").write_text(
        "experiments:\n  - id: hello\n    arms: [{id: a, content: Hi}]\n"
        "    policy: thompsn\n", encoding="utf-8")
    artifacts = tmp_path / "artifacts"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    proc = make("build-BanditFunction", f"ARTIFACTS_DIR={artifacts}", "SKIP_DEPS=1",
                f"PYTHON={sys.executable}", f"PYTHON_VERSION={version}",
                makefile=src / "Makefile")
    assert proc.returncode != 0
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    # the file to edit is named, not the package's copy of it
    assert f"{src / 'my-experiments.yaml'}: experiment 'hello'" in error and "thompsn" in error
    assert not any(artifacts.rglob("*.pyc"))  # stopped before compiling anything

    (src / "my-experiments.yaml").write_text(
        "experiments:\n  - id: hello\n    arms: [{id: a, content: Hi}, {id: b, content: "
        "Hey}]\n    policy: thompson\n", encoding="utf-8")
    # a trial: a SQLite store left by a local run (the default banditbot.db) shipped
    for stray in ("banditbot.db", "banditbot.db-wal", "banditbot.db-shm"):
        (src / stray).write_bytes(b"SQLite format 3\x00")
    proc = make("build-BanditFunction", f"ARTIFACTS_DIR={artifacts}", "SKIP_DEPS=1",
                f"PYTHON={sys.executable}", f"PYTHON_VERSION={version}",
                makefile=src / "Makefile")
    assert proc.returncode == 0, proc.stderr
    assert f"experiments file {src / 'my-experiments.yaml'}: valid" in proc.stdout
    # its checked copy ships beside it; the source folder is left as it was
    assert (artifacts / "my-experiments.yaml.checked.json").is_file()
    assert not any(src.rglob("*.checked.json"))
    assert not list(artifacts.glob("banditbot.db*"))

    # a build that stops leaves no checked copy of an earlier build behind
    (src / "my-experiments.yaml").write_text("experiments: []\n", encoding="utf-8")
    assert make("build-BanditFunction", f"ARTIFACTS_DIR={artifacts}", "SKIP_DEPS=1",
                f"PYTHON={sys.executable}", f"PYTHON_VERSION={version}",
                makefile=src / "Makefile").returncode != 0
    assert not (artifacts / "my-experiments.yaml.checked.json").exists()

    # another JSON at the top of src/ (a test event) is read too, and the build says so
    (src / "my-experiments.yaml").unlink()
    (src / "event.json").write_text('{"body": "{}"}', encoding="utf-8")
    proc = make("build-BanditFunction", f"ARTIFACTS_DIR={artifacts}", "SKIP_DEPS=1",
                f"PYTHON={sys.executable}", f"PYTHON_VERSION={version}",
                makefile=src / "Makefile")
    assert proc.returncode != 0 and f"{src / 'event.json'}: experiments: Field required" \
        in proc.stderr and "move any other file into a folder" in proc.stderr


def test_a_cold_start_reads_the_checked_experiments_without_pydantic_or_yaml(
        package: Path) -> None:
    """The build validates the packaged experiments file and ships its checked copy, so the
    first invocation builds its service from that copy: pydantic and PyYAML (about 80 ms of
    a cold start, docs/performance.md) are never imported on the webhook's path. The
    experiments are the file's."""
    env = {**os.environ, "PYTHONPATH": str(package), "PYTHONDONTWRITEBYTECODE": "1"}
    config = package / "banditbot" / "data" / "experiments.yaml"
    assert (package / "banditbot" / "data" / "experiments.yaml.checked.json").is_file()
    probe = ("import json, sys, " + ", ".join(WEBHOOK_PATH) + "\n"
             "from banditbot._compose import build_lambda\n"
             "from banditbot._settings import Settings\n"
             "parts = build_lambda(Settings.from_env({'BANDITBOT_STORE': "
             "'dynamodb://banditbot?region=eu-west-1', 'BANDITBOT_CONFIG': "
             f"{str(config)!r}}}, env_file=None))\n"
             "print(json.dumps({'experiments': [e.id for e in parts.service.config.experiments],"
             " 'loaded': sorted({m.split('.')[0] for m in sys.modules} & "
             "{'pydantic', 'pydantic_core', 'yaml'})}))")
    proc = subprocess.run([sys.executable, "-B", "-c", probe], capture_output=True,
                          text=True, timeout=120, env=env, cwd=package)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.splitlines()[-1])
    expected = yaml.safe_load(config.read_text(encoding="utf-8"))["experiments"]
    assert seen == {"experiments": [e["id"] for e in expected], "loaded": []}
