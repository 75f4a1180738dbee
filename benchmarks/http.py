"""HTTP throughput: decide + reward requests per second on SQLite vs the same server's trivial
endpoint, in one run.

Starts ``banditbot serve --workers 2`` (uvicorn + uvloop + httptools) on a fresh SQLite file
and drives it from a second process with ``wrk`` (Debian's package; keep-alive connections,
loopback): first ``GET /healthz`` (the trivial endpoint: routing, middleware and JSON, no
store), then a Lua script that alternates ``POST …/decisions`` and ``POST …/reward`` for the
decision it just got (a 👍 three times in ten, like real feedback; all-👍 would pile every
posterior at 1). Target (issue #7): decide+reward >= 50% of the trivial endpoint's
requests per second, with no error response (wrk counts those as requests too). Also reports
p50/p99 latency and checks that every reward was counted.

Then the same loop against a second server with ``BANDITBOT_HTTP_FAST_PATH=0`` (decide and
reward through FastAPI's own routing, dependencies and responses): what the ASGI fast path in
``banditbot.api._hot`` buys, as a ratio measured in the same run.

    python benchmarks/http.py [--seconds 10] [--connections 32]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import _isolate  # noqa: F401  (first: this file's name would shadow the stdlib's http)
import httpx

ROOT = Path(__file__).resolve().parent.parent
LUA = r"""
local key = os.getenv("BENCH_KEY")
local pending = {}
local n = 0
request = function()
  if #pending > 0 then
    local id = table.remove(pending, 1)
    return wrk.format("POST", "/v1/decisions/" .. id .. "/reward",
      {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key},
      math.random() < 0.3 and '{"value": 1, "subject": "bench"}'
                           or '{"value": 0, "subject": "bench"}')
  end
  n = n + 1
  return wrk.format("POST", "/v1/experiments/" .. os.getenv("BENCH_EXPERIMENT") .. "/decisions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key},
    '{"subject": "bench"}')
end
response = function(status, headers, body)
  if status == 201 then  -- a new decision: reward it next (reward answers are not reused)
    table.insert(pending, string.match(body, '"decision_id":%s*"([^"]+)"'))
  end
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse(output: str) -> dict[str, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", output)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + \
        (sum(int(g) for g in socket.groups()) if socket else 0)
    return {"rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "errors": errors}


@contextlib.contextmanager
def serving(env: dict[str, str], folder: str) -> Iterator[str]:
    """``banditbot serve --workers 2`` on a free port until the block ends."""
    port = free_port()
    log = (Path(folder) / f"serve-{port}.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "banditbot", "serve", "--port",
                               str(port), "--workers", "2"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--experiment", default="greeting",
                        help="greeting (Thompson sampling, 4 arms) or random (epsilon-greedy)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk: apt-get install wrk")
    from banditbot import build_service
    from banditbot.service import KeyRing

    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'bench.db'}"
        svc = build_service(ROOT / "examples" / "experiments.yaml", store)
        key, _ = KeyRing(svc.store).create("bench", "decide")
        script = Path(tmp) / "loop.lua"
        script.write_text(LUA)
        env = {**os.environ, "BANDITBOT_STORE": store,
               "BANDITBOT_CONFIG": str(ROOT / "examples" / "experiments.yaml"),
               "BENCH_KEY": key, "BENCH_EXPERIMENT": args.experiment}
        env.pop("TELEGRAM_TOKEN", None)
        common = ["wrk", f"-t{args.threads}", f"-c{args.connections}",
                  f"-d{args.seconds}s", "--latency"]
        with serving(env, tmp) as base:
            trivial = parse(subprocess.run([*common, base + "/healthz"], capture_output=True,
                                           text=True, env=env, check=True).stdout)
            loop = parse(subprocess.run([*common, "-s", str(script), base], capture_output=True,
                                        text=True, env=env, check=True).stdout)
        with serving({**env, "BANDITBOT_HTTP_FAST_PATH": "0"}, tmp) as base:
            routed = parse(subprocess.run([*common, "-s", str(script), base],
                                          capture_output=True, text=True, env=env,
                                          check=True).stdout)
        report = svc.report(args.experiment)
    print(json.dumps({
        "benchmark": "http", "experiment": args.experiment, "policy": report.policy,
        "workers": 2, "connections": args.connections,
        "seconds": args.seconds,
        "trivial_rps": round(trivial["rps"]), "trivial_p50_ms": trivial["p50_ms"],
        "trivial_p99_ms": trivial["p99_ms"],
        "decide_reward_rps": round(loop["rps"]), "decide_reward_p50_ms": loop["p50_ms"],
        "decide_reward_p99_ms": loop["p99_ms"],
        "errors": trivial["errors"] + loop["errors"] + routed["errors"],
        "without_fast_path_rps": round(routed["rps"]),
        "without_fast_path_p50_ms": routed["p50_ms"],
        "fast_path_gain": round(loop["rps"] / routed["rps"], 3),
        "ratio": round(loop["rps"] / trivial["rps"], 3),
        "target_ratio": 0.5,
        "met": loop["rps"] >= 0.5 * trivial["rps"] and not trivial["errors"] + loop["errors"],
        "decisions_logged": report.total_pulls, "rewards_counted": report.total_rewards,
        "note": "rewards trail decisions by the requests in flight when wrk stopped",
    }))


if __name__ == "__main__":
    main()
