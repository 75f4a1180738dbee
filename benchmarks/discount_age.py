"""A discounted policy's decide → reward as its experiment ages, on SQLite.

Discounted Thompson sampling, 4 arms, hourly time buckets, a 3-day half-life, one decision
and its reward every 30 minutes of a fake clock: three stores are built, **young** (1 day),
**aged** (``--days``, 60 by default) and the aged store with its epochs' weighted sums and
counts removed (**aged, buckets**: what an experiment from before the epochs reads, every
bucket of 50 half-lives folded on every decision, as every discount did before). Then
each is timed in process CPU time, ``--pairs`` decide → reward pairs at the fake clock's
last moment (no new bucket, so no pruning in the timed loop), in rotating order, for
``--repeats`` rounds, each on a fresh copy of its store.

Prints one JSON line: median µs per pair of each, with [min, max], and the ratios
``aged_over_young`` (1.0: a decision costs the same however old its experiment) and
``buckets_over_aged`` (what the epochs save at that age).

    python benchmarks/discount_age.py [--days 60] [--pairs 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot import BanditService, SQLiteStore, parse_config

STEP = 1800.0  # a decision and its reward every 30 minutes
START = 1.8e9


class Clock:
    """A fake clock the benchmark moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _config() -> object:
    return parse_config({"experiments": [{
        "id": "g", "arms": [{"id": f"a{i}", "content": f"greeting {i}"} for i in range(4)],
        "policy": {"name": "discounted-thompson", "half_life": 3 * 86400.0},
        "time_bucket_seconds": 3600, "burn_in": 0}]})


def _service(path: Path, clock: Clock, seed: int) -> BanditService:
    return BanditService(_config(), SQLiteStore(path),  # type: ignore[arg-type]
                         rng=np.random.default_rng(seed), clock=clock)


def build(path: Path, days: float) -> float:
    """An experiment ``days`` old at ``path``; returns its clock's last moment."""
    store = SQLiteStore(path)
    store.init()
    clock = Clock(START)
    svc = _service(path, clock, 1)
    rng = np.random.default_rng(2)
    for i in range(int(days * 86400 / STEP)):
        d = svc.decide("g", f"u{i % 50}")
        svc.reward(d.id, int(rng.random() < 0.3), f"u{i % 50}")
        clock.now += STEP
    store.close()
    return clock.now


def strip_epochs(path: Path) -> None:
    """Remove the epochs' sums and counts: the store as an older version left it."""
    store = SQLiteStore(path)
    names = {name for f in store.read_stats("g", 0, None, [f"a{i}" for i in range(4)]).extra
             .values() for name in f if name.startswith(("ec.", "ew."))}
    store.drop_extra("g", 0, names)
    store.close()


def timed(path: Path, now: float, pairs: int, seed: int) -> float:
    """µs of process time per decide → reward pair."""
    svc = _service(path, Clock(now), seed)
    svc.decide("g", "warm")  # the view, the connection
    start = time.process_time()
    for j in range(pairs):
        d = svc.decide("g", f"v{j}")
        svc.reward(d.id, j % 2, f"v{j}")
    spent = time.process_time() - start
    svc.store.close()
    return spent / pairs * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=60.0)
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        young_at = build(root / "young.db", 1.0)
        aged_at = build(root / "aged.db", args.days)
        shutil.copy(root / "aged.db", root / "buckets.db")
        strip_epochs(root / "buckets.db")
        cases = {"young": ("young.db", young_at), "aged": ("aged.db", aged_at),
                 "aged_buckets": ("buckets.db", aged_at)}
        times: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for r in range(args.repeats):
            for name in names[r % 3:] + names[:r % 3]:
                source, now = cases[name]
                copy = root / f"run-{name}.db"
                shutil.copy(root / source, copy)
                times[name].append(timed(copy, now, args.pairs, r))
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{copy}{suffix}").unlink(missing_ok=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(json.dumps({
        "benchmark": "discount_age", "days": args.days, "pairs": args.pairs,
        "repeats": args.repeats, "load_average": [round(x, 1) for x in os.getloadavg()],
        **{f"us_{name}": round(med[name], 1) for name in med},
        **{f"us_{name}_range": [round(min(t), 1), round(max(t), 1)]
           for name, t in times.items()},
        "aged_over_young": round(med["aged"] / med["young"], 2),
        "buckets_over_aged": round(med["aged_buckets"] / med["aged"], 2)}))


if __name__ == "__main__":
    main()
