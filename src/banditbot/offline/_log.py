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
import itertools
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt

from .._errors import PayloadError, StoreError, require
from .._files import replacing
from .._memo import memo_map
from .._types import BoolArray, FloatArray
from ..stores import DecisionRecord, Store, resolve_propensities

__all__ = ["LOG_COLUMNS", "Pseudonyms", "decision_rows", "export_decisions", "log_columns",
           "rotate_pseudonym_key", "store_pseudonyms", "write_log_csv"]

_KEY_DOCUMENT = "pseudonym-key"

#: The export's columns (then one ``ctx_*`` column per context key). ``weight`` is how much
#: the row's reward counts in the experiment's statistics: 1 for a decision, the importance
#: weight for an imported (``import``) row of history, so ``Σ weight`` over the answered rows
#: is the report's answered count and ``Σ weight · reward`` its reward sum. It came last, so
#: a script that reads an earlier export's columns by position reads the same ones.
LOG_COLUMNS = (
    "decision_id", "created_at", "experiment", "generation", "scope", "arm", "propensity",
    "propensity_from", "policy", "kind", "subject", "reward", "rewarded_at", "arms",
    "probabilities", "context", "weight",
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


#: Records formatted together (timestamps are formatted as one array).
_CHUNK = 1024


def _chunks(records: Iterable[DecisionRecord], size: int) -> Iterator[list[DecisionRecord]]:
    it = iter(records)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _millis(stamps: Sequence[float | None]) -> tuple[npt.NDArray[np.int64], BoolArray]:
    """Epoch seconds as whole milliseconds (rounded to the microsecond, then cut to the
    millisecond, as ``datetime`` does), and where a stamp is missing (``None``; 0 there)."""
    ts = np.array([np.nan if t is None else t for t in stamps], dtype=np.float64)
    missing = np.isnan(ts)
    ts[missing] = 0.0
    whole = np.trunc(ts)
    micros = whole.astype(np.int64) * 1_000_000 + np.round((ts - whole) * 1e6).astype(np.int64)
    return micros // 1000, missing


def _iso_many(stamps: Sequence[float | None]) -> list[str]:
    """``[_iso(t) for t in stamps]`` as one array operation."""
    millis, missing = _millis(stamps)
    text = np.datetime_as_string(millis.astype("datetime64[ms]"), unit="ms")
    out = [f"{t}+00:00" for t in text.tolist()]
    for i in np.flatnonzero(missing).tolist():
        out[i] = ""
    return out


class _Cells:
    """The export's cells of decisions in :data:`LOG_COLUMNS` order, a chunk at a time,
    with memo tables for the values that repeat from row to row (pseudonyms, probability
    vectors, arm lists, contexts): an export of a million decisions formats each only once.
    """

    _MEMO = 100_000  # entries per memo table before it starts over (bounds memory)

    def __init__(self, raw_subjects: bool, pseudonyms: Pseudonyms | None) -> None:
        self.raw = raw_subjects
        self.pseudo = pseudonyms or Pseudonyms.ephemeral()
        self.subjects: dict[str, str] = {}
        self.scopes: dict[str, str] = {}
        self.vectors: dict[bytes, str] = {}
        self.vector_ids: dict[int, tuple[FloatArray, str]] = {}
        self.arm_lists: dict[tuple[str, ...], str] = {}
        self.contexts: dict[str, str] = {}
        self.new_contexts: list[Mapping[str, Any]] = []  # memo misses since the last take
        self.context_json = json.JSONEncoder(sort_keys=True).encode

    def rows(self, chunk: Sequence[DecisionRecord]) -> list[list[Any]]:
        """One list of cells per record."""
        return [list(row) for row in zip(*self.columns(chunk), strict=True)]

    def columns(self, chunk: Sequence[DecisionRecord], *, iso: bool = True,
                lists: bool | None = None) -> list[Any]:
        """The cells of ``chunk`` column by column, in :data:`LOG_COLUMNS` order (records
        are tuples: each column is one pass over one field, memo hits cost a dict lookup).
        With ``iso=False`` (a typed format) the two timestamp columns are the raw epoch
        seconds; with ``lists`` (default: ``not iso``) ``arms`` and ``probabilities`` are
        the tuples and arrays themselves, not text."""
        if lists is None:
            lists = not iso
        if not chunk:
            return [[] for _ in LOG_COLUMNS]
        chunk = list(resolve_propensities(chunk))  # a deferred decision's exact vector
        (ids, experiments, generations, scopes, arms, propensities, arm_lists, vectors,
         policies, subjects, created, contexts, kinds, rewards, rewarded, weights,
         _allocations, posteriors) = zip(*chunk, strict=True)
        if not self.raw:
            subjects = memo_map(self.subjects, subjects, self.pseudo, self._MEMO)
            scopes = memo_map(self.scopes, scopes, self.pseudo.scope, self._MEMO)
        stamp = _iso_many if iso else list
        return [list(ids), stamp(created), list(experiments), list(generations),
                list(scopes), list(arms), list(propensities),
                ["decision" if x is None else "posterior" for x in posteriors],
                list(policies), list(kinds),
                list(subjects), list(rewards), stamp(rewarded),
                list(arm_lists) if lists
                else memo_map(self.arm_lists, arm_lists, " ".join, self._MEMO),
                list(vectors) if lists else [self.vector(v) for v in vectors],
                self.context_texts(contexts), [float(w) for w in weights]]

    def context_texts(self, contexts: Sequence[Mapping[str, Any] | None]) -> list[str]:
        """:meth:`context` of each of a chunk's contexts (``""`` for none). A store's scan
        gives the rows that logged one context one shared mapping: within the chunk (read
        whole before it is formatted, so no mapping changes meanwhile, and each id is one
        live object) it is formatted once."""
        by_id: dict[int, str] = {}
        out = []
        for c in contexts:
            if not c:
                out.append("")
                continue
            text = by_id.get(id(c))
            if text is None:
                text = by_id[id(c)] = self.context(c)
            out.append(text)
        return out

    def vector(self, probabilities: FloatArray) -> str:
        """The probability vector as text; memoized by identity first (a store's scan
        shares one read-only array between the rows that logged the same vector; the memo
        keeps the array alive, so its ``id`` cannot be reused), then by value."""
        seen = self.vector_ids.get(id(probabilities))
        if seen is not None:
            return seen[1]
        shared = isinstance(probabilities, np.ndarray) and not probabilities.flags.writeable
        key = np.asarray(probabilities, dtype=np.float64).tobytes()
        text = self.vectors.get(key)
        if text is None:
            if len(self.vectors) > self._MEMO:
                self.vectors.clear()
            text = self.vectors[key] = " ".join(f"{p:.10g}" for p in probabilities)
        if shared:
            if len(self.vector_ids) > 4096:
                self.vector_ids.clear()
            self.vector_ids[id(probabilities)] = (probabilities, text)
        return text

    def context(self, context: Mapping[str, Any]) -> str:
        """The context as JSON with sorted keys, memoized by ``repr`` (which, unlike
        equality, tells ``1``, ``1.0`` and ``True`` apart; not by identity: a caller's
        mapping may change between two records)."""
        key = repr(context)
        text = self.contexts.get(key)
        if text is None:
            if len(self.contexts) > self._MEMO:
                self.contexts.clear()
            text = self.contexts[key] = self.context_json(context)
            self.new_contexts.append(context)
        return text

    def take_new_contexts(self) -> list[Mapping[str, Any]]:
        """Contexts not seen before (by ``repr``) since the last call: what a new column
        or a new value type can come from."""
        taken, self.new_contexts = self.new_contexts, []
        return taken


def decision_rows(records: Iterable[DecisionRecord], *, raw_subjects: bool = False,
                  pseudonyms: Pseudonyms | None = None, nested: bool = False
                  ) -> Iterator[dict[str, Any]]:
    """Flatten decision records into rows with :data:`LOG_COLUMNS` plus ``ctx_*`` columns.

    Parameters
    ----------
    records
        Decision records (e.g. ``service.decisions("exp")``); read lazily, a chunk at a time.
    raw_subjects
        Keep raw ids in ``subject`` and ``scope`` (default: keyed pseudonyms).
    pseudonyms
        The keyed pseudonyms to use (the installation's: :func:`store_pseudonyms`); default:
        a random key for this call only.
    nested
        Rows for a JSON document, not a table: ``arms`` and ``probabilities`` are lists,
        ``context`` the context itself (or ``None``) and ``rewarded_at`` ``None`` until a
        reward came (a table's empty cell), with no ``ctx_*`` columns; ``scope`` is ``""``
        for the experiment's one shared bandit, as stored.

    Yields
    ------
    dict
        One row per record, column name to cell.
    """
    cells = _Cells(raw_subjects, pseudonyms)
    for chunk in _chunks(records, _CHUNK):
        if nested:
            columns = cells.columns(chunk, lists=True)
            cells.take_new_contexts()  # (kept for the CSV's columns; nothing reads them here)
            columns[_CONTEXT_COLUMN] = [dict(r.context) if r.context else None
                                        for r in chunk]
            columns[_REWARDED_COLUMN] = [x or None for x in columns[_REWARDED_COLUMN]]
            for cells_of in zip(*columns, strict=True):
                nested_row = dict(zip(LOG_COLUMNS, cells_of, strict=True))
                nested_row["arms"] = list(nested_row["arms"])
                nested_row["probabilities"] = [float(p) for p in nested_row["probabilities"]]
                yield nested_row
            continue
        rows = cells.rows(chunk)
        cells.take_new_contexts()
        for r, values in zip(chunk, rows, strict=True):
            row = dict(zip(LOG_COLUMNS, values, strict=True))
            for key, value in (r.context or {}).items():
                row[f"ctx_{key}"] = value
            yield row


def log_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The columns of an export: :data:`LOG_COLUMNS`, then every ``ctx_*`` column, sorted.

    Parameters
    ----------
    rows
        Rows as :func:`decision_rows` gives them; every one is read.
    """
    context_cols = sorted({k for row in rows for k in row if k.startswith("ctx_")})
    return [*LOG_COLUMNS, *context_cols]


def write_log_csv(records: Iterable[DecisionRecord], out: IO[str], *,
                  raw_subjects: bool = False, pseudonyms: Pseudonyms | None = None,
                  context_columns: bool = True) -> int:
    """Write decision records as CSV (the one CSV layout of the decision log: the API, the
    CLI and the bot all use it); returns the number of rows. Streamed through a temporary
    file: memory does not grow with the log.

    Parameters
    ----------
    records
        Decision records (e.g. ``service.decisions("exp")``).
    out
        The text stream the CSV is written to.
    raw_subjects
        Keep raw ids in ``subject`` and ``scope`` (default: keyed pseudonyms).
    pseudonyms
        The keyed pseudonyms to use (the installation's: :func:`store_pseudonyms`); default:
        a random key for this call only.
    context_columns
        Add a ``ctx_*`` column per context key; ``False`` leaves them out (the ``context``
        column has every key): the header is then the same for every page of a log.
    """
    with tempfile.TemporaryFile("w+", newline="", encoding="utf-8") as spool:
        n, columns, complete = _write_csv(records, spool, _Cells(raw_subjects, pseudonyms),
                                          context_columns)
        spool.seek(0)
        if complete:
            shutil.copyfileobj(spool, out)
        else:
            _fill_context_columns(spool, out, columns)
    return n


def _write_csv(records: Iterable[DecisionRecord], out: IO[str],
               cells: _Cells, context_columns: bool = True) -> tuple[int, list[str], bool]:
    """Write a header with the context keys of the first chunk, then every row with the
    context columns known when it was written (none without ``context_columns``). Returns
    the number of rows, every context key, and whether the file is complete: ``False``
    when a key first appeared after the header, and :func:`_fill_context_columns` must
    rewrite it."""
    chunks = _chunks(records, _CHUNK)
    first = next(chunks, [])
    known: set[str] = set()
    for r in first if context_columns else ():
        known.update(r.context or ())
    columns = sorted(known)
    complete = True
    writer = csv.writer(out)
    writer.writerow([*LOG_COLUMNS, *(f"ctx_{k}" for k in columns)])
    n = 0
    texts = _CsvText()
    for chunk in itertools.chain([first], chunks):
        cells_by_column = cells.columns(chunk)
        if cells.raw:  # an app's raw subject may be "=HYPERLINK(…)" as well
            cells_by_column[_SUBJECT_COLUMN] = list(map(_cell, cells_by_column[_SUBJECT_COLUMN]))
        for context in cells.take_new_contexts():  # the keys come from contexts not seen yet
            if context_columns and not known.issuperset(context):
                complete = False
                known.update(context)
                columns = sorted(known)
        if columns:
            contexts = [r.context for r in chunk]
            cells_by_column += [[_cell(c.get(k)) if c else None for c in contexts]
                                for k in columns]
        out.write(texts.lines(cells_by_column))
        n += len(chunk)
    return n, columns, complete


_NEEDS_QUOTES = re.compile(r'[,"\r\n]').search
_ID_COLUMN = LOG_COLUMNS.index("decision_id")
_SUBJECT_COLUMN = LOG_COLUMNS.index("subject")
_REWARDED_COLUMN = LOG_COLUMNS.index("rewarded_at")
_CONTEXT_COLUMN = LOG_COLUMNS.index("context")
_STAMP_COLUMNS = (LOG_COLUMNS.index("created_at"), _REWARDED_COLUMN)
_SCALARS = (str, int, bool)


def _csv_cell(value: Any) -> str:
    """One cell as ``csv.writer`` writes it (the excel dialect: ``None`` empty, other values
    as ``str`` gives them, quoted when they hold a comma, a quote or a line break)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES(text) else text


class _CsvText:
    """Rows of cells (column by column, :meth:`_Cells.columns` order plus ``ctx_*``) as CSV
    text, byte for byte what ``csv.writer`` writes, three times faster: the cells of a
    column repeat (arms, probability vectors, rewards, pseudonyms) and are converted once
    each; ids are only checked; timestamps are ISO text already."""

    _MEMO = 100_000

    def __init__(self) -> None:
        self.memos: dict[tuple[int, type | None], dict[Any, str]] = {}

    def lines(self, columns: Sequence[Sequence[Any]]) -> str:
        """The rows' lines, each ended by ``\\r\\n``."""
        if not columns or not columns[0]:
            return ""
        texts: list[Sequence[str]] = []
        for i, column in enumerate(columns):
            if i in _STAMP_COLUMNS:  # ISO 8601 text, never quoted
                texts.append(column)
            elif i == _ID_COLUMN:  # decision ids: distinct, almost never quoted
                texts.append([x if not _NEEDS_QUOTES(x) else _csv_cell(x) for x in column])
            else:  # a memo per column and type: 1, 1.0 and True are equal keys but other
                # cells (a context key may hold any JSON value; lists are no keys at all)
                kinds = set(map(type, column)) - {type(None)}
                kind = next(iter(kinds)) if len(kinds) == 1 else None
                if kind is float:  # 0.0 and -0.0 are equal keys too; repr is quick
                    texts.append(["" if x is None else repr(x) for x in column])
                elif not kinds or kind in _SCALARS:
                    texts.append(memo_map(self.memos.setdefault((i, kind), {}), column,
                                       _csv_cell, self._MEMO))
                else:
                    texts.append([_csv_cell(x) for x in column])
        return "\r\n".join(map(",".join, zip(*texts, strict=True))) + "\r\n"


def _fill_context_columns(src: IO[str], out: IO[str], columns: Sequence[str]) -> None:
    """Copy a CSV written by :func:`_write_csv` with the header and every row holding all
    of ``columns`` (rebuilt from each row's ``context`` cell)."""
    reader = csv.reader(src)
    next(reader)  # the header written before every key was known
    writer = csv.writer(out)
    writer.writerow([*LOG_COLUMNS, *(f"ctx_{k}" for k in columns)])
    at, last = _CONTEXT_COLUMN, len(LOG_COLUMNS)
    for old in reader:
        context = json.loads(old[at]) if old[at] else {}
        writer.writerow([*old[:last], *("" if context.get(k) is None
                                        else _cell(context.get(k)) for k in columns)])


def _cell(value: Any) -> Any:
    """A context value as a ``ctx_*`` cell, or a raw subject (``None`` stays empty). Text a
    client sent that a spreadsheet would run as a formula (``=HYPERLINK(…)``, ``+…``,
    ``-…``, ``@…``) gets a leading ``'``, unless it is a number; the ``context`` column keeps
    it as sent. A boolean is ``true`` or ``false``, as in the ``context`` column's JSON
    (not Python's ``True``); a list or a mapping is its JSON."""
    if type(value) is str and value[:1] in _FORMULA_STARTS and value:
        try:
            float(value)
        except ValueError:
            return "'" + value
    if type(value) is bool:
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True)
    return value


_FORMULA_STARTS = frozenset("=+-@\t\r")


def export_decisions(records: Iterable[DecisionRecord], path: str | os.PathLike[str], *,
                     fmt: str | None = None, raw_subjects: bool = False,
                     pseudonyms: Pseudonyms | None = None) -> int:
    """Write the decision log to CSV or Parquet; returns the number of rows.

    Streamed (memory does not grow with the log) into a temporary file beside ``path``
    that replaces it only when complete: a failed export leaves an older file as it was.

    Parameters
    ----------
    records
        Decision records (e.g. ``service.decisions("exp")``).
    path
        Output file; ``fmt`` defaults from its suffix (``.csv``, ``.csv.gz``, compressed,
        or ``.parquet``).
    fmt
        ``"csv"`` or ``"parquet"`` (default: from the suffix of ``path``; CSV without one).
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
    p = Path(path).expanduser()
    gz = p.suffix.lower() == ".gz"  # log.csv.gz: CSV, compressed (read_log reads it)
    named = Path(p.stem).suffix if gz else p.suffix
    fmt = (fmt or named.lstrip(".") or "csv").lower()
    if fmt not in ("csv", "parquet") or (gz and fmt != "csv"):
        shown = f"{fmt}.gz" if gz else fmt
        raise PayloadError(f"unknown export format {shown!r}", hint="use csv, csv.gz or parquet")
    if not p.parent.is_dir():
        raise PayloadError(f"the folder of {p} does not exist",
                           hint="create it first, or choose another path")
    if fmt == "parquet":
        require("pyarrow", "parquet")
    cells = _Cells(raw_subjects, pseudonyms)
    with replacing(p) as part:
        if fmt == "parquet":
            n = _write_parquet(records, part, cells)
        else:
            with _text_file(part, "w", gz) as fh:
                n, columns, complete = _write_csv(records, fh, cells)
            if not complete:
                full = part.with_name(f"{part.name}.full")
                with _text_file(part, "r", gz) as src, _text_file(full, "w", gz) as out:
                    _fill_context_columns(src, out, columns)
                os.replace(full, part)
    return n


def _text_file(path: Path, mode: str, gz: bool) -> IO[str]:
    """A CSV file opened for text (``newline=""``, UTF-8), gzip-compressed with ``gz``."""
    if gz:
        import gzip

        return cast(IO[str], gzip.open(path, mode + "t", newline="", encoding="utf-8"))
    return path.open(mode, newline="", encoding="utf-8")


#: Arrow types of the :data:`LOG_COLUMNS` cells (every other one is a string).
_ARROW_TYPES = {"generation": "int64", "propensity": "float64", "reward": "float64",
                "weight": "float64"}
_BATCH = 16_384


def _write_parquet(records: Iterable[DecisionRecord], path: Path, cells: _Cells) -> int:
    """Stream the log to Parquet in row groups of :data:`_BATCH` rows, built from chunks of
    :data:`_CHUNK` records turned into Arrow arrays at once (few records live at a time:
    the garbage collector's passes stay short). The ``ctx_*`` columns and their types come
    from the first row group; when a later row brings a new key or a value of another
    type, the file is rewritten once from the ``context`` column with the names and types
    of the whole log."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp = pa.timestamp("ms", tz="UTC")  # created_at, rewarded_at
    lists = {"arms": pa.list_(pa.string()), "probabilities": pa.list_(pa.float64())}
    base = [pa.field(c, stamp if c in ("created_at", "rewarded_at") else lists[c] if c in lists
                     else pa.type_for_alias(_ARROW_TYPES.get(c, "string")))
            for c in LOG_COLUMNS]
    kinds: dict[str, set[type]] = {}
    pending: list[tuple[list[Any], list[Mapping[str, Any] | None]]] = []  # one row group
    writer: Any = None
    columns: list[str] = []
    types: list[Any] = []
    fits = True  # every row so far has its context in the columns and types of the file

    def flush() -> None:
        nonlocal writer, columns, types
        if writer is None:  # the first row group decides the ctx_* columns
            columns = sorted(kinds)
            types = [_context_type(kinds[k]) for k in columns]
            writer = pq.ParquetWriter(path, pa.schema(
                [*base, *(pa.field(f"ctx_{k}", t) for k, t in zip(columns, types, strict=True))]))
        parts = [pa.RecordBatch.from_arrays(
            [*arrays, *(_context_array(contexts, k, t) if fits else pa.nulls(len(contexts), t)
                        for k, t in zip(columns, types, strict=True))],
            schema=writer.schema) for arrays, contexts in pending]
        writer.write_table(pa.Table.from_batches(parts, writer.schema), row_group_size=_BATCH)
        pending.clear()

    n = written = 0
    try:
        for chunk in _chunks(records, _CHUNK):
            cells_by_column = cells.columns(chunk, iso=False)
            if _add_kinds(kinds, cells.take_new_contexts()) and writer is not None and fits:
                fits = sorted(kinds) == columns and \
                    [_context_type(kinds[k]) for k in columns] == types
            for i in _EMPTY_IS_NULL:  # as the CSV reads back: a shared bandit's scope,
                cells_by_column[i] = [x or None for x in cells_by_column[i]]  # no context
            pending.append(([_stamps(column, stamp) if field.type == stamp else
                             _lists(column, field.type) if field.name in lists else
                             pa.array(column, field.type)
                             for column, field in zip(cells_by_column, base, strict=True)],
                            [r.context for r in chunk]))
            n += len(chunk)
            if n - written >= _BATCH:
                flush()
                written = n
        if pending or writer is None:
            flush()
    finally:
        if writer is not None:
            writer.close()
    if not fits:
        _rewrite_context_columns(path, base, kinds)
    return n


_EMPTY_IS_NULL = (LOG_COLUMNS.index("scope"), LOG_COLUMNS.index("context"))


def _lists(rows: Sequence[Sequence[Any]], kind: Any) -> Any:
    """An Arrow list column of type ``kind`` from one sequence per row (the arms of each
    decision, or its probability vector), built from its flat values and offsets."""
    import pyarrow as pa

    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    if pa.types.is_floating(kind.value_type):
        flat = np.concatenate([np.asarray(r, dtype=np.float64) for r in rows]) if rows \
            else np.zeros(0)
        values = pa.array(flat, pa.float64())
    else:
        values = pa.array(list(itertools.chain.from_iterable(rows)), kind.value_type)
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=kind)


def _stamps(seconds: Sequence[float | None], stamp: Any) -> Any:
    """Epoch seconds as an Arrow column of type ``stamp`` (milliseconds; null where
    missing)."""
    import pyarrow as pa

    millis, missing = _millis(seconds)
    return pa.array(millis, stamp, mask=missing)


def _add_kinds(kinds: dict[str, set[type]], contexts: Iterable[Mapping[str, Any]]) -> bool:
    """Add each context's value types to ``kinds``; whether any context was seen."""
    seen = False
    for context in contexts:
        seen = True
        for key, value in context.items():
            kinds.setdefault(key, set()).add(type(value))
    return seen


def _context_array(contexts: Sequence[Mapping[str, Any] | None], key: str,
                   arrow_type: Any) -> Any:
    """One ``ctx_*`` column of a row group."""
    import pyarrow as pa

    values = [c.get(key) if c else None for c in contexts]
    if arrow_type == pa.string():
        values = [_as_text(v) for v in values]
    return pa.array(values, arrow_type)


def _rewrite_context_columns(path: Path, base: list[Any], kinds: dict[str, set[type]]) -> None:
    """Rewrite a Parquet export with ``ctx_*`` columns for every key of ``kinds``, rebuilt
    from each row's ``context`` cell."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = sorted(kinds)
    types = [_context_type(kinds[k]) for k in columns]
    schema = pa.schema([*base, *(pa.field(f"ctx_{k}", t)
                                 for k, t in zip(columns, types, strict=True))])
    draft = path.with_name(path.name + ".draft")
    os.replace(path, draft)
    with pq.ParquetWriter(path, schema) as writer:
        for part in pq.ParquetFile(draft).iter_batches(batch_size=_BATCH,
                                                       columns=[f.name for f in base]):
            contexts = [json.loads(c) if c else {} for c in part.column("context").to_pylist()]
            extra = [_context_array(contexts, k, t) for k, t in zip(columns, types, strict=True)]
            writer.write_batch(pa.RecordBatch.from_arrays([*part.columns, *extra],
                                                          schema=schema))
    draft.unlink()


def _context_type(kinds: set[type]) -> Any:
    """One Arrow type for a context key: booleans, integers or numbers when every value
    is one, else strings (JSON for lists and objects)."""
    import pyarrow as pa

    kinds = kinds - {type(None)}
    if kinds and kinds <= {bool}:
        return pa.bool_()
    if kinds and kinds <= {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def _as_text(value: Any) -> Any:
    """A context value for a text column, as the CSV's cell has it (:func:`_cell`, without
    its formula guard: JSON for booleans, lists and objects; a key whose values were
    ``1``, ``"a"`` and ``True`` read ``True`` in Parquet and ``true`` in the CSV)."""
    if value is None or isinstance(value, str):
        return value
    return str(_cell(value))
