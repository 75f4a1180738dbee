"""Time-weighted statistics of non-stationary policies: time buckets and discounted epochs.

Every reward of an experiment with time buckets adds to its bucket's sums
(``tb.<b>.n|s|q@<bucket>``), which any half-life or window can weigh when it reads them. A
discount keeps :data:`DISCOUNT_HALF_LIVES` half-lives of buckets, so a decision that folded them
all grew with the experiment's age (4 arms, hourly buckets, a 3-day half-life on SQLite: 1.2 ms
a decision after 9 days, 6.3 ms after 60). So a reward also adds, for the discount of the policy
in force, to the exponentially weighted sums of its **epoch** (:data:`EPOCH_BUCKETS` buckets),
kept in parts of at most :data:`PART_HALF_LIVES` half-lives (part ``j`` starts at ``s_j``)::

    ew.<j>.n|s|q.<h>@<bucket>  +=  w·(1 | x | x²) · 2^((t − s_j) / h)     ew.<j>.c.<h>@<bucket> += w

Read at ``now``, a part's sum times ``2^(−(now − s_j) / h)`` is ``Σ w·x·2^(−(now − t)/h)``:
the discounted sum, exact in time (a bucket knows a reward's age to the bucket), in a few
fields however old the experiment is. The write stays one additive increment (the factor
is known when the reward is written); the factor stays below ``2^8``, so a DynamoDB sum
(exact decimals, 38 digits at most) of millions of them fits.

Which epochs' weighted sums hold every reward is counted, not assumed: every reward also
adds to its epoch's count (``ec.<e>@<bucket> += w``, whatever the policy; the counts of
epochs too old to weigh are moved into ``ec.base@<bucket>``, so they keep adding up to the
arm's rewards without growing in number). An epoch is read from its buckets, as before,
when its parts count less than its count (the policy or its half-life changed in it), when
it overlaps an epoch counted on another grid (every field names the bucket length it was
written with: a change of ``time_bucket_seconds`` starts a new grid, and the old buckets
keep their times), and, while no count has been folded yet and the counts fall short of
the arm's rewards (rewards from before epochs were counted), when it is the first counted
epoch or older. Epochs that ended more than :data:`DISCOUNT_HALF_LIVES` half-lives ago
weigh below 1e-15 and need nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np

from .._types import FloatArray
from ..policies._base import TimeWeighting
from ..stores import StatsTable

__all__ = ["BASE_EPOCH", "DISCOUNT_HALF_LIVES", "EPOCH_BUCKETS", "PART_HALF_LIVES", "base_field",
           "epoch_field", "part_buckets", "reward_time_fields", "stale_field",
           "time_bucket_field", "time_weighted_sums"]

#: time buckets, and parts of epochs, older than this many half-lives of a discounting
#: policy are dropped and epochs' counts folded (their weight, 0.5 ** 50, is below 1e-15 of a
#: new reward's)
DISCOUNT_HALF_LIVES = 50
#: buckets in an epoch (one count of rewards each)
EPOCH_BUCKETS = 256
#: an epoch's weighted sums are kept in parts of at most this many half-lives, so a reward's
#: factor is at most 2 ** 8 and a sum of a million stays within DynamoDB's 38 digits
PART_HALF_LIVES = 8
#: the epoch of ``ec.base``: the counts of epochs too old to weigh, summed
BASE_EPOCH = -1
_NSQC = "nsqc"


@functools.lru_cache(maxsize=65536)
def time_bucket_field(name: str) -> tuple[int, int, float | None] | None:
    """``tb.<bucket index>.<n|s|q>@<bucket>`` → (bucket index, row of n, s, q, bucket
    seconds: None in a field written before buckets named their length); None for another
    statistic's field."""
    if not name.startswith("tb."):
        return None
    head, _, grid = name.partition("@")
    _, index, which = head.split(".")
    return int(index), "nsq".index(which), float(grid) if grid else None


@functools.lru_cache(maxsize=65536)
def epoch_field(name: str) -> tuple[int, int, float, float] | None:
    """``ec.<epoch>@<bucket>`` → (epoch, -1, 0.0, bucket seconds), ``ec.base@<bucket>``
    the same with :data:`BASE_EPOCH`;
    ``ew.<part>.<n|s|q|c>.<half-life>@<bucket>`` → (part, row of n, s, q, c, half-life,
    bucket seconds); None for another statistic's field."""
    if not name.startswith(("ec.", "ew.")) or "@" not in name:
        return None
    head, _, bucket = name.partition("@")
    if head.startswith("ec."):
        return BASE_EPOCH if head == "ec.base" else int(head[3:]), -1, 0.0, float(bucket)
    _, part, which, half_life = head.split(".", 3)
    return int(part), _NSQC.index(which), float(half_life), float(bucket)


@functools.lru_cache(maxsize=1024)
def part_buckets(bucket: float, half_life: float) -> int:
    """Buckets in a part of an epoch's weighted sums: the epoch halved until a part spans
    at most :data:`PART_HALF_LIVES` half-lives (a divisor of :data:`EPOCH_BUCKETS`)."""
    size = EPOCH_BUCKETS
    while size > 1 and size * bucket > PART_HALF_LIVES * half_life:
        size //= 2
    return size


def reward_time_fields(now: float, bucket: float, weight: float, value: float,
                       half_life: float | None) -> dict[str, float]:
    """The time-weighted fields one reward adds at ``now``: its bucket's sums, its epoch's
    count, and with a discounting policy in force (``half_life``) the weighted sums of its
    epoch's part. Every field names the bucket length it was counted in (a change of
    ``time_bucket_seconds`` starts a new grid: the old buckets keep their times, and the
    old epochs are read from their buckets)."""
    index = int(now // bucket)
    wv = weight * value
    grid = f"@{float(bucket)!r}"
    out = {f"tb.{index}.n{grid}": weight, f"tb.{index}.s{grid}": wv,
           f"tb.{index}.q{grid}": wv * value, f"ec.{index // EPOCH_BUCKETS}{grid}": weight}
    if half_life is not None:
        size = part_buckets(float(bucket), float(half_life))
        part = index // size
        factor = 2.0 ** ((now - part * size * bucket) / half_life)
        h = f"{float(half_life)!r}{grid}"
        out[f"ew.{part}.n.{h}"] = weight * factor
        out[f"ew.{part}.s.{h}"] = wv * factor
        out[f"ew.{part}.q.{h}"] = wv * value * factor
        out[f"ew.{part}.c.{h}"] = weight
    return out


def base_field(bucket: float) -> str:
    """The field that keeps the counts of epochs too old to weigh, on ``bucket``'s grid."""
    return f"ec.base@{float(bucket)!r}"


def stale_field(name: str, bucket: float, before: float) -> str | None:
    """How to drop ``name`` if it is a time bucket, or an epoch's count or part of its
    discounted sums, that ended ``before``: ``"drop"``, or ``"fold"`` for a count on the
    grid in use (into :func:`base_field`: the counts must keep adding up to the rewards);
    None to keep it."""
    if (parsed := time_bucket_field(name)) is not None:
        return "drop" if (parsed[0] + 1) * (parsed[2] or bucket) <= before else None
    if (epoch := epoch_field(name)) is None or epoch[0] == BASE_EPOCH:
        return None
    index, row, half_life, grid = epoch
    size = EPOCH_BUCKETS if row < 0 else part_buckets(grid, half_life)
    if (index + 1) * size * grid > before:
        return None
    return "fold" if row < 0 and grid == bucket else "drop"


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def _counted_epochs(fields: Mapping[str, float], n: float, now: float, bucket: float,
                    half_life: float, out: list[float]) -> tuple[set[int], bool]:
    """Add the weighted sums of the arm's epochs that hold every reward to ``out`` (n, s,
    q); return those epochs and whether rewards in others may still weigh (so the buckets
    are needed)."""
    counts: dict[int, float] = {}
    parts: dict[int, list[float]] = {}
    # time spans whose rewards this grid did not count: other grids' epochs (a change of
    # time_bucket_seconds, and perhaps back), and what came before any epoch was counted
    gaps: list[tuple[float, float]] = []
    counted = 0.0
    folded = False  # a total of folded epochs: the first ever counted is long gone
    for name, value in fields.items():
        parsed = epoch_field(name)
        if parsed is None:
            continue
        index, row, h, grid = parsed
        if row < 0:
            counted += value
            folded = folded or index == BASE_EPOCH
            if grid != bucket and index != BASE_EPOCH:
                gaps.append((index * EPOCH_BUCKETS * grid, (index + 1) * EPOCH_BUCKETS * grid))
            elif grid == bucket:
                counts[index] = value
        elif grid == bucket and h == half_life:
            parts.setdefault(index, [0.0, 0.0, 0.0, 0.0])[row] = value
    if not counts and not gaps:
        return set(), n != 0.0
    counts.pop(BASE_EPOCH, None)  # (its epochs are older than any kept)
    span = EPOCH_BUCKETS * bucket
    if not folded and not _close(counted, n):  # rewards from before epochs were counted:
        # in the first epoch counted, or before it
        ends = [(e + 1) * span for e in counts] + [end for _, end in gaps]
        gaps.append((-math.inf, min(ends)))
    size = part_buckets(bucket, half_life)
    per_epoch = EPOCH_BUCKETS // size
    held: dict[int, float] = {}
    for part, sums in parts.items():
        held[part // per_epoch] = held.get(part // per_epoch, 0.0) + sums[3]
    horizon = now - DISCOUNT_HALF_LIVES * half_life - bucket
    needs = any(end > horizon for _, end in gaps)
    covered = set()
    for epoch, count in counts.items():
        start, end = epoch * span, (epoch + 1) * span
        if not _close(held.get(epoch, 0.0), count) or any(
                lo < end and hi > start for lo, hi in gaps):
            needs = needs or end > horizon
        else:
            covered.add(epoch)
    for part, sums in parts.items():
        if part // per_epoch in covered:
            # (a part that starts after now, from a clock ahead of this one, weighs as new)
            weight = 2.0 ** min(-(now - part * size * bucket) / half_life, 0.0)
            out[0] += sums[0] * weight
            out[1] += sums[1] * weight
            out[2] += sums[2] * weight
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
    middles: list[float] = []
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
            if parsed is None:
                continue
            index, row, grid = parsed
            if grid is None or grid == bucket:  # (this grid; a field from before grids)
                if index // EPOCH_BUCKETS in covered:
                    continue
                grid = bucket
            rows.append(row)
            cols.append(k)
            middles.append((index + 0.5) * grid)
            values.append(value)
    if values:
        age = np.maximum(now - np.array(middles), 0.0)
        weight = 0.5 ** (age / width) if kind == "discount" else \
            (age < width).astype(np.float64)
        np.add.at(tw, (np.array(rows), np.array(cols)), weight * np.array(values))
    return tw
