"""Refresh the dashboard screenshots in docs/: a simulated experiment served locally, shown in
headless Chromium at a laptop's width and at a phone's.

    python scripts/dashboard_screenshot.py            # docs/dashboard.png, docs/dashboard-phone.png
    python scripts/dashboard_screenshot.py --out /tmp # somewhere else

Needs the ``dev`` extra (Playwright) and Debian's Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
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

ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
#: file -> (viewport, whole page?): the laptop shot shows the whole page, the phone shot what
#: the first screen shows.
SHOTS = {"dashboard.png": ({"width": 1280, "height": 800}, True),
         "dashboard-phone.png": ({"width": 390, "height": 844}, False)}


def simulated(folder: Path) -> BanditService:
    """The greeting experiment after 1,500 simulated visits, one every 45 seconds."""
    store = SQLiteStore(folder / "shot.db")
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
    return service


def main(argv: list[str] | None = None) -> None:
    """Write the screenshots; print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs")
    out = parser.parse_args(argv).out
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(simulated(Path(tmp)))
        key = app.state.keys.create("screenshot", "read")[0]
        with ServerThread(app) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
            for name, (viewport, whole) in SHOTS.items():
                page = browser.new_page(viewport=viewport, device_scale_factor=1)
                page.goto(url + "/#greeting")
                page.fill("#key", key)
                page.click("#keyform button")
                page.wait_for_function("document.querySelectorAll('#recent tbody tr').length"
                                       " > 0", timeout=20_000)
                page.screenshot(path=str(out / name), full_page=whole)
                page.close()
                print(out / name)
            browser.close()


if __name__ == "__main__":
    main()
