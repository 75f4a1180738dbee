"""The HTTP API through real HTTP (uvicorn on 127.0.0.1): every status path, auth, limits,
metrics, health; a web app can run a whole experiment with the API alone."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from banditbot import BanditService, PayloadError, SQLiteStore, parse_config
from banditbot.api import _scopes, create_app
from banditbot.offline import store_pseudonyms
from banditbot.service import ApiKey, KeyRing, hash_key
from banditbot.stores import DecisionRecord

from ..conftest import CONFIG, FakeClock
from ..http_client import HTTP
from ..telegram_double import ServerThread

CONFIG_KEY = "bb_config-key-for-tests-0123456789"
KEY_CLOCK = FakeClock()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], BanditService]]:
    cfg = {**CONFIG, "api_keys": [{"name": "from-config", "role": "read",
                                   "sha256": hash_key(CONFIG_KEY)}]}
    cfg["experiments"] = [*CONFIG["experiments"], {
        "id": "sticky", "sticky_seconds": 3600,
        "arms": [{"id": a, "content": a} for a in ("x", "y", "z")]}]
    store = SQLiteStore(tmp_path / "api.db")
    store.init()
    service = BanditService(parse_config(cfg), store, rng=np.random.default_rng(1))
    ring = KeyRing(store, service.config.api_keys, clock=KEY_CLOCK)
    app = create_app(service, cors_origins=["https://app.example.org"], keys=ring)
    keys = {role: ring.create(f"{role}-key", role)[0] for role in ("read", "decide", "admin")}
    with ServerThread(app) as url:
        yield url, keys, service


def call(url: str, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
    headers = kw.pop("headers", {})
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return HTTP.request(method, url + path, headers=headers, timeout=kw.pop("timeout", 30),
                        **kw)


def test_a_web_app_runs_an_experiment_with_the_api_alone(api: Any) -> None:
    url, keys, _service = api
    app_key = keys["decide"]
    rng = np.random.default_rng(4)
    truth = {"a": 0.1, "b": 0.7, "c": 0.3, "d": 0.2}
    for i in range(60):
        r = call(url, "POST", "/v1/experiments/ts/decisions", app_key,
                 json={"subject": f"visitor-{i}", "context": {"page": "home", "hour": 9}})
        assert r.status_code == 201
        d = r.json()
        assert d["content"] == f"variant {d['arm']}" and 0 < d["propensity"] <= 1
        assert sum(d["probabilities"].values()) == pytest.approx(1.0)
        value = int(rng.random() < truth[d["arm"]])
        ok = call(url, "POST", f"/v1/decisions/{d['decision_id']}/reward", app_key,
                  json={"value": value, "subject": f"visitor-{i}"})
        assert ok.status_code == 200 and ok.json()["status"] == "applied"
    report = call(url, "GET", "/v1/experiments/ts/report", keys["read"]).json()
    assert report["total_pulls"] == 60 and report["total_answered"] == 60
    leader = max(report["arms"], key=lambda a: a["p_best"])
    assert leader["arm"] == "b"


def test_a_trailing_slash_on_decide_and_reward_is_answered_not_redirected(api: Any) -> None:
    """A trial's client posted to `.../decisions/` and got a 307 with no body (a client
    that does not follow redirects of a POST read an empty answer): both hot routes answer
    with a trailing slash as without it."""
    url, keys, _service = api
    r = call(url, "POST", "/v1/experiments/ts/decisions/", keys["decide"],
             json={"subject": "slash"})
    assert r.status_code == 201 and r.json()["arm"] in "abcd"
    ok = call(url, "POST", f"/v1/decisions/{r.json()['decision_id']}/reward/", keys["decide"],
              json={"value": 1, "subject": "slash"})
    assert ok.status_code == 200 and ok.json()["status"] == "applied"


def test_report_and_timeline_of_one_chats_bandit(api: Any) -> None:
    url, keys, _ = api
    for chat in ("100", "100", "100", "200"):
        r = call(url, "POST", "/v1/experiments/perchat/decisions", keys["decide"],
                 json={"subject": "u", "chat": chat})
        assert r.status_code == 201
    base = "/v1/experiments/perchat"
    # a read key names a chat as the log does (by pseudonym); an admin key may use its id
    pseudonym = {c: store_pseudonyms(_.store).scope(f"chat:{c}") for c in ("100", "200")}
    mine = call(url, "GET", f"{base}/report", keys["read"],
                params={"scope": pseudonym["100"]}).json()
    assert mine["scope"] == pseudonym["100"] and mine["total_pulls"] == 3
    by_id = call(url, "GET", f"{base}/report?scope=chat:100", keys["admin"]).json()
    assert by_id["scope"] == "chat:100" and by_id["total_pulls"] == 3
    assert call(url, "GET", f"{base}/report", keys["read"]).json()["total_pulls"] == 4
    other = call(url, "GET", f"{base}/timeline", keys["read"],
                 params={"scope": pseudonym["200"]}).json()
    assert sum(sum(v) for v in other["counts"].values()) == 1
    wrong = call(url, "GET", f"{base}/report?scope=subject:u", keys["read"])
    assert wrong.status_code == 400 and "use chat:ID" in wrong.json()["hint"]
    # the decision list says so too (it answered an empty page)
    listed = call(url, "GET", f"{base}/decisions?scope=subject:u", keys["read"])
    assert listed.status_code == 400 and "use chat:ID" in listed.json()["hint"]
    shared = call(url, "GET", "/v1/experiments/seed/decisions?scope=chat:1", keys["read"])
    assert shared.status_code == 400 and "leave the scope out" in shared.json()["hint"]
    assert len(call(url, "GET", f"{base}/decisions", keys["read"],
                    params={"scope": pseudonym["100"]}).text.splitlines()) == 3
    assert call(url, "GET", f"{base}/report?scope=nonsense", keys["read"]).status_code == 422
    assert call(url, "GET", f"{base}/report?scope=chat:", keys["read"]).status_code == 422
    # an id is any text but control characters (an app's chat names have spaces, non-ASCII
    # letters, a line separator that one regex engine or another reads as a line break)
    r = call(url, "POST", "/v1/experiments/perchat/decisions", keys["decide"],
             json={"subject": "u", "chat": "team a\u2028ü"})
    assert r.status_code == 201
    named = call(url, "GET", f"{base}/report", keys["admin"],
                 params={"scope": "chat:team a\u2028ü"})
    assert named.status_code == 200 and named.json()["total_pulls"] == 1


@pytest.mark.parametrize("route", ["report", "report?by=plan", "timeline", "series",
                                   "decisions", "allocations"])
def test_a_read_key_is_no_oracle_from_telegram_ids_to_pseudonyms(api: Any,
                                                                  route: str) -> None:
    """A review: a read key asked for ``?scope=chat:<a Telegram id>`` and the answer (the
    rows, the periods) named that id's pseudonym, so any id could be tied to its rows in
    the log. A key below admin names a bandit by the pseudonym the answers show; a raw id
    is refused with the same words whether or not it has a bandit, and the pseudonym's
    answer carries no raw id."""
    url, keys, service = api
    for chat, n in (("-1009876543210", 3), ("555000111", 1)):
        for _ in range(n):
            d = service.decide("perchat", "987654321", {"plan": "pro"}, chat=chat)
            service.reward(d.id, 1, "987654321")
    pseudonym = store_pseudonyms(service.store).scope("chat:-1009876543210")
    path = f"/v1/experiments/perchat/{route}"
    params = {"by": "plan"} if route.endswith("by=plan") else {}
    path = path.split("?")[0]
    refusals = []
    for raw in ("chat:-1009876543210", "chat:-1001111111111"):  # a bandit, and none
        refused = call(url, "GET", path, keys["read"], params={**params, "scope": raw})
        assert refused.status_code == 400, refused.text
        assert pseudonym.split(":")[1] not in refused.text
        assert "pseudonym" in refused.json()["hint"] and "admin key" in refused.json()["hint"]
        refusals.append(refused.json()["hint"])
    assert refusals[0] == refusals[1]
    for key in (keys["read"], keys["decide"]):
        named = call(url, "GET", path, key, params={**params, "scope": pseudonym})
        assert named.status_code == 200, named.text
        assert "1009876543210" not in named.text and "987654321" not in named.text
    # the admin's view of the bandit by its id is the reader's by its pseudonym
    admin = call(url, "GET", path, keys["admin"], params={**params,
                                                           "scope": "chat:-1009876543210"})
    assert admin.status_code == 200
    if route == "report":
        assert admin.json()["total_pulls"] == named.json()["total_pulls"] == 3


class CountingStore(SQLiteStore):
    """A store that counts the decision rows its scans hand out."""

    rows = 0

    def iter_fields(self, *args: Any, **kw: Any) -> Iterator[tuple[Any, ...]]:
        for row in super().iter_fields(*args, **kw):
            self.rows += 1
            yield row

    def iter_decisions(self, *args: Any, **kw: Any) -> Iterator[DecisionRecord]:
        for record in super().iter_decisions(*args, **kw):
            self.rows += 1
            yield record


def test_a_made_up_pseudonym_costs_a_read_of_what_was_logged_since(tmp_path: Path) -> None:
    """A review: every ``?scope=`` pseudonym that named no bandit read the scope of every
    decision of every generation (a second a miss on a 1M-decision log: a read key sending
    made-up pseudonyms was a cheap denial of service). The first lookup reads the log once;
    a miss after it reads what was logged since (the newest seconds again, for a decision
    committed late), and a chat that first decides later, or after a reset, is found."""
    store = CountingStore(tmp_path / "count.db")
    store.init()
    clock = FakeClock()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(2),
                            clock=clock)
    ring = KeyRing(store, (), clock=KEY_CLOCK)
    read = ring.create("reader", "read")[0]
    for i in range(40):
        service.decide("perchat", f"u{i}", chat=str(i % 4))
        clock.advance(60)
    pseudonyms = store_pseudonyms(store)
    base = "/v1/experiments/perchat/report"
    with ServerThread(create_app(service, keys=ring)) as url:
        def rows_read(made_up: str) -> int:
            before = store.rows
            r = call(url, "GET", base, read, params={"scope": made_up})
            assert r.status_code == 400 and "not the pseudonym" in r.text, r.text
            return store.rows - before

        def pulls(chat: str) -> int:
            r = call(url, "GET", base, read, params={"scope": pseudonyms.scope(chat)})
            assert r.status_code == 200, r.text
            return int(r.json()["total_pulls"])

        assert rows_read("chat:0123456789abcdef") == 40  # the first: the whole log
        for made_up in ("chat:fedcba9876543210", "chat:00000000000000ff"):
            assert rows_read(made_up) <= 1  # the newest decision again, at most
        assert pulls("chat:3") == 10
        service.decide("perchat", "new", chat="-100777")
        assert pulls("chat:-100777") == 1
        assert rows_read("chat:0123456789abcdef") <= 2
        service.reset("perchat")
        clock.advance(60)
        service.decide("perchat", "later", chat="-100888")
        assert pulls("chat:-100888") == 1
        assert rows_read("chat:0123456789abcdef") <= 1


def test_an_experiment_with_more_chats_than_the_map_keeps_is_read_once_a_minute(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pseudonym maps are bounded: an experiment with more chats than they keep is not
    mapped; its pseudonyms are still found (one found before, again within the minute), and
    made-up ones read its log once a minute at most (not once each)."""
    monkeypatch.setattr(_scopes, "_SCOPES_LIMIT", 3)
    store = CountingStore(tmp_path / "big.db")
    store.init()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(3))
    read = ApiKey(name="reader", role="read", sha256="0" * 64)
    for chat in range(5):
        service.decide("perchat", "u", chat=str(chat))
    named = store_pseudonyms(store).scope("chat:4")
    assert _scopes.stored_scope(service, "perchat", named, read) == "chat:4"
    before = store.rows
    for made_up in ("chat:fedcba9876543210", "chat:00000000000000ff"):
        with pytest.raises(PayloadError, match="not the pseudonym"):
            _scopes.stored_scope(service, "perchat", made_up, read)
    # within that minute, the chat found before is still answered (a results page watching
    # it refreshes), with no read
    assert _scopes.stored_scope(service, "perchat", named, read) == "chat:4"
    assert store.rows == before


class SlowStore(CountingStore):
    """A counting store whose scans take their time to start (a long log's read)."""

    def iter_fields(self, *args: Any, **kw: Any) -> Iterator[tuple[Any, ...]]:
        time.sleep(0.2)
        yield from super().iter_fields(*args, **kw)


def _per_chat(store: Any, seed: int, decisions: int, chats: int) -> BanditService:
    """A service (a fake clock, ``seed``) on ``store``, initialized, after ``decisions`` of
    ``perchat`` spread over ``chats`` chats, a minute apart."""
    store.init()
    clock = FakeClock()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(seed),
                            clock=clock)
    for i in range(decisions):
        service.decide("perchat", f"u{i}", chat=str(i % chats))
        clock.advance(60)
    return service


def test_made_up_pseudonyms_at_once_read_the_log_once(tmp_path: Path) -> None:
    """A review: eight made-up pseudonyms sent together, before any map, each read the
    whole log (a read key's cheap denial of service, once a minute on a large
    experiment). The first reads it; the others wait for its map and read what came since
    (the newest decision again, at most)."""
    store = SlowStore(tmp_path / "slow.db")
    service = _per_chat(store, 4, 40, 4)
    read = ApiKey(name="reader", role="read", sha256="0" * 64)
    start = threading.Barrier(8)
    refused: list[str] = []

    def ask(i: int) -> None:
        start.wait()
        try:
            _scopes.stored_scope(service, "perchat", f"chat:{i:016x}", read)
        except PayloadError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(refused) == 8
    assert store.rows <= 40 + 7  # one whole read, then at most the newest row each


def test_an_experiment_too_large_to_map_leaves_the_other_maps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: the map of an experiment with more scopes than the maps keep was put in
    as the newest and pushed out every other map before itself, so their next miss read
    their whole log again, once a minute. It is not kept; the others stay."""
    monkeypatch.setattr(_scopes, "_SCOPES_LIMIT", 3)
    read = ApiKey(name="reader", role="read", sha256="0" * 64)
    small = CountingStore(tmp_path / "small.db")
    mapped = _per_chat(small, 5, 6, 2)
    named = store_pseudonyms(small).scope("chat:1")
    assert _scopes.stored_scope(mapped, "perchat", named, read) == "chat:1"
    big = SQLiteStore(tmp_path / "big.db")
    big.init()
    large = BanditService(parse_config(CONFIG), big, rng=np.random.default_rng(6))
    for chat in range(5):
        large.decide("perchat", "u", chat=str(chat))
    with pytest.raises(PayloadError):
        _scopes.stored_scope(large, "perchat", "chat:fedcba9876543210", read)
    before = small.rows
    with pytest.raises(PayloadError):
        _scopes.stored_scope(mapped, "perchat", "chat:fedcba9876543210", read)
    assert small.rows - before <= 1  # the newest decision again, not the whole log


def test_reward_status_paths(api: Any) -> None:
    url, keys, _ = api
    key = keys["decide"]
    d = call(url, "POST", "/v1/experiments/seed/decisions", key,
             json={"subject": "alice"}).json()
    path = f"/v1/decisions/{d['decision_id']}/reward"
    bad = call(url, "POST", path, key, json={"value": 7, "subject": "alice"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["title"] == "invalid reward"
    eve = call(url, "POST", path, key, json={"value": 1, "subject": "eve"})
    assert eve.status_code == 403 and "the subject the decision was made for" in eve.json()["hint"]
    assert call(url, "POST", path, key, json={"value": 1, "subject": "alice"}).status_code == 200
    dup = call(url, "POST", path, key, json={"value": 1, "subject": "alice"})
    assert dup.status_code == 409 and dup.json()["status"] == "duplicate"
    unknown = call(url, "POST", "/v1/decisions/Q3aJiitbXNC3XZ6BxPAlUw/reward", key,
                   json={"value": 1, "subject": "alice"})
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no decision has that id"
    assert "decision_id that POST" in unknown.json()["hint"]
    # JSON true is 👍 on a binary reward, and no rating at all (it was stored as 1 ★)
    liked = call(url, "POST", "/v1/experiments/seed/decisions", key, json={"subject": "bob"})
    assert liked.json()["kind"] == "policy"  # or holdout / sticky: what the log will say
    got = call(url, "POST", f"/v1/decisions/{liked.json()['decision_id']}/reward", key,
               json={"value": True, "subject": "bob"})
    assert got.status_code == 200 and got.json()["value"] == 1.0
    rated = call(url, "POST", "/v1/experiments/rating/decisions", key, json={"subject": "bob"})
    refused = call(url, "POST", f"/v1/decisions/{rated.json()['decision_id']}/reward", key,
                   json={"value": True, "subject": "bob"})
    assert refused.status_code == 422 and "true is not a number" in refused.json()["detail"]
    # null or a list: one plain message, not the first union member's "value.bool: Input
    # should be a valid boolean"
    for value in (None, [1], {"v": 1}):
        odd = call(url, "POST", f"/v1/decisions/{rated.json()['decision_id']}/reward", key,
                   json={"value": value, "subject": "bob"})
        assert odd.status_code == 422, value
        assert odd.json()["detail"] == \
            "value: the reward is a number (1/0 or true/false for 👍/👎)", value


def test_auth_no_key_wrong_role_revoked_key(api: Any) -> None:
    url, keys, service = api
    none = call(url, "GET", "/v1/experiments")
    assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
    assert none.json()["title"] == "unauthorized"  # short phrases, never a class name
    assert call(url, "GET", "/v1/experiments", "bb_not-a-real-key").status_code == 401
    assert call(url, "GET", "/v1/experiments", CONFIG_KEY).status_code == 200  # config key
    assert call(url, "GET", "/v1/experiments", keys["read"],
                headers={"X-API-Key": keys["read"]}).status_code == 200
    # read keys cannot decide, decide keys cannot administer
    assert call(url, "POST", "/v1/experiments/seed/decisions", keys["read"],
                json={"subject": "u"}).status_code == 403
    wrong = call(url, "POST", "/v1/experiments/seed/cheat", keys["decide"],
                 json={"arm": "arm1", "rewards": "11"})
    assert wrong.status_code == 403 and "admin" in wrong.json()["detail"]
    assert wrong.json()["title"] == "not allowed"
    assert "keys create --name NAME --role admin" in wrong.json()["hint"]
    assert service.report("seed").total_answered == 0
    # a revoked key stops working once the key cache expires (two seconds at most)
    KeyRing(service.store).revoke("read-key")
    assert call(url, "GET", "/v1/experiments", keys["read"]).status_code == 200  # cached
    KEY_CLOCK.advance(2.1)
    assert call(url, "GET", "/v1/experiments", keys["read"]).status_code == 401


def test_admin_operations(api: Any) -> None:
    url, keys, service = api
    key = keys["admin"]
    assert call(url, "POST", "/v1/experiments/seed/cheat", key,
                json={"arm": "arm1", "rewards": "1101"}).status_code == 200
    assert call(url, "PUT", "/v1/experiments/seed/arms/arm2/prior", key,
                json={"alpha": 3, "beta": 1}).status_code == 200
    assert call(url, "PUT", "/v1/experiments/seed/policy", key,
                json={"name": "thompson", "params": {"alpha": 2}}).json()["detail"].startswith(
        "seed now uses thompson(alpha=2")
    # the same policy again: said, and not recorded as a switch (the history showed
    # "→ epsilon-greedy 10:38 → epsilon-greedy 10:38 (now)")
    again = call(url, "PUT", "/v1/experiments/seed/policy", key,
                 json={"name": "thompson", "params": {"alpha": 2}})
    assert again.status_code == 200 and "seed already uses thompson(alpha=2" in \
        again.json()["detail"] and "nothing changed" in again.json()["detail"]
    assert len(service.store.admin_log("seed", actions=frozenset({"policy"}))) == 1
    assert call(url, "POST", "/v1/experiments/seed/arms", key,
                json={"id": "arm3", "content": "Arm 3"}).status_code == 201
    assert call(url, "POST", "/v1/experiments/seed/cheat", key,
                json={"arm": "arm3", "rewards": "1"}).json()["detail"] == "added 1 reward to arm3"
    assert call(url, "DELETE", "/v1/experiments/seed/arms/arm1", key).status_code == 200
    # a retired arm takes no rewards by hand nor a prior (they were accepted and counted)
    refused = call(url, "POST", "/v1/experiments/seed/cheat", key,
                   json={"arm": "arm1", "rewards": "1"})
    assert refused.status_code == 422 and "'arm1' of 'seed' is retired" in \
        refused.json()["detail"] and "banditbot arms add seed arm1" in refused.json()["hint"]
    assert refused.json()["title"] == "not possible"  # (it was "invalid config": a trial)
    # a rating takes numbers, quoted or not (a review: "1" had become true, then refused),
    # and refuses true (a trial: it was the rating 1)
    rated = call(url, "POST", "/v1/experiments/rating/cheat", key,
                 json={"arm": "x", "rewards": ["4", 5]})
    assert rated.status_code == 200 and rated.json()["detail"] == "added 2 rewards to x"
    assert call(url, "POST", "/v1/experiments/rating/cheat", key,
                json={"arm": "x", "rewards": [True]}).status_code == 422
    refused = call(url, "PUT", "/v1/experiments/seed/arms/arm1/prior", key,
                   json={"alpha": 3, "beta": 1})
    assert refused.status_code == 422 and "is retired" in refused.json()["detail"]
    exp = call(url, "GET", "/v1/experiments/seed", key).json()
    assert exp["active_arms"] == ["arm2", "arm3"] and exp["policy"].startswith("thompson")
    assert exp["propensity"] == "exact"  # how its decisions log their propensities
    rep = call(url, "GET", "/v1/experiments/seed/report", key).json()
    arms = {a["arm"]: a for a in rep["arms"]}
    assert arms["arm1"]["answered"] == 4 and arms["arm2"]["prior"] == [3.0, 1.0]
    assert call(url, "POST", "/v1/experiments/seed/reset", key,
                json={"keep_priors": False}).json()["detail"] == "generation 1"
    bad = call(url, "PUT", "/v1/experiments/seed/policy", key,
               json={"name": "epsilon-greedy", "params": {"epsilon": 9}})
    assert bad.status_code == 422 and bad.json()["hint"]
    assert call(url, "POST", "/v1/experiments/seed/cheat", key,
                json={"arm": "nope", "rewards": "1"}).status_code == 404
    actors = {r.actor for r in service.store.admin_log("seed")}
    assert actors == {"api:admin-key"}


def test_the_audit_log_says_who_did_what_and_only_to_admins(api: Any) -> None:
    """Every admin action was recorded, but nothing read the record back (a trial found
    no way to see it): GET /v1/admin-log, newest first, narrowed by experiment and action."""
    url, keys, service = api
    key = keys["admin"]
    call(url, "POST", "/v1/experiments/seed/cheat", key, json={"arm": "arm1", "rewards": "10"})
    call(url, "PUT", "/v1/experiments/seed/arms/arm2/prior", key, json={"alpha": 3, "beta": 1})
    service.reset("ts", actor="cli")
    log = call(url, "GET", "/v1/admin-log", key)
    assert log.status_code == 200
    assert [(e["actor"], e["experiment"], e["action"]) for e in log.json()] == [
        ("cli", "ts", "reset"), ("api:admin-key", "seed", "prior"),
        ("api:admin-key", "seed", "cheat")]
    assert log.json()[1]["details"] == "arm=arm2 alpha=3 beta=1"
    assert log.json()[0]["time"].endswith("+00:00")
    seed = call(url, "GET", "/v1/admin-log?experiment=seed&action=cheat&limit=5", key).json()
    assert [e["action"] for e in seed] == ["cheat"]
    assert call(url, "GET", "/v1/admin-log", keys["read"]).status_code == 403
    assert call(url, "GET", "/v1/admin-log?experiment=nope", key).status_code == 404
    # an experiment since removed from the experiments file keeps its audit log
    service.audit("cli", "retired-greeting", "reset", "generation=1")
    gone = call(url, "GET", "/v1/admin-log?experiment=retired-greeting", key)
    assert gone.status_code == 200 and [e["action"] for e in gone.json()] == ["reset"]
    none = call(url, "GET", "/v1/admin-log?experiment=retired-greeting&action=cheat", key)
    assert none.status_code == 200 and none.json() == []  # known to the log: no 404
    bad = call(url, "GET", "/v1/admin-log?action=bogus", key)
    assert bad.status_code == 422 and "reset" in bad.text


def test_reads_exports_and_paging(api: Any) -> None:
    url, keys, service = api
    for i in range(7):
        d = service.decide("ts", f"s{i}")
        service.reward(d.id, i % 2, f"s{i}")
    key = keys["read"]
    listing = call(url, "GET", "/v1/experiments", key).json()
    assert {e["id"] for e in listing} >= {"seed", "ts", "rating"}
    assert call(url, "GET", "/v1/experiments/ts/config", key).json()["policy"]["name"] == \
        "thompson"
    nope = call(url, "GET", "/v1/experiments/nope", key)
    assert nope.status_code == 404 and nope.json()["title"] == "unknown experiment"
    route = call(url, "GET", "/v1/no-such-route", key)
    assert route.status_code == 404 and route.json()["title"] == "not found"
    page1 = call(url, "GET", "/v1/experiments/ts/decisions?limit=4", key)
    rows = [json.loads(line) for line in page1.text.splitlines()]
    assert len(rows) == 4 and page1.headers["content-type"] == "application/x-ndjson"
    page2 = call(url, "GET", "/v1/experiments/ts/decisions?limit=4&after="
                 + page1.headers["x-next-after"], key)
    rows2 = [json.loads(line) for line in page2.text.splitlines()]
    assert len(rows2) == 3 and "x-next-after" not in page2.headers
    assert {r["decision_id"] for r in rows}.isdisjoint({r["decision_id"] for r in rows2})
    # JSON Lines are JSON all the way down: lists and the context object, not text in text
    first = rows[0]
    assert first["arms"] == list(service.active_arms("ts"))
    assert len(first["probabilities"]) == len(first["arms"])
    assert sum(first["probabilities"]) == pytest.approx(1.0)
    assert first["propensity"] == first["probabilities"][first["arms"].index(first["arm"])]
    assert first["context"] is None and not any(k.startswith("ctx_") for k in first)
    # an empty cursor (a client's template with nothing filled in) is the first page
    empty = call(url, "GET", "/v1/experiments/ts/decisions?limit=4&after=", key)
    assert [json.loads(line) for line in empty.text.splitlines()] == rows
    csv_page = call(url, "GET", "/v1/experiments/ts/decisions?format=csv", key)
    assert csv_page.text.splitlines()[0].startswith("decision_id,created_at")
    assert len(csv_page.text.splitlines()) == 8
    timeline = call(url, "GET", "/v1/experiments/ts/timeline?bins=3", key).json()
    assert sum(sum(v) for v in timeline["counts"].values()) == 7
    with_context = service.decide("ts", "s9", {"hour": 9, "lang": "de"})
    tail = call(url, "GET", "/v1/experiments/ts/decisions?after="
                + rows2[-1]["decision_id"], key)
    (row,) = [json.loads(line) for line in tail.text.splitlines()]
    assert row["decision_id"] == with_context.id and row["context"] == {"hour": 9, "lang": "de"}
    # no reward yet: null, as the reward itself (it was "", as a CSV cell); once rewarded,
    # the time; the scope "" is the experiment's one shared bandit, as stored
    assert row["reward"] is None and row["rewarded_at"] is None and row["scope"] == ""
    assert first["reward"] in (0, 1) and first["rewarded_at"].endswith("+00:00")
    # CSV pages share one header (one page with a context had a ctx_* column more, and the
    # dashboard's download, which joins pages, stopped at the first page that differed)
    first_csv = call(url, "GET", "/v1/experiments/ts/decisions?format=csv&limit=4", key)
    second_csv = call(url, "GET", "/v1/experiments/ts/decisions?format=csv&limit=4&after="
                      + first_csv.headers["x-next-after"], key)
    header = first_csv.text.splitlines()[0]
    assert second_csv.text.splitlines()[0] == header and "ctx_" not in header
    assert '"{""hour"": 9, ""lang"": ""de""}"' in second_csv.text


def test_sticky_assignment(api: Any) -> None:
    url, keys, _ = api
    key = keys["decide"]
    first = call(url, "POST", "/v1/experiments/sticky/decisions", key,
                 json={"subject": "same-user", "sticky": True}).json()
    for _ in range(5):
        again = call(url, "POST", "/v1/experiments/sticky/decisions", key,
                     json={"subject": "same-user", "sticky": True}).json()
        assert again["arm"] == first["arm"] and again["propensity"] == 1.0
    no_sticky = call(url, "POST", "/v1/experiments/seed/decisions", key,
                     json={"subject": "u", "sticky": True})
    assert no_sticky.status_code == 422 and "sticky_seconds" in no_sticky.json()["hint"]


@pytest.mark.parametrize(("body", "says"), [
    ({"subject": ""}, "subject"),
    ({"subject": "u", "extra": 1}, "extra"),
    ({"subject": "u" * 200}, "subject"),
    # each context problem named as it is (a union's error said "should be a boolean")
    ({"subject": "u", "context": {"k": [1, 2]}}, "no lists or objects"),
    ({"subject": "u", "context": {"k": {"x": 1}}}, "no lists or objects"),
    ({"subject": "u", "context": {"k": None}}, "null is not a value"),
    ({"subject": "u", "context": {"k": "x" * 300}}, "text is limited to 256 characters"),
    ({"subject": "u", "context": {"k": 1e16}}, "finite and within"),
    ({"subject": "u", "context": {f"k{i}": i for i in range(40)}}, "at most 32"),
    ("[1, 2]", "object"),  # JSON, but not an object
])
def test_decision_bodies_are_validated(api: Any, body: Any, says: str) -> None:
    url, keys, service = api
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    r = call(url, "POST", "/v1/experiments/seed/decisions", keys["decide"], **kwargs,
             headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert says in r.json()["detail"] and "bool" not in r.json()["detail"], r.json()
    assert list(service.decisions("seed")) == []


def test_a_body_that_is_not_json_is_a_400_that_says_how_to_send_one(api: Any) -> None:
    """A trial's truncated body ('{"subject": "a",') was a 422 "invalid body", the answer
    for JSON that breaks a field's rule; JSON that does not parse is a bad request."""
    url, keys, service = api
    decided = call(url, "POST", "/v1/experiments/seed/decisions", keys["decide"],
                   json={"subject": "u"}).json()
    for path, key in (("/v1/experiments/seed/decisions", keys["decide"]),
                      (f"/v1/decisions/{decided['decision_id']}/reward", keys["decide"]),
                      ("/v1/experiments/seed/cheat", keys["admin"])):
        r = call(url, "POST", path, key, content='{"subject": "u",',
                 headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (path, r.text)
        problem = r.json()
        assert r.headers["content-type"] == "application/problem+json"
        assert problem["title"] == "malformed JSON", problem
        # the same words on every route (the hot path gave pydantic's own)
        assert problem["detail"] == "the body is not JSON (at character 17)", problem
        assert problem["hint"].startswith("send a JSON object"), problem
    (logged,) = service.decisions("seed")
    assert logged.reward is None  # the reward's broken body counted nothing
    # a form (curl -d without a content type) names the type it came as (a trial: "the
    # body is not JSON (at character 1)" and no word of it)
    form = call(url, "POST", "/v1/experiments/seed/decisions", keys["decide"],
                content="subject=u",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400
    assert form.json()["detail"] == ("the body is not JSON (at character 1), and it was sent "
                                     "as application/x-www-form-urlencoded"), form.json()
    assert "Content-Type: application/json" in form.json()["hint"]
    # the admin routes, likewise, whatever the body's content type, and with no body (a
    # review: 422 "Field required" or "Input should be a valid dictionary")
    for content, headers, says in (
            ('{"arm": "arm1",', {"Content-Type": "text/plain"}, "not read as JSON"),
            ('{"arm": "arm1",', {}, "not read as JSON"),
            ("", {"Content-Type": "application/json"}, "has no body"),
            ('{"arm": "arm1",', {"Content-Type": "application/json"},
             "the body is not JSON (at character 16)")):
        r = call(url, "POST", "/v1/experiments/seed/cheat", keys["admin"], content=content,
                 headers=headers)
        assert r.status_code == 400 and says in r.json()["detail"], (content, r.text)
    fine = call(url, "POST", "/v1/experiments/seed/cheat", keys["admin"],
                json={"arm": "arm1", "rewards": [1]})
    assert fine.status_code == 200
    for shape in ([1], "arm1", 42):  # JSON, but not the object the route takes (a review:
        # a JSON string was told it was "not read as JSON")
        wrong_shape = call(url, "POST", "/v1/experiments/seed/cheat", keys["admin"],
                           json=shape)
        assert wrong_shape.status_code == 422, (shape, wrong_shape.text)


def test_oversize_bodies_are_refused(api: Any) -> None:
    url, keys, service = api
    big = {"subject": "u", "context": {"k": "x" * 70_000}}
    r = call(url, "POST", "/v1/experiments/seed/decisions", keys["decide"], json=big)
    assert r.status_code == 413 and r.json()["title"] == "payload too large"
    assert list(service.decisions("seed")) == []


def test_health_readiness_metrics_cors_and_request_ids(api: Any) -> None:
    url, keys, _service = api
    assert call(url, "GET", "/healthz").json() == {"status": "ok"}
    # a load balancer's HEAD probe (it was 405)
    assert [call(url, "HEAD", p).status_code for p in ("/healthz", "/readyz")] == [200, 200]
    # a 405 lists the methods the path takes (a trial: an empty Allow header)
    for method, path, allow in (("DELETE", "/healthz", "GET, HEAD"),
                                ("GET", "/v1/decisions/x/reward", "POST"),
                                ("OPTIONS", "/v1/experiments", "GET"),
                                ("HEAD", "/v1/experiments", "GET")):
        refused = call(url, method, path, keys["read"])
        assert (refused.status_code, refused.headers.get("allow")) == (405, allow), path
    assert call(url, "GET", "/readyz").json() == {"status": "ready", "store": "sqlite"}
    d = call(url, "POST", "/v1/experiments/seed/decisions", keys["decide"],
             json={"subject": "m"}, headers={"X-Request-ID": "trace-123"})
    assert d.headers["x-request-id"] == "trace-123"
    call(url, "POST", f"/v1/decisions/{d.json()['decision_id']}/reward", keys["decide"],
         json={"value": 1, "subject": "m"})
    text = call(url, "GET", "/metrics").text
    arm = d.json()["arm"]
    assert f'banditbot_decisions_total{{arm="{arm}",experiment="seed"}} 1.0' in text
    assert f'banditbot_rewards_total{{arm="{arm}",experiment="seed"}} 1.0' in text
    assert 'banditbot_store_seconds_count{op="record_decision"}' in text
    assert "banditbot_reward_delay_seconds_bucket" in text
    # the hot routes are labelled with their templates, like every other route
    for route, status in (("/v1/experiments/{experiment}/decisions", "201"),
                          ("/v1/decisions/{decision_id}/reward", "200")):
        assert (f'banditbot_http_request_seconds_count{{method="POST",route="{route}",'
                f'status="{status}"}} 1.0') in text
    assert 'route="unmatched"' not in text
    pre = call(url, "OPTIONS", "/v1/experiments", headers={
        "Origin": "https://app.example.org", "Access-Control-Request-Method": "GET"})
    assert pre.headers["access-control-allow-origin"] == "https://app.example.org"
    other = call(url, "OPTIONS", "/v1/experiments", headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in other.headers
    # a browser app's decide and reward (the fast path) answer with the header too, and the
    # log's paging cursor is readable; a refusal is readable as well
    origin = {"Origin": "https://app.example.org"}
    made = call(url, "POST", "/v1/experiments/seed/decisions", keys["decide"],
                json={"subject": "w"}, headers=origin)
    assert made.status_code == 201
    assert made.headers["access-control-allow-origin"] == "https://app.example.org"
    for body, status in (({"value": 1, "subject": "w"}, 200), ({"value": 1, "subject": "w"},
                                                               409)):
        answer = call(url, "POST", f"/v1/decisions/{made.json()['decision_id']}/reward",
                      keys["decide"], json=body, headers=origin)
        assert answer.status_code == status
        assert answer.headers["access-control-allow-origin"] == "https://app.example.org"
    page = call(url, "GET", "/v1/experiments/seed/decisions?limit=1", keys["read"],
                headers=origin)
    assert "x-next-after" in page.headers["access-control-expose-headers"].lower()
    # a browser app may send an idempotency key, and read whether its decision was replayed
    keyed = call(url, "OPTIONS", "/v1/experiments/seed/decisions", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
    assert keyed.status_code == 200, keyed.text
    for _ in range(2):
        again = call(url, "POST", "/v1/experiments/seed/decisions", keys["decide"],
                     json={"subject": "w"}, headers={**origin, "Idempotency-Key": "tab-1"})
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" in again.headers["access-control-expose-headers"].lower()


def test_openapi_documents_the_api(api: Any) -> None:
    url, _, _ = api
    schema = call(url, "GET", "/openapi.json").json()
    paths = schema["paths"]
    for path in ("/v1/experiments/{experiment}/decisions", "/v1/decisions/{decision_id}/reward",
                 "/v1/experiments/{experiment}/report", "/v1/experiments/{experiment}/cheat"):
        assert path in paths
    assert "post" in paths["/v1/experiments/{experiment}/decisions"]
    # /docs can be tried: both ways to send a key are schemes ("Authorize"), on every route
    # that needs one, the hand-documented decide and reward routes included
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    for path, method in (("/v1/experiments/{experiment}/decisions", "post"),
                         ("/v1/decisions/{decision_id}/reward", "post"),
                         ("/v1/experiments/{experiment}/report", "get"),
                         ("/v1/experiments/{experiment}/reset", "post")):
        assert paths[path][method]["security"] == [{"bearer": []}, {"apiKey": []}], path
    listing = paths["/v1/experiments/{experiment}/decisions"]["get"]["responses"]["200"]
    assert next(iter(listing["content"])) == "application/x-ndjson"  # the default answer
    # an error's schema is under the media type errors are sent as (a trial's generated
    # client found it under application/json only; problem+json had none)
    # (a duplicate reward's 409 is a result, RewardOut, not a problem)
    documented = [(path, method, code, answer["content"]["application/problem+json"])
                  for path, item in paths.items() for method, operation in item.items()
                  for code, answer in operation.get("responses", {}).items()
                  if "application/problem+json" in answer.get("content", {})]
    assert len(documented) > 20
    # a store's outage is a 503 with Retry-After, on every route that reads the store (a
    # trial's client met it undocumented on decide and reward)
    for path, method in (("/v1/experiments/{experiment}/decisions", "post"),
                         ("/v1/decisions/{decision_id}/reward", "post"),
                         ("/v1/experiments/{experiment}/report", "get"),
                         ("/v1/experiments/{experiment}/cheat", "post")):
        outage = paths[path][method]["responses"]["503"]
        assert "Retry-After" in outage["headers"], (path, outage)
    for path, method, code, problem in documented:
        assert problem.get("schema", {}).get("$ref") == "#/components/schemas/Problem", \
            (path, method, code)


def test_admin_bodies_match_their_schema(api: Any) -> None:
    """What the schema says is optional is: a reset without a body (it was a 422 'Field
    required'); a new arm without content says it needs one (not 'at least 1 character')."""
    url, keys, service = api
    admin = keys["admin"]
    reset = call(url, "POST", "/v1/experiments/seed/reset", admin)
    assert reset.status_code == 200 and service.current_generation("seed") == 1
    arm = call(url, "POST", "/v1/experiments/seed/arms", admin, json={"id": "fresh"})
    assert arm.status_code in (400, 422)
    assert "needs its content" in arm.json()["detail"], arm.json()
    assert "fresh" not in service.active_arms("seed")


def test_a_store_outage_at_the_key_check_is_503_and_stalls_nobody(tmp_path: Path) -> None:
    """The key list must be read again (its cache expired) while the store hangs and then
    fails: /healthz on the same server answers while that read still hangs (the read ran
    on the event loop and stalled every request for 11 s), and the request answers 503
    "store unavailable" (it was a 500)."""
    import threading

    from banditbot import StoreError

    entered, release = threading.Event(), threading.Event()

    class Hanging(SQLiteStore):
        def read_document(self, name: str) -> tuple[str | None, int]:
            entered.set()
            release.wait(timeout=20)
            raise StoreError("PostgreSQL read_document failed: couldn't get a connection",
                             hint="retry")

    store = Hanging(tmp_path / "api.db")
    store.init()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(1))
    app = create_app(service, keys=KeyRing(store, service.config.api_keys))
    with ServerThread(app) as url:
        answers: list[httpx.Response] = []
        slow = threading.Thread(target=lambda: answers.append(call(
            url, "POST", "/v1/experiments/seed/decisions", "bb_any", json={"subject": "a"})))
        slow.start()
        assert entered.wait(timeout=20)  # the decide is waiting on the store now
        try:
            health = call(url, "GET", "/healthz", timeout=10)
        finally:
            release.set()
        slow.join(timeout=30)
    assert health.status_code == 200
    (decide,) = answers
    assert decide.status_code == 503 and decide.json()["title"] == "store unavailable"
    # the caller is not known yet: what failed inside stays in the log
    assert "PostgreSQL" not in decide.text and "connection" not in decide.text


@pytest.mark.parametrize("depth", [250, 30_000])
def test_a_body_nested_too_deeply_is_a_400_not_a_server_error(api: Any, depth: int) -> None:
    """A trial's 30,000 nested lists (under the size limit) were a 500 "internal error" with
    two tracebacks in the log on decide and reward, and FastAPI's "There was an error
    parsing the body" on an admin route; 250 levels (past the JSON parser's 200) were told
    "the body is not JSON". Every route says what is wrong, and nothing is logged."""
    url, keys, service = api
    decided = call(url, "POST", "/v1/experiments/seed/decisions", keys["decide"],
                   json={"subject": "u"}).json()
    deep = '{"subject": "u", "context": ' + "[" * depth + "]" * depth + "}"
    for path, key in (("/v1/experiments/seed/decisions", keys["decide"]),
                      (f"/v1/decisions/{decided['decision_id']}/reward", keys["decide"]),
                      ("/v1/experiments/seed/cheat", keys["admin"])):
        r = call(url, "POST", path, key, content=deep,
                 headers={"Content-Type": "application/json"})
        if path.endswith("cheat") and depth == 250:  # (the admin routes' parser reads
            # 250 levels: JSON, but not the object the route takes)
            assert r.status_code == 422 and "arm" in r.json()["detail"], r.text[:300]
            continue
        assert r.status_code == 400, (path, r.text[:300])
        assert r.json()["title"] == "malformed JSON", r.json()
        assert "nests too deeply" in r.json()["detail"], r.json()
    (logged,) = service.decisions("seed")
    assert logged.reward is None
    metrics = call(url, "GET", "/metrics").text
    assert "RecursionError" not in metrics


def test_no_page_of_the_server_can_be_framed_by_another_site(api: Any) -> None:
    """A review: the results page keeps its API key and has one-click admin buttons (retire
    an arm), and nothing stopped another site from framing it under a lure (clickjacking).
    Every answer forbids framing and content-type guessing."""
    url, keys, _ = api
    for path, key in (("/", None), ("/static/app.js", None), ("/docs", None),
                      ("/v1/experiments", keys["read"]), ("/v1/experiments", None)):
        r = call(url, "GET", path, key)
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["content-security-policy"] == "frame-ancestors 'none'", path
        assert r.headers["x-content-type-options"] == "nosniff", path


def test_a_method_http_does_not_have_is_one_label_in_the_metrics(api: Any) -> None:
    """A review: each unknown method a server passes through (h11 does) became a new
    latency series kept for the process's life: 3,000 methods made /metrics 5.4 MB."""
    import asyncio

    _, _, service = api
    app = create_app(service)

    async def probe() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for i in range(20):
                await client.request(f"XFOO{i}", "/healthz")
            return (await client.get("/metrics")).text

    metrics = asyncio.run(probe())
    assert "XFOO" not in metrics
    assert 'method="OTHER"' in metrics


def test_a_reward_under_the_wrong_name_is_named(api: Any) -> None:
    """A re-trial sent {"reward": 1} and was told only "value: Field required"."""
    url, keys, _ = api
    decided = call(url, "POST", "/v1/experiments/seed/decisions", keys["decide"],
                   json={"subject": "u"}).json()
    r = call(url, "POST", f"/v1/decisions/{decided['decision_id']}/reward", keys["decide"],
             json={"reward": 1, "subject": "u"})
    assert r.status_code == 422
    assert r.json()["detail"] == ("value: Field required (reward: not a field of this "
                                  "request)"), r.json()
