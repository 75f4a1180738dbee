"""Refresh docs/dashboard.png: a demo experiment served locally, shown in headless Chromium.

    python scripts/dashboard_screenshot.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.telegram_double import ServerThread  # noqa: E402

from banditbot import BanditService, SQLiteStore, load_config  # noqa: E402
from banditbot.api import create_app  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "shot.db")
        store.init()
        service = BanditService(load_config(ROOT / "examples" / "experiments.yaml"), store,
                                rng=np.random.default_rng(3))
        rng = np.random.default_rng(4)
        truth = {"hello": 0.2, "hey": 0.55, "formal": 0.35, "playful": 0.15}
        clock = [1_764_000_000.0]
        service.clock = lambda: clock[0]
        for i in range(1500):
            clock[0] += 45
            d = service.decide("greeting", f"u{i % 60}")
            if rng.random() < 0.85:
                service.reward(d.id, int(rng.random() < truth[d.arm]), f"u{i % 60}")
        app = create_app(service)
        key = app.state.keys.create("screenshot", "read")[0]
        with ServerThread(app) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--headless=new", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page(viewport={"width": 1280, "height": 1050})
            page.goto(url + "/#greeting")
            page.fill("#key", key)
            page.click("#keyform button")
            page.wait_for_function("document.querySelector('#updated').textContent"
                                   ".startsWith('updated')", timeout=20_000)
            page.screenshot(path=str(ROOT / "docs" / "dashboard.png"), full_page=True)
            browser.close()
    print(ROOT / "docs" / "dashboard.png")


if __name__ == "__main__":
    main()
