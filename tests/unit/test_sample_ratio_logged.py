"""The sample-ratio check of an experiment without allocation periods: every decision's arm
against the vector it logged (``update: every decision``, the default). Simulated with an
adapting policy (a softmax of the running means, mixed with a 1% floor), many experiments at
once; the test's sums are those the log gives (``E = Σ p_t``, ``V = Σ diag(p_t) − p_t p_tᵀ``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.statistics import (
    logged_ratio_anytime_p_value,
    logged_ratio_p_value,
    ratio_p_value,
)


def _p_values(rng: np.random.Generator, runs: int, decisions: int, k: int, *,
              temperature: float, drop: float = 0.0, lie: float = 0.0) -> np.ndarray:
    """The χ² test's p-value (at one look) of each of ``runs`` experiments of :func:`_logs`
    (``drop``: that share of arm 1's decisions is lost before it is logged; ``lie``: each
    logged vector moves that share of its top arm's mass to the others, the arm drawn from
    the true vector)."""
    return np.array([logged_ratio_p_value(chosen, vectors) or 1.0 for chosen, vectors in
                     _logs(rng, runs, decisions, k, temperature=temperature, drop=drop,
                           lie=lie)])


def test_a_fair_log_is_flagged_at_most_at_the_nominal_rate_however_the_policy_adapts() -> None:
    """1,500 experiments of 2,000 decisions over 3 arms, and 1,500 of 300 over 10 arms (the
    least likely arms at the 1% floor, expected 3 times each: pooled into one cell). Flagged
    below p = 0.001: at most 6 in each (nominal 1.5; in 4,000 more runs of each, 2 and 3
    were; a false failure below 1e-3). At p < 0.05 the test is at or below its level
    (seen 0.024 and 0.048)."""
    rng = np.random.default_rng(31)
    for decisions, k in ((2000, 3), (300, 10)):
        p = _p_values(rng, 1500, decisions, k, temperature=0.05)
        assert int((p < 0.001).sum()) <= 6, (decisions, k, int((p < 0.001).sum()))
        assert float((p < 0.05).mean()) <= 0.07, (decisions, k, float((p < 0.05).mean()))


def test_a_lost_share_of_one_arm_or_a_wrong_logged_vector_is_flagged() -> None:
    """A client that loses 20% of one arm's decisions (the arm given about a third) over
    6,000 decisions, and a log whose vectors say 10% less for the top arm than the draw
    used (a stale or pre-floor vector) over 2,000: flagged in all of 40 experiments each
    (seen in all of 200)."""
    rng = np.random.default_rng(32)
    assert (_p_values(rng, 40, 6000, 3, temperature=0.5, drop=0.2) < 0.001).all()
    assert (_p_values(rng, 40, 2000, 3, temperature=0.05, lie=0.1) < 0.001).all()


def _logs(rng: np.random.Generator, runs: int, decisions: int, k: int, *,
          temperature: float, drop: float = 0.0, lie: float = 0.0
          ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The logs ``_p_values`` sums, whole: each run's drawn arms and logged vectors in the
    order of the decisions (``drop``'s lost decisions left out)."""
    rates = np.linspace(0.1, 0.3, k)
    n, s = np.zeros((runs, k)), np.zeros((runs, k))
    rows = np.arange(runs)
    chosen = np.zeros((runs, decisions), dtype=np.int64)
    vectors = np.zeros((runs, decisions, k))
    kept = np.ones((runs, decisions), dtype=bool)
    for t in range(decisions):
        means = np.where(n > 0, s / np.maximum(n, 1.0), 0.5)
        z = np.exp((means - means.max(axis=1, keepdims=True)) / temperature)
        p = (1.0 - 0.01 * k) * z / z.sum(axis=1, keepdims=True) + 0.01
        arm = np.minimum((rng.random((runs, 1)) > p.cumsum(axis=1)).sum(axis=1), k - 1)
        logged = p.copy()
        if lie:
            top = p.argmax(axis=1)
            moved = lie * p[rows, top]
            logged = p + (moved / (k - 1))[:, None]
            logged[rows, top] -= moved + moved / (k - 1)
        kept[:, t] = ~((arm == 1) & (rng.random(runs) < drop))
        chosen[:, t], vectors[:, t] = arm, logged
        n[rows, arm] += 1.0
        s[rows, arm] += rng.random(runs) < rates[arm]
    return [(chosen[i][kept[i]], vectors[i][kept[i]]) for i in range(runs)]


def test_the_check_the_report_runs_is_valid_however_often_it_is_read() -> None:
    """A report reads the growing log again and again. The χ² of the log so far, read every
    20 decisions of 300 fair logs of 10,000 (0.5 / 0.3 / 0.2), fell below 0.001 at some
    look in 11 of them (the 1,000 looks of 1,000 logs of 20,000: in 29), where its level
    promises 0.3. The check the report runs is a test martingale: its p-value is the
    smallest over every prefix of the log, so "flagged at some look" is "flagged now", and
    a fair log's is below α with probability at most α: at most 3 of the 300 below 0.001
    (nominal 0.3; a false failure below 3e-4), at most 27 below 0.05 (nominal 15; below
    1e-3). Adapting policies as above (2,000 logs): at most 3 of 400 each below 0.001
    (seen 0 and 0); the lost share and the wrong vectors are flagged in at least 37 of 40
    each (in 200 of each: 199, where the χ² at one look flags 200; a false failure below
    1e-4): the price of a test that may be read at every decision."""
    rng = np.random.default_rng(34)
    p = np.array([0.5, 0.3, 0.2])
    values = []
    for _ in range(300):
        arms = rng.choice(3, size=10_000, p=p)
        vectors = np.broadcast_to(p, (10_000, 3))
        value = logged_ratio_anytime_p_value(arms, vectors)
        assert value is not None
        values.append(value)
        if len(values) <= 3:  # the smallest over every prefix: a longer log's is no larger
            shorter = [logged_ratio_anytime_p_value(arms[:t], vectors[:t])
                       for t in (100, 2_000, 9_999)]
            assert all(x is not None and value <= x for x in shorter), (value, shorter)
    assert sum(v < 0.001 for v in values) <= 3
    assert sum(v < 0.05 for v in values) <= 27
    for decisions, k in ((3000, 3), (300, 10)):
        fair = [logged_ratio_anytime_p_value(c, v)
                for c, v in _logs(rng, 400, decisions, k, temperature=0.05)]
        assert sum(x is not None and x < 0.001 for x in fair) <= 3, (decisions, k)
    for logs in (_logs(rng, 40, 6000, 3, temperature=0.5, drop=0.2),
                 _logs(rng, 40, 2000, 3, temperature=0.05, lie=0.1)):
        flagged = [logged_ratio_anytime_p_value(c, v) for c, v in logs]
        assert sum(x is not None and x < 0.001 for x in flagged) >= 37, flagged


def test_a_log_read_without_a_removed_arm_is_tested_on_the_arms_it_kept() -> None:
    """An arm removed from the experiments file leaves the log's rows summing to less than 1
    and its decisions out: each row is the vector given that the arm is among those kept,
    so a fair log is not flagged (200 logs of 3,000 decisions from 0.5 / 0.3 / 0.2 read
    without the third arm: at most 2 flagged, nominal 0.2; a false failure below 1e-3),
    and a log that lost half of one kept arm's decisions is."""
    rng = np.random.default_rng(33)
    p = np.array([0.5, 0.3, 0.2])
    flagged = 0
    for _ in range(200):
        arms = rng.choice(3, size=3000, p=p)
        kept = arms < 2
        value = logged_ratio_p_value(arms[kept], np.tile(p[:2], (int(kept.sum()), 1)))
        assert value is not None
        flagged += value < 0.001
    assert flagged <= 2
    arms = rng.choice(3, size=3000, p=p)
    kept = (arms == 0) | ((arms == 1) & (rng.random(3000) < 0.5))
    lossy = logged_ratio_p_value(arms[kept], np.tile(p[:2], (int(kept.sum()), 1)))
    assert lossy is not None and lossy < 1e-6
    assert logged_ratio_p_value(np.array([0]), np.array([[0.5, 0.5]])) is None  # too few


def test_reports_without_periods_check_the_log_and_flag_lost_decisions(tmp_path: Path) -> None:
    """End to end on a SQLite file, ``update: every decision``: ε-greedy, and Thompson
    sampling with deferred propensities (each decision logs its posterior; the vectors the
    test reads are computed from it when the log is read, so the check also tells whether
    they are the vectors the arms were drawn from). 1,500 decisions each: the report says
    the check passed (a false failure at 0.001 each). Then a third of one arm's decisions
    are deleted from the file, as a client that loses them would: the next report, the
    API's check and the words a user reads say so."""
    for policy, extra in (({"name": "epsilon-greedy", "epsilon": 0.3}, {}),
                          ({"name": "thompson"}, {"propensity": "deferred"})):
        store = SQLiteStore(tmp_path / f"{policy['name']}.db")
        store.init()
        config = parse_config({"experiments": [{
            "id": "x", "arms": [{"id": a, "content": a} for a in ("a", "b", "c")],
            "policy": policy, "burn_in": 0, **extra}]})
        service = BanditService(config, store, rng=np.random.default_rng(7))
        env = np.random.default_rng(8)
        rates = {"a": 0.2, "b": 0.3, "c": 0.35}
        for i in range(1500):
            d = service.decide("x", f"u{i}")
            service.reward(d.id, int(env.random() < rates[d.arm]), f"u{i}")
        check = service.report("x").srm
        assert check is not None and not check.flagged, (policy, check)
        assert check.decisions_tested == 1500 and check.periods_tested == 0
        assert check.describe().startswith("sample ratio: OK over 1,500 decisions")
        with sqlite3.connect(tmp_path / f"{policy['name']}.db") as conn:
            arm = conn.execute("SELECT arm FROM decisions GROUP BY arm "
                               "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
            conn.execute("DELETE FROM decisions WHERE arm = ? AND rowid % 3 = 0", (arm,))
        store.close()
        reopened = SQLiteStore(tmp_path / f"{policy['name']}.db")
        service = BanditService(config, reopened, rng=np.random.default_rng(9))
        check = service.report("x").srm
        assert check is not None and check.flagged, (policy, check)
        assert check.decisions_tested < 1500
        assert "sample ratio mismatch over " in check.describe()
        api_check = service.sample_ratio("x")
        assert api_check is not None and api_check.flagged
        reopened.close()


def test_logged_ratio_p_value_matches_ratio_p_value_on_adaptive_vectors() -> None:
    """``logged_ratio_p_value`` on a log an adapting policy wrote (each row its own vector):
    the p-value of the sums it implies (a review: its ``pᵀp`` covariance had been tested on
    constant vectors only); and the same log with 20% of one arm's rows dropped is flagged."""
    rng = np.random.default_rng(34)
    k, n = 4, 4000
    counts, sums = np.zeros(k), np.zeros(k)
    chosen, vectors = np.zeros(n, dtype=np.intp), np.zeros((n, k))
    for t in range(n):
        means = np.where(counts > 0, sums / np.maximum(counts, 1.0), 0.5)
        z = np.exp((means - means.max()) / 0.1)
        p = 0.96 * z / z.sum() + 0.01
        arm = int(rng.choice(k, p=p))
        chosen[t], vectors[t] = arm, p
        counts[arm] += 1.0
        sums[arm] += rng.random() < (0.1, 0.2, 0.25, 0.3)[arm]
    expected = vectors.sum(axis=0)
    by_sums = ratio_p_value(np.bincount(chosen, minlength=k).astype(float), expected,
                            np.diag(expected) - vectors.T @ vectors)
    logged = logged_ratio_p_value(chosen, vectors)
    assert logged is not None and by_sums is not None
    assert logged == pytest.approx(by_sums, rel=1e-9) and logged > 0.001
    top = int(np.bincount(chosen).argmax())
    kept = (chosen != top) | (rng.random(n) >= 0.2)
    lossy = logged_ratio_p_value(chosen[kept], vectors[kept])
    assert lossy is not None and lossy < 1e-6


def test_a_nan_row_is_left_out_of_the_logged_test() -> None:
    """A review: a row summing to NaN passed the check that every row sums to 1 and broke
    the χ² (an SVD that did not converge); it is left out, as a row summing to 0 is."""
    p = np.tile([0.5, 0.5], (400, 1))
    chosen = np.resize([0, 1], 400)
    p[7] = np.nan
    value = logged_ratio_p_value(chosen, p)
    assert value is not None and value > 0.5


def test_the_periods_test_is_valid_however_often_it_is_read() -> None:
    """With allocation periods the report tests all periods' counts by the same martingale,
    a period at a time (the bet fixed within a period). 400 fair experiments of 200 periods
    of 50 decisions, each period's allocation its own (2% floor): at most 3 flagged below
    0.001 (nominal 0.4, seen 0; the pooled χ² it replaced, read after every period of the
    same 400, flagged 9 at some read; a false failure below 1e-3); the p-value of every
    prefix of periods is no smaller than the whole's (flagged at some read is flagged now);
    a router that loses 20% of one arm's decisions (allocated about a third) over 100
    periods of 120 is flagged in at least 38 of 40 (seen: 200 of 200)."""
    from banditbot.statistics import period_ratio_anytime_p_value

    rng = np.random.default_rng(35)

    def periods(n: int, size: int, drop: float) -> tuple[np.ndarray, np.ndarray]:
        p = 0.02 + 0.94 * rng.dirichlet([2.0, 2.0, 2.0], size=n)
        counts = np.array([rng.multinomial(size, row) for row in p], dtype=float)
        counts[:, 1] = rng.binomial(counts[:, 1].astype(int), 1.0 - drop)
        return p, counts

    fair = []
    for i in range(400):
        p, counts = periods(200, 50, 0.0)
        value = period_ratio_anytime_p_value(p, counts)
        assert value is not None
        fair.append(value)
        if i < 3:
            assert all(value <= (period_ratio_anytime_p_value(p[:j], counts[:j]) or 1.0)
                       for j in (1, 20, 199))
    assert sum(v < 0.001 for v in fair) <= 3
    lossy = [period_ratio_anytime_p_value(*periods(100, 120, 0.2)) for _ in range(40)]
    assert sum(v is not None and v < 0.001 for v in lossy) >= 38, lossy
    assert period_ratio_anytime_p_value(np.array([[0.5, 0.5]]), np.array([[3.0, 2.0]])) \
        is None  # five decisions: too few to test


def test_the_periods_test_counts_an_arm_its_period_did_not_offer_and_skips_broken_vectors(
        ) -> None:
    """From a review of the periods' test: decisions of an arm whose period gave it no
    probability were dropped (a router that kept serving a paused arm, flagged by the χ²
    before, read p = 1.0); a period whose vector held NaN read p = 0 on fair counts, and an
    infinity stopped the test at that period. Such decisions count against the router;
    a period without a usable vector is left out, with its decisions."""
    from banditbot.statistics import period_ratio_anytime_p_value

    rng = np.random.default_rng(36)
    vectors = np.tile([0.5, 0.5, 0.0], (30, 1))
    vectors[0] = [1 / 3, 1 / 3, 1 / 3]
    served = np.array([rng.multinomial(100, [0.45, 0.45, 0.10]) for _ in range(30)], float)
    paused = period_ratio_anytime_p_value(vectors, served)
    assert paused is not None and paused < 1e-6
    fair_vectors = np.tile([0.7, 0.3], (30, 1))
    fair = np.array([rng.multinomial(100, [0.7, 0.3]) for _ in range(30)], float)
    for broken in (np.nan, np.inf):
        bad = fair_vectors.copy()
        bad[2] = [0.5, broken]
        value = period_ratio_anytime_p_value(bad, fair)
        assert value is not None and value > 0.001, (broken, value)
        biased = period_ratio_anytime_p_value(bad, np.tile([50.0, 50.0], (30, 1)))
        assert biased is not None and biased < 1e-30, (broken, biased)


def test_the_chi_square_does_not_count_a_rounding_as_a_degree_of_freedom() -> None:
    """Summed decision by decision, the covariance of 3 arms (rank 2) kept a last singular
    value of 1e-13 that numpy's default tolerance read as a third direction: the same log
    gave p = 0.75 or 0.55 by the order of its sums. Both orders give the same p-value now,
    with 2 degrees of freedom."""
    chosen, vectors = _logs(np.random.default_rng(3), 50, 500, 3, temperature=0.05)[4]
    expected = vectors.sum(axis=0)
    seen = np.bincount(chosen, minlength=3).astype(float)
    summed = np.zeros((3, 3))
    for row in vectors:
        summed += np.outer(row, row)
    by_rows = ratio_p_value(seen, expected, np.diag(expected) - summed)
    at_once = ratio_p_value(seen, expected, np.diag(expected) - vectors.T @ vectors)
    assert by_rows is not None and at_once is not None
    assert by_rows == pytest.approx(at_once, rel=1e-6)
