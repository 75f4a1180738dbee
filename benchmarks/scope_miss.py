"""What a read key's ``?scope=chat:<pseudonym>`` costs when it names no bandit (a miss).

A miss is what a key sending made-up pseudonyms asks for: before the fix each one read the
scope column of every generation of the log. The log: a copy of the 1M-decision SQLite log
``export.py`` builds, with each decision's scope set to its subject's chat (20,000 chats),
under an experiment with ``scope: chat``. Reported per case: CPU seconds (process time) and
decision rows read (the store's scans counted), the first miss (no pseudonym map yet), then
misses after it, then a hit, then a miss after 1,000 new decisions.

    python benchmarks/scope_miss.py LOG.sqlite [--misses 20]   (LOG is copied, not changed)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _isolate  # noqa: F401 (before banditbot: keeps this folder's http.py off sys.path)
import numpy as np

from banditbot import BanditService, PayloadError, SQLiteStore, parse_config
from banditbot.api._scopes import stored_scope
from banditbot.offline import store_pseudonyms
from banditbot.service import ApiKey
from banditbot.stores import DecisionRecord

CONFIG = {"experiments": [{
    "id": "greet", "scope": "chat", "policy": {"name": "epsilon-greedy"},
    "arms": [{"id": a, "content": a} for a in ("hello", "hi", "hey")]}]}
READ = ApiKey(name="reader", role="read", sha256="0" * 64)


class Counting(SQLiteStore):
    """The store, counting the decision rows its scans yield."""

    rows = 0

    def iter_fields(self, *args: Any, **kw: Any) -> Iterator[tuple[Any, ...]]:
        for row in super().iter_fields(*args, **kw):
            Counting.rows += 1
            yield row

    def iter_decisions(self, *args: Any, **kw: Any) -> Iterator[DecisionRecord]:
        for row in super().iter_decisions(*args, **kw):
            Counting.rows += 1
            yield row


def timed(service: BanditService, scope: str) -> tuple[float, int, str | None]:
    """CPU seconds, rows read and the answer of one lookup."""
    rows, start = Counting.rows, time.process_time()
    try:
        found = stored_scope(service, "greet", scope, READ)
    except PayloadError:
        found = None
    return time.process_time() - start, Counting.rows - rows, found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path)
    ap.add_argument("--misses", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:  # the new decisions go into a copy
        log = Path(tmp) / "log.sqlite"
        shutil.copyfile(args.log, log)
        print(json.dumps(measure(log, args.misses)))


def measure(log: Path, misses: int) -> dict[str, Any]:
    """The figures of one copy of the log."""
    store = Counting(log)
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(0))
    out: dict[str, Any] = {}
    cpu, rows, _ = timed(service, f"chat:{secrets.token_hex(8)}")
    out["first miss"] = {"cpu_s": round(cpu, 3), "rows": rows}
    runs = [timed(service, f"chat:{secrets.token_hex(8)}") for _ in range(misses)]
    out["later misses"] = {"cpu_s_max": round(max(c for c, _, _ in runs), 4),
                           "rows_max": max(r for _, r, _ in runs), "n": misses}
    known = store_pseudonyms(store).scope("chat:123")
    cpu, rows, found = timed(service, known)
    out["hit"] = {"cpu_s": round(cpu, 4), "rows": rows, "found": found}
    with sqlite3.connect(log) as conn:
        last = float(conn.execute("SELECT max(created_at) FROM decisions").fetchone()[0])
    conn.close()
    store.record_manual([DecisionRecord(
        id=os.urandom(16).hex(), experiment="greet", generation=0, scope=f"chat:new{i}",
        arm="hi", propensity=1.0, arms=("hi",), probabilities=np.ones(1),
        policy='{"name":"manual","params":{}}', subject="s", created_at=last + 1 + i,
        kind="manual", reward=1.0, rewarded_at=last + 1 + i) for i in range(1000)])
    cpu, rows, _ = timed(service, f"chat:{secrets.token_hex(8)}")
    out["miss after 1000 new"] = {"cpu_s": round(cpu, 4), "rows": rows}
    store.close()
    return out


if __name__ == "__main__":
    main()
