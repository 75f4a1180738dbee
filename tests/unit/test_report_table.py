"""The CLI's report table: every interval named, no probability shown as a certainty."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from banditbot import BanditService, MemoryStore, parse_config
from banditbot._report import chance
from banditbot.cli.reports import render_report


def test_a_chance_never_rounds_to_a_certainty_it_is_not() -> None:
    assert chance(0.9996, 0) == ">99%" and chance(0.99996, 1) == ">99.9%"
    assert chance(0.0004, 1) == "<0.1%" and chance(0.004, 0) == "<1%"
    assert chance(1.0, 0) == "100%" and chance(0.0, 1) == "0.0%"
    assert chance(0.994, 0) == "99%" and chance(0.5, 1) == "50.0%"
    # an estimate from posterior draws is never certain
    assert chance(1.0, 0, exact=False) == ">99%" and chance(0.0, 0, exact=False) == "<1%"


def test_the_uplift_column_is_named_and_shows_the_relative_change() -> None:
    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": a, "content": a} for a in ("base", "new")],
        "control": "base", "policy": {"name": "thompson"}, "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    svc.cheat("g", "base", "0" * 80 + "1" * 20)
    svc.cheat("g", "new", "0" * 50 + "1" * 50)
    out = io.StringIO()
    Console(file=out, width=250, color_system=None).print(render_report(svc.report("g")))
    text = out.getvalue()
    new_row = next(line for line in text.splitlines() if line.startswith("│ new"))
    uplift = svc.report("g").arms[1].uplift
    assert uplift is not None and uplift.relative is not None
    assert f"{uplift.diff:+.3f} ({uplift.relative:+.0%}) [{uplift.low:+.3f}" in new_row
    assert "vs base: difference in the estimate (relative change), " + uplift.kind in \
        " ".join(text.split())
    assert svc.report("g").arms[1].chance_to_beat_control > 0.9999  # 30 points ahead on 100
    assert "100%" not in new_row and new_row.rstrip(" │").endswith(">99%")


def test_the_bots_text_report_names_its_uplift_and_counts_in_words() -> None:
    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": a, "content": a} for a in ("base", "new")],
        "control": "base", "policy": {"name": "thompson"}, "burn_in": 0}]})
    one = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    one.decide("g", "u")
    assert "1 decision," in one.report("g").to_text()
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(0))
    svc.cheat("g", "base", "0" * 80 + "1" * 20)
    svc.cheat("g", "new", "0" * 50 + "1" * 50)
    rep = svc.report("g")
    uplift = rep.arms[1].uplift
    assert uplift is not None
    assert f"new vs base: {uplift.diff:+.3f} ({uplift.low:+.3f} to {uplift.high:+.3f}, " \
           f"{uplift.kind})" in rep.to_text()
