"""What the results page reads from the server, over real HTTP: the decision log newest first
and paged on the server, the history by decision count, the policies an admin can pick, and
the offline assets (``/docs``, the favicon)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.api import create_app
from banditbot.offline import store_pseudonyms

from ..conftest import FakeClock
from ..http_client import HTTP
from ..telegram_double import ServerThread

DAY = 86_400.0
CONFIG = {"experiments": [
    {"id": "shop", "arms": [{"id": a, "content": a} for a in ("a", "b", "c")]},
    {"id": "chats", "scope": "chat", "arms": [{"id": "x", "content": "x"},
                                              {"id": "y", "content": "y"}]},
]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Any]]:
    """Decisions spread over 200 days, twelve of them in one second."""
    clock = FakeClock(1_700_000_000.0)
    store = SQLiteStore(Path(tmp_path_factory.mktemp("api")) / "api.db")
    store.init()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(5),
                            clock=clock)
    for _ in range(12):  # twelve decisions in the same second
        service.decide("shop", "same-second")
    for i in range(25):  # then one every eight days
        clock.advance(8 * DAY)
        service.decide("shop", f"u{i}")
    for i in range(9):  # and a burst in the last minute
        clock.advance(5)
        d = service.decide("shop", f"v{i}")
        service.reward(d.id, 1, f"v{i}")
    for chat, n in (("1", 4), ("2", 6)):
        for i in range(n):
            service.decide("chats", f"s{i}", chat=chat)
    app = create_app(service)
    key = app.state.keys.create("reader", "read")[0]
    with ServerThread(app) as url:
        yield url, key, service


def get(url: str, path: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return HTTP.get(url + path, headers=headers, timeout=30)


def rows(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


def test_the_log_pages_newest_first_without_gaps_or_repeats(server: Any) -> None:
    url, key, service = server
    everything = [r.id for r in service.decisions("shop")]  # oldest first
    assert len(everything) == 46
    seen: list[str] = []
    before = ""
    for _ in range(20):
        page = get(url, f"/v1/experiments/shop/decisions?order=desc&limit=7{before}", key)
        assert page.status_code == 200
        seen += [r["decision_id"] for r in rows(page)]
        cursor = page.headers.get("x-next-before")
        if cursor is None:
            break
        before = f"&before={cursor}"
    assert seen == everything[::-1]  # each once, newest first, ties included
    first = rows(get(url, "/v1/experiments/shop/decisions?order=desc&limit=1", key))[0]
    assert first["decision_id"] == everything[-1] and first["reward"] == 1.0
    # the oldest-first pages still work as before
    asc = get(url, "/v1/experiments/shop/decisions?limit=46", key)
    assert [r["decision_id"] for r in rows(asc)] == everything
    # a full last page says there is no next one; a page short of the end says there is
    assert "x-next-after" not in asc.headers
    short = get(url, "/v1/experiments/shop/decisions?limit=45", key)
    assert short.headers["x-next-after"] == everything[44]


def test_a_page_of_one_generation_or_one_chat(server: Any) -> None:
    url, key, service = server
    pseudonyms = store_pseudonyms(service.store)
    two, one = pseudonyms.scope("chat:2"), pseudonyms.scope("chat:1")
    one_chat = rows(get(url, f"/v1/experiments/chats/decisions?order=desc&scope={two}", key))
    # one chat's six decisions, named (by a read key) and shown by the chat's pseudonym
    assert len(one_chat) == 6 and {r["scope"] for r in one_chat} == {two}
    assert len(rows(get(url, f"/v1/experiments/chats/decisions?scope={one}", key))) == 4
    later = rows(get(url, "/v1/experiments/shop/decisions?order=desc&generation=1", key))
    assert later == []  # no decision in a generation that has not started


def test_cursors_bound_either_order(server: Any) -> None:
    url, key, service = server
    ids = [r.id for r in service.decisions("shop")]
    between = f"after={ids[10]}&before={ids[20]}"
    desc = rows(get(url, f"/v1/experiments/shop/decisions?order=desc&{between}", key))
    asc = rows(get(url, f"/v1/experiments/shop/decisions?{between}", key))
    assert [r["decision_id"] for r in asc] == ids[11:20]
    assert [r["decision_id"] for r in desc] == ids[11:20][::-1]
    unknown = get(url, "/v1/experiments/shop/decisions?order=desc&before=nope", key)
    assert unknown.status_code == 404 and "no decision of 'shop'" in unknown.json()["detail"]


def test_the_history_is_by_decision_count(server: Any) -> None:
    url, key, _ = server
    series = get(url, "/v1/experiments/shop/series?points=10", key).json()
    assert series["arms"] == ["a", "b", "c"] and series["generation"] == 0
    assert series["decisions"][-1] == 46 and len(series["decisions"]) == 10
    for j in range(10):  # each bin's allocation is a probability vector
        assert sum(series["allocation"][a][j] for a in "abc") == pytest.approx(1.0)
    assert sum(series["reward"][a][-1] for a in "abc") == 9 and series["answered"][-1] == 9
    chat = store_pseudonyms(server[2].store).scope("chat:1")
    one = get(url, f"/v1/experiments/chats/series?scope={chat}", key).json()
    assert one["decisions"][-1] == 4 and one["scope"] == chat
    assert get(url, "/v1/experiments/shop/series?scope=chat:1", key).status_code == 400


def test_the_report_says_which_arms_have_too_few_answers_and_their_place(
        server: Any) -> None:
    """What the results page shows from the server's rule, not its own: an arm whose
    estimate rests on fewer than 10 answers (no point, an interval over most of the range)
    says so, and each arm has its place in the experiment's arm list (its colour)."""
    url, key, _ = server
    arms = get(url, "/v1/experiments/shop/report", key).json()["arms"]
    assert [(a["arm"], a["position"]) for a in arms] == [("a", 0), ("b", 1), ("c", 2)]
    answered = [a for a in arms if a["answered"]]  # 9 answers in all
    assert answered and all(a["too_few_answers"] and a["estimate"] is None
                            and a["estimate_low"] is not None for a in answered), answered


def test_the_policies_an_admin_can_pick(server: Any) -> None:
    url, key, _ = server
    policies = {p["name"]: p for p in get(url, "/v1/policies", key).json()}
    assert policies["epsilon-greedy"]["params"]["epsilon"] == 0.1
    assert "thompson" in policies and policies["thompson"]["summary"]
    assert get(url, "/v1/policies").status_code == 401


def test_docs_and_icons_are_served_from_the_package(server: Any) -> None:
    url, _, _ = server
    docs = get(url, "/docs")
    assert docs.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", docs.text)
    assert assets and all(a.startswith("/") for a in assets), assets  # no CDN
    for asset in assets:
        assert get(url, asset).status_code == 200, asset
    assert get(url, "/openapi.json").json()["info"]["title"] == "banditbot"
    icon = get(url, "/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert get(url, "/static/swagger/LICENSE").status_code == 404  # only web assets
    assert get(url, "/static/../_app.py").status_code == 404


class _CountingStore(SQLiteStore):
    """A SQLite store that counts the decisions its scans hand out."""

    read = 0

    def iter_decisions(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for record in super().iter_decisions(*args, **kwargs):
            self.read += 1
            yield record


def test_a_newest_first_page_of_a_busy_log_reads_about_a_page(tmp_path: Path) -> None:
    """A dashboard refresh after a burst of 3,000 decisions (10,000 a second, as a load
    test makes them): the first page and the next one read a few times their size, not the
    whole burst (a walkthrough measured 0.5–0.8 s a page on such a log)."""
    clock = FakeClock(1_700_000_000.0)
    store = _CountingStore(tmp_path / "busy.db")
    store.init()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(6),
                            clock=clock)
    with store.batch():
        for i in range(3000):
            clock.advance(0.0001)
            service.decide("shop", f"u{i}")
    everything = [r.id for r in service.decisions("shop")]
    app = create_app(service)
    key = app.state.keys.create("reader", "read")[0]
    with ServerThread(app) as url:
        store.read = 0
        first = get(url, "/v1/experiments/shop/decisions?order=desc&limit=20", key)
        assert [r["decision_id"] for r in rows(first)] == everything[::-1][:20]
        assert store.read <= 20 * 16, store.read  # a look back of ≤ 4 windows of growth
        store.read = 0
        cursor = first.headers["x-next-before"]
        second = get(url, f"/v1/experiments/shop/decisions?order=desc&limit=20"
                          f"&before={cursor}", key)
        assert [r["decision_id"] for r in rows(second)] == everything[::-1][20:40]
        assert store.read <= 20 * 16, store.read  # nothing newer than the cursor is read
        # the oldest decision, a page deep in the log, is still found
        deep = get(url, f"/v1/experiments/shop/decisions?order=desc&limit=1"
                        f"&before={everything[1]}", key)
        assert [r["decision_id"] for r in rows(deep)] == everything[:1]
    store.close()
