"""Store speed: decide+reward per second on memory, SQLite and a DynamoDB emulator, plus the
client-side cost of the boto3 calls a decision makes on DynamoDB.

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
import tempfile
import time
from pathlib import Path
from typing import Any

import _isolate  # noqa: F401  (first: keeps benchmarks/http.py from shadowing http)
import numpy as np

from banditbot import BanditService, MemoryStore, SQLiteStore, parse_config
from banditbot.stores import Store

CONFIG = {"experiments": [{"id": "bench", "policy": {"name": "epsilon-greedy", "epsilon": 0.1},
                           "arms": [{"id": f"a{i}", "content": f"arm {i}"} for i in range(3)]}]}


def loop_rate(store: Store, n: int) -> float:
    """Decide + reward cycles per second."""
    svc = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(1))
    draws = np.random.default_rng(2).random(n + 20)
    for i in range(20):
        d = svc.decide("bench", "u")
        svc.reward(d.id, int(draws[n + i] < 0.2), "u")
    start = time.perf_counter()
    for i in range(n):
        d = svc.decide("bench", "u")
        svc.reward(d.id, int(draws[i] < 0.2), "u")
    return n / (time.perf_counter() - start)


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
    n_mem, n_sql, n_dyn, n_client = (2000, 500, 100, 300) if args.quick else \
        (20000, 3000, 300, 2000)
    result: dict[str, Any] = {"benchmark": "stores", "policy": "epsilon-greedy", "arms": 3}
    result["memory_loops_per_s"] = round(loop_rate(MemoryStore(), n_mem))
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        store.init()
        result["sqlite_loops_per_s"] = round(loop_rate(store, n_sql))
        store.close()
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
