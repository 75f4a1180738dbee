"""`banditbot serve` on a PostgreSQL server that stops and starts again: every client hears
the same general words (never the database's address), and the server's log tells the
outage once, with its cause, and its end."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from banditbot import build_service
from banditbot.api._problems import STORE_FAILED
from banditbot.service import KeyRing

from ..conftest import EXAMPLES, postgres_bindir
from ..http_client import HTTP
from ..pg_server import PostgresServer
from ..serve_process import start_serve, wait_healthy

pytestmark = pytest.mark.skipif(postgres_bindir() is None,
                                reason="PostgreSQL is not installed")

DECIDE = "/v1/experiments/greeting/decisions"


def _log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")]


@pytest.mark.slow
def test_a_store_outage_is_told_once_in_the_log_and_never_to_the_client(
        tmp_path: Path) -> None:
    """A new-user trial stopped PostgreSQL: `GET /v1/experiments` answered the database's
    host and port, and the log had one info line per request with path "unmatched" and
    no cause."""
    server = PostgresServer().start()  # its own: this test stops it
    try:
        url = f"{server.url}?retry_seconds=0.3"
        svc = build_service(EXAMPLES, url)
        key, _ = KeyRing(svc.store).create("app", "decide")
        svc.store.close()
        env = {**os.environ, "BANDITBOT_STORE": url, "BANDITBOT_CONFIG": str(EXAMPLES)}
        env.pop("TELEGRAM_TOKEN", None)
        auth = {"Authorization": f"Bearer {key}"}
        proc, base, log_path = start_serve(tmp_path, env)
        try:
            wait_healthy(base, proc, log_path)
            made = HTTP.post(base + DECIDE, json={"subject": "u"}, headers=auth, timeout=30)
            assert made.status_code == 201, made.text
            reward = f"/v1/decisions/{made.json()['decision_id']}/reward"
            big = HTTP.post(base + DECIDE, content=b"x" * 70_000, headers=auth, timeout=30)
            assert big.status_code == 413
            server.stop(delete=False)
            failed = [HTTP.get(base + "/v1/experiments", headers=auth, timeout=60),
                      HTTP.post(base + DECIDE, json={"subject": "v"}, headers=auth,
                                timeout=60),
                      HTTP.post(base + reward, json={"value": 1, "subject": "u"},
                                headers=auth, timeout=60),
                      HTTP.get(base + "/readyz", timeout=60)]
            server.start()
            deadline = time.monotonic() + 60  # the pool reconnects: /readyz says when
            while HTTP.get(base + "/readyz", timeout=60).status_code != 200:
                assert time.monotonic() < deadline, log_path.read_text()
            again = HTTP.get(base + "/v1/experiments", headers=auth, timeout=30)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    finally:
        server.stop()
    assert again.status_code == 200
    for answer in failed:
        problem = answer.json()
        assert (answer.status_code, problem["title"], problem["detail"]) == (
            503, "store unavailable", STORE_FAILED), answer.text
        assert "127.0.0.1" not in answer.text and str(server.port) not in answer.text
        assert "PostgreSQL" not in answer.text and "hint" not in problem
        assert answer.headers["Retry-After"] == "5"  # when to ask again (an operator's)
    lines = _log_lines(log_path)
    told = [x for x in lines if x["logger"] == "banditbot.store"]
    assert [x["level"] for x in told] == ["warning", "warning"], told
    assert told[0]["message"].startswith("the store failed: StoreError: PostgreSQL")
    assert "Connection refused" in told[0]["message"]  # the cause, for the operator
    assert told[1]["message"].startswith("the store answers again, after ")
    access = [x for x in lines if x.get("message") == "request"]
    assert all(x["path"] != "unmatched" for x in access), access
    assert {x["client"] for x in access} == {"127.0.0.1"}  # who asked (docs/postgres.md)
    by_status = {(x["status"], x["path"]): x["level"] for x in access}
    assert by_status[(413, DECIDE.replace("greeting", "{experiment}"))] == "info"
    for path in ("/v1/experiments", "/v1/experiments/{experiment}/decisions",
                 "/v1/decisions/{decision_id}/reward", "/readyz"):
        assert by_status[(503, path)] == "warning", by_status
