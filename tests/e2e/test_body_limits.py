"""Bodies are refused before they cost anything: ``banditbot serve`` as a process, 200 MB sent
chunked (no Content-Length) without a key and with one, and neither the worker's memory nor
the database grows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from banditbot import SQLiteStore
from banditbot.service import KeyRing

from ..conftest import EXAMPLES
from ..http_client import HTTP
from ..serve_process import start_serve, wait_healthy

MB = 1024 * 1024


def _rss(pid: int) -> int:
    """Resident memory of a process, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, int, Path]]:
    db = tmp_path / "serve.db"
    store = SQLiteStore(db)
    store.init()
    key, _ = KeyRing(store).create("app", "decide")
    store.close()
    env = {**os.environ, "BANDITBOT_STORE": f"sqlite:///{db}"}
    proc, url, log_path = start_serve(tmp_path, env, "--config", str(EXAMPLES))
    try:
        wait_healthy(url, proc, log_path)
        yield url, key, proc.pid, db
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _upload(url: str, headers: dict[str, str], total: int = 200 * MB) -> int | None:
    """Send ``total`` bytes chunked; the status, or ``None`` if the server hung up first."""
    chunk = b"x" * MB

    def body() -> Iterator[bytes]:
        yield b'{"subject": "s", "context": {"k": "'
        for _ in range(total // MB):
            yield chunk
        yield b'"}}'

    try:
        return HTTP.post(url, content=body(), headers={**headers,
                                                        "Content-Type": "application/json"},
                          timeout=120).status_code
    except httpx.TransportError:
        return None


def test_a_chunked_200_mb_upload_grows_neither_the_worker_nor_the_database(
        served: tuple[str, str, int, Path]) -> None:
    url, key, pid, db = served
    decide = f"{url}/v1/experiments/random/decisions"
    # warm up: the first requests load what a decision needs
    for _ in range(3):
        ok = HTTP.post(decide, json={"subject": "warm", "context": {"hour": 9}},
                        headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 201
    rss_before, db_before = _rss(pid), _db_bytes(db)
    assert _upload(decide, {}) in (401, None)  # no key: refused before the body is read
    assert _upload(decide, {"Authorization": f"Bearer {key}"}) in (413, None)
    assert _upload(f"{url}/v1/experiments/random/cheat",
                   {"Authorization": f"Bearer {key}"}) in (413, None)
    grown = _rss(pid) - rss_before
    assert grown < 32 * MB, f"the worker grew by {grown / MB:.0f} MB"
    # still serving, and nothing of the uploads was stored
    again = HTTP.post(decide, json={"subject": "after"},
                       headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 201
    assert _db_bytes(db) - db_before < 256 * 1024
    print(json.dumps({"rss_before_mb": round(rss_before / MB), "grown_mb": round(grown / MB, 1)}))
