"""Sample ratio: whether the decisions per arm follow the probabilities they were drawn
from; and whether one arm's decisions are answered less often than the others'.

Each decision ``t`` draws its arm from a known vector ``p_t`` (an allocation period's, or
its own when the allocation is recomputed at every decision). Whatever chose the vectors,
the counts per arm minus the summed vectors, ``O − E`` with ``E = Σ p_t``, is a martingale
whose predictable covariance is ``V = Σ (diag(p_t) − p_t p_tᵀ)``, and ``(O − E)ᵀ V⁺ (O − E)``
is χ² with ``rank(V)`` degrees of freedom (asymptotically, by the martingale central limit
theorem). A period of ``n`` decisions at one allocation ``p`` adds ``n·p`` and
``n·(diag(p) − p pᵀ)``: the same sums.
"""

from __future__ import annotations

import numpy as np

from .._types import FloatArray, IntArray

__all__ = ["fisher_less_p_value", "logged_ratio_p_value", "ratio_p_value"]

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
    rank = int(np.linalg.matrix_rank(sigma))
    if rank < 1:
        return None
    stat = float(d @ np.linalg.pinv(sigma) @ d)
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
    p = np.asarray(probabilities, dtype=np.float64)
    mass = p.sum(axis=1)
    if not np.all(np.abs(mass - 1.0) <= 1e-9):  # (else the vectors are used uncopied)
        kept = mass > 0.0  # (NaN > 0 is false: such a row is left out)
        p, chosen = p[kept] / mass[kept, None], chosen[kept]
    k = p.shape[1]
    seen = np.bincount(chosen, minlength=k).astype(np.float64)
    expected = p.sum(axis=0)
    covariance = np.diag(expected) - p.T @ p
    return ratio_p_value(seen, expected, covariance)


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
