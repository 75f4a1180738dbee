"""`banditbot serve --workers 2` (uvicorn + uvloop) on one SQLite file: 32 concurrent
clients deciding and rewarding lose nothing (each client a thread with its own keep-alive
connection: tests/http_load.py)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from banditbot import build_service
from banditbot.service import KeyRing

from ..conftest import EXAMPLES
from ..http_load import Client, run_clients
from ..integration.test_store_conformance import assert_stats_equal_fold
from ..serve_process import start_serve, wait_healthy


@pytest.mark.slow
def test_two_workers_32_clients_totals_exact(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'serve.db'}"
    svc = build_service(EXAMPLES, store_url)
    key, _ = KeyRing(svc.store).create("load", "decide")
    env = {**os.environ, "BANDITBOT_STORE": store_url, "BANDITBOT_CONFIG": str(EXAMPLES)}
    env.pop("TELEGRAM_TOKEN", None)
    proc, base, log_path = start_serve(tmp_path, env, "--workers", "2")
    try:
        wait_healthy(base, proc, log_path)
        sent: list[float] = []

        def client(i: int, session: Client) -> None:
            for j in range(15):
                r = session.post(f"{base}/v1/experiments/greeting/decisions",
                                 json={"subject": f"c{i}"})
                assert r.status_code == 201, r.text
                value = float((i + j) % 2)
                ok = session.post(f"{base}/v1/decisions/{r.json()['decision_id']}/reward",
                                  json={"value": value, "subject": f"c{i}"})
                assert ok.status_code == 200, ok.text
                sent.append(value)

        run_clients(32, client, headers={"Authorization": f"Bearer {key}"})
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    report = svc.report("greeting")
    assert report.total_pulls == 32 * 15 == len(sent)
    assert report.total_answered == len(sent)
    assert sum(a.reward_sum for a in report.arms) == sum(sent)
    assert_stats_equal_fold(svc.store, "greeting", 0,
                            tuple(a.arm for a in report.arms))
    # one JSON access line per request, with its request id; no second plain-text line
    lines = (tmp_path / "serve.log").read_text().splitlines()
    access = [json.loads(x) for x in lines if x.startswith("{") and '"request"' in x]
    served = [a for a in access if a.get("path", "").startswith("/v1/")]
    assert len(served) == 2 * len(sent)
    assert all(a["request_id"] and a["status"] in (200, 201) for a in served)
    assert not [x for x in lines if '"POST /v1/' in x]  # uvicorn's own access log is off
    # every line is one JSON object, uvicorn's start and shutdown messages included
    assert [x for x in lines if x.strip() and not x.startswith("{")] == []
    assert any(json.loads(x).get("logger", "").startswith("uvicorn") for x in lines)


@pytest.mark.parametrize("multiproc", [False, True])
def test_workers_without_a_metrics_folder_warn_once(tmp_path: Path, multiproc: bool) -> None:
    """A new-user trial found `--workers 2` without PROMETHEUS_MULTIPROC_DIR made /metrics
    show one worker's counts at random, silently: start-up says so in one line."""
    env = {**os.environ, "BANDITBOT_STORE": f"sqlite:///{tmp_path / 'w.db'}",
           "BANDITBOT_CONFIG": str(EXAMPLES)}
    env.pop("TELEGRAM_TOKEN", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiproc:
        (tmp_path / "prom").mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prom")
    proc, base, log_path = start_serve(tmp_path, env, "--workers", "2")
    try:
        wait_healthy(base, proc, log_path)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    lines = log_path.read_text().splitlines()
    warned = [json.loads(x) for x in lines if "PROMETHEUS_MULTIPROC_DIR" in x]
    assert [x for x in lines if x.strip() and not x.startswith("{")] == []
    if multiproc:
        assert warned == []
    else:
        assert len(warned) == 1 and warned[0]["level"] == "warning"
        assert "/metrics" in warned[0]["message"]
