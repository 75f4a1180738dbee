"""The service itself compiled: issue #18's decide -> reward with banditbot's service and
stores compiled by mypyc, beside the same tree interpreted and MABWiser, interleaved.

A prototype of a design change, not a build banditbot ships: a copy of ``src/`` in a
temporary directory gets the few edits mypyc needs (its native classes take single
inheritance only, so the mixins become one chain; a ``NamedTuple`` subclass and the
runtime-checkable store protocol stay Python classes), then ``service/*.py`` and the memory
store's modules are compiled; the policies stay interpreted (their registry decorator
makes them Python classes). Each engine runs in its own process, in rotating order.

Prints one JSON line: µs per decide -> reward (median and range over the repeats, process
CPU time), MABWiser's time over each (``x_…``) and ``compiled_over_interpreted``.

    python benchmarks/compiled_service.py [--repeats 3] [--decisions 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import _isolate  # (first: keeps benchmarks/http.py from shadowing http)

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
_bench = _isolate.sibling("decide_reward")
compiled_row = _isolate.sibling("compiled_floor").compiled_row

#: (file, text, its replacement): what mypyc needs of the tree, each found exactly once
EDITS = [
    ("banditbot/service/_service.py", "from ._segments import SegmentsMixin\n", ""),
    ("banditbot/service/_service.py", "class BanditService(SegmentsMixin, AdminMixin):",
     "class BanditService(AdminMixin):"),
    ("banditbot/service/_admin.py", "from ._rewards import RewardsMixin\n",
     "from ._segments import SegmentsMixin\n"),
    ("banditbot/service/_admin.py", "class AdminMixin(RewardsMixin):",
     "class AdminMixin(SegmentsMixin):"),
    ("banditbot/service/_decisions.py", "class _KeyedPlan(PlannedDecision):",
     "@__import__('mypy_extensions').mypyc_attr(native_class=False)\n"
     "class _KeyedPlan(PlannedDecision):"),
    ("banditbot/stores/_base.py", "class FiniteCounts(CountRows):",
     "@__import__('mypy_extensions').mypyc_attr(native_class=False)\n"
     "class FiniteCounts(CountRows):"),
    ("banditbot/stores/_base.py", "@runtime_checkable\nclass Store(Protocol):",
     "@__import__('mypy_extensions').mypyc_attr(native_class=False)\n"
     "class Store(Protocol):"),
]
#: the modules compiled
MODULES = ["banditbot/stores/_base.py", "banditbot/stores/_memory.py",
           "banditbot/stores/_propensity.py", "banditbot/service/_*.py"]

#: one engine's loop, in a process of its own: argv = k, policy, decisions, seed
LOOP = r"""
import gc, sys
import numpy as np
sys.path.insert(0, sys.argv[5])
import _isolate
from banditbot import BanditService, MemoryStore, parse_config
# (a compiled method is a C function, not a Python one: the tree asked for is the one run)
assert (type(BanditService.decide).__name__ != "function") == (sys.argv[6] == "compiled")
k, n, seed = int(sys.argv[1]), int(sys.argv[3]), int(sys.argv[4])
cfg = parse_config({"experiments": [{"id": "bench", "arms": [
    {"id": f"a{i}", "content": f"arm {i}"} for i in range(k)],
    "policy": {"name": sys.argv[2]}, "burn_in": 0, "update": "decision"}]})
svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(seed))
gc.collect(); gc.freeze()
print(_isolate.service_loop_us(svc, n, seed))
"""


def compiled_tree(workdir: Path) -> Path:
    """A copy of ``src/`` with :data:`EDITS` and :data:`MODULES` compiled; its path."""
    tree = workdir / "src"
    shutil.copytree(SRC, tree, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(SRC.parent / "pyproject.toml", workdir)  # (mypy's settings, found above)
    for name, old, new in EDITS:
        path = tree / name
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"{name}: the tree changed; update EDITS ({old!r})")
        path.write_text(text.replace(old, new))
    mypyc = Path(sys.executable).with_name("mypyc")
    modules = [str(p.relative_to(tree)) for pattern in MODULES for p in sorted(tree.glob(pattern))]
    print(f"compiling {len(modules)} modules (a minute or two)...", file=sys.stderr)
    done = subprocess.run([str(mypyc), *modules], cwd=tree, capture_output=True, text=True,
                          check=False, env={**os.environ, "MYPYPATH": str(tree)})
    if done.returncode:
        raise SystemExit(f"mypyc failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return tree


def service_us(tree: Path, kind: str, policy: str, k: int, n: int, seed: int) -> float:
    """µs per decide -> reward of the service in ``tree``, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", LOOP, str(k), policy, str(n), str(seed), str(HERE), kind],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(tree)})
    if done.returncode:
        raise SystemExit(f"the {kind} loop failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of every engine")
    parser.add_argument("--decisions", type=int, default=20_000,
                        help="decide -> reward loops per run")
    args = parser.parse_args()
    n = args.decisions
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = compiled_tree(Path(tmp))
        for policy, peer in (("epsilon-greedy", "EpsilonGreedy"), ("ucb1", "UCB1")):
            for k in (3, 50):
                runs: dict[str, list[float]] = {"compiled": [], "interpreted": [],
                                                "mabwiser": []}
                for rep in range(args.repeats):
                    order = list(runs)[rep % 3:] + list(runs)[:rep % 3]
                    for engine in order:
                        if engine == "mabwiser":
                            took = _bench.fresh(_bench.bench_mabwiser, peer, k,
                                                max(n // 10, 2000), rep)
                        else:
                            took = service_us(tree if engine == "compiled" else SRC, engine,
                                              policy, k, n, rep)
                        runs[engine].append(took)
                rows.append(compiled_row(policy, k, runs))
    print(json.dumps({"benchmark": "compiled_service", "python": sys.version.split()[0],
                      "machine_load": os.getloadavg()[0], "results": rows}))


if __name__ == "__main__":
    main()
