"""The Open Bandit Dataset's Bernoulli Thompson sampling policy, as published.

The BTS sample of the Open Bandit Dataset (campaign "all") was logged by ZOZOTOWN's
production Bernoulli Thompson sampling: each item ``i`` has a ``Beta(α_i, β_i)`` posterior,
one draw per item is ranked, and the top three fill positions 1–3. The Open Bandit Pipeline
publishes those parameters (``obp/policy/conf/prior_bts.yaml``, campaign ``all``; Saito et
al., NeurIPS Datasets and Benchmarks 2021; Apache-2.0) so the policy can be replicated; the
numbers below are that data, indexed by item id.

:func:`obd_bts_action_dist` gives, for every round of a log of the same items, the
probability that the policy puts each item at the round's position —
``P(item i has the k-th largest draw)`` — computed exactly by quadrature (the Pipeline
estimates it by Monte Carlo).
"""

from __future__ import annotations

import functools

import numpy as np

from .._errors import PayloadError
from .._types import FloatArray
from ._data import LoggedBandit

__all__ = ["OBD_BTS_ALPHA", "OBD_BTS_BETA", "obd_bts_action_dist", "obd_bts_rank_probabilities"]

#: ``α_i`` of the published BTS policy, campaign "all", item ids 0–79.
OBD_BTS_ALPHA: tuple[float, ...] = (
    47, 8, 62, 142, 3, 14, 7, 857, 12, 15, 6, 100, 48, 23, 71, 61, 13, 16, 518, 30,
    7, 4, 23, 8, 10, 11, 11, 18, 121, 11, 11, 10, 14, 9, 204, 58, 3, 19, 42, 1013,
    2, 328, 15, 31, 14, 138, 45, 55, 23, 38, 10, 401, 52, 6, 3, 6, 5, 32, 35, 133,
    52, 820, 43, 195, 8, 42, 40, 4, 32, 30, 9, 22, 6, 23, 5, 54, 8, 22, 65, 246,
)
#: ``β_i`` of the published BTS policy, campaign "all", item ids 0–79.
OBD_BTS_BETA: tuple[float, ...] = (
    12198, 3566, 15993, 35522, 2367, 4609, 3171, 181745, 4372, 4951,
    3100, 24665, 13210, 7061, 18061, 17449, 5644, 6787, 111326, 8776,
    3334, 2271, 7389, 2659, 3665, 4724, 3561, 5085, 27407, 4601,
    4756, 4120, 4736, 3788, 45292, 14719, 2189, 5589, 11995, 222255,
    2308, 70034, 4801, 8274, 5421, 31912, 12213, 13576, 6230, 10382,
    4141, 85731, 12811, 2707, 2250, 2668, 2886, 9581, 9465, 28336,
    12062, 162793, 12107, 41240, 3162, 11604, 10818, 2923, 8897, 8654,
    4000, 6580, 3174, 6766, 2602, 14506, 3968, 7523, 16532, 51964,
)
_GRID = 8_001


def _poly_mul(p: FloatArray, q: FloatArray) -> FloatArray:
    """Product of polynomials in ``z`` (coefficients on the first axis) truncated to the
    degree of ``p``."""
    out = np.zeros_like(p)
    for i in range(p.shape[0]):
        for j in range(p.shape[0] - i):
            out[i + j] += p[i] * q[j]
    return out


def obd_bts_rank_probabilities(alpha: FloatArray, beta: FloatArray, positions: int = 3
                               ) -> FloatArray:
    """``P(item i has the k-th largest of independent Beta(α, β) draws)``.

    For item ``i`` and rank ``k``: ``∫ f_i(x) e_{k−1}(x) dx`` where ``e_{k−1}`` sums, over the
    ways to pick ``k − 1`` other items above ``x``, the product of their ``1 − F_j(x)`` and
    of the others' ``F_j(x)`` — the coefficient of ``z^{k−1}`` in
    ``∏_{j≠i} (F_j(x) + z (1 − F_j(x)))``, built from prefix and suffix products. The
    integral is the trapezoid rule on a uniform grid of 8,001 points over the range where
    the densities live.

    Parameters
    ----------
    alpha, beta
        Shape ``(K,)``: Beta parameters.
    positions
        How many ranks.

    Returns
    -------
    numpy.ndarray
        Shape ``(positions, K)``; each row sums to 1.

    Examples
    --------
    >>> p = obd_bts_rank_probabilities(np.array([2.0, 2.0, 2.0]), np.array([5.0, 5.0, 5.0]))
    >>> p.round(6).tolist()
    [[0.333333, 0.333333, 0.333333], [0.333333, 0.333333, 0.333333], [0.333333, 0.333333, 0.333333]]
    """
    from scipy.special import betainc, betaln

    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    k = a.shape[0]
    if np.any(a < 1) or np.any(b < 1):
        raise PayloadError("rank probabilities here need Beta shapes of at least 1")
    mean = a / (a + b)
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    hi = min(float((mean + 12 * sd).max()), 1.0)
    lo = max(float((mean - 12 * sd).min()), 0.0)
    x = np.linspace(lo, hi, _GRID)
    inner = np.clip(x, 1e-300, 1 - 1e-16)
    log_pdf = ((a - 1)[:, None] * np.log(inner) + (b - 1)[:, None] * np.log1p(-inner)
               - betaln(a, b)[:, None])
    pdf = np.exp(log_pdf)
    cdf = betainc(a[:, None], b[:, None], x)
    factors = np.zeros((positions, k, x.shape[0]))  # (F + z (1 - F)) per item, truncated
    factors[0] = cdf
    if positions > 1:
        factors[1] = 1.0 - cdf
    prefix = np.zeros((k + 1, positions, x.shape[0]))
    prefix[0, 0] = 1.0
    for j in range(k):
        prefix[j + 1] = _poly_mul(prefix[j], factors[:, j])
    suffix = np.zeros((k + 1, positions, x.shape[0]))
    suffix[k, 0] = 1.0
    for j in range(k - 1, -1, -1):
        suffix[j] = _poly_mul(suffix[j + 1], factors[:, j])
    weights = np.full(x.shape[0], x[1] - x[0])
    weights[0] = weights[-1] = 0.5 * (x[1] - x[0])
    out = np.empty((positions, k))
    for i in range(k):
        others = _poly_mul(prefix[i], suffix[i + 1])  # (positions, grid)
        out[:, i] = (others * pdf[i]) @ weights
    result: FloatArray = out / out.sum(axis=1, keepdims=True)
    return result


@functools.lru_cache(maxsize=4)
def _published_ranks(positions: int) -> FloatArray:
    out = obd_bts_rank_probabilities(np.array(OBD_BTS_ALPHA, dtype=np.float64),
                                     np.array(OBD_BTS_BETA, dtype=np.float64), positions)
    out.setflags(write=False)
    return out


def obd_bts_action_dist(log: LoggedBandit) -> FloatArray:
    """The published BTS policy's probabilities on every round of an Open Bandit Dataset log
    (campaign "all"): row ``t`` is the distribution of the item it puts at round ``t``'s
    position. Shape ``(n, K)``, columns in ``log.actions`` order (item ids).

    Parameters
    ----------
    log
        An Open Bandit Dataset log (:func:`load_obd`), positions included.

    Raises
    ------
    PayloadError
        The log has no positions, or an action is not an item id 0–79.
    """
    if log.position is None:
        raise PayloadError("the BTS policy ranks items: the log needs positions")
    try:
        items = [int(name) for name in log.actions]
    except ValueError:
        raise PayloadError("actions must be Open Bandit Dataset item ids") from None
    if min(items) < 0 or max(items) >= len(OBD_BTS_ALPHA):
        raise PayloadError("an item id is outside 0–79 (campaign 'all')")
    positions = int(log.position.max()) + 1
    columns = _published_ranks(positions)[:, items]
    out: FloatArray = columns[log.position]
    return out
