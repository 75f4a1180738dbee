"""Lambda cold start: the imports of the Telegram webhook path, beside their floor, and the
first invocation's build.

Times, in fresh interpreters, the modules a webhook invocation imports (``banditbot.aws``,
the composition root, the Telegram layer, the DynamoDB store, boto3) and, in the same run,
interleaved with them, the floor any such bot pays: ``import telegram.ext, boto3, numpy``.
Also beside them, for the account of what is left: that floor plus pydantic (its
``BaseModel``, with one model built and validated: what validating anything with it costs)
and PyYAML (what validating the experiments file at the first invocation takes, where the
package ships no checked copy of it).

The imports are half of a cold start: the first invocation then builds what the container
keeps (:func:`banditbot._compose.build_lambda`: the experiments file loaded, the service,
the DynamoDB store, the python-telegram-bot application; nothing connects — the store's
client and Telegram's ``getMe`` come later). The package's build (src/Makefile) validates
the experiments file and ships its checked copy, which the cold start reads without
pydantic and PyYAML: ``ours_build`` is that; ``ours_yaml_build`` and ``ours_json_build``
validate the file at the cold start, as a package built without the copy does. So each
repeat also times imports + that build, beside the floor's own build: the same imports and
a webhook application (``Application.builder().token(…).updater(None).build()``), with and
without pydantic + PyYAML. A change that only moves work from the imports into the first
invocation shows in the first ratio and not in the second.

Each repeat times every statement, in an order that rotates, so each ratio compares
figures taken at the same moment. banditbot's bytecode is compiled first (as an import that
may write it would), so that both sides load cached bytecode. Target (issue #18): median
ours / floor <= 1.1. Heavy modules (matplotlib, scipy.stats, pandas, pyarrow, the SQL
stores) must not be on the path.

    python benchmarks/lambda_cold_start.py [--runs N] [--compare OTHER_CHECKOUT/src]

Prints one JSON line: medians, [min, max] ranges, the ratio of the medians, the range of
the per-repeat ratios and the ratio of the minima (the least disturbed figures on a busy
machine), the ratio in CPU time (user + system of each interpreter), the same for imports +
build, and the banditbot modules that cost most beyond the floor (self time from one
``-X importtime`` run: a diagnosis, not a measurement). ``met`` is judged on the wall-clock
medians of the imports; ``met_with_build`` on those of imports + build. With ``--compare``,
the same for banditbot from another ``src`` folder (before / after a change), timed in the
same repeats, with this checkout's figures over that one's (per repeat too).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _isolate  # first: keeps benchmarks/http.py from shadowing http
import yaml

OURS = _isolate.LAMBDA_IMPORTS
FLOOR = "import telegram.ext, boto3, numpy"
#: ``import pydantic`` alone loads almost nothing (its names load on first use): the floor
#: loads BaseModel and builds and validates one model, as any validation with it does
PYDANTIC_YAML = ("import yaml; from pydantic import BaseModel\n"
                 "class M(BaseModel):\n    x: int = 0\n"
                 "M.model_validate({'x': 1})")
FLOOR_CONFIG = FLOOR + "\n" + PYDANTIC_YAML
TOKEN, BUILD = _isolate.LAMBDA_TOKEN, _isolate.LAMBDA_BUILD
#: what any python-telegram-bot webhook bot builds on its first invocation
FLOOR_BUILD = f"\ntelegram.ext.Application.builder().token({TOKEN!r}).updater(None).build()"
HEAVY = ("matplotlib", "scipy.stats", "pandas", "pyarrow", "banditbot.stores._sqlite",
         "banditbot.stores._postgres", "banditbot.stores._memory")
TARGET = 1.1


def seconds(statement: str, path: str | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of ``python -c statement`` in a fresh
    interpreter (banditbot from ``path``, a ``src`` folder, if given)."""
    env = None if path is None else {**os.environ, "PYTHONPATH": path}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, capture_output=True,
                   env=env)
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


def package_dir() -> Path:
    """banditbot's folder (found, not imported)."""
    spec = importlib.util.find_spec("banditbot")
    assert spec is not None and spec.origin is not None, "banditbot is not importable"
    return Path(spec.origin).parent


def spread(values: list[float], digits: int = 3) -> list[float]:
    return [round(min(values), digits), round(max(values), digits)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="repeats (default 11)")
    parser.add_argument("--compare", metavar="SRC",
                        help="also time the webhook path (imports, and imports + build) with "
                             "banditbot from SRC, e.g. another checkout's src/, in the same "
                             "repeats: before and after side by side")
    args = parser.parse_args()
    package = package_dir()
    # the dependencies' bytecode was written when they were installed; banditbot's is
    # written here if missing (PYTHONDONTWRITEBYTECODE, a fresh clone), not timed
    cached = bool(compileall.compile_dir(package, quiet=1))
    # the packaged experiments as the Lambda package ships them: with the checked copy its
    # build writes (read without pydantic and PyYAML); and without it, validated at the
    # cold start, as YAML and as JSON (a package built where banditbot could not load)
    from banditbot._config import save_checked

    folder = Path(tempfile.mkdtemp())
    packaged = (package / "data" / "experiments.yaml").read_text(encoding="utf-8")
    checked, as_yaml = folder / "checked.yaml", folder / "experiments.yaml"
    as_json = folder / "experiments.json"
    checked.write_text(packaged, "utf-8")
    as_yaml.write_text(packaged, "utf-8")
    as_json.write_text(json.dumps(yaml.safe_load(packaged)), "utf-8")
    save_checked(checked)
    build = BUILD.format(config=str(checked), token=TOKEN)
    yaml_build = BUILD.format(config=str(as_yaml), token=TOKEN)
    json_build = BUILD.format(config=str(as_json), token=TOKEN)
    statements: dict[str, tuple[str, str | None]] = {
        "ours": (OURS, None), "floor": (FLOOR, None), "floor_config": (FLOOR_CONFIG, None),
        "ours_build": (OURS + build, None), "ours_yaml_build": (OURS + yaml_build, None),
        "ours_json_build": (OURS + json_build, None),
        "floor_build": (FLOOR + FLOOR_BUILD, None),
        "floor_config_build": (FLOOR_CONFIG + FLOOR_BUILD, None)}
    if args.compare:
        cached = bool(compileall.compile_dir(Path(args.compare) / "banditbot", quiet=1)) \
            and cached
        statements["other"] = (OURS, args.compare)
        statements["other_build"] = (OURS + build, args.compare)
    for statement, path in statements.values():  # warm the file cache once, untimed
        seconds(statement, path)
    times, cpu = _isolate.rotated(list(statements), args.runs,
                                   lambda name: seconds(*statements[name]))
    med = {name: statistics.median(v) for name, v in times.items()}
    med_cpu = {name: statistics.median(v) for name, v in cpu.items()}

    def per_repeat(values: dict[str, list[float]], a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(values[a], values[b], strict=True)]

    def per_diff(values: dict[str, list[float]], a: str, b: str) -> list[float]:
        return [x - y for x, y in zip(values[a], values[b], strict=True)]

    ours_modules, floor_modules = self_times(OURS), self_times(FLOOR)
    beyond = {m: t for m, t in ours_modules.items() if m not in floor_modules}
    compared = {} if not args.compare else {"compare": {
        "src": args.compare,
        "webhook_imports_s": round(med["other"], 3),
        "imports_and_build_s": round(med["other_build"], 3),
        "ours_over_floor": round(med["other"] / med["floor"], 2),
        "ours_over_floor_cpu": round(med_cpu["other"] / med_cpu["floor"], 2),
        "with_build_over_floor": round(med["other_build"] / med["floor_build"], 2),
        "with_build_over_floor_cpu": round(med_cpu["other_build"] / med_cpu["floor_build"], 2),
        "this_over_that_imports": round(med["ours"] / med["other"], 3),
        "this_over_that_imports_per_repeat": spread(per_repeat(times, "ours", "other"), 3),
        "this_over_that_imports_cpu": round(med_cpu["ours"] / med_cpu["other"], 3),
        "this_over_that_with_build": round(med["ours_build"] / med["other_build"], 3),
        "this_over_that_with_build_per_repeat":
            spread(per_repeat(times, "ours_build", "other_build"), 3),
        "this_over_that_with_build_cpu":
            round(med_cpu["ours_build"] / med_cpu["other_build"], 3),
        "this_minus_that_with_build_cpu_s":
            round(statistics.median(per_diff(cpu, "ours_build", "other_build")), 3),
    }}
    print(json.dumps({
        "benchmark": "lambda_cold_start",
        "runs": args.runs,
        "banditbot_bytecode_cached": cached,
        "webhook_imports_s": round(med["ours"], 3),
        "webhook_imports_range_s": spread(times["ours"]),
        "floor_s": round(med["floor"], 3),
        "floor_imports": FLOOR.removeprefix("import "),
        "floor_range_s": spread(times["floor"]),
        "floor_plus_pydantic_yaml_s": round(med["floor_config"], 3),
        "ours_over_floor": round(med["ours"] / med["floor"], 2),
        "ours_over_floor_per_repeat": spread(per_repeat(times, "ours", "floor"), 2),
        "ours_over_floor_of_minima": round(min(times["ours"]) / min(times["floor"]), 2),
        "ours_over_floor_cpu": round(med_cpu["ours"] / med_cpu["floor"], 2),
        "ours_over_floor_cpu_per_repeat": spread(per_repeat(cpu, "ours", "floor"), 2),
        "ours_over_floor_plus_pydantic_yaml": round(med["ours"] / med["floor_config"], 2),
        "ours_over_floor_plus_pydantic_yaml_per_repeat":
            spread(per_repeat(times, "ours", "floor_config"), 2),
        "floor_plus_pydantic_yaml_over_floor": round(med["floor_config"] / med["floor"], 2),
        "floor_plus_pydantic_yaml_over_floor_cpu":
            round(med_cpu["floor_config"] / med_cpu["floor"], 2),
        "imports_and_build_s": round(med["ours_build"], 3),
        "imports_and_build_range_s": spread(times["ours_build"]),
        "build_s": round(med["ours_build"] - med["ours"], 3),
        "floor_imports_and_build_s": round(med["floor_build"], 3),
        "floor_plus_pydantic_yaml_imports_and_build_s": round(med["floor_config_build"], 3),
        "with_build_over_floor": round(med["ours_build"] / med["floor_build"], 2),
        "with_build_over_floor_per_repeat":
            spread(per_repeat(times, "ours_build", "floor_build"), 2),
        "with_build_over_floor_of_minima":
            round(min(times["ours_build"]) / min(times["floor_build"]), 2),
        "with_build_over_floor_cpu": round(med_cpu["ours_build"] / med_cpu["floor_build"], 2),
        "with_build_over_floor_cpu_per_repeat":
            spread(per_repeat(cpu, "ours_build", "floor_build"), 2),
        # without the checked copy: the file validated at the cold start (pydantic, and
        # PyYAML for the YAML), against the floor with the two
        "with_yaml_build_over_floor": round(med["ours_yaml_build"] / med["floor_build"], 2),
        "with_yaml_build_over_floor_cpu":
            round(med_cpu["ours_yaml_build"] / med_cpu["floor_build"], 2),
        "with_json_build_over_floor": round(med["ours_json_build"] / med["floor_build"], 2),
        "with_json_build_over_floor_cpu":
            round(med_cpu["ours_json_build"] / med_cpu["floor_build"], 2),
        "checked_build_over_yaml_build_cpu_per_repeat":
            spread(per_repeat(cpu, "ours_build", "ours_yaml_build"), 3),
        "with_yaml_build_over_floor_plus_pydantic_yaml":
            round(med["ours_yaml_build"] / med["floor_config_build"], 2),
        "target_over_floor": TARGET,
        "met": med["ours"] / med["floor"] <= TARGET,
        "met_with_build": med["ours_build"] / med["floor_build"] <= TARGET,
        "beyond_floor_importtime_s": round(sum(beyond.values()) / 1e6, 3),
        "largest_beyond_floor_ms": {m: round(t / 1e3, 1) for m, t in
                                    sorted(beyond.items(), key=lambda kv: -kv[1])[:8]},
        "heavy_modules_imported": sorted(m for m in ours_modules
                                         if any(m == h or m.startswith(h + ".")
                                                for h in HEAVY)),
        # what validating a file needs, on the path of imports + the build from the copy
        "config_libraries_imported_with_build": sorted(
            {m.split(".")[0] for m in self_times(OURS + build)} & {"pydantic", "yaml"}),
        **compared,
    }))

if __name__ == "__main__":
    main()
