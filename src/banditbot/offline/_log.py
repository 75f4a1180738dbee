"""The decision log as a table: export to CSV / Parquet (and, in ``_import``, back)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from .._errors import PayloadError, require
from ..stores import DecisionRecord

__all__ = ["LOG_COLUMNS", "decision_rows", "export_decisions", "log_columns", "write_log_csv"]

LOG_COLUMNS = (
    "decision_id", "created_at", "experiment", "generation", "scope", "arm", "propensity",
    "policy", "kind", "subject", "reward", "rewarded_at", "arms", "probabilities", "context",
)


def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def pseudonym(subject: str, salt: str = "") -> str:
    """A stable pseudonym for a subject id (exports don't carry raw user ids by default)."""
    return hashlib.sha256(f"{salt}:{subject}".encode()).hexdigest()[:16]


def decision_rows(records: Iterable[DecisionRecord], *, raw_subjects: bool = False,
                  salt: str = "") -> Iterator[dict[str, Any]]:
    """Flatten decision records into rows with :data:`LOG_COLUMNS` plus ``ctx_*`` columns."""
    for r in records:
        row: dict[str, Any] = {
            "decision_id": r.id,
            "created_at": _iso(r.created_at),
            "experiment": r.experiment,
            "generation": r.generation,
            "scope": r.scope,
            "arm": r.arm,
            "propensity": r.propensity,
            "policy": r.policy,
            "kind": r.kind,
            "subject": r.subject if raw_subjects else pseudonym(r.subject, salt),
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
                  raw_subjects: bool = False) -> int:
    """Write decision records as CSV (the one CSV layout of the decision log: the API, the
    CLI and the bot all use it); returns the number of rows."""
    rows = list(decision_rows(records, raw_subjects=raw_subjects))
    columns = log_columns(rows)
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(k) is None else row.get(k) for k in columns])
    return len(rows)


def export_decisions(records: Iterable[DecisionRecord], path: str | os.PathLike[str], *,
                     fmt: str | None = None, raw_subjects: bool = False) -> int:
    """Write the decision log to CSV or Parquet; returns the number of rows.

    Parameters
    ----------
    records
        Decision records (e.g. ``service.decisions("exp")``).
    path
        Output file; ``fmt`` defaults from its suffix (``.csv`` or ``.parquet``).
    raw_subjects
        Keep raw subject ids (default: a stable pseudonym).
    """
    p = Path(path)
    fmt = (fmt or p.suffix.lstrip(".") or "csv").lower()
    if fmt == "csv":
        with p.open("w", newline="", encoding="utf-8") as fh:
            return write_log_csv(records, fh, raw_subjects=raw_subjects)
    if fmt != "parquet":
        raise PayloadError(f"unknown export format {fmt!r}", hint="use csv or parquet")
    require("pyarrow", "parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = list(decision_rows(records, raw_subjects=raw_subjects))
    columns = log_columns(rows)
    table = pa.Table.from_pylist([{k: row.get(k) for k in columns} for row in rows]) \
        if rows else pa.table({k: pa.array([], pa.string()) for k in columns})
    pq.write_table(table, p)
    return len(rows)
