"""Which bandit a read route's ``?scope=`` names.

The answers name a per-chat or per-user bandit by the decision log's keyed pseudonym
(``chat:<pseudonym>``, ``subject:<pseudonym>``), never by its raw id. A key below admin
names one the same way: were a raw id taken from it, the answer (its rows, its periods,
its counts) would tie that id to its pseudonym, and a read key would be an oracle from
Telegram ids to the log's pseudonyms (a review). An admin key, trusted with every id,
may also name a bandit by its raw id.

Finding the scope a pseudonym names reads the log: once per process and experiment in full,
keeping each scope by its pseudonym, and then, for a pseudonym not found (a key may send
made-up ones, one request after another), only what was logged since. The maps hold
:data:`_SCOPES_LIMIT` scopes in all; an experiment with more is read in full for a miss, at
most once every :data:`_UNMAPPED_SCAN_SECONDS` (in between, only the pseudonyms found
before, the last :data:`_HITS_LIMIT` of them, are answered: a results page watching one
chat of a large experiment keeps its chat).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict

from .._errors import PayloadError
from ..offline import Pseudonyms, store_pseudonyms
from ..service import ApiKey, BanditService, role_allows
from ..stores import close_scan

__all__ = ["stored_scope"]

#: what a pseudonym looks like (16 hex digits: see :class:`~banditbot.offline.Pseudonyms`)
_PSEUDONYM = re.compile(r"[0-9a-f]{16}")
#: how far before the newest decision read a later read starts again: a decision stamped
#: before it (by a host whose clock is behind, or one committed late) is still found
_OVERLAP_SECONDS = 10.0
#: how many scopes the maps below keep, in all (an entry is two short strings: about 180
#: bytes, so 18 MB at most); an experiment with more is not mapped (see _LogScopes)
_SCOPES_LIMIT = 100_000
#: how often an experiment too large to map may have its whole log read for a miss
_UNMAPPED_SCAN_SECONDS = 60.0
#: how many pseudonyms found are kept apart from the maps (an unmapped experiment's too)
_HITS_LIMIT = 4096


class _LogScopes:
    """An experiment's log as far as it was read: each scope in it by its pseudonym, and
    the newest decision's time, from which a miss reads on (a bandit once in the log stays
    there, so an entry holds until the key is rotated, which changes the digest)."""

    __slots__ = ("read_to", "scope_of")

    def __init__(self) -> None:
        self.scope_of: dict[str, str] = {}
        self.read_to = -math.inf


#: the maps, per (pseudonym key's digest, experiment): no secret is kept here
_MAPS: OrderedDict[tuple[str, str], _LogScopes] = OrderedDict()
#: experiments whose log had more than _SCOPES_LIMIT scopes: when their log was last read
_UNMAPPED: OrderedDict[tuple[str, str], float] = OrderedDict()
#: the pseudonyms found lately, per (pseudonym key's digest, experiment, pseudonym)
_HITS: OrderedDict[tuple[str, str, str], str] = OrderedDict()
#: one read of an experiment's log at a time, per (digest, experiment): misses that come
#: together wait for the first one's map, not each read the log (a review: N made-up
#: pseudonyms at once read the whole log N times)
_READING: dict[tuple[str, str], threading.Lock] = {}
_LOCK = threading.Lock()


def stored_scope(service: BanditService, experiment: str, scope: str | None,
                 key: ApiKey) -> str | None:
    """The scope as the store keeps it, of the bandit ``scope`` names.

    Parameters
    ----------
    service
        The engine (its store holds the log and the pseudonym key).
    experiment
        The experiment's id.
    scope
        ``chat:<pseudonym>`` or ``subject:<pseudonym>`` as the answers show it, or ``None``
        (every bandit). An admin key may give the raw id instead (``chat:-1001234``).
    key
        The calling key.

    Returns
    -------
    str or None
        The bandit's scope in the store (``chat:<id>``), or ``None`` for ``None``.

    Raises
    ------
    PayloadError
        A scope of the wrong kind for the experiment, or, from a key below admin, one that
        is not the pseudonym of any of its bandits: the same answer whatever raw id it may
        hold, so the refusal tells nothing either.
    """
    if scope is None:
        return None
    service.check_scope(experiment, scope)
    kind, _, ident = scope.partition(":")
    if _PSEUDONYM.fullmatch(ident):
        found = _scope_of_pseudonym(service, experiment, scope)
        if found is not None:
            return found
    if role_allows(key.role, "admin"):
        return scope
    raise PayloadError(
        f"{scope!r} is not the pseudonym of any of {experiment!r}'s bandits",
        hint=f"name a {'chat' if kind == 'chat' else 'user'} by its pseudonym, as the "
             f"decision log and the allocation periods show it ({kind}: and 16 hexadecimal "
             "digits); only an admin key may name one by its own id")


def _scope_of_pseudonym(service: BanditService, experiment: str, named: str) -> str | None:
    """The scope of the experiment's log whose pseudonym is ``named``, or ``None``.

    The first lookup reads the scope of every decision of every generation and keeps the
    map of pseudonyms to scopes; a pseudonym not in it (a miss) reads only the decisions
    logged since (from :data:`_OVERLAP_SECONDS` before the newest one read): a key sending
    made-up pseudonyms costs a read of the last seconds of the log, not of all of it."""
    pseudonyms = store_pseudonyms(service.store)
    exp = service.experiment(experiment).id
    cached = (pseudonyms(""), exp)
    hit = (*cached, named)
    with _LOCK:
        found = _HITS.get(hit)
        if found is not None:
            _HITS.move_to_end(hit)
            return found
    found = _lookup(service, exp, cached, pseudonyms, named)
    if found is not None:
        with _LOCK:
            _HITS[hit] = found
            while len(_HITS) > _HITS_LIMIT:
                _HITS.popitem(last=False)
    return found


def _lookup(service: BanditService, exp: str, cached: tuple[str, str],
            pseudonyms: Pseudonyms, named: str) -> str | None:
    """:func:`_scope_of_pseudonym` past the pseudonyms found lately: the maps, then the
    log, one reader of an experiment's log at a time."""
    with _LOCK:
        reading = _READING.setdefault(cached, threading.Lock())
    with reading:
        return _lookup_alone(service, exp, cached, pseudonyms, named)


def _lookup_alone(service: BanditService, exp: str, cached: tuple[str, str],
                  pseudonyms: Pseudonyms, named: str) -> str | None:
    """:func:`_lookup` while no other thread reads this experiment's log (one that did
    may have left its map)."""
    with _LOCK:
        known = _MAPS.get(cached)
        if known is not None:
            _MAPS.move_to_end(cached)
            found = known.scope_of.get(named)
            if found is not None:
                return found
            since = known.read_to - _OVERLAP_SECONDS
        elif time.monotonic() - _UNMAPPED.get(cached, -math.inf) < _UNMAPPED_SCAN_SECONDS:
            return None  # too many scopes to map, and read in full a moment ago
    if known is None:
        return _read_whole_log(service, exp, cached, pseudonyms, named)
    scope_of: dict[str, str] = {}
    seen: set[str] = set()
    read_to = known.read_to
    scan = service.store.iter_decisions(exp, since=None if math.isinf(since) else since)
    try:
        for record in scan:
            read_to = max(read_to, record.created_at)
            if record.scope and record.scope not in seen:
                seen.add(record.scope)
                scope_of[pseudonyms.scope(record.scope)] = record.scope
    finally:
        close_scan(scan)
    with _LOCK:
        known.scope_of.update(scope_of)
        known.read_to = max(known.read_to, read_to)
        _bound()
    return scope_of.get(named)


def _read_whole_log(service: BanditService, exp: str, cached: tuple[str, str],
                    pseudonyms: Pseudonyms, named: str) -> str | None:
    """Read every generation of the log into a new map (kept unless it outgrows
    :data:`_SCOPES_LIMIT`); the scope ``named`` names, or ``None``."""
    known = _LogScopes()
    seen: set[str] = set()
    found: str | None = None
    for generation in range(service.current_generation(exp), -1, -1):
        scan = service.store.iter_fields(exp, ["scope", "created_at"], generation=generation)
        try:
            created_at = -math.inf
            for scope, created_at in scan:  # noqa: B007 (time order: the last is the newest)
                if scope in seen or not scope:
                    continue
                seen.add(scope)
                pseudonym = pseudonyms.scope(scope)
                if pseudonym == named:
                    found = str(scope)
                if len(seen) <= _SCOPES_LIMIT + 1:  # (one more: unmapped below)
                    known.scope_of[pseudonym] = scope
        finally:
            close_scan(scan)
        known.read_to = max(known.read_to, created_at)
    with _LOCK:
        if len(known.scope_of) > _SCOPES_LIMIT:  # (kept, it would push out every other map)
            _unmapped(cached)
        else:
            _MAPS[cached] = known
            _bound()
    return found


def _unmapped(key: tuple[str, str]) -> None:
    """Note that the experiment of ``key`` has too many scopes to map, as of now."""
    _UNMAPPED[key] = time.monotonic()
    _UNMAPPED.move_to_end(key)
    while len(_UNMAPPED) > 64:
        _UNMAPPED.popitem(last=False)


def _bound() -> None:
    """Forget the least recently used maps until all hold :data:`_SCOPES_LIMIT` scopes at
    most; an experiment with more on its own is left unmapped (its misses read its whole
    log, once a minute at most: what keeping its map would cost in memory, in time)."""
    total = sum(len(m.scope_of) for m in _MAPS.values())
    while total > _SCOPES_LIMIT and _MAPS:
        key, dropped = _MAPS.popitem(last=False)
        total -= len(dropped.scope_of)
        if not _MAPS:  # (one that grew past the limit on its own)
            _unmapped(key)
