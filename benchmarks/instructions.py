"""Decide -> reward in CPU instructions: a figure the machine's load does not move.

``decide_reward.py`` times the loop; on a shared machine its ratios to MABWiser swing by half
from one hour to the next (6.4x one hour, 3.6x the next, for the same code). This script
counts the instructions the same loops execute under valgrind's callgrind (repeatable to a
few parts in a thousand whatever else runs), for banditbot's service on the memory store
and for MABWiser 2.7's ``predict()`` + ``partial_fit()``, with the same Bernoulli arms as
``decide_reward.py``. Each engine runs in two fresh interpreters, one short loop and one long;
the difference over the extra iterations is the instructions per loop, without the imports
and set-up. The garbage collector is off inside the loops (its passes come at moments that
depend on every allocation before them, so they would make the difference jump).

Instructions are not time: numpy's vectorized code retires more instructions per cycle than
the interpreter's, so this ratio is lower than the time ratio on a quiet machine. Use it to
compare two versions of banditbot (``--src`` another checkout's ``src``), or to follow the
ratio over time; judge the targets on ``decide_reward.py``.

    python benchmarks/instructions.py [--policy epsilon-greedy] [--arms 3] [--src OTHER/src]

Prints one JSON line: instructions per decide -> reward for each engine and the ratio
MABWiser / banditbot (and other / this checkout with ``--src``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)

SRC = Path(__file__).resolve().parent.parent / "src"

#: the service's loop (memory store, burn-in off, per-decision cadence), as decide_reward.py
BANDITBOT = """
import gc, sys
import numpy as np
from banditbot import BanditService, MemoryStore, parse_config
policy, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
extra = {}
if policy == "thompson-deferred":
    policy, extra = "thompson", {"propensity": "deferred"}
spec = {"name": policy, **({"epsilon": 0.1} if policy == "epsilon-greedy" else {})}
cfg = parse_config({"experiments": [{
    "id": "bench", "arms": [{"id": f"a{i}", "content": f"arm {i}"} for i in range(k)],
    "policy": spec, "burn_in": 0, **extra}]})
svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
truth = dict(zip(svc.active_arms("bench"), np.linspace(0.05, 0.25, k).tolist()))
draws = np.random.default_rng(1).random(n + 200).tolist()
for i in range(200):
    d = svc.decide("bench", "user")
    svc.reward(d.id, 1 if draws[n + i] < truth[d.arm] else 0, "user")
gc.collect()
gc.disable()
for i in range(n):
    d = svc.decide("bench", "user")
    svc.reward(d.id, 1 if draws[i] < truth[d.arm] else 0, "user")
"""

MABWISER = """
import gc, sys
import numpy as np
from mabwiser.mab import MAB, LearningPolicy
policy, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lp = {"epsilon-greedy": LearningPolicy.EpsilonGreedy(epsilon=0.1),
      "ucb1": LearningPolicy.UCB1(alpha=1.0),
      "thompson": LearningPolicy.ThompsonSampling(),
      "thompson-deferred": LearningPolicy.ThompsonSampling()}[policy]
arms = list(range(k))
mab = MAB(arms, lp, seed=0)
mab.fit(arms, [0] * k)
r = np.linspace(0.05, 0.25, k)
draws = np.random.default_rng(1).random(n + 50)
for i in range(50):
    a = mab.predict()
    mab.partial_fit([a], [int(draws[n + i] < r[a])])
gc.collect()
gc.disable()
for i in range(n):
    a = mab.predict()
    mab.partial_fit([a], [int(draws[i] < r[a])])
"""


def instructions(script: Path, src: Path | None, policy: str, k: int, n: int) -> int:
    """Instructions callgrind counts for one run of ``script`` with ``n`` loops."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, str(script), policy, str(k), str(n)],
        capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def per_loop(script: Path, src: Path | None, policy: str, k: int, short: int,
             long: int) -> float:
    """Instructions per loop: the long run minus the short one, over the extra loops."""
    return (instructions(script, src, policy, k, long)
            - instructions(script, src, policy, k, short)) / (long - short)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy", default="epsilon-greedy",
                        choices=["epsilon-greedy", "ucb1", "thompson", "thompson-deferred"])
    parser.add_argument("--arms", type=int, default=3, help="number of arms (default 3)")
    parser.add_argument("--loops", type=int, default=2000,
                        help="extra loops of the long run over the short one (default 2000)")
    parser.add_argument("--src", type=Path, metavar="OTHER/src",
                        help="also count another checkout's banditbot (e.g. before a change)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    short = 500
    mabwiser_loops = max(args.loops // 4, 200)  # ~5x as many instructions per loop
    with tempfile.TemporaryDirectory() as tmp:
        ours_script, peer_script = Path(tmp) / "ours.py", Path(tmp) / "peer.py"
        ours_script.write_text(BANDITBOT, encoding="utf-8")
        peer_script.write_text(MABWISER, encoding="utf-8")
        ours = per_loop(ours_script, SRC, args.policy, args.arms, short, short + args.loops)
        peer = per_loop(peer_script, None, args.policy, args.arms, short // 4,
                        short // 4 + mabwiser_loops)
        row: dict[str, object] = {
            "benchmark": "instructions", "policy": args.policy, "arms": args.arms,
            "instructions_per_loop": round(ours), "mabwiser_instructions_per_loop": round(peer),
            "mabwiser_over_ours": round(peer / ours, 2)}
        if args.src is not None:
            other = per_loop(ours_script, args.src.resolve(), args.policy, args.arms, short,
                             short + args.loops)
            row["other_instructions_per_loop"] = round(other)
            row["other_over_ours"] = round(other / ours, 3)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
