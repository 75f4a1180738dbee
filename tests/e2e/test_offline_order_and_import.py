"""`evaluate` reads a log in time order whatever the file's row order; `learn` is all or
nothing where the store can be, says exactly what a Ctrl+C left where it cannot, refuses an
experiment's own log without its ids, and takes a log without propensities with --no-ips."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ..conftest import EXAMPLES, run_cli
from .test_offline_cli import _exported_log

run = run_cli


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns or list(rows[0]), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def test_a_shuffled_log_gives_the_estimates_of_the_log_in_order(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial sorted the demo's CSV by arm (the same rows, the same created_at): Thompson
    sampling's DM went from 0.436 to 0.093, IPS from 0.446 to 0.164, as the oldest half
    the policies learn from was the first half of the file. Now the rounds are read by
    their times: a shuffled copy gives the same rows of estimates, intervals and the
    logged baseline, and a note says the file was out of order; a log without times keeps
    its file's order and says so."""
    _exported_log(tmp_path / "g.csv", arms=("a", "b", "c"), epsilon=0.3, decisions=600,
                  seconds=60, rate=0.3)
    rows = _rows(tmp_path / "g.csv")
    shuffled = [rows[i] for i in np.random.default_rng(5).permutation(len(rows))]
    _write(tmp_path / "shuffled.csv", shuffled)
    _write(tmp_path / "by_arm.csv", sorted(rows, key=lambda r: r["arm"]))
    evaluate = ["-p", "thompson", "-p", "epsilon-greedy", "-e", "ips", "-e", "snips", "-e",
                "dm", "-e", "dr", "--n-bootstrap", "50", "--json", "--online"]
    said = {}
    for name in ("g", "shuffled", "by_arm"):
        code, out, err = run(["evaluate", str(tmp_path / f"{name}.csv"), *evaluate], capsys)
        assert code == 0, err
        said[name] = (json.loads(out), err)
    original = said["g"][0]
    assert "not in time order" not in said["g"][1]
    for name in ("shuffled", "by_arm"):
        document, err = said[name]
        for mine, theirs in zip(document["rows"], original["rows"], strict=True):
            assert mine == theirs, (name, mine, theirs)
        assert document["logged_mean_reward"] == original["logged_mean_reward"]
        assert "note: the rows are not in time order" in err and "oldest first" in err
    _write(tmp_path / "no_time.csv", shuffled, ["arm", "reward", "propensity"])
    code, out, err = run(["evaluate", str(tmp_path / "no_time.csv"), *evaluate], capsys)
    assert code == 0, err
    assert "note: read in the file's order (no time on its rounds)" in err
    assert "--timestamp-col" in err


def _source_log(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: Path = EXAMPLES
                ) -> tuple[Path, str]:
    """An export of the example experiment ``random`` (400 answered decisions, two arms;
    or ``config``'s experiment ``random``, of the same arms) and the store it came from."""
    from banditbot import build_service

    source = f"sqlite:///{tmp_path / 'source.db'}"
    service = build_service(config, source)
    rng = np.random.default_rng(3)
    for i in range(400):
        d = service.decide("random", f"u{i}")
        service.reward(d.id, int(rng.random() < (0.3 if d.arm == "arm1" else 0.6)), f"u{i}")
    service.store.close()
    log = tmp_path / "log.csv"
    assert run(["export", "random", "--out", str(log), "--store", source, "--config",
                str(config)], capsys)[0] == 0
    return log, source


def _imports(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT arm, COUNT(*) FROM decisions WHERE kind = 'import' "
                                 "GROUP BY arm").fetchall())


def test_ctrl_c_during_learn_leaves_the_sqlite_store_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C while `learn` wrote left one arm's rows imported, no warm-start note, and the
    words "stopped before the end (a file is written whole or not at all)"; the next run
    said the rounds were learned "from another log". Now the import is one transaction on
    SQLite: a Ctrl+C (here raised once the first arm's rows are written) leaves nothing,
    says so, and the same command then learns the whole log."""
    from banditbot import build_service
    from banditbot.stores import SQLiteStore

    log, _ = _source_log(tmp_path, capsys)
    target = tmp_path / "target.db"
    build_service(EXAMPLES, f"sqlite:///{target}").store.close()  # an existing store
    learn = ["learn", str(log), "-x", "random", "--store", f"sqlite:///{target}", "--config",
             str(EXAMPLES)]
    real = SQLiteStore.record_manual
    calls: list[int] = []

    def interrupted(self: SQLiteStore, decisions: Any, extras: Any = None) -> None:
        real(self, decisions, extras)
        calls.append(len(decisions))
        if len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl+C, as the first arm's rows are written

    monkeypatch.setattr(SQLiteStore, "record_manual", interrupted)
    code, out, err = run(learn, capsys)
    assert code == 130, (out, err)
    assert "interrupted (Ctrl+C): stopped before anything was imported" in err, err
    assert "a file is written whole" not in err
    assert _imports(target) == {}
    monkeypatch.setattr(SQLiteStore, "record_manual", real)
    code, out, err = run(learn, capsys)
    assert code == 0, err
    assert "started from history" in out and "another log" not in err
    assert sum(_imports(target).values()) == sum(
        1 for r in _rows(log) if r["reward"] and r["kind"] == "policy")


def test_ctrl_c_while_learn_sets_priors_on_sqlite_says_nothing_was_set(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C while `learn --as-prior` set the priors (here as the second arm's is set)
    said "stopped while the priors were set: those of arm1 are set … the store was
    changed" with the hint `reset --clear-priors`, though the transaction was rolled back
    and the store held no prior; and a store file the command had just made was kept. Now
    the priors are read back: nothing was set, it says so, the new file is removed, and on
    an existing store the same command then sets them all."""
    from banditbot import build_service
    from banditbot.stores import AdminRecord, SQLiteStore

    log, _ = _source_log(tmp_path, capsys)
    real = SQLiteStore.log_admin
    priors: list[str] = []

    def interrupted(self: SQLiteStore, record: AdminRecord) -> None:
        real(self, record)
        if record.action == "prior":
            priors.append(record.details)
            if len(priors) % 2 == 0:
                raise KeyboardInterrupt  # Ctrl+C, as the second arm's prior is set

    monkeypatch.setattr(SQLiteStore, "log_admin", interrupted)
    fresh = tmp_path / "fresh.db"
    target = tmp_path / "target.db"
    build_service(EXAMPLES, f"sqlite:///{target}").store.close()  # an existing store
    for db in (fresh, target):
        code, out, err = run(["learn", str(log), "-x", "random", "--as-prior", "--store",
                              f"sqlite:///{db}", "--config", str(EXAMPLES)], capsys)
        assert code == 130, (out, err)
        assert "interrupted (Ctrl+C): stopped before anything was set: 'random' is as it " \
               "was" in err, err
        assert "the store was changed" not in err and "--clear-priors" not in err
    assert not fresh.exists()  # made by this command, left with nothing in it
    assert build_service(EXAMPLES, f"sqlite:///{target}").priors("random") == {}
    monkeypatch.setattr(SQLiteStore, "log_admin", real)
    code, out, err = run(["learn", str(log), "-x", "random", "--as-prior", "--store",
                          f"sqlite:///{target}", "--config", str(EXAMPLES)], capsys)
    assert code == 0, err
    assert set(build_service(EXAMPLES, f"sqlite:///{target}").priors("random")) == {
        "arm1", "arm2"}


@pytest.mark.parametrize("with_ids", [True, False])
def test_ctrl_c_during_a_warm_start_on_a_store_without_transactions_says_what_is_there(
        with_ids: bool) -> None:
    """Where a store cannot write an import in one transaction (DynamoDB writes 33 rows
    at a time; here the memory store, stopped after part of an arm's rows), the interruption
    says exactly how many rounds are in the statistics, that the store was changed, and how
    to finish (--skip-learned) or undo (reset); the next run says it is this same log,
    partly learned (it said "from another log"), and --skip-learned learns each round
    once."""
    from banditbot import BanditService, MemoryStore, parse_config
    from banditbot.offline import LoggedBandit, WarmStartInterrupted, warm_start
    from banditbot.stores import WARM_START_NOTE

    cfg = parse_config({"experiments": [{
        "id": "g", "arms": [{"id": "a", "content": "a"}, {"id": "b", "content": "b"}]}]})
    calls: list[int] = []
    stopping = [True]

    class Stopped(MemoryStore):  # (a subclass: the compiled build's store takes one)
        def record_manual(self, decisions: Any, extras: Any = None) -> None:
            calls.append(len(decisions))
            if stopping[0] and len(calls) == 2:  # the second arm: 33 rows, then Ctrl+C
                super().record_manual(decisions[:33], extras[:33] if extras else None)
                raise KeyboardInterrupt
            super().record_manual(decisions, extras)

    svc = BanditService(cfg, Stopped(), rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    n = 300
    log = LoggedBandit(("a", "b"), rng.integers(0, 2, n).astype(np.intp),
                       (rng.random(n) < 0.4).astype(np.float64), np.full(n, 0.5),
                       decision_ids=tuple(f"d{i}" for i in range(n)) if with_ids else None)
    with pytest.raises(WarmStartInterrupted) as stopped:
        warm_start(svc, "g", log, min_ess=0)
    first = calls[0]
    assert stopped.value.rounds_imported == first + 33 and stopped.value.changed
    assert stopped.value.rounds_planned == n
    said = f"{stopped.value.message} ({stopped.value.hint})"
    assert f"{first + 33:,} of the {n:,} rounds to learn are in 'g''s statistics now" in said
    assert f"the other {n - first - 33:,} not: the store was changed" in said
    assert "--skip-learned" in said and "banditbot reset g" in said
    assert sum(1 for r in svc.decisions("g") if r.kind == "import") == first + 33
    assert "stopped before the end" in svc.notes("g")[WARM_START_NOTE]
    stopping[0] = False
    with pytest.raises(Exception, match="by a learn of this same log that stopped before "
                                        "the end") as again:
        warm_start(svc, "g", log, min_ess=0)
    assert f"learn only the other {n - first - 33:,}" in str(again.value)
    done = warm_start(svc, "g", log, min_ess=0, skip_learned=True)
    assert done.rounds_used == n - first - 33
    assert len([r for r in svc.decisions("g") if r.kind == "import"]) == n  # each once
    note = svc.notes("g")[WARM_START_NOTE]
    assert "stopped before the end" not in note and "started from history" in note
    with pytest.raises(Exception, match="already"):  # the whole log is in: refused
        warm_start(svc, "g", log, min_ess=0, skip_learned=True)


@pytest.mark.interpreted
@pytest.mark.parametrize("policy", ["epsilon-greedy", "deferred thompson"])
def test_an_experiments_own_log_without_its_ids_is_not_learned_twice(
        policy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`learn min.csv -x greeting`, min.csv the experiment's own export cut to arm, reward
    and propensity, was accepted and doubled every count. Now it is refused as the
    experiment's own decisions (by the rows: any order), as is a copy with their times.
    Under Thompson sampling with ``propensity: deferred`` it was still accepted: the store
    holds a deferred decision's propensity only once a read kept it (at most 100,000 a
    read, none where the process cannot write), the export writes the computed one, and
    the two were compared (here a read keeps 50, as a read of a longer log does)."""
    config = EXAMPLES
    if policy == "deferred thompson":
        from banditbot.service import VectorKeeper

        monkeypatch.setattr(VectorKeeper, "LIMIT", 50)
        config = tmp_path / "deferred.yaml"
        config.write_text("experiments:\n"
                          "  - id: random\n"
                          "    arms:\n"
                          "      - {id: arm1, content: one}\n"
                          "      - {id: arm2, content: two}\n"
                          "    policy: {name: thompson}\n"
                          "    propensity: deferred\n", encoding="utf-8")
    log, source = _source_log(tmp_path, capsys, config)
    rows = _rows(log)
    shuffled = [rows[i] for i in np.random.default_rng(2).permutation(len(rows))]
    _write(tmp_path / "min.csv", shuffled, ["arm", "reward", "propensity"])
    _write(tmp_path / "timed.csv", rows[:250], ["arm", "reward", "propensity", "created_at"])
    before = _rows(log)
    kept = sum(1 for r in before if r["reward"])
    for name, count in (("min.csv", kept), ("timed.csv", sum(1 for r in rows[:250]
                                                             if r["reward"]))):
        code, out, err = run(["learn", str(tmp_path / name), "-x", "random", "--store",
                              source, "--config", str(config), "--min-ess", "0"], capsys)
        assert code == 2, (name, out, err)
        assert f"{count:,} of the log's {count:,} rounds are decisions of 'random'" in err
        assert "count each twice" in err
    assert _imports(tmp_path / "source.db") == {}
    # another experiment's store takes it (Thompson sampling left few rounds to one arm)
    code, out, err = run(["learn", str(tmp_path / "min.csv"), "-x", "random", "--store",
                          f"sqlite:///{tmp_path / 'other.db'}", "--config", str(config),
                          "--min-ess", "0"], capsys)
    assert code == 0, err


def test_a_log_without_propensities_can_be_learned_without_ips_and_evaluated_with_dm(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`learn abd_nop.csv --no-ips` (columns arm, reward) was refused for its missing
    propensity column, though --no-ips counts every round as it is; `evaluate` named the
    column alone. Now --no-ips learns it, and the refusals say what such a log can do."""
    log, _ = _source_log(tmp_path, capsys)
    _write(tmp_path / "nop.csv", _rows(log), ["arm", "reward"])
    target = ["-x", "random", "--store", f"sqlite:///{tmp_path / 'fresh.db'}", "--config",
              str(EXAMPLES)]
    code, out, err = run(["learn", str(tmp_path / "nop.csv"), *target], capsys)
    assert code == 2 and "missing column(s) propensity" in err and "--no-ips" in err, err
    code, out, err = run(["learn", str(tmp_path / "nop.csv"), "--no-ips", *target], capsys)
    assert code == 0, err
    assert "not importance-weighted" in out
    assert sum(_imports(tmp_path / "fresh.db").values()) == sum(
        1 for r in _rows(log) if r["reward"])
    evaluate = ["evaluate", str(tmp_path / "nop.csv"), "-p", "thompson", "--n-bootstrap",
                "20"]
    code, out, err = run(evaluate, capsys)
    assert code == 2 and "missing column(s) propensity" in err and "-e dm" in err, err
    code, out, err = run([*evaluate, "-e", "dm", "--json"], capsys)
    assert code == 0, err
    assert [r["estimator"] for r in json.loads(out)["rows"]] == ["dm"]
    assert "note: no propensity column" in err
