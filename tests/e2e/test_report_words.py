"""A new user's trial of the report (a team lead running a Telegram bot): the answer in
plain words first, the next step when the verdict waits on an arm the policy starves, and a
long report's messages and the overview said plainly — through the CLI on an SQLite log
and through the real bot against the Bot API double."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config

from ..conftest import FakeClock, cli_sqlite_service, run_cli
from ..telegram_double import BotApiDouble
from .test_telegram_polling import ALICE, last_text, run_bot

#: the trial's experiment: Thompson sampling, the control plain, true rates 0.3/0.45/0.6
GREET_YAML = """\
experiments:
  - id: greet
    policy: thompson
    control: plain
    arms:
      - {id: plain, content: "Hello"}
      - {id: specials, content: "Hello! Today's specials"}
      - {id: emoji, content: "Hello 👋"}
"""
RATES = {"plain": 0.3, "specials": 0.45, "emoji": 0.6}


def _play(service: BanditService, experiment: str, rounds: int, seed: int,
          rates: dict[str, float]) -> None:
    rng = np.random.default_rng(seed)
    for i in range(rounds):
        d = service.decide(experiment, subject=f"u{i}")
        service.reward(d.id, int(rng.random() < rates[d.arm]), subject=f"u{i}")


def test_the_cli_report_opens_with_the_answer_and_gives_the_next_step(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The trial's reproduction: 600 decisions through the service on an SQLite log, then
    `banditbot report`. It opened with the policy's settings, and said "not yet shown
    better than plain" with plain at the 1% floor and nothing to do about it."""
    service, options = cli_sqlite_service(tmp_path, GREET_YAML, "x.db", seed=3)
    _play(service, "greet", 600, 1, RATES)
    report = service.report("greet")
    assert report.next_step is not None and report.starved  # (plain at the floor)
    code, out, _ = run_cli(["report", "greet", *options], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"greet: {report.headline}"
    assert lines[0].startswith("greet: emoji leads: ") and " 👍 against plain's " in lines[0]
    assert lines[0].endswith("get too little traffic to settle it (next step below)") or \
        lines[0].endswith("gets too little traffic to settle it (next step below)")
    assert lines[1].startswith("greet · thompson")
    step = " ".join(out.split("next step: ", 1)[1].split())  # (unwrapped)
    assert "raise the exploration floor (floor: 0.1 in the experiments file, now 0.01" in step
    assert "give plain a fixed share outside the bandit (holdout: 0.1" in step
    code, out, _ = run_cli(["report", "greet", "--json", *options], capsys)
    document = json.loads(out)
    assert document["headline"] == report.headline
    assert document["next_step"] == report.next_step


def test_the_bot_opens_with_the_answer_and_says_plainly_what_did_not_fit(
        tmp_path: Path, double: BotApiDouble) -> None:
    """/report greet: the headline first and the next step; a bare /report: the 44-arm
    experiment that does not fit "is too long to show beside the others" (it said "Not
    shown (one message is too short for all)"); /report big: its parts say which arms
    they hold without parentheses inside parentheses (it said "part 2/2 (arms 28–30 of
    the 30 shown (44 in all))")."""
    arms = [{"id": f"variant_number_{i:02d}_with_a_long_id", "content": f"m {i}"}
            for i in range(44)]
    config = parse_config({"experiments": [
        {"id": "greet", "policy": "thompson", "control": "plain",
         "arms": [{"id": a, "content": a} for a in RATES]},
        {"id": "big", "policy": "thompson", "burn_in": 0, "arms": arms}]})
    store = SQLiteStore(tmp_path / "bot.db")
    store.init()
    service = BanditService(config, store, rng=np.random.default_rng(3), clock=FakeClock())
    _play(service, "greet", 600, 1, RATES)
    _play(service, "big", 300, 2, {a["id"]: 0.1 + 0.01 * i for i, a in enumerate(arms)})
    greet = service.report("greet")
    assert greet.next_step is not None

    async def script() -> None:
        double.send_command(ALICE, 501, "/report greet")
        await double.wait_for(lambda: any(m.kind == "photo" for m in double.chat_messages(501)))
        double.send_command(ALICE, 502, "/report")
        await double.wait_for(last_text(double, 502))
        double.send_command(ALICE, 503, "/report big")
        await double.wait_for(lambda: any(m.kind == "photo" for m in double.chat_messages(503)))

    run_bot(service, double, script)
    assert not double.errors
    (first, *_) = [m.text or "" for m in double.chat_messages(501) if m.kind == "text"]
    assert first.startswith(f"<b>greet</b>: {html.escape(greet.headline, quote=False)}\n\n"
                            "<b>greet · thompson")
    assert html.escape(f"next step: {greet.next_step}", quote=False) in first
    (overview,) = [m.text or "" for m in double.chat_messages(502) if m.kind == "text"]
    assert "big is too long to show beside the others: its report comes alone, with its " \
           "chart: /report big" in overview
    assert "Not shown" not in overview
    parts = [m.text or "" for m in double.chat_messages(503) if m.kind == "text"]
    assert len(parts) >= 2
    assert re.search(r"\narms 1–\d+ of the 30 shown here \(the other 14: one line at the "
                     r"end\)\n", parts[0]), parts[0][:600]
    for i, part in enumerate(parts[1:], 2):
        label = part.split("\n", 1)[0]
        assert re.fullmatch(rf"<b>big</b> · part {i}/{len(parts)} · (arm \d+|arms \d+–\d+) "
                            r"of the 30 shown here", label), label
    assert not any("in all))" in part for part in parts)
