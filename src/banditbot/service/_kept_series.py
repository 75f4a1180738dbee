"""Charts' decision series, kept as the report's inference is (see :mod:`._inference`).

A chart's series (:class:`~banditbot.DecisionSeries`) is read from the decision log
as the fields it needs (:data:`~banditbot._series.SERIES_FIELDS`), deferred decisions'
vectors resolved as every other reader resolves them. A short log is read at every change;
a long one is read again when it has grown by :attr:`SeriesCache.stale_share` (the
inference's share) since the series was read, the series kept meanwhile in this process and
in the store (so another process, a cold Lambda answering ``/report``, does not scan the
log), and marked with how far behind the log it is (:attr:`DecisionSeries.behind`).

Why not extend a kept series with the decisions since: a late answer to an old decision
changes the cumulative reward of every bin after it, and the bins themselves are spread
over the whole log (``points`` of them, of equal size): both need the whole log again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from .._errors import BanditBotError
from .._series import DecisionSeries
from ..stores import Store
from ._inference import LookCache
from ._view import ExperimentView

__all__ = ["SeriesCache"]

log = logging.getLogger("banditbot")

#: (decisions, answers, reward sum) of the log a series was read from
_Fingerprint = tuple[float, float, float]
#: (experiment, generation, scope, every arm, points)
_Key = tuple[str, int, str | None, tuple[str, ...], int]

#: Version of the stored series document's layout (a mismatch reads the log again).
_FORMAT = 1
#: Largest stored series (DynamoDB items stop at 400 KB; 3 arms at 60 points take ~15 KB).
_MAX_DOCUMENT = 300_000


class _Entry(NamedTuple):
    fingerprint: _Fingerprint
    series: DecisionSeries


class SeriesCache(LookCache[_Key, _Entry]):
    """Decision series per (experiment, generation, scope, arms, points), read again when
    the log changed: a short log at every new decision or answer, a long one when it grew by
    :attr:`stale_share` (the inference's thresholds: :class:`LookCache`)."""

    def get(self, store: Store, view: ExperimentView, scope: str | None, *,
            points: int, counts: _Fingerprint,
            read: Callable[[], DecisionSeries]) -> DecisionSeries:
        """The series of ``view``'s arms at ``points`` bins: kept, or ``read()`` from the
        log. ``counts`` are the log's ``(decisions, answers, reward sum)`` now."""
        key: _Key = (view.config.id, view.meta.generation, scope, view.all_arms, points)
        found = self._entries.get(key)
        if found is not None and self._still_good(found.fingerprint, counts):
            return _behind(found, counts)
        long_log = counts[0] + counts[1] >= self.fresh_below
        name, version = _document_name(key), 0
        if long_log:  # another process (a server, an earlier report) may have read it
            try:
                stored, version = store.read_document(name)
            except BanditBotError as exc:  # the log is still there to read
                log.info("series state not read", extra={"error": exc.message})
                stored = None
            kept = _entry_from_json(stored) if stored else None
            if kept is not None and self._still_good(kept.fingerprint, counts):
                self._remember(key, kept)
                return _behind(kept, counts)
        entry = _Entry(counts, read())
        self._remember(key, entry)
        if long_log:
            text = _entry_to_json(entry)
            if len(text) > _MAX_DOCUMENT:  # hundreds of arms or points: this process only
                log.info("series state too large to store",
                         extra={"experiment": view.config.id, "bytes": len(text)})
                return entry.series
            try:
                if not store.write_document(name, text, version):
                    log.info("series state written by another process meanwhile",
                             extra={"experiment": view.config.id})
            except BanditBotError as exc:  # a read-only store: kept in this process
                log.info("series state not stored", extra={"error": exc.message})
        return entry.series

    def _still_good(self, cached: _Fingerprint, now: _Fingerprint) -> bool:
        if cached == now:
            return True
        if now[0] < cached[0] or now[1] < cached[1] or now[:2] == cached[:2]:
            return False  # the counts went back (a reset's new log) or an answer changed
        return self._grown_little(cached[0] + cached[1], now[0] + now[1])


def _behind(entry: _Entry, now: _Fingerprint) -> DecisionSeries:
    """The kept series, marked with the decisions and answers the log has had since."""
    behind = (round(now[0] - entry.fingerprint[0]), now[1] - entry.fingerprint[1])
    return entry.series.lagging(*behind) if behind != (0, 0.0) else entry.series


def _document_name(key: _Key) -> str:
    """``series:<experiment>:<generation>:<scope>:<digest of the arms and points>``."""
    experiment, generation, scope, arms, points = key
    digest = hashlib.sha256("\x1f".join((*arms, str(points))).encode()).hexdigest()[:16]
    return f"series:{experiment}:{generation}:{'*' if scope is None else scope}:{digest}"


def _entry_to_json(entry: _Entry) -> str:
    return json.dumps({"format": _FORMAT, "fingerprint": list(entry.fingerprint),
                       "series": entry.series.to_dict()})


def _entry_from_json(text: str) -> _Entry | None:
    """The stored entry, or ``None`` for a document this version cannot read."""
    try:
        doc: dict[str, Any] = json.loads(text)
        if doc.get("format") != _FORMAT:
            return None
        decisions, answers, total = doc["fingerprint"]
        return _Entry((float(decisions), float(answers), float(total)),
                      DecisionSeries.from_dict(doc["series"]))
    except (ValueError, KeyError, TypeError) as exc:  # damaged or foreign: read the log
        log.warning("series state not readable; reading the log",
                    extra={"error": type(exc).__name__})
        return None
