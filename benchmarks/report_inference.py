"""CPU time of ``anytime_inference`` on the 1M-decision log of ``benchmarks/export.py``.

The inference a first ``banditbot report`` computes on a long log (docs/performance.md,
"Reports on long logs"): the stopping rule's e-value paths and the roots of every interval
end. The log is the one ``export.py`` writes (3 arms logged at 0.8/0.1/0.1, every decision
answered, 12% rewarded), drawn from the same seed, as the arrays the report passes on — so
no store is read. ``--arms 10`` draws a 10-arm log of the same size instead, and
``--horizon``/``--control`` time those variants of the report.

Each measurement is a fresh process (``--before SRC`` times the banditbot source at ``SRC``,
e.g. ``/work/main/src``, alternating with this checkout in the same rounds) that reports the
CPU seconds of the call alone (user and system time of every thread of the process, from
``getrusage``: on a fresh process much of a long log's cost is the kernel mapping and
clearing the memory the arrays first touch) and the process's peak resident memory. The
parent checks that both gave the same numbers — bit for bit, but for the interval ends,
which it compares to the last digits — and prints one JSON line with the range over rounds:

    python benchmarks/report_inference.py [--n 1000000] [--rounds 3] [--before OLD/src]

``--cli`` times the whole first ``banditbot report greet`` instead (a fresh process on
``export.py``'s SQLite log, built once in ``benchmarks/out/``, the state a report keeps in the
store deleted before each, so each reads the whole log): the figure the docs quote.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
FIELDS = ("estimate", "low", "high", "weighted_estimate", "fixed_low", "fixed_high",
          "diff_low", "diff_high")


def export_log(n: int, arms: int = 3, *, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(chosen, probabilities, rewards)`` of ``export.py``'s log (its draws, in its order:
    batches of 20,000), or with ``arms != 3`` a log of uniform picks logged at a skewed
    vector and the same reward rates."""
    rng = np.random.default_rng(seed)
    probs = np.array([0.8, 0.1, 0.1]) if arms == 3 else np.r_[0.5, np.full(arms - 1,
                                                                            0.5 / (arms - 1))]
    chosen, rewards = [], []
    batch = 20_000
    for start in range(0, n, batch):
        m = min(batch, n - start)
        picks = rng.integers(0, arms, m)
        rewarded = rng.random(m) < 0.6
        values = (rng.random(m) < 0.2).astype(float)
        rng.integers(0, 20_000, m)  # the subjects export.py draws
        chosen.append(picks)
        rewards.append(np.where(rewarded, values, 0.0))
    return (np.concatenate(chosen), np.tile(probs, (n, 1)), np.concatenate(rewards))


def worker(args: argparse.Namespace) -> None:
    """In a fresh process: time one ``anytime_inference`` call and save its numbers."""
    from banditbot.statistics import anytime_inference

    chosen, probs, rewards = export_log(args.n, args.arms)
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    result = anytime_inference(chosen, probs, rewards, confidence=0.95,
                               control=args.control, horizon=args.horizon)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    user = after.ru_utime - before.ru_utime
    system = after.ru_stime - before.ru_stime
    d = result.decision
    np.savez(args.save, **{name: getattr(result, name) for name in FIELDS},
             log_evidence=d.log_evidence, contenders=d.contenders,
             winner=np.array(-1 if d.winner is None else d.winner),
             declared_at=np.array(-1 if d.declared_at is None else d.declared_at))
    print(json.dumps({"cpu_s": user + system, "user_s": user, "sys_s": system,
                      "wall_s": wall, "peak_mb": after.ru_maxrss / 1024}))


def run(source: Path, args: argparse.Namespace, save: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    cmd = [sys.executable, __file__, "--worker", "--n", str(args.n), "--arms", str(args.arms),
           "--save", str(save)]
    if args.horizon is not None:
        cmd += ["--horizon", str(args.horizon)]
    if args.control is not None:
        cmd += ["--control", str(args.control)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def compare(old: Path, new: Path) -> dict[str, float | bool]:
    """Whether two saved results are bit-identical apart from the interval ends (the
    estimates, the one-look intervals, the stopping rule's evidence, winner, when and
    contenders), and the largest absolute and relative difference of the ends."""
    a, b = np.load(old), np.load(new)
    ends = ("low", "high", "diff_low", "diff_high")
    same = all(np.array_equal(a[k], b[k], equal_nan=True) for k in a.files if k not in ends)
    gap = rel = 0.0
    for name in ends:
        x, y = a[name], b[name]
        if not np.array_equal(np.isfinite(x), np.isfinite(y)):
            return {"same_bits_but_ends": same, "ends_max_abs_diff": math.inf}
        ok = np.isfinite(x)
        if ok.any():
            diff = np.abs(x[ok] - y[ok])
            gap = max(gap, float(diff.max()))
            rel = max(rel, float(np.max(diff / np.maximum(np.abs(x[ok]), 1e-300))))
    return {"same_bits_but_ends": same, "ends_max_abs_diff": gap, "ends_max_rel_diff": rel}


def cli_rounds(args: argparse.Namespace, sources: list[tuple[str, Path]]
               ) -> dict[str, list[dict[str, float]]]:
    """Fresh ``banditbot report greet`` processes on export.py's log, no kept state."""
    sys.path.insert(0, str(HERE))
    from export import CONFIG, build_log, forget_inference
    from export import run as run_cli

    db = HERE / "out" / f"export-policy-{args.n}.sqlite"
    db.parent.mkdir(exist_ok=True)
    if not db.exists() or sqlite3.connect(db).execute(
            "SELECT count(*) FROM decisions").fetchone()[0] != args.n:
        db.unlink(missing_ok=True)
        print(f"building {db} ({args.n:,} decisions)…", file=sys.stderr)
        build_log(db, args.n)
    times: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sources}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "experiments.yaml"
        cfg.write_text(CONFIG)
        cmd = [sys.executable, "-m", "banditbot", "report", "greet", "--config", str(cfg),
               "--store", f"sqlite:///{db}"]
        for i in range(args.rounds):
            for name, source in (sources if i % 2 == 0 else sources[::-1]):
                forget_inference(db)
                wall, peak, cpu = run_cli(cmd, source=str(source))
                times[name].append({"cpu_s": cpu, "wall_s": wall, "peak_mb": peak})
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--arms", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--horizon", type=int, default=None)
    ap.add_argument("--control", type=int, default=None)
    ap.add_argument("--before", metavar="SRC", default=None,
                    help="also time the banditbot source at SRC, in the same rounds")
    ap.add_argument("--cli", action="store_true",
                    help="time the whole first `banditbot report` on export.py's log")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--save", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    sources = [("after", SRC), *([("before", Path(args.before))] if args.before else [])]
    if args.cli:
        found = cli_rounds(args, sources)
        print(json.dumps({
            "benchmark": "report_inference --cli", "decisions": args.n, "rounds": args.rounds,
            "load_average": [round(x, 1) for x in os.getloadavg()],
            **{f"first_report_{key}_{name}": [round(min(t[key] for t in found[name]), 2),
                                              round(max(t[key] for t in found[name]), 2)]
               for name in found for key in ("cpu_s", "wall_s", "peak_mb")}}))
        return
    times: dict[str, list[dict[str, float]]] = {name: [] for name, _ in sources}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            # alternate which goes first: a busy neighbour then hits both alike
            for name, source in (sources if i % 2 == 0 else sources[::-1]):
                times[name].append(run(source, args, Path(tmp) / f"{name}.npz"))
        same = (compare(Path(tmp) / "before.npz", Path(tmp) / "after.npz")
                if args.before else {})

    def span(name: str, key: str) -> list[float]:
        values = [t[key] for t in times[name]]
        return [round(min(values), 3), round(max(values), 3)]

    print(json.dumps({
        "benchmark": "report_inference", "decisions": args.n, "arms": args.arms,
        "horizon": args.horizon, "control": args.control, "rounds": args.rounds,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        **{f"{key}_{name}": span(name, key) for name in times
           for key in ("cpu_s", "user_s", "sys_s", "wall_s", "peak_mb")},
        **same}))


if __name__ == "__main__":
    main()
