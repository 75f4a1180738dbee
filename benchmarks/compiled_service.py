"""The service itself compiled: issue #18's decide -> reward with banditbot's compiled build
(``BANDITBOT_COMPILE=1``: the service and the memory store compiled by mypyc), beside the same
tree interpreted and MABWiser, interleaved.

The build is the one banditbot ships: ``pip wheel`` with ``BANDITBOT_COMPILE=1`` builds this
checkout's wheel (a few minutes: mypy is fetched into the build's environment and compiles
the modules ``setup.py`` names, the policies' arithmetic on floats among them), which is
unpacked into a temporary directory and put first on the loop's path. Each engine runs in
its own process, in rotating order, and each process checks that it runs the tree it was
asked for. The policies: ε-greedy, UCB1 and Thompson sampling with ``propensity:
deferred`` (``--policy``).

Prints one JSON line: µs per decide -> reward (median and range over the repeats, process
CPU time), MABWiser's time over each (``x_…``) and ``compiled_over_interpreted``.

    python benchmarks/compiled_service.py [--repeats 3] [--decisions 20000] [--wheel W.whl]
        [--policy P ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import _isolate  # (first: keeps benchmarks/http.py from shadowing http)

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
_bench = _isolate.sibling("decide_reward")
compiled_row = _isolate.sibling("compiled_floor").compiled_row

#: one engine's loop, in a process of its own: argv = k, policy, decisions, seed
LOOP = r"""
import gc, json, sys
import numpy as np
sys.path.insert(0, sys.argv[5])
import _isolate
from banditbot import BanditService, MemoryStore, parse_config
# (a compiled method is a C function, not a Python one: the tree asked for is the one run)
assert (type(BanditService.decide).__name__ != "function") == (sys.argv[6] == "compiled")
k, n, seed = int(sys.argv[1]), int(sys.argv[3]), int(sys.argv[4])
policy, extra = json.loads(sys.argv[2])
cfg = parse_config({"experiments": [{"id": "bench", "arms": [
    {"id": f"a{i}", "content": f"arm {i}"} for i in range(k)],
    "policy": policy, "burn_in": 0, "update": "decision", **extra}]})
svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(seed))
gc.collect(); gc.freeze()
print(_isolate.service_loop_us(svc, n, seed))
"""


def compiled_tree(workdir: Path, wheel: Path | None = None) -> Path:
    """This checkout's compiled wheel (or ``wheel``, built before) unpacked in ``workdir``:
    the directory to put first on a loop's path."""
    if wheel is None:
        print("building the compiled wheel (a few minutes)...", file=sys.stderr)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", str(SRC.parent), "--no-deps", "-q",
             "-w", str(workdir / "wheel")], capture_output=True, text=True, check=False,
            env={**os.environ, "BANDITBOT_COMPILE": "1"})
        if done.returncode:
            raise SystemExit(f"the compiled build failed:\n{done.stdout[-3000:]}"
                             f"{done.stderr[-3000:]}")
        wheel = next((workdir / "wheel").glob("banditbot-*.whl"))
    tree = workdir / "site"
    with zipfile.ZipFile(wheel) as unpacked:
        unpacked.extractall(tree)
    if not list(tree.glob("banditbot/service/_decisions.*.so")):
        raise SystemExit(f"{wheel.name} holds no compiled modules: was it built with "
                         "BANDITBOT_COMPILE=1?")
    return tree


def service_us(tree: Path, kind: str, policy: str, k: int, n: int, seed: int) -> float:
    """µs per decide -> reward of the service in ``tree``, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", LOOP, str(k), json.dumps(_bench.POLICIES[policy][::2]), str(n),
         str(seed), str(HERE), kind],
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
    parser.add_argument("--policy", action="append", choices=sorted(_bench.POLICIES),
                        help="a policy to time (repeatable; default: epsilon-greedy, ucb1 "
                        "and thompson-deferred)")
    parser.add_argument("--wheel", type=Path, default=None,
                        help="a compiled wheel built before (default: build this checkout's)")
    args = parser.parse_args()
    n = args.decisions
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = compiled_tree(Path(tmp), args.wheel)
        for policy in args.policy or ["epsilon-greedy", "ucb1", "thompson-deferred"]:
            peer = _bench.POLICIES[policy][1]
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
