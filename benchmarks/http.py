"""HTTP throughput: decide + reward requests per second on SQLite vs the same server's trivial
endpoint, and on two servers sharing one PostgreSQL database, in one run.

Starts ``banditbot serve --workers 2`` (uvicorn + uvloop + httptools) on a fresh SQLite file
and drives it from a second process with ``wrk`` (Debian's package; keep-alive connections,
loopback): first ``GET /healthz`` (the trivial endpoint: routing, middleware and JSON, no
store), then a Lua script that alternates ``POST …/decisions`` and ``POST …/reward`` for the
decision it just got (a 👍 three times in ten, like real feedback; all-👍 would pile every
posterior at 1). Target (issue #7): decide+reward >= 50% of the trivial endpoint's
requests per second, with no error response (wrk counts those as requests too). Also reports
p50/p99 latency and checks that every reward was counted.

Then the same loop against a second SQLite server with ``BANDITBOT_HTTP_FAST_PATH=0`` (decide
and reward through FastAPI's own routing, dependencies and responses): what the ASGI fast path
in ``banditbot.api._hot`` buys, as a ratio measured in the same run (``fast_path_gain``).

Then the several-hosts shape (issue #17): a throwaway PostgreSQL server (the Debian
``postgresql`` package, durable defaults: every commit waits for the disk), two ``banditbot
serve`` processes on two ports sharing its database, and one wrk per server with half the
connections each, at the same time. Reported beside the SQLite figures as ``postgres_*``
(requests per second summed over both servers). ``--no-postgres`` skips it.

    python benchmarks/http.py [--seconds 10] [--connections 32] [--no-postgres]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path
from typing import Any

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


def start_server(store: str, tmp: Path, name: str, workers: int,
                 extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, Any]:
    """``banditbot serve`` on a free port; returns the process, its base URL and its log."""
    port = free_port()
    env = {**os.environ, "BANDITBOT_STORE": store,
           "BANDITBOT_CONFIG": str(ROOT / "examples" / "experiments.yaml"), **extra_env}
    env.pop("TELEGRAM_TOKEN", None)
    log = (tmp / f"{name}.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "banditbot", "serve", "--port", str(port),
                               "--workers", str(workers)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return server, base, log


def postgres_two_servers(args: argparse.Namespace) -> dict[str, Any]:
    """Two servers (one worker each) on one PostgreSQL database, one wrk each at once."""
    sys.path.insert(0, str(ROOT))
    from tests.pg_server import PostgresServer, postgres_bindir

    if postgres_bindir() is None:
        return {"postgres": "skipped: PostgreSQL is not installed (apt-get install postgresql)"}
    from banditbot import build_service
    from banditbot.service import KeyRing

    pg = PostgresServer(fsync=True).start()
    try:
        store = f"{pg.url}?schema=bench"
        svc = build_service(ROOT / "examples" / "experiments.yaml", store)
        key, _ = KeyRing(svc.store).create("bench", "decide")
        env = {"BENCH_KEY": key, "BENCH_EXPERIMENT": args.experiment}
        with tempfile.TemporaryDirectory() as tmp:
            servers = [start_server(store, Path(tmp), f"serve{i}", 1, env) for i in range(2)]
            try:
                script = Path(tmp) / "loop.lua"
                script.write_text(LUA)
                half = max(1, args.connections // 2)
                runs = [subprocess.Popen(
                    ["wrk", "-t1", f"-c{half}", f"-d{args.seconds}s", "--latency", "-s",
                     str(script), base], stdout=subprocess.PIPE, text=True,
                    env={**os.environ, **env}) for _, base, _ in servers]
                loops = [parse(run.communicate()[0]) for run in runs]
            finally:
                for server, _, log in servers:
                    server.send_signal(signal.SIGINT)
                    server.wait(timeout=60)
                    log.close()
        report = svc.report(args.experiment)
        svc.store.close()
    finally:
        pg.stop()
    return {
        "postgres_servers": 2, "postgres_workers_per_server": 1,
        "postgres_decide_reward_rps": round(sum(x["rps"] for x in loops)),
        "postgres_decide_reward_rps_per_server": [round(x["rps"]) for x in loops],
        "postgres_decide_reward_p50_ms": max(x["p50_ms"] for x in loops),
        "postgres_decide_reward_p99_ms": max(x["p99_ms"] for x in loops),
        "postgres_errors": sum(x["errors"] for x in loops),
        "postgres_decisions_logged": report.total_pulls,
        "postgres_rewards_counted": report.total_answered,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--experiment", default="greeting",
                        help="greeting (Thompson sampling, 4 arms) or random (epsilon-greedy)")
    parser.add_argument("--no-postgres", action="store_true",
                        help="skip the two-server PostgreSQL run")
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
        env = {"BENCH_KEY": key, "BENCH_EXPERIMENT": args.experiment}
        run_env = {**os.environ, **env}
        common = ["wrk", f"-t{args.threads}", f"-c{args.connections}",
                  f"-d{args.seconds}s", "--latency"]
        runs: dict[str, dict[str, float]] = {}
        for name, extra in (("fast", {}), ("routed", {"BANDITBOT_HTTP_FAST_PATH": "0"})):
            server, base, log = start_server(store, Path(tmp), name, 2, {**env, **extra})
            try:
                if name == "fast":
                    runs["trivial"] = parse(subprocess.run(
                        [*common, base + "/healthz"], capture_output=True, text=True,
                        env=run_env, check=True).stdout)
                runs[name] = parse(subprocess.run(
                    [*common, "-s", str(script), base], capture_output=True, text=True,
                    env=run_env, check=True).stdout)
            finally:
                server.send_signal(signal.SIGINT)
                server.wait(timeout=60)
                log.close()
        trivial, loop, routed = runs["trivial"], runs["fast"], runs["routed"]
        report = svc.report(args.experiment)
    postgres = {} if args.no_postgres else postgres_two_servers(args)
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
        "decisions_logged": report.total_pulls, "rewards_counted": report.total_answered,
        "note": "rewards trail decisions by the requests in flight when wrk stopped",
        **postgres,
    }))


if __name__ == "__main__":
    main()
