"""API keys over real HTTP: a key works as soon as ``banditbot keys create`` returns, a
flood of unknown keys does not read the store once per key, and an unknown key's 401 says
where a key must have been created."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.api import create_app
from banditbot.service import KeyRing

from ..conftest import CONFIG, run_cli
from ..http_client import HTTP
from ..telegram_double import ServerThread


class CountingStore(SQLiteStore):
    """A SQLite store that counts the reads of the key list (its one document)."""

    key_list_reads = 0

    def read_document(self, name: str) -> tuple[str | None, int]:
        if name == "api-keys":
            type(self).key_list_reads += 1
        return super().read_document(name)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A server on a SQLite file whose key list is trusted for a minute (so a key only a
    fresh read finds is refused without one): its URL, the store's URL and a read key."""
    store = CountingStore(tmp_path / "keys.db")
    store.init()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(1))
    ring = KeyRing(store, cache_seconds=60.0)
    read_key = ring.create("reader", "read")[0]
    with ServerThread(create_app(service, keys=ring)) as url:
        assert _get(url, "/v1/experiments", read_key).status_code == 200  # the list cached
        yield url, store.url, read_key


def _get(url: str, path: str, key: str) -> Any:
    return HTTP.get(url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _create(store_url: str, role: str, name: str,
            capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_cli(["keys", "create", "--name", name, "--role", role,
                              "--store", store_url], capsys)
    assert code == 0, err
    return out.strip()


def test_a_new_key_works_as_soon_as_keys_create_returns(
        server: tuple[str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """A trial: 5 of 12 keys were refused (401) for up to 1.6 s after `keys create`, the
    results page's login among them; now the server reads its key list again for a key it
    does not know, on a GET and on a POST (whose key is checked before its body is read)."""
    url, store_url, _ = server
    decide_key = _create(store_url, "decide", "fresh-app", capsys)
    decided = HTTP.post(f"{url}/v1/experiments/ts/decisions", json={"subject": "v-1"},
                        headers={"X-API-Key": decide_key}, timeout=30)
    assert decided.status_code == 201, decided.text
    time.sleep(0.25)  # (the list was read for a miss under 0.2 s ago; `keys create` as a
    # command of its own takes longer than that)
    read_key = _create(store_url, "read", "fresh-reader", capsys)
    assert _get(url, "/v1/experiments", read_key).status_code == 200


def test_a_flood_of_unknown_keys_reads_the_key_list_a_few_times_not_once_each(
        server: tuple[str, str, str]) -> None:
    url, _, _ = server
    time.sleep(0.25)  # (the fixture's request read the list)
    before = CountingStore.key_list_reads
    start = time.monotonic()
    for i in range(40):
        assert _get(url, "/v1/experiments", f"bb_made-up-{i}").status_code == 401
    elapsed = time.monotonic() - start
    # one read per 0.2 s at most (and one more), where one per key would be 40
    assert 1 <= CountingStore.key_list_reads - before <= elapsed / 0.2 + 1


def test_an_unknown_keys_401_says_it_must_come_from_this_servers_store(
        server: tuple[str, str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A key created without --store went to another store: the 401 says to check that,
    in the words of the 403's hint, and names the X-API-Key header too."""
    url, _, _ = server
    elsewhere = _create(f"sqlite:///{tmp_path / 'other.db'}", "read", "lost", capsys)
    refused = _get(url, "/v1/experiments", elsewhere)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    hint = refused.json()["hint"]
    assert "X-API-Key" in hint
    assert "--store URL (the store this server uses)" in hint


def test_a_key_never_waits_on_another_requests_read_of_the_list(tmp_path: Path) -> None:
    """A review: a request whose key needed no read (a known key, or an unknown one while
    a read was not due) waited on the lock of another request's slow read of the key list,
    and the server runs those on its event loop. Now they take no lock: while one unknown
    key's read hangs, a known key is answered at once, and so is a second unknown one."""
    import threading

    store = SQLiteStore(tmp_path / "slow.db")
    store.init()
    ring = KeyRing(store, cache_seconds=60.0)
    known = ring.create("reader", "read")[0]
    assert ring.authenticate(known) is not None  # the list read and cached
    time.sleep(ring.miss_seconds)
    gate, reading = threading.Event(), threading.Event()
    real = store.read_document

    def slow(name: str) -> Any:
        reading.set()
        gate.wait(10)
        return real(name)

    store.read_document = slow  # type: ignore[method-assign]
    first = threading.Thread(target=ring.authenticate, args=("bb_unknown-one",))
    first.start()
    try:
        assert reading.wait(10)  # the first unknown key's read hangs
        start = time.monotonic()
        assert ring.authenticate(known) is not None
        assert ring.authenticate("bb_unknown-two") is None
        assert not ring.needs_reload("bb_unknown-two") and not ring.needs_reload(known)
        assert time.monotonic() - start < 1.0
    finally:
        gate.set()
        first.join(10)


def test_an_authentication_told_no_read_is_due_reads_nothing(tmp_path: Path) -> None:
    """The server asks ``needs_reload`` and, told no, authenticates on its event loop at
    once. A list that expired between the two (a window of microseconds each time it
    expires) was read there, under the lock: every request waited on the store. Now a list
    that expires within 10 ms, or a miss read coming due within it, counts as due."""
    now = [0.0]
    store = CountingStore(tmp_path / "window.db")
    store.init()
    ring = KeyRing(store, cache_seconds=2.0, miss_seconds=0.2, clock=lambda: now[0])
    key = ring.create("reader", "read")[0]
    assert ring.authenticate(key) is not None  # the list read at 0.0
    ring.authenticate("bb_unknown")  # a miss: the next miss read is due at 0.2
    # a server asks at each moment, then authenticates a moment later (1 ms, then 9 ms)
    for asked in np.arange(0.0, 2.5, 0.0005):
        for later in (0.001, 0.009):
            now[0] = float(asked)
            due = {k: ring.needs_reload(k) for k in (key, "bb_unknown")}
            reads = CountingStore.key_list_reads
            now[0] = float(asked) + later
            for k, told in due.items():
                if not told:
                    ring.authenticate(k)
                    assert CountingStore.key_list_reads == reads, (asked, later, k)
    store.close()
