"""Lambda cold start: import time of everything the webhook path needs.

Runs ``python -X importtime`` on the modules a Telegram webhook invocation imports
(``banditbot.aws``, the service, the store, the Telegram layer, boto3) and, for comparison in
the same run, on ``telegram.ext + boto3 + numpy`` alone (the floor any such bot pays). Median
of 5 fresh interpreters each. Target (issue #4): <= 1.0 s; heavy modules (matplotlib,
scipy.stats, pandas) must not be on the path.

    python benchmarks/lambda_cold_start.py

Prints one JSON line.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)

OURS = ("import banditbot.aws, banditbot._compose, banditbot.telegram, "
        "banditbot.stores._dynamodb, boto3")
FLOOR = "import telegram.ext, boto3, numpy"
HEAVY = ("matplotlib", "scipy.stats", "pandas", "pyarrow")


def measure(statement: str) -> tuple[float, set[str]]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", statement],
                          capture_output=True, text=True, check=True)
    total = 0
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            parts = line.split("|")
            try:
                self_us = int(parts[0].split(":")[1])
            except ValueError:
                continue
            total += self_us
            modules.add(parts[-1].strip())
    return total / 1e6, modules


def main() -> None:
    ours = [measure(OURS) for _ in range(5)]
    floor = [measure(FLOOR)[0] for _ in range(5)]
    modules = ours[0][1]
    seconds = statistics.median(t for t, _ in ours)
    print(json.dumps({
        "benchmark": "lambda_cold_start",
        "import_s_webhook_path": round(seconds, 3),
        "import_s_telegram_boto3_numpy": round(statistics.median(floor), 3),
        "heavy_modules_imported": sorted(m for m in modules
                                         if any(m == h or m.startswith(h + ".")
                                                for h in HEAVY)),
        "target_s": 1.0,
        "met": seconds <= 1.0,
    }))


if __name__ == "__main__":
    main()
