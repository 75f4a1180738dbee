"""Idempotency keys of decisions: a request sent again with the key of its first attempt is
answered with the decision that attempt made, and nothing new is logged.

A client that retries a decision it may have got already (a timeout, a dropped connection)
sends a key of its own choosing with every attempt (the HTTP API's ``Idempotency-Key``
header). The store keeps the key with the request's fingerprint and the decision's id,
written with the decision in one atomic step (:meth:`~banditbot.stores.Store.
record_keyed_decision`): there is no moment at which the key is taken and its decision not
logged, so concurrent attempts log one decision and each is answered with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from .._errors import PayloadError

__all__ = ["IDEMPOTENCY_SECONDS", "MAX_IDEMPOTENCY_KEY", "RequestKey", "request_key"]

#: How long a key stands for its decision (a day, as Stripe keeps keys)
IDEMPOTENCY_SECONDS = 24 * 3600.0
#: The longest key a client may send (printable ASCII)
MAX_IDEMPOTENCY_KEY = 255


class RequestKey(NamedTuple):
    """An idempotency key as the store keeps it, and the request it came with.

    Attributes
    ----------
    key
        A digest of the caller, the experiment and the client's key: keys of different
        callers or experiments never meet, and the client's text is not stored.
    fingerprint
        A digest of the request (subject, context, chat, sticky): a retry sends the same.
    """

    key: str
    fingerprint: str


def request_key(key: str, *, caller: str | None, experiment: str, subject: str,
                context: Mapping[str, Any] | None, chat: str | None,
                sticky: bool) -> RequestKey:
    """The stored form of a client's idempotency ``key`` for a decision request.

    Raises
    ------
    PayloadError
        ``key`` is not 1–255 printable ASCII characters.

    The fingerprint reads equal JSON numbers as one (``1``, ``1.0`` and ``-0.0``/``0``: a
    client's JSON library chooses how a number is written, not the client), and tells
    numbers, booleans and text apart (``1``, ``true`` and ``"1"`` are other requests).

    Examples
    --------
    >>> a = request_key("order-1", caller=None, experiment="e", subject="u",
    ...                 context={"x": 1, "y": 2}, chat=None, sticky=False)
    >>> b = request_key("order-1", caller=None, experiment="e", subject="u",
    ...                 context={"y": 2.0, "x": 1}, chat=None, sticky=False)
    >>> a == b, len(a.key)
    (True, 64)
    """
    if not isinstance(key, str) or not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or \
            not all(" " <= c <= "~" for c in key):
        raise PayloadError(f"an idempotency key is 1–{MAX_IDEMPOTENCY_KEY} printable ASCII "
                           "characters", hint="e.g. a UUID made once per decision and sent "
                                              "again with each retry of it")
    scoped = json.dumps([caller or "", experiment, key])
    request = json.dumps([str(subject), _canonical(dict(context)) if context else None,
                          None if chat is None else str(chat), bool(sticky)],
                         sort_keys=True, separators=(",", ":"), default=repr)
    return RequestKey(hashlib.sha256(scoped.encode()).hexdigest(),
                      hashlib.sha256(request.encode()).hexdigest())


def _canonical(value: Any) -> Any:
    """``value`` with every whole float as the integer it equals (``1.0`` → ``1``, ``-0.0``
    → ``0``), in dicts and lists too; booleans stay booleans (``True == 1`` in Python, not
    in JSON)."""
    if type(value) is float:
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value
