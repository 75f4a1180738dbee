"""What a discounted policy's decide + reward costs on DynamoDB, in capacity units.

DynamoDB bills a read by the size of the items it returns (a strongly consistent read: one
read unit per 4 KB of a ``GetItem``, or of a ``Query``'s items together) and a write by the
size of the item written (one write unit per 1 KB, the larger of before and after; twice
that inside a transaction). A non-stationary policy keeps time buckets; this script ages a
``discounted-thompson`` experiment (4 arms, a 20-hour half-life, hourly buckets: a
twentieth, as docs/experiments.md advises) through the service on moto's DynamoDB emulator
with a clock that moves an hour per decision, until it holds 50 half-lives of buckets, then
reads the table's items and bills one more decide + reward by DynamoDB's rules.

For comparison, ``*_buckets_in_arm_item`` bills the same data laid out as before this
layout (every bucket in the arm's statistics item: the arm's item plus its bucket items'
attributes), computed from the same items.

    python benchmarks/dynamodb_units.py [--hours N]

Prints one JSON line. Capacity units are a matter of bytes, not of time: the emulator's
speed plays no part.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import socket
from typing import Any

import _isolate  # noqa: F401  (first: keeps this folder's http.py off sys.path)
import numpy as np

from banditbot import BanditService, parse_config
from banditbot.stores import DynamoDBStore


def item_bytes(item: dict[str, Any], *, skip_buckets: bool = False) -> int:
    """An item's size as DynamoDB counts it: each attribute's name and value (a string's
    or a binary's bytes; a number's significant digits, two a byte, plus one)."""
    size = 0
    for name, value in item.items():
        if skip_buckets and name.startswith("x:tb."):
            continue
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "B" in value:
            size += len(value["B"])
        elif "N" in value:
            digits = value["N"].lstrip("-").replace(".", "").strip("0") or "0"
            size += math.ceil(len(digits) / 2) + 1
    return size


def read_units(size: int) -> int:
    return max(1, math.ceil(size / 4096))


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=int, default=1000,
                        help="hours to age the experiment, a decide + reward each "
                             "(default 1000: 50 half-lives)")
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "x")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "x")
        store = DynamoDBStore("units", region="us-east-1",
                              endpoint_url=f"http://127.0.0.1:{port}")
        store.init()
        now = [1_700_000_000.0]
        svc = BanditService(parse_config({"experiments": [{
            "id": "drift", "arms": [{"id": f"a{i}", "content": f"arm {i}"} for i in range(4)],
            "policy": {"name": "discounted-thompson", "half_life": "20h"},
            "time_bucket_seconds": 3600, "burn_in": 0}]}), store,
            rng=np.random.default_rng(1), clock=lambda: now[0])
        env = np.random.default_rng(2)
        for _ in range(args.hours):
            d = svc.decide("drift", "u")
            svc.reward(d.id, int(env.random() < 0.3), "u")
            now[0] += 3600.0
        client = store.client

        def items(partition: str) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"TableName": "units",
                                      "KeyConditionExpression": "PK = :pk",
                                      "ExpressionAttributeValues": {":pk": {"S": partition}}}
            while True:
                page = client.query(**kwargs)
                out += page["Items"]
                if "LastEvaluatedKey" not in page:
                    return out
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        arms = {item["arm"]["S"]: item for item in items("STATS#drift#0")}
        buckets: dict[str, list[dict[str, Any]]] = {}
        for item in items("TB#drift#0"):
            buckets.setdefault(item["arm"]["S"], []).append(item)
        d = svc.decide("drift", "u")
        decision = client.get_item(TableName="units", Key={
            "PK": {"S": f"DEC#{d.id}"}, "SK": {"S": "DEC"}})["Item"]
    finally:
        server.stop()

    arm = d.arm
    own = item_bytes(arms[arm])
    newest = max(buckets.get(arm, []), key=lambda i: i["SK"]["S"], default={})
    combined = {a: item_bytes(arms[a]) + sum(item_bytes(b) for b in buckets.get(a, []))
                - sum(item_bytes({k: v for k, v in b.items() if not k.startswith("x:tb.")})
                      for b in buckets.get(a, []))
                for a in arms}
    dec = item_bytes(decision) + 40  # (the reward's attributes, written by the reward)
    units = {
        # the decision: Query of the arms' items (one read), a transaction putting the
        # decision and adding its pull to the arm's item
        "decide_read_units": read_units(sum(item_bytes(i) for i in arms.values())),
        "decide_write_units": 2 * (write_units(item_bytes(decision)) + write_units(own)),
        # the reward: a transaction setting the reward and adding to the arm's item and to
        # the bucket item of the hour
        "reward_write_units": 2 * (write_units(dec) + write_units(own)
                                   + write_units(item_bytes(newest))),
        "decide_read_units_buckets_in_arm_item": read_units(sum(combined.values())),
        "decide_write_units_buckets_in_arm_item":
            2 * (write_units(item_bytes(decision)) + write_units(combined[arm])),
        "reward_write_units_buckets_in_arm_item":
            2 * (write_units(dec) + write_units(combined[arm])),
    }
    print(json.dumps({
        "benchmark": "dynamodb_units", "hours": args.hours, "arms": len(arms),
        "arm_item_bytes": sorted(item_bytes(i) for i in arms.values()),
        "bucket_items_per_arm": sorted(len(v) for v in buckets.values()),
        "largest_bucket_item_bytes": max(item_bytes(b) for v in buckets.values() for b in v),
        "arm_item_bytes_buckets_in_arm_item": sorted(combined.values()),
        **units,
    }))


if __name__ == "__main__":
    main()
