"""The charts' series counts the traffic the report counts, holdout decisions included."""

from __future__ import annotations

import numpy as np

from banditbot import BanditService, MemoryStore, parse_config
from banditbot._series import DecisionSeries


def test_the_series_counts_holdout_decisions_as_the_report_does() -> None:
    cfg = parse_config({"experiments": [{
        "id": "h", "arms": [{"id": a, "content": a} for a in ("base", "b", "c")],
        "control": "base", "holdout": 0.2, "burn_in": 0}]})
    svc = BanditService(cfg, MemoryStore(), rng=np.random.default_rng(2))
    for i in range(300):
        svc.reward(svc.decide("h", f"u{i}").id, i % 2, f"u{i}")
    svc.cheat("h", "b", "1111")  # not traffic: left out of both
    assert sum(1 for r in svc.decisions("h") if r.kind == "holdout") > 30
    report = svc.report("h")
    series = DecisionSeries.from_records([a.arm for a in report.arms], svc.decisions("h"))
    assert series.total == 300  # the chart said fewer: it left the holdout's decisions out
    timeline = svc.timeline("h")
    assert sum(float(v.sum()) for v in timeline.counts.values()) == 300
