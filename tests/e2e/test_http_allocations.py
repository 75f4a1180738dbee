"""Allocation periods over HTTP: the history route, the report's status fields, and the
sample-ratio check in /metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.api import create_app
from banditbot.service import KeyRing

from ..http_client import HTTP
from ..telegram_double import ServerThread

CONFIG = {"experiments": [{
    "id": "periods", "arms": [{"id": a, "content": a} for a in ("a", "b")],
    "policy": {"name": "epsilon-greedy", "epsilon": 0.5}, "burn_in": 0,
    "update": "100 rewards"}]}


def test_periods_status_and_sample_ratio_over_http(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.db")
    store.init()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(3))
    key, _ = KeyRing(store).create("reader", "read")
    rng = np.random.default_rng(4)
    for _ in range(450):
        d = service.decide("periods", "u")
        service.reward(d.id, int(rng.random() < 0.4), "u")  # A/A: no winner to declare
    with ServerThread(create_app(service)) as url:
        auth = {"Authorization": f"Bearer {key}"}
        periods = HTTP.get(f"{url}/v1/experiments/periods/allocations", headers=auth).json()
        report = HTTP.get(f"{url}/v1/experiments/periods/report", headers=auth).json()
        metrics = HTTP.get(f"{url}/metrics").text
        denied = HTTP.get(f"{url}/v1/experiments/periods/allocations")
    assert denied.status_code == 401
    assert [p["period"] for p in periods] == list(range(1, len(periods) + 1))
    assert len(periods) >= 4 and periods[0]["reason"] == "start"
    assert {p["reason"] for p in periods[1:]} == {"cadence"}
    assert sum(p["decisions"] for p in periods) == 450
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-12 for p in periods)
    assert report["status"] == "running" and report["decisions"] == 450
    assert report["periods"] == len(periods) and report["update"] == "every 100 rewards"
    assert report["srm"] is not None and report["srm"]["flagged"] is False
    assert 'banditbot_srm_flagged{experiment="periods"} 0.0' in metrics


def test_a_per_chat_experiment_s_periods_name_no_chat_by_its_id(tmp_path: Path) -> None:
    """A review: a read key got the raw Telegram chat ids of a per-chat experiment's
    periods (``chat:-1001234567890``; in a private chat, the user's id) where the decision
    log gives pseudonyms. The periods' scopes are the log's pseudonyms."""
    store = SQLiteStore(tmp_path / "p.db")
    store.init()
    cfg = parse_config({"experiments": [{**CONFIG["experiments"][0], "id": "perchat",
                                         "scope": "chat", "update": "2 rewards"}]})
    service = BanditService(cfg, store, rng=np.random.default_rng(3))
    key, _ = KeyRing(store).create("reader", "read")
    for chat in ("-1001234567890", "777000111"):
        for _ in range(3):
            d = service.decide("perchat", "u", chat=chat)
            service.reward(d.id, 1, "u")
    with ServerThread(create_app(service)) as url:
        auth = {"Authorization": f"Bearer {key}"}
        periods = HTTP.get(f"{url}/v1/experiments/perchat/allocations", headers=auth).json()
        log = HTTP.get(f"{url}/v1/experiments/perchat/decisions", headers=auth).text
    scopes = {p["scope"] for p in periods}
    assert len(scopes) == 2 and all(s.startswith("chat:") for s in scopes)
    assert not any(chat in str(periods) for chat in ("1001234567890", "777000111"))
    assert all(scope in log for scope in scopes)  # the log's own pseudonyms
