"""The fast inference against a straightforward one, written from the definitions.

``anytime_inference`` forms its bets chunk by chunk in reused buffers and finds each
interval end from one pass over the log (a series in ``θ`` whose remainder is bounded, with
Newton's method as the fallback). Here every e-value is computed the plain way — the whole
``(n, G)`` array of bets, ``Σ log(1 + λ (x − θ))`` as one cumulative sum, the ends by
bisection — and a report must read the same: the same winner at the same decision, the same
evidence, and every interval end where the plain root puts it (1e-8 to the wide side, as
Newton's method always left it), never inside it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from banditbot.statistics import DEFAULT_EFFECTS, HORIZON_SHARE, anytime_inference

ALPHA = 0.05
EFFECTS = np.asarray(DEFAULT_EFFECTS)


def _log(k: int, n: int, probs: list[float], rates: list[float], seed: int, *,
         answered_arm: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A log with fixed probabilities (each row drawn from them), 10% unanswered; with
    ``answered_arm`` only that arm's decisions have a reward."""
    rng = np.random.default_rng(seed)
    p = np.tile(np.asarray(probs, dtype=float), (n, 1))
    arms = rng.choice(k, size=n, p=probs)
    rewards = (rng.random(n) < np.asarray(rates)[arms]).astype(float)
    rewards[rng.random(n) < 0.1] = np.nan
    if answered_arm is not None:
        rewards[arms != answered_arm] = np.nan
    return arms, p, rewards


def _scores(arms: np.ndarray, probs: np.ndarray, rewards: np.ndarray
            ) -> tuple[np.ndarray, ...]:
    """AIPW scores, their ranges, variances and plug-in means, decision by decision."""
    k = probs.shape[1]
    count, total = np.zeros(k), np.zeros(k)
    out: list[tuple[np.ndarray, ...]] = []
    rows = []
    for t in np.flatnonzero(~np.isnan(rewards)):
        m = (total + 0.5) / (count + 1.0)
        p, a, y = probs[t], arms[t], rewards[t]
        score = m.copy()
        score[a] += (y - m[a]) / p[a]
        with np.errstate(divide="ignore"):
            lower = np.where(p > 0, m - m / p, m)
            upper = np.where(p > 0, m + (1 - m) / p, m)
            var = np.where(p > 0, m * (1 - m) / p, np.inf)
        out.append((score, lower, upper, var, m))
        rows.append(t)
        count[a] += 1
        total[a] += y
    stacked = tuple(np.array([row[i] for row in out]) for i in range(5))
    return (*stacked, np.array(rows))


def _path(x: np.ndarray, low: np.ndarray, var: np.ndarray, theta: float, theta_max: float,
          *, horizon: int | None = None, log_c: float = 0.0) -> np.ndarray:
    """The mixture's log e-value at every decision for ``E[x] <= θ``."""
    with np.errstate(divide="ignore"):
        inv = 1.0 / var
    cap = 0.5 / np.maximum(theta_max - low, 1e-12)
    bets = [np.minimum(inv * d, cap) for d in EFFECTS]
    weights = [1.0 / len(EFFECTS)] * len(EFFECTS)
    if horizon is not None:
        before = np.concatenate([[0.0], np.cumsum(inv)[:-1]])
        remaining = np.maximum(horizon - np.arange(x.shape[0]), 0)
        s = np.sqrt(2 * log_c / np.maximum(before + remaining * inv, 1e-300))
        bets = [np.minimum(inv * s, cap), *bets]
        weights = [HORIZON_SHARE] + [(1 - HORIZON_SHARE) / len(EFFECTS)] * len(EFFECTS)
    logw = np.array([np.cumsum(np.log1p(lam * (x - theta))) for lam in bets])
    top = logw.max(axis=0)
    return np.log(np.exp(logw - top) .T @ np.asarray(weights)) + top


def _root(x: np.ndarray, low: np.ndarray, var: np.ndarray, theta_max: float, lo: float,
          hi: float, log_c: float, horizon: int | None = None) -> float:
    """The smallest ``θ`` in ``[lo, hi]`` whose e-value stays below ``c``, by bisection."""
    def rejected(theta: float) -> bool:
        return bool(_path(x, low, var, theta, theta_max, horizon=horizon,
                          log_c=log_c)[-1] >= log_c)

    if not rejected(lo):
        return lo
    if rejected(hi):
        return hi
    a, b = lo, hi
    for _ in range(100):
        mid = 0.5 * (a + b)
        a, b = (mid, b) if rejected(mid) else (a, mid)
    return a


def _check_end(end: float, root: float, lo: float, hi: float) -> None:
    """A lower end: at an edge where the root is, else 1e-8 below the root, never above."""
    if root in (lo, hi):
        assert end == root
    else:
        assert end <= root
        assert end == pytest.approx(root - 1e-8, abs=1e-11)


CASES = {
    "3 arms, a winner": (3, 3000, [0.4, 0.3, 0.3], [0.1, 0.15, 0.35], 1, None),
    "tiny propensities": (3, 4000, [0.98, 0.01, 0.01], [0.2, 0.2, 0.3], 2, None),
    "all rewards zero": (3, 3000, [0.4, 0.3, 0.3], [0.0, 0.0, 0.0], 3, None),
    "one arm answered": (3, 2000, [0.4, 0.3, 0.3], [0.3, 0.3, 0.3], 4, 0),
    "10 arms": (10, 1500, [0.1] * 10, [0.1 + 0.03 * i for i in range(10)], 5, None),
}


@pytest.mark.slow
@pytest.mark.parametrize("horizon", [None, 800])
@pytest.mark.parametrize("case", list(CASES))
def test_report_matches_the_plain_computation(case: str, horizon: int | None) -> None:
    k, n, probs, rates, seed, answered = CASES[case]
    arms, p, y = _log(k, n, probs, rates, seed, answered_arm=answered)
    got = anytime_inference(arms, p, y, confidence=1 - ALPHA, horizon=horizon)
    scores, lower, upper, var, plugin, rows = _scores(arms, p, y)

    # each arm's interval (the arm's own sequence keeps the effect grid)
    log_c = math.log(2 / ALPHA)
    for a in range(k):
        low_root = _root(scores[:, a], lower[:, a], var[:, a], 1.0, 0.0, 1.0, log_c)
        _check_end(float(got.low[a]), low_root, 0.0, 1.0)
        high_root = _root(-scores[:, a], -upper[:, a], var[:, a], 0.0, -1.0, 0.0, log_c)
        _check_end(-float(got.high[a]), high_root, -1.0, 0.0)

    # the stopping rule: evidence, first crossings, the winner and when
    log_c = math.log(k / ALPHA)
    first = np.full((k, k), -1)
    bound = np.full((k, k), np.nan)
    for b in range(k):
        for a in range(k):
            if a == b:
                continue
            x = scores[:, b] - scores[:, a]
            low = np.minimum(lower[:, b] - plugin[:, a], plugin[:, b] - upper[:, a])
            v = var[:, b] + var[:, a]
            path = _path(x, low, v, 0.0, 1.0, horizon=horizon, log_c=log_c)
            assert got.decision.log_evidence[b, a] == pytest.approx(path.max(), abs=1e-9)
            if (path >= log_c).any():
                first[b, a] = int(np.argmax(path >= log_c))
            root = _root(x, low, v, 1.0, -1.0, 1.0, log_c, horizon)
            bound[b, a] = root if root in (-1.0, 1.0) else root - 1e-8
    beaten_all = [(first[b][np.arange(k) != b] >= 0).all() for b in range(k)]
    if any(beaten_all):
        when = {b: first[b][np.arange(k) != b].max() for b in range(k) if beaten_all[b]}
        winner = min(when, key=lambda b: when[b])
        assert got.decision.winner == winner
        assert got.decision.declared_at == rows[when[winner]] + 1
    else:
        assert got.decision.winner is None

    # the differences to the best other arm: minima of the pairs' lower ends
    for b in range(k):
        others = [a for a in range(k) if a != b]
        assert got.diff_low[b] == pytest.approx(min(bound[b, a] for a in others), abs=1e-11)
        assert got.diff_high[b] == pytest.approx(min(-bound[a, b] for a in others),
                                                 abs=1e-11)
        # never narrower than the plain roots allow
        assert got.diff_low[b] <= min(bound[b, a] for a in others) + 1e-12
        assert got.diff_high[b] >= min(-bound[a, b] for a in others) - 1e-12
