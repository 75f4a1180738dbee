"""The results page of an experiment with many arms (a new user's trial: 40 arms with ids
like ``greeting-cheerful-emoji-40``), in headless Chromium at a laptop's width and a phone's.

The trial found the estimate chart a fixed 260 px tall whatever the number of arms (40 labels
and bars drawn over each other, the labels cut on the left: "ing-cheerful-emoji-40"), the
other charts' legends 40 entries long with colours repeating, and the arm table wider than its
container on a 1366 px laptop (the allocation column cut to "al").
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config

from .test_dashboard_browser import (
    WAIT,
    Site,
    Watch,
    _axe_serious,
    _browser,
    _loaded,
    _no_horizontal_overflow,
    _served,
    _sign_in,
)

ARMS = 40
_TONES = ["cheerful", "formal", "curious", "warm", "playful"]
_STYLES = ["emoji", "plain", "question", "short"]


def _arm_ids() -> list[str]:
    """``greeting-cheerful-emoji-1`` … ``greeting-short-...-40``: long, alike, and different
    only at their ends."""
    return [f"greeting-{_TONES[i % 5]}-{_STYLES[i // 5 % 4]}-{i + 1}" for i in range(ARMS)]


def many_arms_service(path: Path) -> BanditService:
    """``greeting-40``: 40 arms, the first the control; 2,000 decisions, most answered; the
    last the leader by answers added by hand."""
    ids = _arm_ids()
    config = {"experiments": [{
        "id": "greeting-40", "description": "Forty greetings", "control": ids[0],
        "arms": [{"id": a, "content": a.replace("-", " ")} for a in ids]}]}
    store = SQLiteStore(path)
    store.init()
    service = BanditService(parse_config(config), store, rng=np.random.default_rng(3))
    rng = np.random.default_rng(4)
    truth = {a: 0.15 + 0.5 * (i % 7) / 7 for i, a in enumerate(ids)}
    for i in range(2000):
        d = service.decide("greeting-40", f"u{i % 300}")
        if rng.random() < 0.9:
            service.reward(d.id, int(rng.random() < truth[d.arm]), f"u{i % 300}")
    # the leader by answers added by hand, with few decisions of its own: drawn by the PNG
    # chart, coloured on the page (which coloured the busiest alone)
    service.cheat("greeting-40", ids[-1], "1" * 60)
    return service


@pytest.fixture
def many_site(tmp_path: Path) -> Iterator[Site]:
    yield from _served(many_arms_service(tmp_path / "many.db"), ("read",))


def _estimate_labels(page: Any) -> tuple[float, float, list[dict[str, Any]]]:
    """The estimate chart's CSS size and where it drew each arm's label (its data-labels)."""
    size, boxes = page.evaluate("""() => { const c = document.getElementById('intervals');
        return [[c.clientWidth, c.clientHeight], JSON.parse(c.dataset.labels || '[]')]; }""")
    return size[0], size[1], boxes


def _check_estimate_chart(page: Any, ids: list[str]) -> list[dict[str, Any]]:
    width, height, boxes = _estimate_labels(page)
    assert height >= 20 * len(ids), f"{height} px for {len(ids)} arms"
    assert [b["arm"] for b in boxes] == ids
    for b in boxes:  # inside the canvas, the id whole or its start and end around "…"
        assert 0 <= b["left"] < b["right"] <= width, b
        head, _, tail = b["text"].partition("…")
        assert b["text"] == b["arm"] or (b["arm"].startswith(head) and b["arm"].endswith(tail)
                                         and len(tail) >= 5), b
    assert len({b["text"] for b in boxes}) == len(ids)  # every arm told apart
    ordered = sorted(boxes, key=lambda b: b["top"])
    for upper, lower in pairwise(ordered):
        assert upper["bottom"] <= lower["top"], (upper, lower)
    return boxes


@pytest.mark.slow
def test_results_page_with_forty_arms(many_site: Site) -> None:
    from playwright.sync_api import sync_playwright

    ids = _arm_ids()
    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        watch = Watch(page)
        page.goto(many_site.url + "/#greeting-40")
        _sign_in(page, many_site.keys["read"])
        _loaded(page, "greeting-40")
        page.wait_for_function("document.querySelector('#alt-allocation').textContent"
                               ".includes('decision')", timeout=WAIT)
        # a laptop: the estimate chart a row per arm, each label whole and apart
        boxes = _check_estimate_chart(page, ids)
        assert all(b["text"] == b["arm"] for b in boxes)
        # the legends: the top arms a colour each, then the others together
        legends = page.evaluate("""() => [...document.querySelectorAll('.legend')].map((ul) =>
            [...ul.querySelectorAll('li')].map((li) => [li.textContent,
                                                        li.querySelector('i').style.background]))""")
        # the arms the PNG chart draws (the control, the leader, the busiest so far), not
        # those of the current allocation (which moves, and an arm's colour with it, between
        # refreshes): the page and the chart colour the same arms
        report = many_site.service.report("greeting-40")
        drawn = {a.arm for a in report.top_arms(9)}
        for items in legends:
            assert len(items) <= 11, items
            assert len({color for _, color in items}) == len(items), items
            assert "others (31 arms)" in [name for name, _ in items], items
            assert {name for name, _ in items if name.startswith("greeting-")} == drawn, items
        busiest = sorted(report.arms, key=lambda a: (a.arm != ids[0], -a.pulls))
        assert busiest[8].pulls > busiest[9].pulls  # (no tie at the edge: one answer)
        # the arm table: every column inside its box (allocation was cut to "al")
        table = page.evaluate("""() => { const wrap = document.getElementById('arms').parentElement;
            const box = wrap.getBoundingClientRect();
            return { scroll: wrap.scrollWidth, client: wrap.clientWidth,
                     clipped: [...document.querySelectorAll('#arms th')]
                       .filter((th) => th.getBoundingClientRect().right > box.right + 0.5)
                       .map((th) => th.textContent),
                     hint: !document.getElementById('arms-scroll').hidden }; }""")
        assert table["scroll"] <= table["client"] and not table["clipped"], table
        assert not table["hint"]
        _no_horizontal_overflow(page)
        assert not _axe_serious(page)

        # a phone: the same page resized; long ids shortened in their middle, whole on hover
        # a narrow laptop window: the table scrolls sideways, its caption wraps inside the
        # window (a caption scrolled with the table and was cut mid-word at its edge)
        page.set_viewport_size({"width": 900, "height": 800})
        page.wait_for_function("!document.getElementById('arms-scroll').hidden")
        caption = page.evaluate("""() => { const r = document.getElementById('arms-caption')
            .getBoundingClientRect(); return [r.left, r.right, r.height]; }""")
        assert caption[0] >= 0 and caption[1] <= 900 and caption[2] > 0, caption

        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_function("document.getElementById('intervals').clientWidth < 390")
        boxes = _check_estimate_chart(page, ids)
        short = next(b for b in boxes if b["text"] != b["arm"])
        canvas = page.locator("#intervals")
        canvas.scroll_into_view_if_needed()
        canvas.hover(position={"x": short["right"] - 2, "y": (short["top"] + short["bottom"]) / 2})
        assert (page.get_attribute("#intervals", "title") or "").startswith(short["arm"] + ":")
        _no_horizontal_overflow(page)
        browser.close()
    assert not watch.unexpected(), watch.unexpected()
    assert not watch.outside(), watch.outside()
