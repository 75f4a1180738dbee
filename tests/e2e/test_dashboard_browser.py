"""The results page as a person uses it, in headless Chromium (Debian's, no sandbox, no GPU,
no background networking), once at a laptop's width and once at a phone's.

Each test loads the page once and checks what a person would: the status and the arm table,
the newest decision within one refresh, charts with a text alternative, banners, the scope
picker, the admin tools taking effect at once, the empty and the server-down states, the key
handling, no horizontal overflow, 0 serious accessibility violations (axe-core, vendored in
``vendor/``), no console error and no request that leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import numpy as np
import pytest
import yaml

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.api import create_app
from banditbot.api._app import RETRY_AFTER
from banditbot.api._problems import STORE_FAILED
from banditbot.offline import store_pseudonyms

from ..conftest import EXAMPLES
from ..telegram_double import ServerThread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions"]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WAIT = 20_000  # ms; a condition, never a sleep: most of these hold within a refresh (5 s)
REFRESH_MS = 5_000  # app.js's refresh period


@dataclass
class Site:
    url: str
    keys: dict[str, str]
    service: BanditService
    chat_decisions: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The packaged examples plus a per-chat experiment; 400 visits on ``greeting``."""
    raw = yaml.safe_load(EXAMPLES.read_text(encoding="utf-8"))
    raw["experiments"].append({
        "id": "welcome", "scope": "chat", "description": "One bandit per chat",
        "arms": [{"id": "hi", "content": "Hi"}, {"id": "yo", "content": "Yo"}],
        "control": "hi", "holdout": 0.2})
    store = SQLiteStore(tmp_path / "dash.db")
    store.init()
    service = BanditService(parse_config(raw), store, rng=np.random.default_rng(3))
    rng = np.random.default_rng(4)
    truth = {"hello": 0.2, "hey": 0.55, "formal": 0.35, "playful": 0.15}
    for i in range(400):
        d = service.decide("greeting", f"u{i % 40}")
        if rng.random() < 0.85:
            service.reward(d.id, int(rng.random() < truth[d.arm]), f"u{i % 40}")
    chats = {"100": 7, "200": 3, "a+b &c": 2}  # the last: an id with +, & and a space
    for chat, n in chats.items():
        for i in range(n):
            service.decide("welcome", f"u{i}", chat=chat)
    yield from _served(service, ("read", "admin"), chats)


def _served(service: BanditService, roles: tuple[str, ...],
            chats: dict[str, int] | None = None) -> Iterator[Site]:
    """``service``'s HTTP app served on loopback, with a key of each role named after it."""
    app = create_app(service)
    keys = {role: app.state.keys.create(role, role)[0] for role in roles}
    with ServerThread(app) as url:
        yield Site(url, keys, service, chats or {})


class Watch:
    """What the browser logged and asked for, by phase (some phases expect errors)."""

    def __init__(self, page: Any) -> None:
        self.phase = "main"
        self.errors: list[tuple[str, str]] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append((self.phase, m.text))
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append((self.phase, str(e))))
        page.on("response", lambda r: self.errors.append((self.phase, f"{r.status} {r.url}"))
                if r.status >= 400 else None)
        page.route("**/*", self._guard)

    def _guard(self, route: Any) -> None:
        self.requests.append(route.request.url)
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.fallback()
        else:
            route.abort()

    def unexpected(self) -> list[str]:
        return [text for phase, text in self.errors if phase == "main"]

    def outside(self) -> list[str]:
        return [u for u in self.requests
                if urlparse(u).hostname not in ("127.0.0.1", "localhost")]


def _browser(pw: Any) -> Any:
    if not Path(CHROMIUM).exists():
        if os.environ.get("BANDITBOT_SKIP_BROWSER") == "1":
            pytest.skip("no Chromium (BANDITBOT_SKIP_BROWSER=1)")
        pytest.fail("Chromium is not installed: apt-get install chromium (see .ci/run)")
    return pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def _sign_in(page: Any, key: str) -> None:
    page.fill("#key", key)
    page.click("#keyform button")


def _loaded(page: Any, experiment: str) -> None:
    page.wait_for_function(
        "([id]) => document.querySelector('#exp-title').textContent === id && "
        "document.querySelector('#updated').textContent.startsWith('updated')",
        arg=[experiment], timeout=WAIT)


def _results_page(pw: Any, site: Any, experiment: str, key: str, text: str
                  ) -> tuple[Any, Any, Watch]:
    """A browser on ``experiment``'s results page, signed in with ``key``, once the chart's
    text holds ``text``: (browser, page, watch)."""
    browser = _browser(pw)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    watch = Watch(page)
    page.goto(site.url + f"/#{experiment}")
    _sign_in(page, key)
    _loaded(page, experiment)
    page.wait_for_function("document.querySelector('#alt-allocation').textContent"
                           f".includes('{text}')", timeout=WAIT)
    return browser, page, watch


def _no_horizontal_overflow(page: Any) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window"


def _axe_serious(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return r.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
            .map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', '));
    }""")
    return list(result)


def _painted(page: Any, canvas: str) -> int:
    return int(page.evaluate(
        """(id) => { const c = document.getElementById(id);
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
             return n; }""", canvas))


def _cells(page: Any, arm: str) -> dict[str, str]:
    """The arm table's row of ``arm``: column name -> text."""
    return dict(page.evaluate("""([arm]) => {
        const row = [...document.querySelectorAll('#arms tbody tr')]
            .find((tr) => tr.cells[0].textContent.startsWith(arm));
        return [...row.cells].map((td) => [td.dataset.label, td.innerText.trim()]); }""",
                              [arm]))


def _legend_colours(page: Any) -> dict[str, str]:
    """The allocation chart's legend: arm -> the colour of its swatch."""
    return dict(page.evaluate("""() => [...document.getElementById('allocation')
        .closest('figure').querySelectorAll('.legend li')]
        .map((li) => [li.textContent, li.querySelector('i').style.background])"""))


def _fact(page: Any, name: str) -> str:
    return str(page.evaluate("""([name]) => [...document.querySelectorAll('#facts div')]
        .find((d) => d.querySelector('dt').textContent === name).querySelector('dd')
        .innerText""", [name]))


@pytest.mark.slow
def test_results_page_on_a_laptop(site: Site, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    service = site.service
    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        watch = Watch(page)
        # the page's own clock, run in real time, but jumped a refresh ahead where the test
        # waits for the next refresh (two real 5 s waits were two thirds of this test)
        page.clock.install()
        page.goto(site.url + "/#greeting")
        assert "banditbot keys create" in page.inner_text("#welcome")  # how to get a key
        # ... with the page's width to say it (a trial: a 230 px column beside nothing)
        assert page.locator("#welcome").bounding_box()["width"] > 500
        # shares near certainty keep a decimal, as the CLI's table does (99.5-99.9% read
        # "100%", above a chance to beat the control shown as ">99.9%")
        assert page.evaluate("[0.9984, 0.995, 0.9995, 0.5, 0.05, 1].map(x => pct(x))") == \
            ["99.8%", "99.5%", ">99.9%", "50%", "5.0%", "100%"]
        # a belief is never a certainty (a trial's P(best) read "100%" and "0%" beside a
        # chance to beat the control of ">99.9%"), and a sum of 👍 is a whole number
        assert page.evaluate("[1, 0, 0.5].map(x => pct(x, false))") == \
            [">99.9%", "<0.1%", "50%"]
        assert page.evaluate("[3, 555, 0, 2.5].map(amount)") == ["3", "555", "0", "2.50"]

        # a wrong key is refused and not saved
        watch.phase = "wrong key"
        _sign_in(page, "bb_wrong-key")
        page.wait_for_selector("#key-result:not([hidden])", timeout=WAIT)
        assert "not accepted" in page.inner_text("#key-result")
        assert page.evaluate("localStorage.getItem('banditbot-key')") is None
        watch.phase = "main"

        _sign_in(page, site.keys["read"])
        _loaded(page, "greeting")
        page.wait_for_function("document.querySelectorAll('#recent tbody tr').length > 0",
                               timeout=WAIT)
        assert page.evaluate("localStorage.getItem('banditbot-key')") == site.keys["read"]
        assert page.locator("#key-result").is_hidden()

        # status, start, duration, decisions; the arm table; the verdict
        assert page.inner_text("#status") == "running"
        assert _fact(page, "Decisions") == "400"
        assert _fact(page, "Started")[:2] == "20"  # a date: 20YY-MM-DD
        assert _fact(page, "Policy") == "thompson"
        report = service.report("greeting")
        hey = _cells(page, "hey")
        assert hey["decisions"] == str(next(a.pulls for a in report.arms if a.arm == "hey"))
        assert hey["allocation"].endswith("%") and "–" in hey["estimate"]  # over its interval
        assert "–" in hey["valid at every look"]  # the confidence sequence
        assert page.inner_text("#verdict") == report.verdict
        # the answer in plain words comes first, as in the CLI and the bot (a trial: the
        # page gave only the stopping rule's verdict, not the headline or the next step)
        assert page.inner_text("#headline") == report.headline
        assert re.fullmatch(r"updated \d\d:\d\d:\d\d \S+", page.inner_text("#updated"))
        assert page.inner_text("#next-step") == \
            (f"Next step: {report.next_step}" if report.next_step else "")
        assert page.evaluate("document.querySelector('#headline').getBoundingClientRect().top"
                             " < document.querySelector('#verdict').getBoundingClientRect()"
                             ".top")
        # every column of the arms table fits a laptop's width (it scrolled sideways, hiding
        # P(best) and the allocation)
        widths = page.evaluate("(() => { const w = document.querySelector('#arms')"
                               ".parentElement; return [w.scrollWidth, w.clientWidth]; })()")
        assert widths[0] <= widths[1], widths
        assert "AIPW" in page.inner_text("#arms-caption")  # names the estimate it leads with
        # axis labels of huge or negative values (a continuous reward of -1e12) stay short
        labels = page.evaluate("[-750000000, -2.5e11, 2500, 3.2e13, -2e16].map("
                               "v => tickLabel(v, 1))")
        assert labels == ["-750M", "-250G", "2.5k", "32T", "-2.0e+16"]
        # ticks get the decimals of their step (a trial's estimate axis read 0.0 0.3 0.5 0.8
        # 1.0 1.3 for ticks 0.25 apart), and a rate's axis ends at 1 (it ran to 1.25)
        labels = page.evaluate("[[0.25, 0.25], [0.75, 0.25], [0.2, 0.2], [5, 2.5], "
                               "[7.5, 2.5], [0.125, 0.025], [0.00002, 0.00001], "
                               "[0.0005, 0.00025], [1250, 250], [1500, 250], [1000, 250]]"
                               ".map(([v, s]) => tickLabel(v, s))")
        assert labels == ["0.25", "0.75", "0.2", "5.0", "7.5", "0.125", "0.00002", "0.00050",
                          "1.25k", "1.5k", "1k"]
        ticks = page.evaluate("JSON.parse(document.getElementById('intervals').dataset.ticks)")
        assert len(set(ticks)) == len(ticks) and 0 < float(ticks[-1]) <= 1.0, ticks
        assert page.evaluate("[num(14603606373.85, 4), num(0.25), num(2000000)]") == \
            ["1.460e+10", "0.250", "2,000,000"]
        # the cumulative chart's axis reaches a cost of -1e12 (it stayed 0–4, the line drawn
        # off the canvas), and a chart of gains still starts at 0
        costs, gains = page.evaluate("[rewardTicks([3, -1e12, 1]), rewardTicks([0, 2.5, 7])]")
        assert costs[0] <= -1e12 and costs[-1] >= 0 and len(costs) <= 6  # 3 is 0 at that scale
        assert gains[0] == 0 and gains[-1] >= 7
        # and what the interval under each uplift is
        assert "Uplift vs hello: the difference in the estimate" in \
            page.inner_text("#arms-caption")
        assert "confidence sequence (valid at every look)" in page.inner_text("#arms-caption")
        settings = page.inner_text("#settings")
        assert "alpha=1" in settings
        # the settings in words, as the report says them (not "every=rewards, seconds=null")
        assert "every 100 rewards" in settings and "null" not in settings
        assert "leader's confidence sequences" in settings  # the winner rule

        # charts: drawn, with axes named, a text alternative each, two columns on a laptop
        for canvas in ("allocation", "cumulative", "intervals"):
            assert _painted(page, canvas) > 3000, canvas
            alt = page.text_content(f"#alt-{canvas}") or ""
            assert "hey" in alt, (canvas, alt)
        assert "400 decisions" in (page.text_content("#alt-allocation") or "")
        boxes = [f.bounding_box() for f in page.locator(".charts figure").all()[:2]]
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[1]["x"] > boxes[0]["x"] + 300
        _no_horizontal_overflow(page)
        assert page.locator("#admin").is_hidden()  # read keys see no admin tools
        assert not _axe_serious(page)

        # the newest decision first, and a new one within one refresh
        newest = list(service.decisions("greeting"))[-1]
        assert page.get_attribute("#recent tbody tr:first-child td.id", "title") == newest.id
        fresh = service.decide("greeting", "late-visitor")
        page.clock.fast_forward(REFRESH_MS)  # one refresh period: the timer fires once
        page.wait_for_function(
            "([id]) => document.querySelector('#recent tbody tr td.id').title === id",
            arg=[fresh.id], timeout=WAIT)
        page.wait_for_function("document.querySelector('#facts').innerText.includes('401')",
                               timeout=WAIT)
        first_page = page.locator("#recent td.id").all_inner_texts()
        # each row's shortened id tells its decision apart (ids begin with their second)
        assert len(set(first_page)) == len(first_page) == 20, first_page
        page.click("#older")
        page.wait_for_function("!document.querySelector('#newer').disabled", timeout=WAIT)
        older = page.locator("#recent td.id").all_inner_texts()
        assert len(older) == 20 and not set(older) & set(first_page)
        page.click("#newer")

        # CSV downloads: the table and the decision log of this generation
        with page.expect_download() as table_csv:
            page.click("#csv-table")
        lines = Path(table_csv.value.path()).read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("experiment,scope,generation,arm") and len(lines) == 5
        with page.expect_download() as log_csv:
            page.click("#csv-log")
        log = Path(log_csv.value.path()).read_text(encoding="utf-8").splitlines()
        assert log[0].startswith("decision_id,") and len(log) == 402

        # what the allocation and inference issues add: status, banners, control uplift
        def richer(route: Any) -> None:
            data = route.fetch().json()
            data.update(status="burn-in", burn_in={"done": 37, "needed": 100},
                        srm={"p_value": 0.0002, "flagged": True, "period": "3",
                             "periods_tested": 5},
                        control="hello", started_at=1_764_000_000, duration_seconds=90_000,
                        decisions=401, estimate_kind="95% confidence sequence (AIPW)")
            for arm in data["arms"]:
                arm.update(estimate=0.3, estimate_low=0.25, estimate_high=0.35,
                           answered=arm["answered"], reward_sum=arm["reward_sum"],
                           chance_to_beat_control=0.9, expected_loss=0.001,
                           uplift={"diff": 0.1, "low": 0.02, "high": 0.18, "relative": 0.5})
            route.fulfill(json=data)

        page.route("**/v1/experiments/greeting/report*", richer)
        page.click("nav a[data-id=greeting]")  # or wait for the next refresh
        page.wait_for_function("document.querySelector('#status').textContent === 'burn-in'",
                               timeout=WAIT)
        notices = page.inner_text("#notices")
        assert "Burn-in: 37 of 100" in notices and "Sample ratio mismatch (p = 0.00020)" \
            in notices  # with periods "p", without them "anytime p", as the CLI writes it
        # the counts are the fewest arm's, named; past its first burn-in (401 decisions of
        # 4 arms needing 100 each) it is an added arm's (a trial read "0 of 10" on 3,010
        # decisions as if no arm had data, and "the estimates are not meaningful yet")
        fewest = min((a for a in site.service.report("greeting").arms if a.active),
                     key=lambda a: a.pulls)
        assert f"per arm (the fewest: {fewest.arm})" in notices, notices
        assert "an arm added later starts the burn-in again" in notices
        assert "not meaningful yet" not in notices
        # the burn-in bar sits under its sentence (a walkthrough saw it over the end of it)
        text = page.locator(".notice.warn span").bounding_box()
        bar = page.locator(".notice.warn progress").bounding_box()
        assert text is not None and bar is not None
        assert bar["y"] >= text["y"] + text["height"] - 1
        assert page.eval_on_selector(".notice.warn progress",  # its own line at any width
                                     "e => getComputedStyle(e).display") == "block"
        heads = page.locator("#arms thead th").all_inner_texts()
        assert {"estimate", "uplift vs hello", "chance to beat control", "expected loss",
                "posterior mean"} <= {h.lower() if h != "uplift vs hello" else h for h in heads}
        assert _cells(page, "formal")["uplift vs hello"].startswith("+0.100 (+50.0%)")
        assert _fact(page, "Duration") == "1 d 1 h"
        assert "confidence sequence" in page.inner_text("#arms-caption")
        page.unroute("**/v1/experiments/greeting/report*")

        # the scope picker: one chat's bandit of a per-chat experiment
        page.click("nav a[data-id=welcome]")
        _loaded(page, "welcome")
        assert page.locator("#scopeform").is_visible()
        assert "20% to the control hi" in page.inner_text("#settings")  # not "0.2"
        assert _fact(page, "Decisions") == "12"
        # a read key names a chat by the pseudonym the log shows (a raw id would make the
        # page an oracle from ids to pseudonyms); the field offers none of them
        assert "pick a chat's pseudonym in the decisions below, or type it" in \
            page.inner_text("#scope-help")
        assert page.locator("#scope-input").get_attribute("list") is None
        # a new-user trial: the help pointed at the decisions, which named no chat (the
        # pseudonym was in the downloaded log alone); each row names its chat by the
        # pseudonym, a link to that chat's bandit
        chat = store_pseudonyms(site.service.store).scope("chat:100")
        pseudonym = chat.split(":")[1]
        assert page.inner_text("#recent-scope") == "chat"
        links = page.locator("#recent button.pick").all_inner_texts()
        assert sorted(set(links)) == sorted(
            store_pseudonyms(site.service.store)(c) for c in site.chat_decisions)
        assert links.count(pseudonym) == site.chat_decisions["100"]
        page.locator("#recent button.pick", has_text=pseudonym).first.click()
        page.wait_for_function("document.querySelector('#exp-description').textContent"
                               f".includes('showing chat {pseudonym}')", timeout=WAIT)
        page.wait_for_function("document.querySelectorAll('#recent tbody tr').length === 7",
                               timeout=WAIT)
        assert _fact(page, "Decisions") == str(site.chat_decisions["100"])
        assert page.input_value("#scope-input") == chat
        assert f"scope={quote(chat)}" in page.url  # a link to the chat's bandit to share
        assert page.locator("#recent-scope").is_hidden()  # one chat: no column to pick from
        # a typo is refused, saying that the table is still that chat's (it stayed silently)
        page.fill("#scope-input", "100")
        page.click("#scopeform button[type=submit]")
        help_text = page.inner_text("#scope-help")
        assert "use chat:ID" in help_text and f"still showing {chat}" in help_text
        assert page.get_attribute("#scope-input", "aria-invalid") == "true"
        assert _fact(page, "Decisions") == str(site.chat_decisions["100"])

        # the server goes away: a clear banner; it comes back: the banner goes
        watch.phase = "server down"
        page.route("**/v1/**", lambda route: route.abort("connectionrefused"))
        page.clock.fast_forward(REFRESH_MS)
        page.wait_for_selector("#banner:not([hidden])", timeout=WAIT)  # the next refresh
        assert "not answering" in page.inner_text("#banner")
        assert _fact(page, "Decisions") == str(site.chat_decisions["100"])  # last data stays
        page.unroute("**/v1/**")
        # the store goes away, the server answers 503 (a trial: the banner blamed the
        # server, and an operator would look at the wrong process)
        page.route("**/v1/**", lambda route: route.fulfill(
            status=503, content_type="application/problem+json", headers=RETRY_AFTER,
            body=json.dumps({"type": "about:blank", "title": "store unavailable",
                             "status": 503, "detail": STORE_FAILED})))
        page.click("#retry")
        page.wait_for_function("document.querySelector('#banner-text').textContent"
                               ".includes('its store')", timeout=WAIT)
        said = page.inner_text("#banner")
        assert "The server answers, but its store (the database) does not" in said, said
        assert "not answering" not in said and "log says why" in said
        page.unroute("**/v1/**")
        page.click("#retry")
        page.wait_for_selector("#banner", state="hidden", timeout=WAIT)
        watch.phase = "main"

        # a link to an experiment the server lacks says so (a trial's stale bookmark showed
        # the first experiment without a word); choosing one clears it
        page.goto(site.url + "/#nosuch")  # (the same page: the address bar's hash changed)
        page.wait_for_function("document.querySelector('#notices').textContent"
                               ".includes('nosuch')", timeout=WAIT)
        shown = page.inner_text("#exp-title")
        assert "No experiment “nosuch” here" in page.inner_text("#notices")
        assert f"showing {shown} instead" in page.inner_text("#notices")
        page.goto(site.url + "/?fresh#nosuch")  # (a page loaded from such a link)
        page.wait_for_function("state.experiments.length > 0", timeout=WAIT)
        first = page.evaluate("state.experiments[0].id")
        page.wait_for_function("([id]) => document.querySelector('#exp-title').textContent "
                               "=== id && document.querySelector('#notices').textContent"
                               ".includes('nosuch')", arg=[first], timeout=WAIT)
        assert f"showing {first} instead" in page.inner_text("#notices")
        page.click("nav a[data-id='greeting']")
        _loaded(page, "greeting")
        assert "nosuch" not in page.inner_text("#notices")

        # /docs works without the internet: Swagger UI from the package
        page.goto(site.url + "/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=WAIT)
        assert "banditbot" in page.inner_text(".swagger-ui .info .title")
        browser.close()
    assert not watch.unexpected(), watch.unexpected()
    assert not watch.outside(), watch.outside()


@pytest.mark.slow
def test_results_page_on_a_phone_with_admin_tools(site: Site) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        page.on("dialog", lambda dialog: dialog.accept())
        watch = Watch(page)
        page.goto(site.url + "/#greeting")
        box = page.locator("#key").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # the key field is on screen
        _sign_in(page, site.keys["admin"])
        _loaded(page, "greeting")
        assert page.locator("#admin").is_visible()
        _no_horizontal_overflow(page)
        assert page.locator("#arms thead").bounding_box()["x"] < 0  # rows are cards instead
        assert page.locator(".charts figure").first.bounding_box()["width"] <= 390

        # the policy form takes parameters; the result says what changed
        page.fill("#policy-name", "epsilon-greedy epsilon=0.1")
        page.click("form[data-action=policy] button")
        page.wait_for_selector("#admin-result.ok", timeout=WAIT)
        result = page.inner_text("#admin-result")
        assert result.startswith("Was thompson(")  # what it was, then what it is now
        assert "greeting now uses epsilon-greedy(epsilon=0.1" in result
        assert _fact(page, "Policy") == "epsilon-greedy"

        colours = _legend_colours(page)
        assert len(set(colours.values())) == 4, colours

        # retiring an arm shows in the table at once
        before = _cells(page, "hello")
        page.select_option("#retire-arm", "hello")
        page.click("form[data-action=retire-arm] button")
        page.wait_for_function("document.querySelector('#admin-result').textContent"
                               ".includes('hello retired')", timeout=WAIT)
        after = _cells(page, "hello")
        assert "retired" in after["arm"] and after["allocation"].startswith("0%")
        assert after["decisions"] == before["decisions"]
        assert f"from {before['allocation']} to 0%" in page.inner_text("#admin-result")
        assert "hello" not in page.locator("#retire-arm option").all_inner_texts()
        # nor is a retired arm offered for rewards or a prior, which the server refuses for
        # it (a trial: both forms had the retired first arm selected, and failed)
        for form in ("#cheat-arm", "#prior-arm"):
            offered = page.eval_on_selector_all(f"{form} option", "os => os.map(o => o.value)")
            assert offered and "hello" not in offered, (form, offered)

        # rewards by hand: the answered count moves by what was added
        answered = int(_cells(page, "hey")["answered"].replace(",", ""))
        page.select_option("#cheat-arm", "hey")
        page.fill("#cheat-rewards", "111")
        page.click("form[data-action=cheat] button")
        page.wait_for_function("document.querySelector('#admin-result').textContent"
                               ".includes('added 3')", timeout=WAIT)
        assert f"answered {answered} → {answered + 3}" in page.inner_text("#admin-result")
        assert int(_cells(page, "hey")["answered"].replace(",", "")) == answered + 3
        # the card counts them, and says so beside its share of the decisions (a trial read
        # "73 (81% of decisions)" as a mistake: 73 of 62 decisions)
        assert "3 added by hand or imported" in _fact(page, "Answered")
        # the form keeps its arm: the next rewards go to hey too (it fell back to the first)
        assert page.eval_on_selector("#cheat-arm", "s => s.value") == "hey"
        assert page.input_value("#cheat-rewards") == ""
        _no_horizontal_overflow(page)
        assert not _axe_serious(page)

        site.service.retire_arm("greeting", "formal", actor="admin")  # (shown after the reset)
        # a reset: the table and the decision list start from zero (no old generation), even
        # when another refresh starts during the reset's own and answers last (the CI once saw
        # the reset's refresh, overtaken by the timer's, report the old generation)
        page.evaluate("""() => {
            const plain = window.fetch;
            let step = 0;
            window.fetch = async (url, options) => {
                if (String(url).includes("/report") && step < 2) {
                    step += 1;
                    if (step === 1) { document.getElementById("retry").click(); }
                    else { await new Promise((done) => setTimeout(done, 700)); }
                }
                return plain(url, options);
            };
        }""")
        page.click("form[data-action=reset] button")
        page.wait_for_function("document.querySelector('#admin-result').textContent"
                               ".includes('generation 0 → 1')", timeout=WAIT)
        assert _fact(page, "Decisions") == "0"
        # each arm keeps its colour, though formal (retired before the reset, not the
        # control) has no row now: the colours went by row, and playful took formal's
        assert _legend_colours(page) == {a: c for a, c in colours.items() if a != "formal"}
        assert page.locator("#recent tbody tr").count() == 0
        assert "No decisions in generation 1" in page.inner_text("#recent-caption")
        assert page.locator("#empty").is_visible()

        # an experiment nobody used yet says how to start
        page.click("nav a[data-id=tip]")
        _loaded(page, "tip")
        empty = page.inner_text("#empty")
        assert "banditbot demo" in empty and "/v1/experiments/tip/decisions" in empty
        assert page.inner_text("#status") == "burn-in"  # the status a report gives
        _no_horizontal_overflow(page)

        # one bandit per chat: the summed view has no bandit to add rewards to (the server
        # answered 400), so the form says to choose a chat; a chat's view takes them
        page.click("nav a[data-id=welcome]")
        _loaded(page, "welcome")
        assert page.locator("form[data-action=cheat] button").is_disabled()
        assert "Choose a chat above first" in page.inner_text("#cheat-hint")
        page.fill("#scope-input", "chat:100")
        page.click("#scopeform button[type=submit]")
        page.wait_for_function("document.querySelector('#exp-description').textContent"
                               ".includes('showing chat 100')", timeout=WAIT)
        assert page.locator("form[data-action=cheat] button").is_enabled()
        # an id with "+", "&" and a space survives the address bar and a reload (the hash
        # was decoded twice: "a+b" came back as "a b"); a raw id takes an admin key
        page.fill("#scope-input", "chat:a+b &c")
        page.click("#scopeform button[type=submit]")
        page.wait_for_function("document.querySelector('#exp-description').textContent"
                               ".includes('showing chat a+b &c')", timeout=WAIT)
        page.reload()
        _loaded(page, "welcome")
        page.wait_for_function("document.querySelector('#exp-description').textContent"
                               ".includes('showing chat a+b &c')", timeout=WAIT)
        assert page.input_value("#scope-input") == "chat:a+b &c"
        assert _fact(page, "Decisions") == str(site.chat_decisions["a+b &c"])

        # signing out forgets the key
        page.click("#signout")
        assert page.locator("#detail").is_hidden() and page.locator("#welcome").is_visible()
        assert page.evaluate("localStorage.getItem('banditbot-key')") is None
        browser.close()
    assert not watch.unexpected(), watch.unexpected()
    assert not watch.outside(), watch.outside()
    stored = site.service.report("greeting")
    assert stored.generation == 1 and json.loads(json.dumps(stored.to_dict()))["policy"] \
        .startswith("epsilon-greedy")


_CHANGED = {"experiments": [{
    "id": "g", "description": "Arms and policy changed by admins",
    "arms": [{"id": "hello", "content": "Hello"}, {"id": "hey", "content": "Hey"},
             {"id": "formal", "content": "Good day"}],
    "policy": "thompson", "reward": {"type": "binary"}, "control": "hello",
    "update": "50 rewards"}]}


@pytest.fixture
def changed_site(tmp_path: Path) -> Iterator[Site]:
    """A new-user trial's experiment: 1,400 decisions, the policy switched at 600
    (epsilon-greedy) and 1,100 (kl-ucb), hey retired at 800, yo added at 1,100; none of
    them on a boundary of the page's 60 steps (23.3 decisions each)."""
    store = SQLiteStore(tmp_path / "changed.db")
    store.init()
    service = BanditService(parse_config(_CHANGED), store, rng=np.random.default_rng(3))
    rng = np.random.default_rng(4)
    truth = {"hello": 0.25, "hey": 0.45, "formal": 0.3, "yo": 0.45}

    def visits(n: int) -> None:
        for i in range(n):
            d = service.decide("g", f"u{i % 40}")
            service.reward(d.id, int(rng.random() < truth[d.arm]), f"u{i % 40}")

    visits(600)
    service.switch_policy("g", "epsilon-greedy", {"epsilon": 0.2}, actor="admin")
    visits(200)
    service.retire_arm("g", "hey", actor="admin")
    visits(300)
    service.add_arm("g", "yo", "Yo!", actor="admin")
    service.switch_policy("g", "kl-ucb", actor="admin")
    visits(300)
    yield from _served(service, ("read",))


@pytest.mark.slow
def test_results_page_shows_what_admins_changed(changed_site: Site) -> None:
    """A new-user trial: the page showed none of the admins' changes (no history line, the
    current policy alone), drew a dashed line at each of 71 allocation periods and said
    "The allocation changed 71 times (dashed lines)". Now the history line sits under the
    table as in the CLI's report, the settings list the changes, the chart marks the
    switches and arm changes with labelled lines (labels side by side, not over each
    other), and its text names them with their decision."""
    from playwright.sync_api import sync_playwright

    report = changed_site.service.report("g")
    assert report.history_text is not None
    with sync_playwright() as pw:
        browser, page, watch = _results_page(pw, changed_site, "g", changed_site.keys["read"],
                                             "Changes")

        history = page.inner_text("#history")
        assert history == report.history_text
        assert "thompson (from start) → epsilon-greedy 20" in history
        assert "→ kl-ucb" in history and "hey retired" in history and "yo added" in history
        assert "changed by admins" in page.inner_text("#settings")
        # the experiment list counts the arms that can be chosen (it counted hey, retired)
        active = len([a for a in report.arms if a.active])
        assert page.inner_text('#experiments a[data-id="g"] small').startswith(
            f"{active} arms · ")
        # the added arm's uplift rests on the decisions since it was added: said
        assert "yo vs hello: compared on the 300 decisions that offered both" in \
            page.inner_text("#notes")

        alt = page.text_content("#alt-allocation") or ""
        assert "policy switched to epsilon-greedy at decision 600" in alt
        assert "hey retired at decision 800" in alt
        assert "yo added at decision 1,100" in alt
        assert "policy switched to kl-ucb at decision 1,100" in alt
        assert "times (dashed lines)" not in alt and "times (faint lines)" in alt  # periods
        if os.environ.get("BANDITBOT_SCREENSHOT"):
            page.locator(".charts figure").first.screenshot(
                path=os.environ["BANDITBOT_SCREENSHOT"])
        # one label per decision with changes, none overlapping another in its row, each
        # starting or ending at its own line
        marks = page.evaluate("""() => {
            const c = document.getElementById('allocation');
            const ctx = c.getContext('2d');
            ctx.font = "12px system-ui, -apple-system, 'Segoe UI', sans-serif";
            const w = c.clientWidth, total = state.series.decisions.at(-1);
            const xOf = (v) => 52 + (w - 66) * v / total;
            const marks = eventMarks(state.series);
            placeLabels(ctx, marks, xOf, w);
            return marks.map((m) => [m.decisions, m.label, m.row, m.left, m.right, m.x]); }""")
        assert [m[:2] for m in marks] == [[600, "policy: epsilon-greedy"], [800, "−hey"],
                                          [1100, "+yo · policy: kl-ucb"]]
        for i, a in enumerate(marks):
            assert a[3] == pytest.approx(a[5]) or a[4] == pytest.approx(a[5])  # at its line
            for b in marks[i + 1:]:
                assert a[2] != b[2] or a[4] <= b[3] or b[4] <= a[3], (a, b)
                # no label over another's line below its own label
                for upper, lower in ((a, b), (b, a)):
                    if upper[2] > lower[2]:
                        assert not lower[3] - 1 <= upper[5] <= lower[4] + 1, (upper, lower)
        # a phone: a label too long for either side of its line (a trial: "+new_a +new_b
        # −emoji_wave" lost its start at the canvas's edge, over the 100% tick) is drawn
        # whole from the plot's left edge
        left, right, width = page.evaluate("""() => {
            const ctx = document.getElementById('allocation').getContext('2d');
            ctx.font = "12px system-ui, -apple-system, 'Segoe UI', sans-serif";
            const w = 350, xOf = (v) => 52 + (w - 66) * v / 1000;
            const marks = [{decisions: 450, label: "+new_a +new_b −emoji_wave · policy: kl-ucb"}];
            placeLabels(ctx, marks, xOf, w, 52);
            return [marks[0].left, marks[0].right, w]; }""")
        assert left >= 52 and right <= width, (left, right)
        assert _painted(page, "allocation") > 3000
        _no_horizontal_overflow(page)
        assert not _axe_serious(page)
        browser.close()
    assert not watch.unexpected(), watch.unexpected()
    assert not watch.outside(), watch.outside()


_TRIAL = {"experiments": [
    {"id": "r", "description": "One rating so far", "sticky_seconds": 3600,
     "arms": [{"id": "short", "content": "Short"}, {"id": "long", "content": "Long"}],
     "policy": {"name": "epsilon-greedy", "epsilon": 0.2},
     "reward": {"type": "rating", "min": 1, "max": 5}},
    {"id": "g", "arms": [{"id": "hello", "content": "Hello"}, {"id": "hey", "content": "Hey"}],
     "policy": {"name": "epsilon-greedy", "epsilon": 0.2}, "control": "hello",
     "burn_in": 0},
    {"id": "h", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
     "reward": {"type": "rating", "min": 1, "max": 5}},
    {"id": "rev", "arms": [{"id": "none", "content": "-"}, {"id": "ten", "content": "10%"}],
     "policy": "gaussian-thompson", "reward": {"type": "continuous"}, "control": "none",
     "burn_in": 0}]}


@pytest.fixture
def trial_site(tmp_path: Path) -> Iterator[Site]:
    """``r``: one decision rated 4, then the same subject's sticky repeat; ``g``: 300
    answered decisions of an epsilon-greedy experiment with a control; ``h``: one decision,
    two ratings added by hand (answers, no estimate); ``rev``: 60 lognormal rewards without
    bounds."""
    store = SQLiteStore(tmp_path / "trial.db")
    store.init()
    service = BanditService(parse_config(_TRIAL), store, rng=np.random.default_rng(3))
    first = service.decide("r", "ann", sticky=True)
    service.reward(first.id, 4, "ann")
    assert service.decide("r", "ann", sticky=True).arm == first.arm  # the sticky repeat
    rng = np.random.default_rng(4)
    for i in range(300):
        d = service.decide("g", f"u{i}")
        service.reward(d.id, int(rng.random() < (0.3 if d.arm == "hello" else 0.5)), f"u{i}")
    service.decide("h", "ann")
    service.cheat("h", "a", [4, 5], actor="admin")
    for i in range(60):
        d = service.decide("rev", f"r{i}")
        service.reward(d.id, float(rng.lognormal(1.0, 1.5)), f"r{i}")
    yield from _served(service, ("admin",))


@pytest.mark.slow
def test_results_page_says_what_its_numbers_and_lines_are(trial_site: Site) -> None:
    """A new-user trial: after one rating of 4 the page showed the posterior's mean (3.5)
    where the CLI's table says "–"; the chart's text said "the first 1 decisions went short
    50%, long 50%; the last 1: short 100%" (a sticky repeat drawn as the policy's share); the
    chart's title read "Estimate per arm with its adaptively weighted AIPW estimate"; its
    dashed line was explained only in the collapsed text; nothing said why P(best), the
    chance to beat the control, the uplift's interval and the means differ; and the
    policy form said "thompson" on an epsilon-greedy experiment."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page, watch = _results_page(pw, trial_site, "r", trial_site.keys["admin"],
                                             "decision")
        rated = trial_site.service.report("r").arms
        arm = next(a for a in rated if a.answered)
        cells = _cells(page, arm.arm)
        # one answer: no point, and beside its interval (most of 1-5) the words for why it
        # is that wide (new-user trials read a bare interval over the whole range as noise)
        assert "estimate" in cells and cells["estimate"].startswith("too few answers yet")
        assert f"{arm.arm}: too few answers yet (" in (page.text_content("#alt-intervals")
                                                       or "")
        assert arm.too_few_answers and arm.estimate_high - arm.estimate_low > 2
        # no control here: the line under the table names none (a trial read "the chance
        # to beat the control" and "an interval of the uplift" on an experiment with neither)
        reading = page.inner_text("#reading")
        assert "every look" in reading and "docs/results.md" in reading, reading
        assert "control" not in reading and "uplift" not in reading, reading
        assert f"{arm.estimate_low:.3f} – {arm.estimate_high:.3f}" in cells["estimate"]
        assert "3.500" not in cells["estimate"]
        alt = page.text_content("#alt-allocation") or ""
        assert "the first 1 decision short 50%, long 50%" in alt, alt
        assert "1 decisions" not in alt and "100%" not in alt, alt
        caption = page.inner_text("#cap-intervals")
        assert caption.startswith("Estimate per arm (circle) and its interval (bar): "), caption
        assert "too few answers for a point yet" in page.inner_text("#key-intervals")
        assert page.get_attribute("#policy-name", "placeholder") == "epsilon-greedy"
        params = page.get_attribute("#policy-params", "placeholder") or ""
        assert params.startswith("epsilon=0.2"), params

        page.goto(trial_site.url + "/#g")
        _loaded(page, "g")
        # 300 answers: each arm's point, no such words
        assert all(not a.too_few_answers for a in trial_site.service.report("g").arms)
        assert re.match(r"0\.\d{3}\n?", _cells(page, "hey")["estimate"])
        assert "Dashed line: the estimate of the control, hello." in \
            page.inner_text("#key-intervals")
        assert page.locator("#key-intervals").is_visible()  # not inside "Chart as text"
        reading = page.inner_text("#reading")
        assert "belief at this look" in reading and "every look" in reading
        assert "docs/results.md" in reading and page.locator("#reading").is_visible()
        assert "with its adaptively" not in page.inner_text("#cap-intervals")
        _no_horizontal_overflow(page)
        assert not _axe_serious(page)

        # answers, all added by hand: no estimate, and the chart does not say "no rewards"
        # beside a table that counts 2 answered (it did)
        page.goto(trial_site.url + "/#h")
        _loaded(page, "h")
        assert _cells(page, "a")["answered"] == "2"
        alt = page.text_content("#alt-intervals") or ""
        assert alt == "Too few answers for an estimate yet.", alt
        assert page.inner_text("#arms-caption").startswith(
            "1 decision, 2 answered (2 added by hand or imported). ")  # ("1 decisions")

        # a reward without bounds: the line under the table does not promise an interval
        # valid at every look or a corrected estimate, which it has not (it did)
        page.goto(trial_site.url + "/#rev")
        _loaded(page, "rev")
        reading = page.inner_text("#reading")
        assert "This reward has no min and max" in reading, reading
        assert "corrects for the changing allocation, the" not in reading, reading
        assert "unbounded: this reward has no min and max" in page.inner_text("#notes")
        # no prior form for it (every prior was refused after the form asked for one), and
        # rewards by hand are said to be one per number ("1101" would be one of 1101)
        assert page.locator("form[data-action=prior] button").is_disabled()
        assert page.inner_text("#prior-hint") == \
            "A prior needs the reward's min and max; this reward has none."
        assert page.inner_text("#cheat-hint") == "Separated by spaces (4 5 3): each is one reward."
        browser.close()
    assert not watch.unexpected(), watch.unexpected()
    assert not watch.outside(), watch.outside()



_CONTEXTUAL = {"experiments": [
    {"id": "tone", "description": "Tone by the hour and the language",
     "arms": [{"id": "short", "content": "Short"}, {"id": "long", "content": "Long"}],
     "policy": "linucb", "features": [
         {"name": "hour", "type": "cyclic"},
         {"name": "language_code", "type": "categorical", "values": ["en", "de", "es"]},
         {"name": "past_reward_rate"}]},
    {"id": "plain", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}]}]}


def _contextual_traffic(service: BanditService, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        context = {"hour": i % 24, "language_code": ("en", "de", "es")[i % 3],
                   "past_reward_rate": float(rng.random())}
        d = service.decide("tone", f"u{i % 30}", context)
        service.reward(d.id, int(rng.random() < (0.3 if d.arm == "short" else 0.5)),
                       f"u{i % 30}")


@pytest.fixture
def contextual_site(tmp_path: Path) -> Iterator[Site]:
    """``tone``, contextual: 200 answered decisions; ``plain``: 5 decisions."""
    store = SQLiteStore(tmp_path / "contextual.db")
    store.init()
    service = BanditService(parse_config(_CONTEXTUAL), store, rng=np.random.default_rng(3))
    _contextual_traffic(service, 200, seed=4)
    for i in range(5):
        service.decide("plain", f"p{i}")
    yield from _served(service, ("read",))


def _setting(page: Any, name: str) -> str | None:
    """The text the settings panel gives ``name``, or ``None`` if it has no such line."""
    found = page.evaluate("""([name]) => { const d = [...document.querySelectorAll(
        '#settings div')].find((d) => d.querySelector('dt').textContent === name);
        return d ? d.querySelector('dd').innerText : null; }""", [name])
    return None if found is None else str(found)


#: features of every kind and default, to say in the page's words and the CLI's
_FEATURES = [{"name": "hour", "type": "cyclic", "period": 24},
             {"name": "rate", "type": "numeric", "center": 0, "scale": 1},
             {"name": "spend", "type": "numeric", "center": 20.5, "scale": 0.25},
             {"name": "country", "type": "categorical",
              "values": ["at", "be", "ch", "de", "dk", "es", "fr"]}]


@pytest.mark.slow
def test_results_page_names_the_context_features(contextual_site: Site) -> None:
    """An experiment's context features were in no overview but the API's /config: the
    settings panel says them, in the words ``banditbot experiments`` uses."""
    from playwright.sync_api import sync_playwright

    from banditbot import FeatureSpec
    from banditbot.cli.reports import features_text

    site = contextual_site
    with sync_playwright() as pw:
        browser, page, watch = _results_page(pw, site, "tone", site.keys["read"], "decision")
        assert _setting(page, "features") == \
            "hour (cyclic, 24), language_code (en, de, es), past_reward_rate (numeric)"
        assert page.evaluate("(f) => featuresText(f)", _FEATURES) == \
            features_text([FeatureSpec(**f) for f in _FEATURES])
        _no_horizontal_overflow(page)
        assert not _axe_serious(page)

        page.click("nav a[data-id=plain]")  # an experiment without features: no such line
        _loaded(page, "plain")
        assert _setting(page, "policy") == "thompson"
        assert _setting(page, "features") is None
        browser.close()
    assert not watch.unexpected(), watch.unexpected()
    assert not watch.outside(), watch.outside()


@pytest.fixture
def long_log_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """``tone`` with a log that counts as long (from 300 decisions plus answers, its charts'
    series kept until the log has grown by half): the series read at 200 answered decisions,
    12 more since; ``plain``: 5 decisions (a short log, read at every change)."""
    from banditbot.service import SeriesCache

    monkeypatch.setattr(SeriesCache, "fresh_below", 300)
    monkeypatch.setattr(SeriesCache, "stale_share", 0.5)
    store = SQLiteStore(tmp_path / "long.db")
    store.init()
    service = BanditService(parse_config(_CONTEXTUAL), store, rng=np.random.default_rng(3))
    _contextual_traffic(service, 200, seed=4)
    assert service.report_series("tone", points=60).current  # the look the page gets
    _contextual_traffic(service, 12, seed=5)
    for i in range(5):
        service.decide("plain", f"p{i}")
    yield from _served(service, ("read",))


@pytest.mark.slow
@pytest.mark.interpreted
def test_results_page_says_which_look_its_charts_show(long_log_site: Site) -> None:
    """On a long log the charts by decision count may show a look kept from earlier
    decisions (the series' ``behind``; the PNG chart's axis says "as of decision N"), where
    the page said nothing of it beside a table of the log as it is now."""
    from playwright.sync_api import sync_playwright

    site = long_log_site
    with sync_playwright() as pw:
        browser, page, watch = _results_page(pw, site, "tone", site.keys["read"], "decision")
        assert _fact(page, "Decisions") == "212"  # the table: the log now
        assert page.locator("#series-look").is_visible()
        assert page.inner_text("#series-look") == (
            "The charts by decision count show the log as of decision 200 (12 decisions and "
            "12 answers since): a long log is read again for them once it has grown a little.")
        for chart in ("allocation", "cumulative"):
            alt = page.text_content(f"#alt-{chart}") or ""
            assert alt.endswith(" The chart shows the log as of decision 200 (12 decisions "
                                "and 12 answers since)."), alt
        assert page.evaluate("decisionAxis(state.series)") == \
            "decisions (as of decision 200)"  # the axes, as the PNG chart's
        if os.environ.get("BANDITBOT_SCREENSHOT"):
            page.screenshot(path=os.environ["BANDITBOT_SCREENSHOT"], full_page=True)
        _no_horizontal_overflow(page)
        assert not _axe_serious(page)

        # a short log's charts are the log as it is: nothing to say
        page.click("nav a[data-id=plain]")
        _loaded(page, "plain")
        page.wait_for_function("document.querySelector('#alt-allocation').textContent"
                               ".includes('5 decisions')", timeout=WAIT)
        assert page.locator("#series-look").is_hidden()
        assert "as of" not in (page.text_content("#alt-allocation") or "")
        assert page.evaluate("decisionAxis(state.series)") == "decisions"

        # the long log grows past its share: its charts are read again, the note goes
        _contextual_traffic(site.service, 200, seed=6)
        page.click("nav a[data-id=tone]")
        _loaded(page, "tone")
        page.wait_for_function("document.querySelector('#alt-allocation').textContent"
                               ".includes('412 decisions')", timeout=WAIT)
        assert page.locator("#series-look").is_hidden()
        assert "as of" not in (page.text_content("#alt-cumulative") or "")
        browser.close()
    assert not watch.unexpected(), watch.unexpected()
    assert not watch.outside(), watch.outside()
