"""Export and report on a 1M-decision SQLite log, against the sqlite3 shell in the same run.

Issue #18: ``banditbot export`` of 1M decisions to CSV within 4x the time the ``sqlite3``
shell takes to dump the same table as CSV, Parquet faster still, peak memory under 300 MB
(streamed), and ``banditbot report`` on that log under 1 s. The report is timed twice per
round: the first on the log (its kept inference state deleted first, so it reads the whole
log) and the next one, which finds the state the first stored. So is ``banditbot report
greet --png``, whose chart reads the log's decision series (kept in the store as the
inference is); ``--before SRC`` times the same two with the code at ``SRC`` too (e.g.
``/work/main/src``: a checkout before a change), in the same rounds.

The log (built once and kept in ``benchmarks/out/``): one experiment, 3 arms, 20,000
subjects, a two-key context on every decision, a reward on 60% of them. Every figure is a
separate process (the CLI as a user runs it), rounds interleave ours and the floor, and the
JSON line gives the range over rounds: wall seconds and peak resident memory (MB).

    python benchmarks/export.py [--n 1000000] [--rounds 3] [--before OLD/src]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONFIG = """experiments:
  - id: greet
    arms:
      - {id: hello, content: "Hello!"}
      - {id: hi, content: "Hi there"}
      - {id: hey, content: "Hey"}
    policy: {name: epsilon-greedy}
"""


def forget_inference(path: Path) -> None:
    """Delete the state reports and charts keep in the store (the inference, the decision
    series: see docs/performance.md)."""
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM documents WHERE name LIKE 'inference:%' "
                     "OR name LIKE 'series:%'")
    conn.close()


def build_log(path: Path, n: int, *, first: int = 0, seed: int = 0) -> None:
    """``n`` policy decisions with rewards, written through the store's batch API (numbered
    from ``first``: ``first > 0`` appends to an existing log)."""
    from banditbot.stores import DecisionRecord, SQLiteStore

    store = SQLiteStore(path)
    store.init()
    rng = np.random.default_rng(seed)
    arms = ("hello", "hi", "hey")
    probs = np.array([0.8, 0.1, 0.1])
    t0 = 1.7e9 + first
    batch = 20_000
    for start in range(0, n, batch):
        m = min(batch, n - start)
        picks = rng.integers(0, 3, m)
        rewarded = rng.random(m) < 0.6
        values = (rng.random(m) < 0.2).astype(float)
        subjects = rng.integers(0, 20_000, m)
        store.record_manual([
            DecisionRecord(
                id=os.urandom(16).hex(), experiment="greet", generation=0, scope="",
                arm=arms[picks[i]], propensity=float(probs[picks[i]]), arms=arms,
                probabilities=probs, policy='{"name":"epsilon-greedy","params":{}}',
                subject=f"tg:{subjects[i]}", created_at=t0 + start + i,
                context={"hour": int((start + i) // 3600 % 24), "lang": "de"},
                kind="policy",
                reward=float(values[i]) if rewarded[i] else 0.0,
                rewarded_at=t0 + start + i + 5.0)
            for i in range(m)])
    store.close()


def run(cmd: list[str], *, stdout: Path | None = None,
        source: str | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system: what a busy host's
    wall clock hides) of one process (``source``: the banditbot source tree to import,
    put first on its ``PYTHONPATH``)."""
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    env = None
    if source is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [source, *filter(None, [os.environ.get("PYTHONPATH", "")])])}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if stdout:
        out.close()  # type: ignore[union-attr]
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", metavar="SRC", default=None,
                    help="also time report --png with the banditbot source at SRC")
    args = ap.parse_args()
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    db = out_dir / f"export-policy-{args.n}.sqlite"
    if not db.exists() or sqlite3.connect(db).execute(
            "SELECT count(*) FROM decisions").fetchone()[0] != args.n:
        db.unlink(missing_ok=True)
        print(f"building {db} ({args.n:,} decisions)…", file=sys.stderr)
        build_log(db, args.n)
    cli = [sys.executable, "-m", "banditbot"]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "experiments.yaml"
        cfg.write_text(CONFIG)
        common = ["--config", str(cfg), "--store", f"sqlite:///{db}"]
        figures: dict[str, list[tuple[float, float, float]]] = {
            "sqlite3_shell": [], "csv": [], "parquet": [], "report": [], "report_kept": [],
            "report_warm": [], "png": [], "png_kept": [], "png_before": [],
            "png_kept_before": []}
        chart = [*cli, "report", "greet", "--png", f"{tmp}/chart.png", *common]
        for _ in range(args.rounds):
            figures["sqlite3_shell"].append(run(
                ["sqlite3", "-csv", "-header", str(db), "SELECT * FROM decisions"],
                stdout=Path(tmp) / "shell.csv"))
            figures["csv"].append(run(
                [*cli, "export", "greet", "--out", f"{tmp}/log.csv", "--force", *common]))
            figures["parquet"].append(run(
                [*cli, "export", "greet", "--out", f"{tmp}/log.parquet", "--force",
                 *common]))
            forget_inference(db)  # the first report on the log reads all of it
            figures["report"].append(run([*cli, "report", "greet", *common]))
            # the next one, in a new process, finds the state the first left in the store
            figures["report_kept"].append(run([*cli, "report", "greet", *common]))
            # the report with its chart: first on the log (no kept state: the inference and
            # the series read it), then again with the state the first kept
            for suffix, source in [("", None), *([("_before", args.before)]
                                                 if args.before else [])]:
                forget_inference(db)
                figures[f"png{suffix}"].append(run(chart, source=source))
                figures[f"png_kept{suffix}"].append(run(chart, source=source))
        rows = sum(1 for _ in (Path(tmp) / "log.csv").open()) - 1
        # a report after 1,000 new decisions (on a copy: the kept log stays n rows): 0.1%
        # more, so the stored state still stands ("as of decision 1,000,000")
        grown = Path(tmp) / "grown.sqlite"
        # the backup API, not a file copy: the state the last report stored may still be in
        # the WAL file beside the database
        with sqlite3.connect(db) as source, sqlite3.connect(grown) as target:
            source.backup(target)
        source.close()
        target.close()
        build_log(grown, 1_000, first=args.n, seed=1)
        grown_opts = ["--config", str(cfg), "--store", f"sqlite:///{grown}"]
        for _ in range(args.rounds):
            figures["report_warm"].append(run([*cli, "report", "greet", *grown_opts]))
    if rows != args.n:
        raise SystemExit(f"the CSV export has {rows} rows, not {args.n}")

    def span(key: str, i: int) -> list[float]:
        values = [f[i] for f in figures[key]]
        return [round(min(values), 2), round(max(values), 2)]

    csv_ratio = [round(c[0] / s[0], 2) for c, s in
                 zip(figures["csv"], figures["sqlite3_shell"], strict=True)]
    print(json.dumps({
        "benchmark": "export", "decisions": args.n, "rounds": args.rounds,
        "sqlite3_shell_s": span("sqlite3_shell", 0), "csv_s": span("csv", 0),
        "parquet_s": span("parquet", 0), "report_s": span("report", 0),
        "csv_over_shell": [min(csv_ratio), max(csv_ratio)],
        "csv_peak_mb": span("csv", 1), "parquet_peak_mb": span("parquet", 1),
        "report_peak_mb": span("report", 1),
        "report_cpu_s": span("report", 2),
        "report_with_kept_state_s": span("report_kept", 0),
        "report_with_kept_state_cpu_s": span("report_kept", 2),
        "report_with_kept_state_peak_mb": span("report_kept", 1),
        "report_after_1000_more_s": span("report_warm", 0),
        "report_after_1000_more_cpu_s": span("report_warm", 2),
        "report_after_1000_more_peak_mb": span("report_warm", 1),
        **{f"report_png{suffix}_{what}": span(f"{key}{suffix}", i)
           for suffix in ["", *(["_before"] if args.before else [])]
           for key, what_prefix in [("png", ""), ("png_kept", "with_kept_state_")]
           for what, i in [(f"{what_prefix}s", 0), (f"{what_prefix}cpu_s", 2),
                           (f"{what_prefix}peak_mb", 1)]},
        "targets": {"csv_over_shell": 4, "parquet_faster_than_csv": True, "peak_mb": 300,
                    "report_s": 1, "report_png_with_kept_state_s": 1},
    }))


if __name__ == "__main__":
    main()
