"""Which bandit a read route's ``?scope=`` names.

The answers name a per-chat or per-user bandit by the decision log's keyed pseudonym
(``chat:<pseudonym>``, ``subject:<pseudonym>``), never by its raw id. A key below admin
names one the same way: were a raw id taken from it, the answer (its rows, its periods,
its counts) would tie that id to its pseudonym, and a read key would be an oracle from
Telegram ids to the log's pseudonyms (a review). An admin key, trusted with every id,
may also name a bandit by its raw id.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from .._errors import PayloadError
from ..offline import store_pseudonyms
from ..service import ApiKey, BanditService, role_allows
from ..stores import close_scan

__all__ = ["stored_scope"]

#: what a pseudonym looks like (16 hex digits: see :class:`~banditbot.offline.Pseudonyms`)
_PSEUDONYM = re.compile(r"[0-9a-f]{16}")
#: pseudonyms found, per pseudonym key (a digest of it): a bandit once in the log stays
#: there, so a hit holds until the key is rotated (which changes the digest)
_FOUND: OrderedDict[tuple[str, str, str], str] = OrderedDict()
_FOUND_LIMIT = 4096


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
    """The scope of the experiment's log (newest generation first) whose pseudonym is
    ``named``, or ``None``."""
    pseudonyms = store_pseudonyms(service.store)
    exp = service.experiment(experiment).id
    cached = (pseudonyms(""), exp, named)  # (the key's digest: no secret is kept here)
    found = _FOUND.get(cached)
    if found is not None:
        return found
    seen: set[str] = set()
    for generation in range(service.current_generation(exp), -1, -1):
        scan = service.store.iter_fields(exp, ["scope"], generation=generation)
        try:
            for (scope,) in scan:
                if scope in seen:
                    continue
                seen.add(scope)
                if pseudonyms.scope(scope) == named:
                    _FOUND[cached] = scope
                    if len(_FOUND) > _FOUND_LIMIT:
                        _FOUND.popitem(last=False)
                    return str(scope)
        finally:
            close_scan(scan)
    return None
