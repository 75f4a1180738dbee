"""Open a store from a URL: ``sqlite:///path.db`` (default), ``memory://``,
``postgresql://user:password@host/db``, ``dynamodb://TABLE``.

Every mistake in a URL is a :class:`~banditbot.ConfigError` that names the URL and the fix,
raised before anything is created.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from .._errors import ConfigError, StoreError
from ._protocol import Store

__all__ = ["DEFAULT_STORE_URL", "StoreKind", "open_store", "store_kind"]

DEFAULT_STORE_URL = "sqlite:///banditbot.db"
_DYNAMODB_OPTIONS = ("region", "endpoint_url", "ttl_days", "max_attempts", "read_timeout",
                     "connect_timeout")


#: The kinds of store, by their URL's scheme
StoreKind = Literal["memory", "sqlite", "postgresql", "dynamodb"]
_KINDS: dict[str, StoreKind] = {"memory": "memory", "sqlite": "sqlite",
                                "postgresql": "postgresql", "postgres": "postgresql",
                                "dynamodb": "dynamodb"}


def store_kind(url: str) -> StoreKind | None:
    """Which kind of store a URL names (``None``: none banditbot knows).

    Examples
    --------
    >>> store_kind("postgres://db.internal/bandits"), store_kind("memory://")
    ('postgresql', 'memory')
    """
    return _KINDS.get(urlsplit(url).scheme.lower())


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """Open (but do not initialize) the store at ``url``.

    Parameters
    ----------
    url
        ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``memory://``,
        ``postgresql://user:password@host:5432/dbname`` (``postgres://`` too; what it omits
        comes from libpq's ``PGHOST``, ``PGUSER``, … variables; see docs/postgres.md) or
        ``dynamodb://TABLE?region=eu-west-1&endpoint_url=http://127.0.0.1:8000`` (further
        options: ``ttl_days``, ``max_attempts``, ``read_timeout``, ``connect_timeout``).
        Defaults to ``sqlite:///banditbot.db``.
    create
        ``False`` for commands that only read: a SQLite database must already exist (and
        hold banditbot's tables); nothing, not even its folder, is created.

    Raises
    ------
    ConfigError
        The URL is malformed, an option is not a valid number, the SQLite path runs through
        a file, or (``create=False``) there is no database at that path.

    Examples
    --------
    >>> open_store("memory://").url
    'memory://'
    """
    url = url or DEFAULT_STORE_URL
    parts = urlsplit(url)
    kind = store_kind(url)
    if kind == "memory":
        from ._memory import MemoryStore

        return MemoryStore()
    if kind == "sqlite":
        from ._sqlite import SQLiteStore

        return SQLiteStore(_sqlite_path(url, create=create))
    if kind == "postgresql":
        from ._postgres import PostgresStore

        return PostgresStore(url)
    if kind == "dynamodb":
        if not parts.netloc:
            raise ConfigError(f"store URL {url!r} has no table name",
                              hint="use dynamodb://TABLE?region=eu-west-1")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", parts.netloc):  # DynamoDB's rule
            raise ConfigError(f"store URL {url!r}: {parts.netloc!r} is not a DynamoDB table "
                              "name", hint="3-255 letters, digits, '_', '.' or '-'")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - set(_DYNAMODB_OPTIONS))
        if unknown:
            raise ConfigError(f"store URL {url!r}: unknown option {unknown[0]!r}",
                              hint=f"options: {', '.join(_DYNAMODB_OPTIONS)}")
        from ._dynamodb import DynamoDBStore

        return DynamoDBStore(
            parts.netloc,
            region=query.get("region"),
            endpoint_url=query.get("endpoint_url"),
            # 0: decisions never expire (as the template's DecisionTtlDays=0)
            ttl_days=_number(url, query, "ttl_days", 0, 36_500) or None,
            max_attempts=int(_number(url, query, "max_attempts", 1, 20, integer=True) or 8),
            read_timeout=_number(url, query, "read_timeout", 0.01, 300) or 10.0,
            connect_timeout=_number(url, query, "connect_timeout", 0.01, 300) or 3.0,
        )
    from ._postgres import mask_url

    raise ConfigError(f"unknown store URL {mask_url(url)!r}",
                      hint="use sqlite:///path.db, memory://, postgresql://user@host/db "
                           "or dynamodb://TABLE")


def _number(url: str, query: dict[str, str], name: str, low: float, high: float, *,
            integer: bool = False) -> float | None:
    """A numeric URL option within ``[low, high]`` (``None`` if absent)."""
    if name not in query:
        return None
    text = query[name]
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"store URL {url!r}: {name}={text!r} is not {kind} from {low:g} to "
                          f"{high:g}", hint=f"e.g. {name}={'8' if integer else '30'}")
    return value


def new_sqlite_file(url: str) -> Path | None:
    """The file a ``sqlite:`` URL would create (``None`` when it exists already, or for
    another kind of store): what a write command that fails removes again, so bad input
    leaves no empty database behind."""
    if store_kind(url) != "sqlite":
        return None
    target = _sqlite_path(url, create=True)
    return None if target.exists() else target


def _sqlite_path(url: str, *, create: bool) -> Path:
    """The database file of a ``sqlite:`` URL, checked before anything is created."""
    _, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"store URL {url!r} is not sqlite:///PATH",
                          hint="use sqlite:///banditbot.db (relative) or sqlite:////abs/x.db")
    path = rest[1:] if rest.startswith("/") else rest  # sqlite:///rel, sqlite:////abs
    if not path or path.endswith("/"):
        raise ConfigError(f"store URL {url!r} has no file path",
                          hint="use sqlite:///banditbot.db")
    target = Path(path)
    for ancestor in reversed(target.parents):
        if ancestor.exists() and not ancestor.is_dir():
            raise ConfigError(f"store URL {url!r}: {ancestor} is a file, not a folder",
                              hint="choose a database path in a folder")
    if target.exists() and target.is_dir():
        raise ConfigError(f"store URL {url!r}: {target} is a folder",
                          hint="add a file name, e.g. sqlite:///data/banditbot.db")
    if not create:
        if not target.is_file():
            demo = target.with_name("banditbot-demo.db")  # the demo's own, beside it
            raise ConfigError(f"no banditbot database at {target}",
                              hint=f"the demo's is --store sqlite:///{demo}"
                              if target.name == "banditbot.db" and demo.is_file() else
                              "check --store or BANDITBOT_STORE; a write command or "
                              "`banditbot init-db` creates one")
        if not _has_schema(target):
            raise ConfigError(f"{target} is not a banditbot database",
                              hint="check --store or BANDITBOT_STORE")
    return target


def _has_schema(path: Path) -> bool:
    """Whether the SQLite file holds banditbot's decision log (opened read-only). A file
    SQLite cannot read now (locked, on a read-only disk without its ``-shm`` file) is a
    :class:`StoreError` that says so, not "not a banditbot database"."""
    import sqlite3  # here: a process that opens another store (Lambda) never loads it

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                               "name = 'decisions'").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        raise StoreError(f"cannot read SQLite database {path}: {exc}",
                         hint="another process may hold it locked (retry), or the file or "
                              "its folder is read-only: SQLite writes -wal and -shm files "
                              "beside a database in WAL mode, even to read it") from None
    except sqlite3.DatabaseError:  # not an SQLite file
        return False
    return row is not None
