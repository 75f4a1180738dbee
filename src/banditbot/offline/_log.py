"""The decision log as a table: export to CSV / Parquet (and, in ``_import``, back).

No raw id leaves in an export by default: every column that carries one (``subject``, and
``scope``, which holds ``subject:<id>`` or ``chat:<id>``) holds a keyed pseudonym instead,
``HMAC-SHA256(installation secret, id)`` cut to 64 bits. The secret is created once per
installation and kept in the store (:func:`store_pseudonyms`), so pseudonyms are stable
across exports (one person's decisions can be followed through a log) but cannot be
recomputed by anyone who does not hold the store: hashing every candidate id recovers
nothing. :func:`rotate_pseudonym_key` replaces the secret; later exports then cannot be
linked to earlier ones.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from .._errors import PayloadError, StoreError, require
from ..stores import DecisionRecord, Store

__all__ = ["LOG_COLUMNS", "Pseudonyms", "decision_rows", "export_decisions", "log_columns",
           "rotate_pseudonym_key", "store_pseudonyms", "write_log_csv"]

_KEY_DOCUMENT = "pseudonym-key"

LOG_COLUMNS = (
    "decision_id", "created_at", "experiment", "generation", "scope", "arm", "propensity",
    "policy", "kind", "subject", "reward", "rewarded_at", "arms", "probabilities", "context",
)


def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


class Pseudonyms:
    """Keyed pseudonyms of ids: ``HMAC-SHA256(key, id)``, 16 hex characters.

    Parameters
    ----------
    key
        The secret (at least 16 bytes). :meth:`ephemeral` makes a random one that is never
        stored: its pseudonyms cannot be linked to any other export's.

    Examples
    --------
    >>> p = Pseudonyms(b"0123456789abcdef")
    >>> p("501") == p("501") != p("502"), len(p("501"))
    (True, 16)
    >>> p.scope("chat:-100").startswith("chat:"), p.scope("")
    (True, '')
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key has at least 16 bytes")
        self._key = key

    @classmethod
    def ephemeral(cls) -> Pseudonyms:
        """Pseudonyms under a random key that is kept nowhere."""
        return cls(secrets.token_bytes(32))

    def __call__(self, value: str) -> str:
        """The pseudonym of one id."""
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:16]

    def scope(self, scope: str) -> str:
        """A scope (``chat:<id>``, ``subject:<id>``, or ``""`` for a shared bandit) with its
        id pseudonymized and its kind kept."""
        if not scope:
            return scope
        kind, sep, ident = scope.partition(":")
        return f"{kind}:{self(ident)}" if sep else self(scope)

    def __repr__(self) -> str:
        return "Pseudonyms(<secret>)"


def store_pseudonyms(store: Store) -> Pseudonyms:
    """The installation's pseudonyms.

    Parameters
    ----------
    store
        Where the secret is kept (document ``pseudonym-key``); it is created on first use,
        once, even when several processes ask at the same time.

    Returns
    -------
    Pseudonyms
        Stable for this store until :func:`rotate_pseudonym_key`.
    """
    for _ in range(10):
        text, version = store.read_document(_KEY_DOCUMENT)
        if text:
            return Pseudonyms(base64.b64decode(json.loads(text)["key"]))
        if store.write_document(_KEY_DOCUMENT, _new_key_document(), version):
            continue  # read back what won (ours, or a concurrent first use's)
    raise StoreError("the pseudonym key is being changed concurrently", hint="retry")


def rotate_pseudonym_key(store: Store) -> None:
    """Replace the installation's pseudonym secret.

    Parameters
    ----------
    store
        The store that keeps the secret. Exports made from now on cannot be linked to
        earlier ones.
    """
    for _ in range(10):
        _, version = store.read_document(_KEY_DOCUMENT)
        if store.write_document(_KEY_DOCUMENT, _new_key_document(), version):
            return
    raise StoreError("the pseudonym key is being changed concurrently", hint="retry")


def _new_key_document() -> str:
    return json.dumps({"key": base64.b64encode(secrets.token_bytes(32)).decode(),
                       "created_at": time.time()})


def decision_rows(records: Iterable[DecisionRecord], *, raw_subjects: bool = False,
                  pseudonyms: Pseudonyms | None = None) -> Iterator[dict[str, Any]]:
    """Flatten decision records into rows with :data:`LOG_COLUMNS` plus ``ctx_*`` columns.

    ``subject`` and ``scope`` carry keyed pseudonyms (``pseudonyms``, default: a random key
    used for this call only), or the raw ids with ``raw_subjects=True``."""
    pseudo = pseudonyms or Pseudonyms.ephemeral()
    for r in records:
        row: dict[str, Any] = {
            "decision_id": r.id,
            "created_at": _iso(r.created_at),
            "experiment": r.experiment,
            "generation": r.generation,
            "scope": r.scope if raw_subjects else pseudo.scope(r.scope),
            "arm": r.arm,
            "propensity": r.propensity,
            "policy": r.policy,
            "kind": r.kind,
            "subject": r.subject if raw_subjects else pseudo(r.subject),
            "reward": r.reward,
            "rewarded_at": _iso(r.rewarded_at),
            "arms": " ".join(r.arms),
            "probabilities": " ".join(f"{p:.10g}" for p in r.probabilities),
            "context": json.dumps(r.context, sort_keys=True) if r.context else "",
        }
        for key, value in (r.context or {}).items():
            row[f"ctx_{key}"] = value
        yield row


def log_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The columns of an export: :data:`LOG_COLUMNS`, then every ``ctx_*`` column in order."""
    context_cols = sorted({k for row in rows for k in row if k.startswith("ctx_")})
    return [*LOG_COLUMNS, *context_cols]


def write_log_csv(records: Iterable[DecisionRecord], out: IO[str], *,
                  raw_subjects: bool = False, pseudonyms: Pseudonyms | None = None) -> int:
    """Write decision records as CSV (the one CSV layout of the decision log: the API, the
    CLI and the bot all use it); returns the number of rows. Ids are pseudonymized as in
    :func:`decision_rows`."""
    rows = list(decision_rows(records, raw_subjects=raw_subjects, pseudonyms=pseudonyms))
    columns = log_columns(rows)
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(k) is None else row.get(k) for k in columns])
    return len(rows)


def export_decisions(records: Iterable[DecisionRecord], path: str | os.PathLike[str], *,
                     fmt: str | None = None, raw_subjects: bool = False,
                     pseudonyms: Pseudonyms | None = None) -> int:
    """Write the decision log to CSV or Parquet; returns the number of rows.

    Parameters
    ----------
    records
        Decision records (e.g. ``service.decisions("exp")``).
    path
        Output file; ``fmt`` defaults from its suffix (``.csv`` or ``.parquet``).
    raw_subjects
        Keep raw ids in ``subject`` and ``scope`` (default: keyed pseudonyms).
    pseudonyms
        The keyed pseudonyms to use (the installation's: :func:`store_pseudonyms`); default:
        a random key for this export only.

    Raises
    ------
    PayloadError
        The format is unknown, or the file's folder does not exist (checked before
        anything is read or written).
    """
    p = Path(path)
    fmt = (fmt or p.suffix.lstrip(".") or "csv").lower()
    if fmt not in ("csv", "parquet"):
        raise PayloadError(f"unknown export format {fmt!r}", hint="use csv or parquet")
    if not p.expanduser().parent.is_dir():
        raise PayloadError(f"the folder of {p} does not exist",
                           hint="create it first, or choose another path")
    if fmt == "csv":
        with p.open("w", newline="", encoding="utf-8") as fh:
            return write_log_csv(records, fh, raw_subjects=raw_subjects,
                                 pseudonyms=pseudonyms)
    require("pyarrow", "parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = list(decision_rows(records, raw_subjects=raw_subjects, pseudonyms=pseudonyms))
    columns = log_columns(rows)
    table = pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in rows]) \
        if rows else pa.table({k: pa.array([], pa.string()) for k in columns})
    pq.write_table(table, p)
    return len(rows)
