"""Time-weighted statistics of non-stationary policies: time buckets and discounted epochs.

Every reward of an experiment with time buckets adds to its bucket's sums (``tb.<b>.n|s|q``),
which any half-life or window can weigh when it reads them. A discount keeps
:data:`DISCOUNT_HALF_LIVES` half-lives of buckets, so a decision that folded them all grew
with the experiment's age (4 arms, hourly buckets, a 3-day half-life on SQLite: 1.2 ms a
decision after 9 days, 6.3 ms after 60). So a reward also adds, for the discount of the
policy in force, to its **epoch's** exponentially weighted sums (an epoch is
:data:`EPOCH_BUCKETS` buckets, starting at ``s_e``)::

    ew.<e>.n|s|q.<half-life>  +=  w·(1 | x | x²) · 2^((t − s_e) / h)      ew.<e>.c.<h> += w

Read at ``now``, an epoch's sum times ``2^(−(now − s_e) / h)`` is ``Σ w·x·2^(−(now − t)/h)``:
the discounted sum, exact in time (a bucket knows a reward's age to the bucket), in four
fields an epoch however old the experiment is. The write stays one additive increment
(the factor is known when the reward is written) and below ``2^256`` (a bucket is at most
the half-life: the config's check).

Which epochs' weighted sums hold every reward is counted, not assumed: every reward also
adds to its epoch's count (``ec.<e> += w``, whatever the policy). An epoch whose weighted
sums count less than its count (the policy or its half-life changed in it) is read from its
buckets, as before; so is every epoch up to the first counted one of an arm whose counts
do not add up to its rewards (rewards from before epochs were counted). Epochs that ended
more than :data:`DISCOUNT_HALF_LIVES` half-lives ago weigh below 1e-15 and need nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from .._types import FloatArray
from ..policies._base import TimeWeighting
from ..stores import StatsTable

__all__ = ["DISCOUNT_HALF_LIVES", "EPOCH_BUCKETS", "epoch_field", "reward_time_fields",
           "time_bucket_field", "time_weighted_sums"]

#: time buckets older than this many half-lives of a discounting policy are dropped (their
#: weight, 0.5 ** 50, is below 1e-15 of a new reward's)
DISCOUNT_HALF_LIVES = 50
#: buckets in an epoch of discounted sums (the factor of a reward is at most 2 ** 256)
EPOCH_BUCKETS = 256
_NSQC = "nsqc"


@functools.lru_cache(maxsize=65536)
def time_bucket_field(name: str) -> tuple[float, int] | None:
    """``tb.<bucket index>.<n|s|q>`` → (bucket index, row of n, s, q); None for another
    statistic's field."""
    if not name.startswith("tb."):
        return None
    _, index, which = name.split(".")
    return float(int(index)), "nsq".index(which)


@functools.lru_cache(maxsize=65536)
def epoch_field(name: str) -> tuple[int, int, float] | None:
    """``ec.<epoch>`` → (epoch, -1, 0.0); ``ew.<epoch>.<n|s|q|c>.<half-life>`` → (epoch,
    row of n, s, q, c, half-life); None for another statistic's field."""
    if name.startswith("ec."):
        return int(name[3:]), -1, 0.0
    if not name.startswith("ew."):
        return None
    _, epoch, which, half_life = name.split(".", 3)
    return int(epoch), _NSQC.index(which), float(half_life)


def reward_time_fields(now: float, bucket: float, weight: float, value: float,
                       half_life: float | None) -> dict[str, float]:
    """The time-weighted fields one reward adds at ``now``: its bucket's sums, its epoch's
    count, and with a discounting policy in force (``half_life``) its epoch's weighted
    sums."""
    index = int(now // bucket)
    wv = weight * value
    out = {f"tb.{index}.n": weight, f"tb.{index}.s": wv, f"tb.{index}.q": wv * value}
    epoch = index // EPOCH_BUCKETS
    out[f"ec.{epoch}"] = weight
    if half_life is not None:
        factor = 2.0 ** ((now - epoch * EPOCH_BUCKETS * bucket) / half_life)
        h = repr(float(half_life))
        out[f"ew.{epoch}.n.{h}"] = weight * factor
        out[f"ew.{epoch}.s.{h}"] = wv * factor
        out[f"ew.{epoch}.q.{h}"] = wv * value * factor
        out[f"ew.{epoch}.c.{h}"] = weight
    return out


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def _counted_epochs(fields: Mapping[str, float], n: float, now: float, bucket: float,
                    half_life: float, out: list[float]) -> tuple[set[int], bool]:
    """Add the weighted sums of the arm's epochs that hold every reward to ``out`` (n, s,
    q); return those epochs and whether rewards in others may still weigh (so the buckets
    are needed)."""
    counts: dict[int, float] = {}
    sums: dict[int, list[float]] = {}
    for name, value in fields.items():
        parsed = epoch_field(name)
        if parsed is None:
            continue
        epoch, row, h = parsed
        if row < 0:
            counts[epoch] = value
        elif h == half_life:
            sums.setdefault(epoch, [0.0, 0.0, 0.0, 0.0])[row] = value
    if not counts:
        return set(), n != 0.0
    span = EPOCH_BUCKETS * bucket
    horizon = now - DISCOUNT_HALF_LIVES * half_life - bucket
    # rewards not counted (written before epochs were) lie in the first counted epoch or
    # before it
    first = None if _close(sum(counts.values()), n) else min(counts)
    needs = first is not None and (first + 1) * span > horizon
    covered = set()
    for epoch, count in counts.items():
        held = sums.get(epoch)
        if held is None or not _close(held[3], count) or (first is not None
                                                          and epoch <= first):
            needs = needs or (epoch + 1) * span > horizon
            continue
        covered.add(epoch)
        weight = 2.0 ** (-(now - epoch * span) / half_life)
        out[0] += held[0] * weight
        out[1] += held[1] * weight
        out[2] += held[2] * weight
    return covered, needs


def time_weighted_sums(table: StatsTable, now: float, bucket: float,
                       weighting: TimeWeighting, *, buckets: bool = True
                       ) -> FloatArray | None:
    """Rows ``n, s, q`` (shape ``(3, K)``, reward units) of each arm's rewards weighed by
    ``weighting`` at ``now``: discounted from the epochs' weighted sums where they hold
    every reward, from the buckets where not. ``buckets=False``: the table was read
    without its time buckets; None when an arm needs them."""
    kind, width = weighting
    width = float(width)
    arms = table.arms
    fields = table.extra
    tw = np.zeros((3, len(arms)))
    rows: list[int] = []
    cols: list[int] = []
    starts: list[float] = []
    values: list[float] = []
    for k, arm in enumerate(arms):
        arm_fields = fields.get(arm, {})
        covered: set[int] = set()
        if kind == "discount":
            sums = [0.0, 0.0, 0.0]
            covered, needs = _counted_epochs(arm_fields, float(table.n[k]), now, bucket,
                                             width, sums)
            tw[0, k], tw[1, k], tw[2, k] = sums
            if not needs:  # (any bucket left weighs below 1e-15)
                continue
        if not buckets:
            return None
        # every bucket's fields at once (an arm holds three per bucket it ever saw); the sums
        # add in the same order as a loop would
        for name, value in arm_fields.items():
            parsed = time_bucket_field(name)
            if parsed is not None and int(parsed[0]) // EPOCH_BUCKETS not in covered:
                rows.append(parsed[1])
                cols.append(k)
                starts.append(parsed[0])
                values.append(value)
    if values:
        age = np.maximum(now - (np.array(starts) + 0.5) * bucket, 0.0)
        weight = 0.5 ** (age / width) if kind == "discount" else \
            (age < width).astype(np.float64)
        np.add.at(tw, (np.array(rows), np.array(cols)), weight * np.array(values))
    return tw
