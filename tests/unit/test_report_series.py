"""The charts' decision series from the service (``BanditService.report_series``): the same
series the whole log's records give, read as the fields it needs, and on a long log kept —
in process and in the store — until the log has grown by a share, saying which look it
shows."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, MemoryStore, parse_config
from banditbot._series import DecisionSeries
from banditbot.service import SeriesCache
from banditbot.stores import SQLiteStore

from ..conftest import CountingStore

ARMS = [{"id": a, "content": a} for a in ("a", "b", "c")]


def _service(store: Any = None, **experiment: Any) -> BanditService:
    config = parse_config({"experiments": [{"id": "e", "arms": ARMS, "burn_in": 0,
                                            **experiment}]})
    return BanditService(config, store if store is not None else MemoryStore(),
                         rng=np.random.default_rng(7))


def _traffic(svc: BanditService, n: int, *, seed: int = 0, chats: int = 0,
             sticky: bool = False) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        user = f"u{rng.integers(20)}"
        chat = f"{rng.integers(chats)}" if chats else None
        d = svc.decide("e", user, chat=chat, sticky=sticky)
        if rng.random() < 0.7:
            svc.reward(d.id, float(rng.random() < 0.4), user)


def _whole_log(svc: BanditService, *, scope: str | None = None,
               points: int = 60) -> DecisionSeries:
    """What every chart drew before: the whole log's records, in the report's arms."""
    report = svc.report("e")
    return DecisionSeries.from_records(
        [a.arm for a in report.arms], svc.decisions("e", generation=report.generation),
        points=points, scope=scope)


def _same(got: DecisionSeries, expected: DecisionSeries) -> None:
    assert got.to_dict() == expected.to_dict()


def test_the_series_is_the_whole_logs_with_a_retired_arm_and_a_policy_switch() -> None:
    svc = _service()
    _traffic(svc, 150)
    svc.switch_policy("e", "epsilon-greedy", {"epsilon": 0.2}, actor="test")
    _traffic(svc, 100, seed=1)
    svc.retire_arm("e", "c", actor="test")
    _traffic(svc, 100, seed=2)
    series = svc.report_series("e")
    _same(series, _whole_log(svc))
    assert series.arms == ("a", "b", "c") and series.total == 350
    assert [label for _, label in series.events] == ["policy: epsilon-greedy", "−c"]
    assert series.current
    _same(svc.report_series("e", points=7), _whole_log(svc, points=7))


def test_each_scopes_series_is_its_part_of_the_log() -> None:
    svc = _service(scope="chat")
    _traffic(svc, 200, chats=3)
    for scope in (None, "chat:0", "chat:1", "chat:2"):
        series = svc.report_series("e", scope=scope)
        _same(series, _whole_log(svc, scope=scope))
    assert svc.report_series("e", scope="chat:1").total < 200


def test_sticky_decisions_count_but_do_not_move_the_allocation() -> None:
    svc = _service(sticky_seconds=3600)
    _traffic(svc, 200, sticky=True)
    assert sum(r.kind == "sticky" for r in svc.decisions("e")) > 100
    _same(svc.report_series("e"), _whole_log(svc))


def test_deferred_thompson_decisions_show_the_allocation_of_their_posterior() -> None:
    """``propensity: deferred`` logs a posterior, no vector: the series computes the vector
    as the log's readers do (the allocation is not 0 for every arm)."""
    svc = _service(policy={"name": "thompson"}, propensity="deferred")
    _traffic(svc, 200)
    unresolved = [r for r in svc.store.iter_decisions("e") if not r.probabilities.size]
    assert len(unresolved) == 200
    series = svc.report_series("e")  # before anything else resolved a vector
    _same(series, _whole_log(svc))
    total = sum(series.allocation[a] for a in series.arms)
    assert np.allclose(total, 1.0)


@pytest.fixture
def long_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A SQLite log of 300 decisions that counts as long (the share that makes it read
    again: 5%)."""
    monkeypatch.setattr(SeriesCache, "fresh_below", 400)
    monkeypatch.setattr(SeriesCache, "stale_share", 0.05)
    path = tmp_path / "long.db"
    store = SQLiteStore(path)
    store.init()
    _traffic(_service(store), 300)
    store.close()
    return path


@pytest.mark.interpreted
def test_a_long_logs_series_is_kept_until_the_log_has_grown_by_the_share(
        long_log: Path) -> None:
    store = CountingStore(long_log)
    svc = _service(store)
    first = svc.report_series("e")
    assert store.log_reads == 1 and first.current
    _same(first, _whole_log(svc))
    store.log_reads = 0

    _traffic(svc, 10, seed=1)  # ~17 decisions and answers of ~510: 3%
    kept = svc.report_series("e")
    assert store.log_reads == 0  # not read again
    _same(kept.lagging(0, 0.0), first)
    assert kept.behind[0] == 10 and kept.behind[1] > 0 and not kept.current
    assert kept.to_dict()["behind"]["decisions"] == 10

    other_store = CountingStore(long_log)  # another process: a CLI, a cold Lambda
    other = _service(other_store).report_series("e")
    assert other_store.log_reads == 0
    assert other.to_dict() == kept.to_dict()
    other_store.close()

    _traffic(svc, 20, seed=2)  # past 5%: read again, current
    fresh = svc.report_series("e")
    assert store.log_reads == 1 and fresh.current
    _same(fresh, _whole_log(svc))
    store.close()


def test_a_short_log_is_read_at_every_change(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "short.db")
    store.init()
    svc = _service(store)
    _traffic(svc, 50)
    svc.report_series("e")
    svc.report_series("e")  # nothing changed: kept
    assert store.log_reads == 1
    _traffic(svc, 1, seed=1)
    assert svc.report_series("e").current and store.log_reads == 2
    store.close()
    with sqlite3.connect(tmp_path / "short.db") as conn:  # nothing kept in the store
        assert not conn.execute("SELECT name FROM documents WHERE name LIKE 'series:%'"
                                ).fetchall()
    conn.close()


@pytest.mark.interpreted
def test_the_chart_of_a_kept_series_says_which_look_it_shows(long_log: Path) -> None:
    pytest.importorskip("matplotlib")
    from banditbot._charts import _report_figure
    from banditbot._plotting import STYLE, styled

    store = SQLiteStore(long_log)
    svc = _service(store)
    svc.report_series("e")
    _traffic(svc, 4, seed=1)
    series = svc.report_series("e")
    with styled(STYLE):
        fig = _report_figure(svc.report("e"), series)
        label = fig.axes[0].get_xlabel()
    assert label == "decisions (as of decision 300)"
    store.close()
