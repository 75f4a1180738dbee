"""The dashboard in headless Chromium (Debian's, no sandbox, no GPU, no background
networking): it renders the experiment and its charts, logs no console error, and makes no
request that leaves 127.0.0.1."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, load_config
from banditbot.api import create_app

from ..conftest import EXAMPLES
from ..telegram_double import ServerThread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions"]


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], BanditService]]:
    store = SQLiteStore(tmp_path / "dash.db")
    store.init()
    service = BanditService(load_config(EXAMPLES), store, rng=np.random.default_rng(3))
    rng = np.random.default_rng(4)
    truth = {"hello": 0.2, "hey": 0.55, "formal": 0.35, "playful": 0.15}
    for i in range(400):
        d = service.decide("greeting", f"u{i % 40}")
        if rng.random() < 0.85:
            service.reward(d.id, int(rng.random() < truth[d.arm]), f"u{i % 40}")
    app = create_app(service)
    keys = {role: app.state.keys.create(role, role)[0] for role in ("read", "admin")}
    with ServerThread(app) as url:
        yield url, keys, service


def _open(page: Any, url: str, key: str) -> None:
    page.goto(url + "/#greeting")
    page.fill("#key", key)
    page.click("#keyform button")
    page.wait_for_function(
        "document.querySelector('#exp-title').textContent === 'greeting' && "
        "document.querySelectorAll('#arms tbody tr').length === 4", timeout=20_000)
    page.wait_for_function("document.querySelector('#updated').textContent.startsWith("
                           "'updated')", timeout=20_000)


def _painted(page: Any, canvas: str) -> int:
    return int(page.evaluate(
        """(id) => { const c = document.getElementById(id);
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
             return n; }""", canvas))


def test_dashboard_renders_offline_without_errors(dashboard: Any, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("BANDITBOT_SKIP_BROWSER") == "1":
            pytest.skip("no Chromium (BANDITBOT_SKIP_BROWSER=1)")
        pytest.fail("Chromium is not installed: apt-get install chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    url, keys, service = dashboard
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        def guard(route: Any) -> None:
            requests.append(route.request.url)
            host = urlparse(route.request.url).hostname
            if host not in ("127.0.0.1", "localhost"):
                route.abort()
            else:
                route.continue_()

        page.route("**/*", guard)
        _open(page, url, keys["read"])
        cells = page.locator("#arms tbody tr").first.locator("td").all_inner_texts()
        assert cells[0] in ("hello", "hey", "formal", "playful")
        assert "thompson" in page.inner_text("#exp-policy")
        verdict = service.report("greeting").verdict
        assert verdict and "hey" in verdict  # 0.55 against at most 0.35 after 400 visits
        assert page.inner_text("#verdict") == verdict
        for canvas in ("allocation", "cumulative", "intervals"):
            assert _painted(page, canvas) > 1000, canvas  # a chart was drawn
        assert page.locator("#recent tbody tr").count() > 0
        assert page.locator("#admin").is_hidden()  # read keys see no admin tools
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        # an admin key gets the admin tools, and they work
        page.evaluate("localStorage.clear()")
        page.goto(url)
        _open(page, url, keys["admin"])
        assert page.locator("#admin").is_visible()
        page.fill("#admin form[data-action=cheat] input[name=arm]", "hello")
        page.fill("#admin form[data-action=cheat] input[name=rewards]", "111")
        page.click("#admin form[data-action=cheat] button")
        page.wait_for_function("document.querySelector('#admin-result').textContent"
                               ".includes('added 3')", timeout=20_000)
        browser.close()
    assert not problems, problems
    outside = [u for u in requests if urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert not outside, outside
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
