"""Lambda cold start: the imports of the Telegram webhook path, beside their floor.

Times, in fresh interpreters, the modules a webhook invocation imports (``banditbot.aws``,
the composition root, the Telegram layer, the DynamoDB store, boto3) and, in the same run,
interleaved with them, the floor any such bot pays: ``import telegram.ext, boto3, numpy``.
Also beside them, for the account of what is left: that floor plus pydantic and PyYAML
(banditbot validates its experiments file with them on the first invocation). Each repeat
times all three, in an order that rotates, so each ratio compares figures taken at the same
moment. Target (issue #18): median ours / floor <= 1.1. Heavy modules (matplotlib,
scipy.stats, pandas, pyarrow, the SQL stores) must not be on the path.

    python benchmarks/lambda_cold_start.py [--runs N]

Prints one JSON line: medians, [min, max] ranges, the ratio of the medians, the range of
the per-repeat ratios and the ratio of the minima (the least disturbed figures on a busy
machine), the ratio in CPU time (user + system of each interpreter), and the banditbot
modules that cost most beyond the floor (self time from one ``-X importtime`` run: a
diagnosis, not a measurement). ``met`` is judged on the wall-clock medians.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)

OURS = ("import banditbot.aws, banditbot._compose, banditbot.telegram, "
        "banditbot.stores._dynamodb, boto3")
FLOOR = "import telegram.ext, boto3, numpy"
FLOOR_CONFIG = "import telegram.ext, boto3, numpy, pydantic, yaml"
HEAVY = ("matplotlib", "scipy.stats", "pandas", "pyarrow", "banditbot.stores._sqlite",
         "banditbot.stores._postgres", "banditbot.stores._memory")
TARGET = 1.1


def seconds(statement: str) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of ``python -c statement`` in a fresh
    interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def self_times(statement: str) -> dict[str, int]:
    """Module -> self import time in µs, from ``python -X importtime``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", statement],
                          capture_output=True, text=True, check=True)
    out = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            parts = line.split("|")
            try:
                out[parts[-1].strip()] = int(parts[0].split(":")[1])
            except ValueError:
                continue
    return out


def spread(values: list[float], digits: int = 3) -> list[float]:
    return [round(min(values), digits), round(max(values), digits)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="repeats (default 11)")
    args = parser.parse_args()
    statements = {"ours": OURS, "floor": FLOOR, "floor_config": FLOOR_CONFIG}
    for statement in statements.values():  # warm the file cache once, untimed
        seconds(statement)
    times: dict[str, list[float]] = {name: [] for name in statements}
    cpu: dict[str, list[float]] = {name: [] for name in statements}
    names = list(statements)
    for i in range(args.runs):
        for name in names[i % 3:] + names[:i % 3]:
            wall, used = seconds(statements[name])
            times[name].append(wall)
            cpu[name].append(used)
    med = {name: statistics.median(v) for name, v in times.items()}
    ratio = [o / f for o, f in zip(times["ours"], times["floor"], strict=True)]
    cpu_ratio = [o / f for o, f in zip(cpu["ours"], cpu["floor"], strict=True)]
    ratio_config = [o / f for o, f in zip(times["ours"], times["floor_config"], strict=True)]
    ours_modules, floor_modules = self_times(OURS), self_times(FLOOR)
    beyond = {m: t for m, t in ours_modules.items() if m not in floor_modules}
    print(json.dumps({
        "benchmark": "lambda_cold_start",
        "runs": args.runs,
        "webhook_imports_s": round(med["ours"], 3),
        "webhook_imports_range_s": spread(times["ours"]),
        "floor_s": round(med["floor"], 3),
        "floor_imports": FLOOR.removeprefix("import "),
        "floor_range_s": spread(times["floor"]),
        "floor_plus_pydantic_yaml_s": round(med["floor_config"], 3),
        "ours_over_floor": round(med["ours"] / med["floor"], 2),
        "ours_over_floor_per_repeat": spread(ratio, 2),
        "ours_over_floor_of_minima": round(min(times["ours"]) / min(times["floor"]), 2),
        "ours_over_floor_cpu": round(statistics.median(cpu["ours"])
                                     / statistics.median(cpu["floor"]), 2),
        "ours_over_floor_cpu_per_repeat": spread(cpu_ratio, 2),
        "ours_over_floor_plus_pydantic_yaml": round(med["ours"] / med["floor_config"], 2),
        "ours_over_floor_plus_pydantic_yaml_per_repeat": spread(ratio_config, 2),
        "target_over_floor": TARGET,
        "met": med["ours"] / med["floor"] <= TARGET,
        "beyond_floor_importtime_s": round(sum(beyond.values()) / 1e6, 3),
        "largest_beyond_floor_ms": {m: round(t / 1e3, 1) for m, t in
                                    sorted(beyond.items(), key=lambda kv: -kv[1])[:8]},
        "heavy_modules_imported": sorted(m for m in ours_modules
                                         if any(m == h or m.startswith(h + ".")
                                                for h in HEAVY)),
    }))


if __name__ == "__main__":
    main()
