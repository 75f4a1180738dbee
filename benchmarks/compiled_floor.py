"""Would compiling the hot path meet issue #18's memory targets? The layered prototype
(``_layered.py``: the service's decide -> reward made lean, its layers kept) compiled with
mypyc, beside the same module interpreted, the service on the memory store and MABWiser's
epsilon-greedy ``predict()`` + ``partial_fit()``, interleaved in one run.

mypyc compiles the prototype's own code to C; what it calls (the records' named tuples,
``os.urandom``, the policy's vector, numpy's draws) stays as it is, as it would in the
service. The module is compiled into a temporary directory under another name (the
interpreted one stays importable beside it); needs a C compiler and mypy's ``mypyc``.

Prints one JSON line: µs per decide -> reward (median and range over the repeats, process
CPU time) and MABWiser's time over each (``x_…``); ``compiled_over_interpreted`` is the
gain compiling gives this code, per repeat.

    python benchmarks/compiled_floor.py [--repeats 3] [--decisions 30000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import _isolate  # (first: keeps benchmarks/http.py from shadowing http)

from banditbot import MemoryStore

_layered = _isolate.sibling("_layered")
_bench = _isolate.sibling("decide_reward")
bench_banditbot, bench_mabwiser = _bench.bench_banditbot, _bench.bench_mabwiser
fresh, median_ratio, summary = _bench.fresh, _bench.median_ratio, _bench.summary

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def compiled_layered(workdir: Path) -> ModuleType:
    """``_layered.py`` compiled by mypyc in ``workdir`` as ``_layered_compiled``."""
    source = workdir / "_layered_compiled.py"
    shutil.copy(HERE / "_layered.py", source)
    env = {**os.environ, "MYPYPATH": str(SRC)}
    mypyc = Path(sys.executable).with_name("mypyc")
    done = subprocess.run([str(mypyc), source.name], cwd=workdir, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"mypyc failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    built = next(workdir.glob("_layered_compiled.*.so"))
    spec = importlib.util.spec_from_file_location("_layered_compiled", built)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.__file__ is not None and module.__file__.endswith(".so")
    return module


def compiled_row(policy: str, k: int, runs: dict[str, list[float]]) -> dict[str, Any]:
    """One JSON row: each engine's µs (median and range), MABWiser's time over each of
    ours (``x_…``), what compiling gained, and the issue's target for ``k`` arms."""
    row: dict[str, Any] = {"policy": policy, "arms": k}
    for engine, values in runs.items():
        row[f"us_{engine}"] = summary(values)
    for engine in runs:
        if engine != "mabwiser":
            row[f"x_{engine}"] = median_ratio(runs["mabwiser"], runs[engine])
    row["compiled_over_interpreted"] = median_ratio(runs["interpreted"], runs["compiled"])
    row["target_memory"] = 10 if k == 3 else 20
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of every engine")
    parser.add_argument("--decisions", type=int, default=30_000,
                        help="decide -> reward loops per run")
    args = parser.parse_args()
    n = args.decisions
    policy = {"name": "epsilon-greedy", "epsilon": 0.1}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        compiled = compiled_layered(Path(tmp))
        for k in (3, 50):
            runs: dict[str, list[float]] = {
                "compiled": [], "interpreted": [], "service": [], "mabwiser": []}
            for rep in range(args.repeats):
                order = list(runs)
                order = order[rep % len(order):] + order[:rep % len(order)]
                for engine in order:
                    if engine == "compiled":
                        took = fresh(compiled.bench_layered, k, n, rep)
                    elif engine == "interpreted":
                        took = fresh(_layered.bench_layered, k, n, rep)
                    elif engine == "service":
                        took = fresh(bench_banditbot, policy, k, MemoryStore(), n, rep)
                    else:
                        took = fresh(bench_mabwiser, "EpsilonGreedy", k, max(n // 10, 2000),
                                     rep)
                    runs[engine].append(took)
            rows.append(compiled_row("epsilon-greedy", k, runs))
    print(json.dumps({"benchmark": "compiled_floor", "python": sys.version.split()[0],
                      "machine_load": os.getloadavg()[0], "results": rows}))


if __name__ == "__main__":
    main()
