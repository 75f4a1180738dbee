"""Store speed: decide+reward per second on memory, SQLite, PostgreSQL and a DynamoDB
emulator, plus the client-side cost of the boto3 calls a decision makes on DynamoDB.

PostgreSQL runs on a throwaway local server (the Debian ``postgresql`` package; skipped when
it is missing) with its durable defaults (``fsync``, ``synchronous_commit = on``: every commit
waits for the disk) — unlike SQLite's default ``synchronous = NORMAL``, which does not sync
at each commit — and once more with ``synchronous_commit = off`` (a commit no longer waits for
the WAL flush; a server crash can lose the last fraction of a second, never consistency).
Each is run by one client (one decide+reward after the other, like the SQLite loop) and by 8
threads sharing one service (where group commit gathers concurrent writes into one
transaction). Round trips per cycle are counted by the server (``pg_stat_statements``: every
statement of the one-client loop is one round trip). ``postgres_one_row_commit_ms`` is the
floor under every durable write on this machine: one autocommit ``UPDATE`` of one row.

The emulator number is for information only (moto is not DynamoDB). The client-side cost
is measured with botocore answering from a canned response (serialize, sign, parse — no
network), so the docs can state what a real deployment spends per decision:
client cost + one round trip per call.

    python benchmarks/stores.py [--quick]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot import BanditService, MemoryStore, SQLiteStore, parse_config
from banditbot.stores import Store

CONFIG = {"experiments": [{"id": "bench", "policy": {"name": "epsilon-greedy", "epsilon": 0.1},
                           "arms": [{"id": f"a{i}", "content": f"arm {i}"} for i in range(3)]}]}


ROOT = Path(__file__).resolve().parent.parent


def loop_rate(store: Store, n: int, *, before: Any = None) -> float:
    """Decide + reward cycles per second (``before`` runs after the warm-up)."""
    svc = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(1))
    draws = np.random.default_rng(2).random(n + 20)
    for i in range(20):
        d = svc.decide("bench", "u")
        svc.reward(d.id, int(draws[n + i] < 0.2), "u")
    if before is not None:
        before()
    start = time.perf_counter()
    for i in range(n):
        d = svc.decide("bench", "u")
        svc.reward(d.id, int(draws[i] < 0.2), "u")
    return n / (time.perf_counter() - start)


def threaded_rate(store: Store, threads: int, per_thread: int) -> float:
    """Decide + reward cycles per second, ``threads`` threads sharing one service (as a
    server's thread pool does)."""
    svc = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(1))
    for _ in range(20):
        d = svc.decide("bench", "w")
        svc.reward(d.id, 1, "w")
    barrier = threading.Barrier(threads + 1)

    def work(t: int) -> None:
        draws = np.random.default_rng(t).random(per_thread)
        barrier.wait()
        for i in range(per_thread):
            d = svc.decide("bench", f"t{t}")
            svc.reward(d.id, int(draws[i] < 0.2), f"t{t}")

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    return threads * per_thread / (time.perf_counter() - start)


def postgres(n: int, per_thread: int) -> dict[str, Any]:
    """PostgreSQL on a throwaway server: one client and 8 threads, durable and with
    ``synchronous_commit = off``; round trips counted by the server."""
    sys.path.insert(0, str(ROOT))
    from tests.pg_server import PostgresServer, postgres_bindir

    if postgres_bindir() is None:
        return {"postgres": "skipped: PostgreSQL is not installed (apt-get install postgresql)"}
    import psycopg

    from banditbot.stores import PostgresStore

    out: dict[str, Any] = {}
    server = PostgresServer(fsync=True).start()
    try:
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

            def reset() -> None:
                admin.execute("SELECT pg_stat_statements_reset()")

            def statements() -> float:
                row = admin.execute(
                    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE toplevel "
                    "AND query NOT LIKE '%pg_stat_statements%' AND query <> 'SELECT $1' "
                    "AND query NOT IN ('BEGIN', 'COMMIT')").fetchone()
                return float(row[0]) if row else 0.0

            # the floor under every durable write: one commit of one changed row
            admin.execute("CREATE TABLE floor (k int PRIMARY KEY, n bigint)")
            admin.execute("INSERT INTO floor VALUES (1, 0)")
            start = time.perf_counter()
            for _ in range(200):
                admin.execute("UPDATE floor SET n = n + 1 WHERE k = 1")
            out["postgres_one_row_commit_ms"] = round((time.perf_counter() - start) / 200 * 1e3,
                                                      2)
            for label, options in (("", ""), ("_sync_commit_off",
                                              "&options=-c%20synchronous_commit%3Doff")):
                store = PostgresStore(f"{server.url}?schema=bench{label or '_durable'}{options}")
                store.init()
                out[f"postgres{label}_loops_per_s"] = round(loop_rate(store, n, before=reset))
                if not label:  # the one-client loop: one statement is one round trip
                    out["postgres_round_trips_per_cycle"] = round(statements() / n, 2)
                store.commits = store.writes = 0
                out[f"postgres{label}_8_threads_loops_per_s"] = round(
                    threaded_rate(store, 8, per_thread))
                if not label:
                    out["postgres_8_threads_writes_per_commit"] = round(
                        store.writes / max(store.commits, 1), 2)
                store.close()
    finally:
        server.stop()
    return out


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def client_costs(n: int) -> dict[str, float]:
    """Microseconds per boto3 call with the network replaced by a canned answer."""
    import boto3
    from botocore.awsrequest import AWSResponse

    canned = {
        "GetItem": {"Item": {"PK": {"S": "DEC#x"}, "SK": {"S": "DEC"},
                             "doc": {"S": "{}"}, "version": {"N": "1"}}},
        "Query": {"Items": [{"arm": {"S": f"a{i}"}, "pulls": {"N": "10"}, "n": {"N": "9"},
                             "total": {"N": "3"}, "total_sq": {"N": "3"}} for i in range(3)],
                  "Count": 3, "ScannedCount": 3},
        "TransactWriteItems": {},
    }
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x", endpoint_url="http://127.0.0.1:9")

    def answer(request: Any, **_: Any) -> AWSResponse:
        op = request.headers["X-Amz-Target"].decode().split(".")[-1]
        body = json.dumps(canned[op]).encode()
        return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"},
                           _Raw(body))

    client.meta.events.register("before-send.dynamodb", answer)
    key = {"PK": {"S": "DEC#x"}, "SK": {"S": "DEC"}}
    calls = {
        "GetItem": lambda: client.get_item(TableName="t", Key=key, ConsistentRead=True),
        "Query": lambda: client.query(
            TableName="t", KeyConditionExpression="#pk = :pk AND begins_with(#sk, :p)",
            ExpressionAttributeNames={"#pk": "PK", "#sk": "SK"},
            ExpressionAttributeValues={":pk": {"S": "STATS#bench#0"}, ":p": {"S": "S##A#"}},
            ConsistentRead=True),
        "TransactWriteItems": lambda: client.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {**key, "arm": {"S": "a1"},
                                                "propensity": {"N": "0.9"}},
                     "ConditionExpression": "attribute_not_exists(#pk)",
                     "ExpressionAttributeNames": {"#pk": "PK"}}},
            {"Update": {"TableName": "t", "Key": key,
                        "UpdateExpression": "ADD #p :one",
                        "ExpressionAttributeNames": {"#p": "pulls"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}]),
    }
    out = {}
    for name, call in calls.items():
        for _ in range(50):
            call()
        start = time.perf_counter()
        for _ in range(n):
            call()
        out[name] = round((time.perf_counter() - start) / n * 1e6, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_mem, n_sql, n_dyn, n_client, n_pg = (2000, 500, 100, 300, 200) if args.quick else \
        (20000, 3000, 300, 2000, 1000)
    result: dict[str, Any] = {"benchmark": "stores", "policy": "epsilon-greedy", "arms": 3}
    result["memory_loops_per_s"] = round(loop_rate(MemoryStore(), n_mem))
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        store.init()
        result["sqlite_loops_per_s"] = round(loop_rate(store, n_sql))
        result["sqlite_8_threads_loops_per_s"] = round(threaded_rate(store, 8, n_sql // 8))
        store.close()
    result.update(postgres(n_pg, n_pg // 4))
    import logging
    import os
    import socket

    from moto.server import ThreadedMotoServer

    from banditbot.stores._dynamodb import DynamoDBStore

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "x")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "x")
        dyn = DynamoDBStore("bench", region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
        dyn.init()
        sent: list[str] = []
        dyn.client.meta.events.register(
            "before-send.dynamodb", lambda **kw: sent.append(kw["request"].headers.get(
                "X-Amz-Target", b"").decode().rpartition(".")[2]))
        result["dynamodb_emulator_loops_per_s"] = round(loop_rate(dyn, n_dyn), 1)
        # counted on the wire: decide and reward through one service (the warm container
        # that made the decision); a reward landing elsewhere adds the decision's GetItem
        requests = {op: round(sent.count(op) / (n_dyn + 20), 2) for op in sorted(set(sent))}
    finally:
        server.stop()
    costs = client_costs(n_client)
    result["boto3_client_us_per_call"] = costs
    result["dynamodb_requests_per_decide_and_reward"] = requests
    per_loop = sum(costs[op] * count for op, count in requests.items() if op in costs)
    result["dynamodb_client_us_per_decide_and_reward"] = round(per_loop, 1)
    result["dynamodb_round_trips_per_decide_and_reward"] = round(sum(requests.values()), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
