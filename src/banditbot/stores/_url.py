"""Open a store from a URL: ``sqlite:///path.db`` (default), ``memory://``,
``postgresql://user:password@host/db``, ``dynamodb://TABLE``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from .._errors import ConfigError
from ._base import Store

__all__ = ["DEFAULT_STORE_URL", "open_store"]

DEFAULT_STORE_URL = "sqlite:///banditbot.db"


def open_store(url: str | None = None) -> Store:
    """Open (but do not initialize) the store at ``url``.

    Parameters
    ----------
    url
        ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``memory://``,
        ``postgresql://user:password@host:5432/dbname`` (``postgres://`` too; what it omits
        comes from libpq's ``PGHOST``, ``PGUSER``, … variables; see docs/postgres.md) or
        ``dynamodb://TABLE?region=eu-west-1&endpoint_url=http://127.0.0.1:8000``. Defaults to
        ``sqlite:///banditbot.db``.

    Examples
    --------
    >>> open_store("memory://").url
    'memory://'
    """
    url = url or DEFAULT_STORE_URL
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        from ._memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite":
        path = url.split("://", 1)[1]
        path = path[1:] if path.startswith("/") else path  # sqlite:///rel, sqlite:////abs
        if not path:
            raise ConfigError(f"store URL {url!r} has no file path",
                              hint="use sqlite:///banditbot.db")
        from ._sqlite import SQLiteStore

        return SQLiteStore(path)
    if scheme in ("postgresql", "postgres"):
        from ._postgres import PostgresStore

        return PostgresStore(url)
    if scheme == "dynamodb":
        if not parts.netloc:
            raise ConfigError(f"store URL {url!r} has no table name",
                              hint="use dynamodb://TABLE?region=eu-west-1")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        from ._dynamodb import DynamoDBStore

        return DynamoDBStore(
            parts.netloc,
            region=query.get("region"),
            endpoint_url=query.get("endpoint_url"),
            ttl_days=float(query["ttl_days"]) if "ttl_days" in query else None,
        )
    from ._postgres import mask_url

    raise ConfigError(f"unknown store URL {mask_url(url)!r}",
                      hint="use sqlite:///path.db, memory://, postgresql://user@host/db "
                           "or dynamodb://TABLE")
