"""Sample ratio: whether the decisions per arm follow the probabilities they were drawn
from; and whether one arm's decisions are answered less often than the others'.

Each decision ``t`` draws its arm from a known vector ``p_t`` (an allocation period's, or
its own when the allocation is recomputed at every decision). Whatever chose the vectors,
the counts per arm minus the summed vectors, ``O − E`` with ``E = Σ p_t``, is a martingale
whose predictable covariance is ``V = Σ (diag(p_t) − p_t p_tᵀ)``, and ``(O − E)ᵀ V⁺ (O − E)``
is χ² with ``rank(V)`` degrees of freedom (asymptotically, by the martingale central limit
theorem). A period of ``n`` decisions at one allocation ``p`` adds ``n·p`` and
``n·(diag(p) − p pᵀ)``: the same sums.

That χ² holds at one look. A report reads a growing log again and again, and the χ² of the
log so far, read at 1,000 looks of a fair log, fell below 0.001 at some look in about 3% of
experiments (29 of 1,000). :func:`logged_ratio_anytime_p_value` is valid at every look: a
test martingale over the log's decisions in order (Ville's inequality), whose p-value falls
below ``α`` at any look of a fair log with probability at most ``α``.
"""

from __future__ import annotations

import numpy as np

from .._types import BoolArray, FloatArray, IntArray

__all__ = ["fisher_less_p_value", "logged_ratio_anytime_p_value", "logged_ratio_p_value",
           "period_ratio_anytime_p_value", "ratio_p_value"]

#: cells expected fewer times than this are pooled with the next smallest
MIN_EXPECTED = 5.0


def ratio_p_value(seen: FloatArray, expected: FloatArray, covariance: FloatArray
                  ) -> float | None:
    """The p-value of the counts per arm against what the vectors they were drawn from
    expect. Arms expected fewer than :data:`MIN_EXPECTED` times are pooled into one cell
    (and that cell into the next smallest while it is still short; merging is linear, so
    the merged counts keep their exact covariance).

    Parameters
    ----------
    seen
        Shape ``(K,)``: the decisions per arm.
    expected
        Shape ``(K,)``: ``Σ p_t``, what the vectors expect.
    covariance
        Shape ``(K, K)``: ``Σ (diag(p_t) − p_t p_tᵀ)``.

    Returns
    -------
    float or None
        The χ² p-value (degrees of freedom: the merged covariance's rank); ``None`` with
        fewer than two cells to compare.

    Examples
    --------
    >>> p = np.array([0.5, 0.5])
    >>> cov = 100 * (np.diag(p) - np.outer(p, p))
    >>> round(ratio_p_value(np.array([50.0, 50.0]), 100 * p, cov), 3)
    1.0
    >>> ratio_p_value(np.array([80.0, 20.0]), 100 * p, cov) < 1e-8
    True
    """
    from scipy.special import chdtrc

    k = expected.shape[0]
    if k < 2:
        return None
    order = np.argsort(expected, kind="stable")
    groups: list[list[int]] = [[int(i)] for i in order]
    while len(groups) > 1 and expected[groups[0]].sum() < MIN_EXPECTED:
        groups = [groups[0] + groups[1], *groups[2:]]
    if len(groups) < 2:
        return None
    merge = np.zeros((len(groups), k))
    for row, members in enumerate(groups):
        merge[row, members] = 1.0
    d = merge @ (seen - expected)
    sigma = merge @ covariance @ merge.T
    # the rank against the largest direction's scale: summed row by row, a covariance of
    # rank K − 1 kept a last singular value of 1e-13 (numpy's default tolerance took it for
    # a direction, and the test for one more degree of freedom on noise)
    tol = 1e-10 * float(np.abs(sigma).max(initial=0.0))
    rank = int(np.linalg.matrix_rank(sigma, tol=tol)) if tol > 0 else 0
    if rank < 1:
        return None
    stat = float(d @ np.linalg.pinv(sigma, rcond=1e-10) @ d)
    return float(chdtrc(rank, stat))


def logged_ratio_p_value(chosen: IntArray, probabilities: FloatArray) -> float | None:
    """:func:`ratio_p_value` of a decision log.

    A row that sums to less than 1 is one whose log offered arms that are not among the
    columns (their decisions are left out too): given that its draw is among the columns,
    it follows the row scaled to 1. A row of 0, or not of numbers, is left out.

    Parameters
    ----------
    chosen
        Shape ``(T,)``: the arm (column) each decision drew.
    probabilities
        Shape ``(T, K)``: the vector each was drawn from (0 for an arm it did not offer).

    Returns
    -------
    float or None
        The p-value; ``None`` when nothing can be tested.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = np.tile([0.7, 0.2, 0.1], (3000, 1))
    >>> fair = rng.choice(3, size=3000, p=[0.7, 0.2, 0.1])
    >>> logged_ratio_p_value(fair, p) > 0.001
    True
    >>> biased = rng.choice(3, size=3000, p=[0.6, 0.3, 0.1])
    >>> logged_ratio_p_value(biased, p) < 1e-10
    True
    """
    if chosen.shape[0] == 0:
        return None
    chosen, p = _given_the_columns(chosen, probabilities)
    k = p.shape[1]
    seen = np.bincount(chosen, minlength=k).astype(np.float64)
    expected = p.sum(axis=0)
    covariance = np.diag(expected) - p.T @ p
    return ratio_p_value(seen, expected, covariance)


def _given_the_columns(chosen: IntArray, probabilities: FloatArray
                       ) -> tuple[IntArray, FloatArray]:
    """The log's rows given that their draw is among the columns: a row that sums to less
    than 1 scaled to 1, a row of 0 or not of numbers left out (with its decision)."""
    p = np.asarray(probabilities, dtype=np.float64)
    mass = p.sum(axis=1)
    if np.all(np.abs(mass - 1.0) <= 1e-9):  # (the vectors used uncopied)
        return chosen, p
    kept = _usable(p, mass)
    return chosen[kept], p[kept] / mass[kept, None]


def _usable(p: FloatArray, mass: FloatArray) -> BoolArray:
    """The rows that are a vector to test against: numbers, none negative, summing to more
    than 0 (a NaN or an infinity in one row had turned the whole test off, or on)."""
    out: BoolArray = np.isfinite(p).all(axis=1) & (p >= 0).all(axis=1) & (mass > 0.0)
    return out


#: the pseudo-count that holds the martingale's bet at "no mismatch" until the log has
#: shown one (the power hardly moves between 2 and 200: simulated, 24–25 of 40 lossy logs)
_PRIOR = 10.0
_BLOCK = 16_384  # rows a step of the scan takes at once (bounds its memory)


def logged_ratio_anytime_p_value(chosen: IntArray, probabilities: FloatArray
                                 ) -> float | None:
    """Whether a log's draws follow the vectors it logged, valid however often it is read.

    A test martingale over the decisions in order: each decision ``t`` bets that the draws
    lean from ``p_t`` as they have so far, ``q_t ∝ p_t · θ`` with ``θ_a`` arm ``a``'s
    draws over what the vectors expected before ``t`` (both plus :data:`_PRIOR`): it gains
    ``q_t(a_t) / p_t(a_t)``, whose mean is 1 when the arms are drawn from ``p_t``. By
    Ville's inequality a fair log's product ever reaches ``1/α`` with probability at most
    ``α``; the p-value is ``1 /`` its largest value over the log, at most 1 (so reading a
    growing log more often cannot flag it more). Rows as :func:`logged_ratio_p_value` takes
    them.

    Parameters
    ----------
    chosen
        Shape ``(T,)``: the arm (column) each decision drew, in the order they were made.
    probabilities
        Shape ``(T, K)``: the vector each was drawn from (0 for an arm it did not offer).

    Returns
    -------
    float or None
        The anytime p-value; ``None`` with fewer than two columns or fewer than
        ``2 ×`` :data:`MIN_EXPECTED` decisions (too few for any test to see a mismatch: the
        χ² needs two cells expected 5 times).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = np.tile([0.7, 0.2, 0.1], (3000, 1))
    >>> fair = rng.choice(3, size=3000, p=[0.7, 0.2, 0.1])
    >>> logged_ratio_anytime_p_value(fair, p) > 0.001
    True
    >>> biased = rng.choice(3, size=3000, p=[0.6, 0.3, 0.1])
    >>> logged_ratio_anytime_p_value(biased, p) < 1e-6
    True
    """
    if chosen.shape[0] == 0 or np.ndim(probabilities) != 2 or \
            np.shape(probabilities)[1] < 2:
        return None
    chosen, p = _given_the_columns(chosen, probabilities)
    if chosen.shape[0] < 2 * MIN_EXPECTED:
        return None
    k = p.shape[1]
    seen, expected = np.zeros(k), np.zeros(k)
    log_m = best = 0.0
    for start in range(0, chosen.shape[0], _BLOCK):
        arm, vec = chosen[start:start + _BLOCK], p[start:start + _BLOCK]
        rows = np.arange(arm.shape[0])
        drawn = np.zeros_like(vec)
        drawn[rows, arm] = 1.0
        theta = (seen + np.cumsum(drawn, axis=0) - drawn + _PRIOR) / \
            (expected + np.cumsum(vec, axis=0) - vec + _PRIOR)
        path = log_m + np.cumsum(np.log(theta[rows, arm])
                                 - np.log(np.einsum("ij,ij->i", vec, theta)))
        best, log_m = max(best, float(path.max())), float(path[-1])
        seen += drawn.sum(axis=0)
        expected += vec.sum(axis=0)
    return float(np.exp(-best))


def period_ratio_anytime_p_value(vectors: FloatArray, counts: FloatArray, *,
                                 starts: FloatArray | None = None,
                                 ends: FloatArray | None = None) -> float | None:
    """:func:`logged_ratio_anytime_p_value` of allocation periods: period ``j``'s decisions
    were drawn from ``vectors[j]``, ``counts[j]`` of them per arm. Within a period the bet
    stays the one the periods before it gave (``θ`` from their counts), so its decisions
    gain ``Π_a (q_j(a) / p_j(a))^{c_a}`` in any order. Decisions of an arm its period gave
    no probability count against it (they cannot happen when the arms follow the
    vectors); a period whose vector is not numbers summing to more than 0 is left out, with
    its decisions.

    One bandit's periods follow each other: the product at the end of each period (and of
    the one still running) is the per-decision martingale's there, and the p-value is 1
    over its largest, so it holds however often it is read. Periods of several bandits (a
    bandit per chat or per user) run side by side: give each period's ``starts`` and
    ``ends`` (``inf`` for one still running). A period then bets with what the periods that
    ended before it started gave, and the p-value is 1 over the product now, the
    martingale's value at the time of the read: each read is one look at the same
    martingale, so reading again and again does not add to the error.

    Parameters
    ----------
    vectors
        Shape ``(J, K)``: each period's allocation, in the order the periods ran.
    counts
        Shape ``(J, K)``: each period's decisions per arm.
    starts, ends
        Shape ``(J,)``: when each period started and ended (both or neither).

    Returns
    -------
    float or None
        The anytime p-value; ``None`` with fewer than two arms or fewer than
        ``2 ×`` :data:`MIN_EXPECTED` decisions.

    Examples
    --------
    >>> p = np.tile([0.5, 0.5], (10, 1))
    >>> period_ratio_anytime_p_value(p, np.tile([50.0, 50.0], (10, 1)))
    1.0
    >>> period_ratio_anytime_p_value(p, np.tile([60.0, 40.0], (10, 1))) < 1e-6
    True
    """
    p = np.asarray(vectors, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        return None
    mass = p.sum(axis=1)
    kept = _usable(p, mass) & np.isfinite(c).all(axis=1)
    p, c = p[kept] / mass[kept, None], c[kept]
    if c.sum() < 2 * MIN_EXPECTED:
        return None
    n = c.sum(axis=1)
    together = starts is not None and ends is not None
    if together:
        began, ended = np.asarray(starts, float)[kept], np.asarray(ends, float)[kept]
    else:  # one bandit's periods: each ends as the next starts
        began = np.arange(len(n), dtype=float)
        ended = began + 1.0
    order = np.argsort(ended, kind="stable")  # a period bets with what ended before it began
    seen = np.vstack([np.zeros(p.shape[1]), np.cumsum(c[order], axis=0)])
    expected = np.vstack([np.zeros(p.shape[1]), np.cumsum(n[order, None] * p[order], axis=0)])
    before = np.searchsorted(ended[order], began, side="right")
    theta = (seen[before] + _PRIOR) / (expected[before] + _PRIOR)
    gains = np.sum(c * np.log(theta), axis=1) - n * np.log(np.einsum("ij,ij->i", p, theta))
    if together:  # the martingale's value now
        return float(np.exp(-max(0.0, float(gains.sum()))))
    return float(np.exp(-max(0.0, float(np.cumsum(gains).max()))))


def fisher_less_p_value(a: int, n: int, answered: int, decisions: int) -> float:
    """Fisher's exact one-sided p-value that a group's ``a`` successes of its ``n`` are this
    few, given ``answered`` of ``decisions`` in all (the group among them): the
    hypergeometric chance of ``a`` or fewer among ``n`` drawn. The same as
    ``scipy.stats.fisher_exact(..., alternative="less")``, without loading scipy.stats (its
    import costs a report more than the sum).

    Examples
    --------
    >>> round(fisher_less_p_value(15, 30, 45, 90), 4), fisher_less_p_value(0, 30, 60, 90) < 1e-20
    (0.5883, True)
    """
    from scipy.special import gammaln, logsumexp

    def log_choose(total: float, k: FloatArray) -> FloatArray:
        out: FloatArray = gammaln(total + 1) - gammaln(k + 1) - gammaln(total - k + 1)
        return out

    x = np.arange(max(0, n - (decisions - answered)), a + 1, dtype=np.float64)
    if x.size == 0:
        return 1.0
    terms = log_choose(answered, x) + log_choose(decisions - answered, n - x) - \
        log_choose(decisions, np.array([float(n)]))
    return float(min(1.0, np.exp(logsumexp(terms))))
