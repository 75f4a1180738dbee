"""CLI cold start: how long ``banditbot --help`` and ``banditbot report`` take in a fresh
interpreter, beside the floor of the imports each cannot avoid, measured in the same run.

- ``--help`` against ``import typer`` (the CLI framework: any typer app pays it), and
  against ``python -c pass`` (the interpreter alone);
- ``report greeting`` on a small SQLite store (the demo's experiments, 300 decisions) against
  ``import numpy, scipy.special, pydantic, yaml, typer, rich.table, sqlite3`` (what a report
  needs: config validation, the posterior's special functions, the table).

Each command runs in 9 fresh interpreters, interleaved with its floor so both see the same
machine; the medians are printed, with the heavy modules ``--help`` loaded (target: none of
numpy, pydantic, scipy or rich's markdown).

    python benchmarks/cli_startup.py

Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)

RUNS = 9
HELP_FLOOR = "import typer"
REPORT_FLOOR = "import numpy, scipy.special, pydantic, yaml, typer, rich.table, sqlite3"
HEAVY = ("numpy", "pydantic", "scipy", "rich.markdown", "markdown_it", "yaml", "matplotlib")


def seconds(argv: list[str], cwd: str) -> float:
    """Wall time of one run in a fresh interpreter."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=cwd,
                   env={**os.environ, "COLUMNS": "80"})
    return time.perf_counter() - start


def heavy_modules_of_help() -> list[str]:
    """Modules of ``HEAVY`` that ``banditbot --help`` imports."""
    probe = ("import sys\nfrom banditbot.cli import main\ntry:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\nprint(' '.join(sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True).stdout.split()
    return sorted(h for h in HEAVY if h in out)


def main() -> None:
    """Measure, print one JSON line."""
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'bench.db'}"
        subprocess.run([py, "-m", "banditbot", "demo", "--steps", "100", "--no-live",
                        "--store", store, "--out", tmp], check=True, capture_output=True,
                       cwd=tmp)
        pairs = {
            "help": ([py, "-m", "banditbot", "--help"], [py, "-c", HELP_FLOOR]),
            "report": ([py, "-m", "banditbot", "report", "greeting", "--store", store],
                       [py, "-c", REPORT_FLOOR]),
        }
        times: dict[str, list[float]] = {}
        for _ in range(RUNS):
            for name, (ours, floor) in pairs.items():
                times.setdefault(name, []).append(seconds(ours, tmp))
                times.setdefault(f"{name}_floor", []).append(seconds(floor, tmp))
            times.setdefault("python", []).append(seconds([py, "-c", "pass"], tmp))
    median = {k: round(statistics.median(v), 3) for k, v in times.items()}
    print(json.dumps({
        "benchmark": "cli_startup",
        "runs": RUNS,
        "help_s": median["help"],
        "help_floor_s (import typer)": median["help_floor"],
        "report_s": median["report"],
        "report_floor_s (numpy, scipy.special, pydantic, yaml, typer, rich)":
            median["report_floor"],
        "python_s (interpreter alone)": median["python"],
        "help_over_floor": round(median["help"] / median["help_floor"], 2),
        "report_over_floor": round(median["report"] / median["report_floor"], 2),
        "heavy_modules_imported_by_help": heavy_modules_of_help(),
    }))


if __name__ == "__main__":
    main()
