"""Every error of the HTTP API, route by route, over real HTTP: each is
``application/problem+json`` with the fields clients rely on (``type``, ``title``,
``status``, ``detail``) and a title of plain words; an invalid request says what to do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.api import create_app
from banditbot.service import KeyRing

from ..conftest import CONFIG
from ..http_client import HTTP
from ..telegram_double import ServerThread

#: a title: lower-case words (an acronym such as JSON may stand among them), no codes
_WORDS = re.compile(r"[a-z]+( [a-zA-Z]+)*")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    store = SQLiteStore(tmp_path / "errors.db")
    store.init()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(2))
    ring = KeyRing(store)
    keys = {role: ring.create(f"{role}-key", role)[0] for role in ("read", "decide", "admin")}
    with ServerThread(create_app(service, keys=ring,
                                 cors_origins=["https://app.example.org"])) as url:
        yield url, keys


def _send(url: str, method: str, path: str, key: str | None = None,
          **kw: Any) -> httpx.Response:
    headers = kw.pop("headers", {})
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return HTTP.request(method, url + path, headers=headers, timeout=30, **kw)


def _concrete(template: str, experiment: str, decision: str) -> str:
    return template.replace("{experiment}", experiment).replace("{arm}", "arm1") \
        .replace("{decision_id}", decision)


def test_every_error_of_every_route_is_a_problem(api: tuple[str, dict[str, str]]) -> None:
    """A trial: a duplicate reward's 409 came as application/json (it is a result, and
    documented so) and the titles varied (``not_yours``, ``invalid``, ``invalid body``,
    ``invalid request`` without a hint). Each route is sent what it refuses: no key, a key
    of too low a role, an unknown experiment, a body that is not JSON, a body that breaks
    its rules, a bad query, a method it does not take."""
    url, keys = api
    made = _send(url, "POST", "/v1/experiments/seed/decisions", keys["decide"],
                 json={"subject": "alice"}).json()["decision_id"]
    paths = _send(url, "GET", "/openapi.json").json()["paths"]
    answers: list[tuple[str, httpx.Response]] = []

    def record(what: str, response: httpx.Response) -> None:
        answers.append((what, response))

    for template, item in paths.items():
        if not template.startswith("/v1/"):
            continue
        for method, operation in item.items():
            path = _concrete(template, "seed", made)
            needs_body = "requestBody" in operation
            record(f"{method} {template} without a key", _send(url, method, path))
            record(f"{method} {template} with an unknown key",
                   _send(url, method, path, "bb_no-such-key"))
            if method != "get":
                record(f"{method} {template} with a read key",
                       _send(url, method, path, keys["read"], json={}))
            if "{experiment}" in template:
                record(f"{method} {template} of an unknown experiment",
                       _send(url, method, _concrete(template, "nope", made), keys["admin"],
                             json={"subject": "s", "arm": "arm1", "rewards": "1",
                                   "alpha": 1, "beta": 1, "name": "thompson",
                                   "id": "x", "content": "x"}))
            if needs_body:
                record(f"{method} {template} with a body that is not JSON",
                       _send(url, method, path, keys["admin"], content=b'{"subject": "a",',
                             headers={"Content-Type": "application/json"}))
                record(f"{method} {template} with a body that breaks its rules",
                       _send(url, method, path, keys["admin"], json={"value": [1],
                                                                      "subject": "",
                                                                      "rewards": 7}))
                record(f"{method} {template} with a body too large",
                       _send(url, method, path, keys["admin"], content=b"x" * 70_000,
                             headers={"Content-Type": "application/json"}))
            params = {p["name"] for p in operation.get("parameters", [])
                      if p.get("in") == "query"}
            for name, bad in (("limit", "0"), ("bins", "0"), ("points", "9999"),
                              ("order", "sideways"), ("scope", "nonsense")):
                if name in params:
                    record(f"{method} {template}?{name}={bad}",
                           _send(url, method, path, keys["admin"], params={name: bad}))
        record(f"PATCH {template}", _send(url, "PATCH", _concrete(template, "seed", made),
                                          keys["admin"], json={}))
    # the reward's own refusals, and what is no route at all
    reward = f"/v1/decisions/{made}/reward"
    record("a reward from another subject",
           _send(url, "POST", reward, keys["decide"], json={"value": 1, "subject": "eve"}))
    record("a reward of a value not allowed",
           _send(url, "POST", reward, keys["decide"], json={"value": 7, "subject": "alice"}))
    record("a reward of an unknown decision",
           _send(url, "POST", "/v1/decisions/Q3aJiitbXNC3XZ6BxPAlUw/reward", keys["decide"],
                 json={"value": 1, "subject": "alice"}))
    record("no such route", _send(url, "GET", "/v1/nothing-here", keys["read"]))

    errors = [(what, r) for what, r in answers if r.status_code >= 400]
    assert {r.status_code for _, r in errors} >= {400, 401, 403, 404, 405, 413, 422}
    for what, r in errors:
        assert r.headers["content-type"] == "application/problem+json", (what, r.text)
        problem = r.json()
        assert problem["type"] == "about:blank" and problem["status"] == r.status_code, what
        assert problem["detail"] and problem["request_id"], what
        assert _WORDS.fullmatch(problem["title"]), (what, problem["title"])
        if problem["title"] == "invalid request":  # (the others' details say what to do)
            assert problem.get("hint"), (what, problem)
    titles = {r.json()["title"] for _, r in errors}
    assert {"not yours", "invalid reward", "unknown decision", "invalid request"} <= titles
    assert not titles & {"not_yours", "invalid", "unknown", "invalid body"}


def _rewarded(url: str, keys: dict[str, str], subject: str) -> str:
    """A decision of ``seed`` for ``subject``, rewarded 1: its reward's path."""
    made = _send(url, "POST", "/v1/experiments/seed/decisions", keys["decide"],
                 json={"subject": subject}).json()["decision_id"]
    reward = f"/v1/decisions/{made}/reward"
    assert _send(url, "POST", reward, keys["decide"],
                 json={"value": 1, "subject": subject}).status_code == 200
    return reward


def test_a_duplicate_reward_is_a_result_not_a_problem(
        api: tuple[str, dict[str, str]]) -> None:
    """The one non-2xx answer that is no error: a reward sent again is 409 with the
    result's fields (``status: "duplicate"``, the arm, the value counted), as the OpenAPI
    document says, so a client tells "counted before" from a failure."""
    url, keys = api
    reward = _rewarded(url, keys, "bob")
    again = _send(url, "POST", reward, keys["decide"], json={"value": 1, "subject": "bob"})
    assert again.status_code == 409 and again.headers["content-type"] == "application/json"
    assert again.json()["status"] == "duplicate" and again.json()["value"] == 1.0
    documented = _send(url, "GET", "/openapi.json").json()["paths"][
        "/v1/decisions/{decision_id}/reward"]["post"]["responses"]["409"]
    assert documented["content"]["application/json"]["schema"]["$ref"].endswith("RewardOut")


def test_a_second_reward_of_another_value_says_it_was_not_counted(
        api: tuple[str, dict[str, str]]) -> None:
    """A trial: 0 after 1 answered "already counted" with value 1, and the 0 seemed taken."""
    url, keys = api
    reward = _rewarded(url, keys, "carol")
    changed = _send(url, "POST", reward, keys["decide"], json={"value": 0, "subject": "carol"})
    assert changed.status_code == 409 and changed.json()["value"] == 1.0
    assert changed.json()["message"] == "already counted as 👍 (1); this 👎 (0) was not counted"
    same = _send(url, "POST", reward, keys["decide"], json={"value": True, "subject": "carol"})
    assert same.json()["message"] == "already counted as 👍 (1)"


def test_a_refused_cors_preflight_is_a_problem_that_names_the_setting(
        api: tuple[str, dict[str, str]]) -> None:
    """A trial's page on another origin got a plain-text "Disallowed CORS origin": the
    one error of the API that was not problem+json, and it said neither what to set nor
    where. A refused preflight (an origin, a method or a header not allowed) is a problem
    with the same status and CORS headers, saying what was refused and naming
    BANDITBOT_CORS_ORIGINS; an allowed preflight is answered as before."""
    url, _ = api
    path = "/v1/experiments/seed/decisions"
    allowed = "https://app.example.org"
    for origin, method, headers, refused in (
            ("https://evil.example.com", "POST", "content-type",
             "the origin https://evil.example.com is not among the allowed origins"),
            (allowed, "PATCH", "authorization", "the method PATCH is not allowed (allowed: "
                                                "GET, POST, PUT, DELETE)"),
            (allowed, "POST", "authorization, X-Debug", "the header X-Debug is not allowed")):
        r = _send(url, "OPTIONS", path, headers={
            "Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers, "X-Request-ID": "pre-1"})
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert (problem["title"], problem["status"], problem["request_id"]) == (
            "refused by CORS", 400, "pre-1")
        assert refused in problem["detail"], problem
        assert "BANDITBOT_CORS_ORIGINS" in problem["hint"]
        assert "origin" in r.headers["vary"].lower()  # (Starlette's CORS headers kept)
    ok = _send(url, "OPTIONS", path, headers={
        "Origin": allowed, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert (ok.status_code, ok.text, ok.headers["access-control-allow-origin"]) == (
        200, "OK", allowed)
    assert ok.headers["content-type"].startswith("text/plain")
