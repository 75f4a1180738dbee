"""What a discounted policy's decide + reward costs on DynamoDB, in capacity units.

DynamoDB bills a read by the size of the items it returns (a strongly consistent read: one
read unit per 4 KB of a ``GetItem``, or of a ``Query``'s items together) and a write by the
size of the item written (one write unit per 1 KB, the larger of before and after; twice
that inside a transaction). A non-stationary policy keeps time buckets. This script ages a
``discounted-thompson`` experiment (4 arms, a 20-hour half-life, hourly buckets: a
twentieth, as docs/experiments.md advises; ``--per-hour`` decide + reward pairs an hour)
through the service, until it holds 50 half-lives of buckets, then lays its statistics out
as :class:`~banditbot.stores.DynamoDBStore` writes them (the same attribute names and
number texts, the same split into the arm's item and its bucket items) and bills one more
decide + reward by DynamoDB's rules. ``*_buckets_in_arm_item``: the same data laid out as
before that split (every bucket in the arm's item).

The experiment runs on the in-memory store: the attributes are the same on every store,
and capacity units are a matter of bytes, not of time.

    python benchmarks/dynamodb_units.py [--hours N] [--per-hour N]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import _isolate  # noqa: F401  (first: keeps this folder's http.py off sys.path)
import numpy as np

from banditbot import BanditService, MemoryStore, parse_config
from banditbot.stores import DynamoDBStore
from banditbot.stores._dynamodb import _bucket_item, _num, _str, item_bytes


def read_units(size: int) -> int:
    return max(1, math.ceil(size / 4096))


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=int, default=1000,
                        help="hours to age the experiment (default 1000: 50 half-lives)")
    parser.add_argument("--per-hour", type=int, default=20,
                        help="decide + reward pairs an hour (default 20)")
    args = parser.parse_args()
    store = MemoryStore()
    now = [1_700_000_000.0]
    arms_ids = tuple(f"a{i}" for i in range(4))
    svc = BanditService(parse_config({"experiments": [{
        "id": "drift", "arms": [{"id": a, "content": a} for a in arms_ids],
        "policy": {"name": "discounted-thompson", "half_life": "20h"},
        "time_bucket_seconds": 3600, "burn_in": 0}]}), store,
        rng=np.random.default_rng(1), clock=lambda: now[0])
    env = np.random.default_rng(2)
    for _ in range(args.hours):
        for _ in range(args.per_hour):
            d = svc.decide("drift", "u")
            svc.reward(d.id, int(env.random() < 0.3), "u")
        now[0] += 3600.0  # the next hour
    stats = store.read_stats("drift", 0, "", arms_ids)
    d = svc.decide("drift", "u")

    def head(pk: str, sk: str, arm: str) -> dict[str, Any]:
        return {"PK": _str(pk), "SK": _str(sk), "arm": _str(arm), "scope": _str("")}

    own: dict[str, dict[str, Any]] = {}
    buckets: dict[str, dict[int, dict[str, Any]]] = {}
    combined: dict[str, int] = {}
    for i, arm in enumerate(arms_ids):
        item = head("STATS#drift#0", f"S##A#{arm}", arm)
        item.update({"pulls": _num(float(stats.pulls[i])), "n": _num(float(stats.n[i])),
                     "total": _num(float(stats.total[i])),
                     "total_sq": _num(float(stats.total_sq[i]))})
        apart: dict[int, dict[str, Any]] = {}
        for name, value in stats.extra.get(arm, {}).items():
            chunk = _bucket_item(name)
            target = item if chunk is None else apart.setdefault(
                chunk, head("TB#drift#0", f"S##A#{arm}#{chunk}", arm))
            target[f"x:{name}"] = _num(value)
        own[arm], buckets[arm] = item, apart
        combined[arm] = item_bytes(item) + sum(
            item_bytes({k: v for k, v in b.items() if k.startswith("x:")})
            for b in apart.values())
    record = next(r for r in store.iter_decisions("drift") if r.id == d.id)
    decision = DynamoDBStore("units", region="us-east-1")._decision_item(record)
    dec, arm = item_bytes(decision), d.arm
    newest = buckets[arm][max(buckets[arm])] if buckets[arm] else {}
    rewarded = dec + 40  # (the reward's attributes: reward, rewarded_at, its write token)
    print(json.dumps({
        "benchmark": "dynamodb_units", "hours": args.hours, "per_hour": args.per_hour,
        "arm_item_bytes": sorted(item_bytes(i) for i in own.values()),
        "bucket_items_per_arm": sorted(len(v) for v in buckets.values()),
        "largest_bucket_item_bytes": max(item_bytes(b) for v in buckets.values()
                                         for b in v.values()),
        "decision_item_bytes": dec,
        # the decision: a Query of the arms' items, then a transaction putting the decision
        # and adding its pull to the arm's item
        "decide_read_units": read_units(sum(item_bytes(i) for i in own.values())),
        "decide_write_units": 2 * (write_units(dec) + write_units(item_bytes(own[arm]))),
        # the reward: a transaction setting it and adding to the arm's item and to the
        # bucket item of the hour
        "reward_write_units": 2 * (write_units(rewarded) + write_units(item_bytes(own[arm]))
                                   + write_units(item_bytes(newest))),
        "arm_item_bytes_buckets_in_arm_item": sorted(combined.values()),
        "decide_read_units_buckets_in_arm_item": read_units(sum(combined.values())),
        "decide_write_units_buckets_in_arm_item":
            2 * (write_units(dec) + write_units(combined[arm])),
        "reward_write_units_buckets_in_arm_item":
            2 * (write_units(rewarded) + write_units(combined[arm])),
    }))


if __name__ == "__main__":
    main()
