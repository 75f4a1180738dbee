"""Idempotency keys on ``POST /v1/experiments/{id}/decisions`` through real HTTP (uvicorn on
127.0.0.1): a client that retries a decision it may have got already (a timeout, a dropped
connection) sends the same ``Idempotency-Key`` and gets the same decision, logged once — on
one server, on two servers sharing a store, and when the retries race each other."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.api import create_app
from banditbot.service import KeyRing
from banditbot.stores import Store, open_store

from ..conftest import CONFIG, postgres_schema_url
from ..http_client import HTTP
from ..telegram_double import ServerThread

DECIDE = "/v1/experiments/{}/decisions"
STICKY = {"id": "sticky", "sticky_seconds": 3600,
          "arms": [{"id": a, "content": a} for a in ("x", "y", "z")]}


class Api:
    """Servers on one store, and a decide key and a read key every one of them accepts."""

    def __init__(self, urls: list[str], keys: dict[str, str], store: Store) -> None:
        self.urls, self.keys, self.store = urls, keys, store

    def decide(self, body: dict[str, Any], key: str | None, *, server: int = 0,
               experiment: str = "ts", api_key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {api_key or self.keys['decide']}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return HTTP.post(self.urls[server] + DECIDE.format(experiment), json=body,
                         headers=headers, timeout=30)

    def logged(self, experiment: str = "ts") -> list[dict[str, Any]]:
        """The experiment's decision log, as the API pages it."""
        r = HTTP.get(self.urls[0] + DECIDE.format(experiment),
                     headers={"Authorization": f"Bearer {self.keys['read']}"}, timeout=30)
        assert r.status_code == 200, r.text
        return [json.loads(line) for line in r.text.splitlines() if line]

    def pulls(self, experiment: str = "ts") -> int:
        r = HTTP.get(self.urls[0] + f"/v1/experiments/{experiment}/report",
                     headers={"Authorization": f"Bearer {self.keys['read']}"}, timeout=30)
        total: int = r.json()["total_pulls"]
        return total


@contextlib.contextmanager
def serving(open_one: Callable[[], Store], servers: int = 1, *,
            fast_path: bool = True) -> Iterator[Api]:
    """``servers`` apps, each with its own service and store object on one database."""
    config = parse_config({**CONFIG, "experiments": [*CONFIG["experiments"], STICKY]})
    stores = [open_one() for _ in range(servers)]
    stores[0].init()
    with contextlib.ExitStack() as stack:
        urls = []
        for i, store in enumerate(stores):
            stack.callback(store.close)
            service = BanditService(config, store, rng=np.random.default_rng(i))
            urls.append(stack.enter_context(ServerThread(create_app(
                service, keys=KeyRing(store, cache_seconds=0.0), fast_path=fast_path))))
        ring = KeyRing(stores[0])
        keys = {role: ring.create(f"{role}-key", role)[0] for role in ("read", "decide")}
        yield Api(urls, keys, stores[0])


@pytest.fixture(params=[True, False], ids=["fast-path", "fastapi-route"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with serving(lambda: SQLiteStore(tmp_path / "api.db"), fast_path=request.param) as api:
        yield api


BODY = {"subject": "visitor-1", "context": {"page": "home"}}


def test_a_retry_with_the_same_key_gets_the_same_decision_logged_once(api: Api) -> None:
    first = api.decide(BODY, "order-7f3a")
    again = api.decide(BODY, "order-7f3a")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()  # same id, arm, propensity, probabilities, time
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [d["decision_id"] for d in api.logged()] == [first.json()["decision_id"]]
    assert api.pulls() == 1
    # the one decision is rewarded once, as any other
    decision_id = first.json()["decision_id"]
    reward = HTTP.post(f"{api.urls[0]}/v1/decisions/{decision_id}/reward",
                       json={"value": 1, "subject": "visitor-1"},
                       headers={"Authorization": f"Bearer {api.keys['decide']}"})
    assert reward.status_code == 200
    # and without a key, the same request is a new decision, as before
    fresh = api.decide(BODY, None)
    assert fresh.status_code == 201 and fresh.json()["decision_id"] != decision_id
    assert api.pulls() == 2


def test_a_key_sent_with_another_request_is_refused_and_changes_nothing(api: Api) -> None:
    first = api.decide(BODY, "k-1").json()
    for other in ({**BODY, "subject": "visitor-2"}, {**BODY, "context": {"page": "cart"}},
                  {"subject": "visitor-1"}):
        refused = api.decide(other, "k-1")
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["title"] == "idempotency key reused"
        assert "another request" in problem["detail"] and "new key" in problem["hint"]
    assert [d["decision_id"] for d in api.logged()] == [first["decision_id"]]


def test_equal_json_numbers_are_the_same_request(api: Api) -> None:
    """A retry whose client wrote a number another way (``1`` then ``1.0``: JSON clients
    do not control that) was refused as another request; a different number still is."""
    first = api.decide({"subject": "visitor-1", "context": {"n": 1, "m": -0.0}}, "k-2")
    again = api.decide({"subject": "visitor-1", "context": {"n": 1.0, "m": 0}}, "k-2")
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["decision_id"] == first.json()["decision_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    for other in ({"n": 1.5, "m": 0}, {"n": 2, "m": 0}, {"n": True, "m": 0},
                  {"n": "1", "m": 0}):
        refused = api.decide({"subject": "visitor-1", "context": other}, "k-2")
        assert refused.status_code == 422, (other, refused.text)
        assert refused.json()["title"] == "idempotency key reused"
    assert [d["decision_id"] for d in api.logged()] == [first.json()["decision_id"]]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"],
                         ids=["empty", "256-characters", "not-ascii", "tab"])
def test_a_malformed_key_is_a_bad_request(api: Api, key: str) -> None:
    r = HTTP.post(api.urls[0] + DECIDE.format("ts"), json=BODY, timeout=30,
                  headers=[("Authorization", f"Bearer {api.keys['decide']}"),
                           ("Idempotency-Key", key.encode("latin-1"))])
    assert r.status_code == 400, r.text
    assert "1–255 printable ASCII" in r.json()["detail"]
    assert api.logged() == []


def test_two_keys_in_one_request_are_a_bad_request(api: Api) -> None:
    """``-H "Idempotency-Key: k1" -H "Idempotency-Key: k2"`` was 201 with the last key
    taken: a retry with k1 alone then logged a second decision."""
    r = HTTP.post(api.urls[0] + DECIDE.format("ts"), json=BODY, timeout=30,
                  headers=[("Authorization", f"Bearer {api.keys['decide']}"),
                           ("Idempotency-Key", "k1"), ("Idempotency-Key", "k2")])
    assert r.status_code == 400, r.text
    assert "two Idempotency-Key headers" in r.json()["detail"]
    assert api.logged() == []
    assert api.decide(BODY, "k1").status_code == 201 and len(api.logged()) == 1
    anonymous = HTTP.post(api.urls[0] + DECIDE.format("ts"), json=BODY, timeout=30,
                          headers=[("Idempotency-Key", "k1"), ("Idempotency-Key", "k2")])
    assert anonymous.status_code == 401  # as on the route: who asks comes first


def test_keys_are_per_api_key_and_per_experiment(api: Api) -> None:
    """Two apps that happen to choose the same key, and one app's key in two experiments,
    are different requests; each is replayed to its own sender."""
    other_app = KeyRing(api.store).create("other-app", "decide")[0]
    mine = api.decide(BODY, "shared-key").json()
    theirs = api.decide(BODY, "shared-key", api_key=other_app)
    assert theirs.status_code == 201 and theirs.json()["decision_id"] != mine["decision_id"]
    assert "Idempotent-Replayed" not in theirs.headers
    elsewhere = api.decide({"subject": "visitor-1"}, "shared-key", experiment="seed")
    assert elsewhere.status_code == 201 and "Idempotent-Replayed" not in elsewhere.headers
    for sent, body, api_key, experiment in (
            (mine, BODY, None, "ts"), (theirs.json(), BODY, other_app, "ts"),
            (elsewhere.json(), {"subject": "visitor-1"}, None, "seed")):
        again = api.decide(body, "shared-key", api_key=api_key, experiment=experiment)
        assert again.headers.get("Idempotent-Replayed") == "true", again.text
        assert again.json()["decision_id"] == sent["decision_id"]
    assert api.pulls() == 2 and api.pulls("seed") == 1


def test_a_sticky_request_is_replayed_too(api: Api) -> None:
    body = {"subject": "visitor-1", "sticky": True}
    first = api.decide(body, "sticky-1", experiment="sticky")
    again = api.decide(body, "sticky-1", experiment="sticky")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(api.logged("sticky")) == 1


def test_retries_racing_each_other_log_one_decision(api: Api) -> None:
    """Eight attempts with one key at once (a client that retried before its first attempt
    was answered): one decision is logged and every attempt is answered with it."""
    barrier = threading.Barrier(8)

    def attempt(_: int) -> httpx.Response:
        barrier.wait()
        return api.decide(BODY, "raced")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(attempt, range(8)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["decision_id"] for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 7
    assert len(api.logged()) == 1 and api.pulls() == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def two_servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """Two servers, each with its own service and store, on one database: one SQLite file,
    or one PostgreSQL schema (two hosts)."""
    if request.param == "sqlite":
        def open_one() -> Store:
            return SQLiteStore(tmp_path / "shared.db")
    else:
        url = postgres_schema_url(request.getfixturevalue("postgres_url"))

        def open_one() -> Store:
            return open_store(url)
    with serving(open_one, servers=2) as api:
        yield api


def test_a_retry_that_reaches_another_server_gets_the_same_decision(two_servers: Api) -> None:
    api = two_servers
    first = api.decide(BODY, "hop")
    again = api.decide(BODY, "hop", server=1)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.decide({**BODY, "subject": "someone-else"}, "hop", server=1).status_code == 422
    assert len(api.logged()) == 1 and api.pulls() == 1


def test_retries_racing_on_two_servers_log_one_decision(two_servers: Api) -> None:
    api = two_servers
    barrier = threading.Barrier(8)

    def attempt(i: int) -> httpx.Response:
        barrier.wait()
        return api.decide(BODY, "raced-across", server=i % 2)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(attempt, range(8)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["decision_id"] for r in answers}) == 1
    assert len(api.logged()) == 1 and api.pulls() == 1
