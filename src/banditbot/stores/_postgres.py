"""PostgreSQL store: several hosts on one database, every guarantee of the other stores.

Layout (one PostgreSQL *schema*, ``banditbot`` unless the URL says ``?schema=``):

==============  ==================================================  ==========================
table           key                                                 changed by
==============  ==================================================  ==========================
meta            experiment                                          version check (optimistic)
arm_stats       experiment, generation, scope, arm, shard           ``+=`` only
extra_stats     experiment, generation, scope, arm, field, shard    ``+=`` only
decisions       id (+ index experiment, created_at, id)             insert; reward set once
admin_log       id                                                  insert
claims          key                                                 insert / expired → renew
decision_keys   key (an idempotency key; holds its decision's id)   insert / expired → renew
documents       name                                                version check (optimistic)
counters        key, name                                           ``+=`` only
==============  ==================================================  ==========================

How each guarantee is kept:

* **Atomic increments, exactly once, on the decided arm.** A decision is *one statement*: a
  data-modifying ``WITH`` inserts the decision row and adds its pull to ``arm_stats`` (only
  if the row was inserted). A reward is one statement too: ``UPDATE decisions SET reward …
  WHERE id = … AND reward IS NULL RETURNING arm, weight`` feeds the ``INSERT … ON CONFLICT
  DO UPDATE SET n = n + excluded.n`` of that same arm — the caller never names the arm.
* **Hot rows are sharded.** Every decision of an experiment increments the same few arm
  rows; a row lock is held until the commit's WAL flush, so all writers would queue on it.
  Each row is split by ``shard = pg_backend_pid() % 16`` (a connection always writes its
  own shard) and reads sum the shards — one index range either way.
* **Group commit.** Writes that threads hand in while two groups are being committed (the
  second one's statements run while the first waits for its WAL flush) wait for the next
  group; a group is one transaction sent as one pipeline (``BEGIN``, every statement,
  ``COMMIT``): one round trip and one WAL flush for all of them, its statements ordered by
  arm so that concurrent groups lock rows in one order. An idle store commits each write
  alone in one round trip. ``batch()`` gives a caller an explicit
  transaction on its own connection (as on SQLite).
* **Exactly once survives retries.** A connection can drop after the server committed but
  before the reply arrived. Every write carries a random token stored with what it wrote
  (``write_token`` of a decision, ``reward_token`` of a reward, ``token`` of meta, documents
  and claims; counter updates record theirs as a claim). The same statement also reads the
  row's token as it was before the statement, so a retry that finds its own token knows its
  first attempt committed and answers as the first attempt would have: a retried reward is
  ``APPLIED``, not ``DUPLICATE``, and counted once. Lost connections, a restarting server
  and deadlocks are retried with jittered backoff up to ``retry_seconds``. The pool gives a
  lost connection up after a second of failed attempts (:data:`_RECONNECT_S`), and a request
  that finds none makes it try again: requests succeed within about a second of the server's
  return, however long it was away.
* **Meta changes reach every host at once.** ``read_meta`` is on every decision's path; it
  is answered from a per-process cache kept fresh by ``LISTEN``: ``write_meta`` sends a
  ``NOTIFY`` in its own statement (delivered at commit), which every listening process
  receives within milliseconds. The cache is used only while the listening connection has
  answered a ping within the last two seconds, so a silently broken connection costs
  freshness for at most that long; ``?listen=false`` (e.g. behind PgBouncer in
  transaction mode) reads the meta on every call.
* **Schema versions.** ``init()`` applies the migrations the database lacks, in order, in one
  transaction under an advisory lock (so several hosts starting together are safe), and
  records each in ``schema_version``. A database newer than the code is refused.

URL: ``postgresql://user:password@host:5432/db`` (``postgres://`` too). Anything the URL
omits comes from libpq's environment (``PGHOST``, ``PGUSER``, ``PGPASSWORD``, …). banditbot's
own query parameters: ``schema``, ``pool_min``, ``pool_max``, ``retry_seconds``, ``listen``;
the others (``sslmode``, ``connect_timeout``, ``application_name`` …) go to libpq;
``application_name`` is ``banditbot`` unless the URL or ``PGAPPNAME`` names one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlencode, urlsplit

from .._errors import ConfigError, PayloadError, StoreError, require
from ._base import (
    INIT_DB_HINT,
    JITTER,
    RESOLVED_TAG,
    AdminRecord,
    AllocationRecord,
    ApplyResult,
    CountRows,
    DecisionRecord,
    ExperimentMeta,
    FieldDecoder,
    KeyedDecision,
    PeriodCounts,
    ResolvedVector,
    StatsTable,
    admin_filter,
    check_fields,
    encode_vector,
    split_vector,
    stored_propensity,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("banditbot.store.postgres")

#: leaves the time buckets (``tb.*``) out of an extra_stats read
_NO_BUCKETS = " AND left(field, 3) <> 'tb.'"
_SHARDS = 16
_DEFAULT_META = ExperimentMeta()
#: What libpq says when a server is down, starting, stopping or out of reach: worth the
#: pool's retries (anything else on connecting is a mistake to report at once)
_TRANSIENT_CONNECT = ("Connection refused", "timeout expired", "timed out", "starting up",
                      "shutting down", "in recovery mode", "could not translate host name",
                      "No route to host", "Network is unreachable", "too many clients",
                      "No such file or directory", "server closed the connection")
_OWN_PARAMS = ("schema", "pool_min", "pool_max", "retry_seconds", "listen")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LIVENESS_S = 2.0  # the meta cache is used while the listener answered a ping this recently
_PING_S = 0.5
#: How long the pool keeps trying to replace a lost connection before it gives that slot up
#: (psycopg_pool's ``reconnect_timeout``). Its attempts are 1, 2, 4, 8, 16 … s apart: with
#: the minute it was, a server back after an outage of tens of seconds waited up to ~30 s
#: for the pool's next attempt, and every request failed meanwhile. A slot given up is made
#: again as soon as a request finds no connection (the pool grows on demand), so after one
#: second the requests themselves drive the attempts.
_RECONNECT_S = 1.0
#: While the database has been failing, a request waits this long for the pool at a time
#: (then asks again, within ``retry_seconds``): asking again is what makes the pool try a
#: new connection once its own attempts have given up.
_WAIT_WHILE_FAILING_S = 1.0


class _Waits:
    """Calls that waited through a lost connection or a restarting server and then went
    through, told in the log: a warning when one waited a second or more, at most one a
    minute (with how many more did since). An outage shorter than ``retry_seconds`` fails
    no request, and had left no warning at all."""

    #: the least wait told, and the least time between two lines (seconds)
    LEAST_S, EVERY_S = 1.0, 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._told_at: float | None = None
        self._untold = 0  # waits since the last line (a race loses one from the count)

    def went_through(self, began: float, where: str) -> None:
        """A call that began at ``began`` (the clock's seconds) retried, and succeeded."""
        now = self.clock()
        waited = now - began
        if waited < self.LEAST_S:
            return
        if self._told_at is not None and now - self._told_at < self.EVERY_S:
            self._untold += 1
            return
        more, self._told_at, self._untold = self._untold, now, 0
        log.warning("PostgreSQL at %s did not answer for %.1f s (a lost connection or a "
                    "restarting server); the call waited and went through%s", where, waited,
                    f" ({more} more did since the last such line)" if more else "")


# --- schema and migrations --------------------------------------------------------------------
# Each entry migrates the schema from version i to i + 1 (list index i). Never edit a
# released entry: append a new one. init() applies the missing ones in one transaction.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (
        experiment text PRIMARY KEY, doc text NOT NULL, version bigint NOT NULL,
        token bigint
    );
    CREATE TABLE arm_stats (
        experiment text NOT NULL, generation bigint NOT NULL, scope text NOT NULL,
        arm text NOT NULL, shard smallint NOT NULL,
        pulls float8 NOT NULL DEFAULT 0, n float8 NOT NULL DEFAULT 0,
        total float8 NOT NULL DEFAULT 0, total_sq float8 NOT NULL DEFAULT 0,
        PRIMARY KEY (experiment, generation, scope, arm, shard)
    ) WITH (fillfactor = 50);
    CREATE TABLE extra_stats (
        experiment text NOT NULL, generation bigint NOT NULL, scope text NOT NULL,
        arm text NOT NULL, field text NOT NULL, shard smallint NOT NULL,
        value float8 NOT NULL DEFAULT 0,
        PRIMARY KEY (experiment, generation, scope, arm, field, shard)
    ) WITH (fillfactor = 50);
    CREATE TABLE decisions (
        id text PRIMARY KEY,
        experiment text NOT NULL, generation bigint NOT NULL, scope text NOT NULL,
        arm text NOT NULL, propensity float8 NOT NULL,
        arms text NOT NULL, probabilities bytea NOT NULL,
        policy text NOT NULL, subject text NOT NULL, context text,
        kind text NOT NULL, created_at float8 NOT NULL,
        reward float8, rewarded_at float8, weight float8 NOT NULL DEFAULT 1,
        write_token bigint, reward_token bigint
    ) WITH (fillfactor = 85);
    CREATE INDEX decisions_by_time ON decisions (experiment, created_at, id);
    CREATE TABLE admin_log (
        id bigint PRIMARY KEY, at float8 NOT NULL, actor text NOT NULL,
        experiment text NOT NULL, action text NOT NULL, details text NOT NULL
    );
    CREATE INDEX admin_log_by_time ON admin_log (at);
    CREATE TABLE claims (key text PRIMARY KEY, expires float8 NOT NULL, token bigint);
    CREATE TABLE documents (
        name text PRIMARY KEY, body text NOT NULL, version bigint NOT NULL, token bigint
    );
    CREATE TABLE counters (
        key text NOT NULL, name text NOT NULL, value float8 NOT NULL DEFAULT 0,
        PRIMARY KEY (key, name)
    );
    """,
    # 1 -> 2: allocation periods; decisions cite theirs, rewards count toward the cadence
    """
    ALTER TABLE decisions ADD COLUMN allocation_id text;
    CREATE TABLE allocations (
        id text PRIMARY KEY,
        experiment text NOT NULL, generation bigint NOT NULL, scope text NOT NULL,
        period bigint NOT NULL, doc text NOT NULL, created_at float8 NOT NULL,
        rewards float8 NOT NULL DEFAULT 0,
        UNIQUE (experiment, generation, scope, period)
    );
    """,
    # 2 -> 3: an idempotency key stands for the decision its first request made
    """
    CREATE TABLE decision_keys (
        key text PRIMARY KEY, fingerprint text NOT NULL, decision_id text NOT NULL,
        expires float8 NOT NULL, token bigint
    );
    CREATE INDEX decision_keys_by_expiry ON decision_keys (expires);
    """,
)

#: The schema version this code writes and reads.
SCHEMA_VERSION = len(_MIGRATIONS)

_DECISION_COLUMNS = (
    "id, experiment, generation, scope, arm, propensity, arms, probabilities, policy, "
    "subject, context, kind, created_at, reward, rewarded_at, weight, allocation_id"
)
_SHARD = f"mod(pg_backend_pid(), {_SHARDS})"
_ADD_STATS = (
    "ON CONFLICT (experiment, generation, scope, arm, shard) DO UPDATE SET "
    "pulls = arm_stats.pulls + excluded.pulls, n = arm_stats.n + excluded.n, "
    "total = arm_stats.total + excluded.total, total_sq = arm_stats.total_sq + excluded.total_sq"
)
_ADD_EXTRA = (
    "ON CONFLICT (experiment, generation, scope, arm, field, shard) DO UPDATE SET "
    "value = extra_stats.value + excluded.value"
)

# One statement: log the decision and add its pull (and its reward, for history rows), only if
# the row is new; then say whether it was inserted and whose token the row carries.
_RECORD_DECISION = f"""
WITH d AS (
    INSERT INTO decisions ({_DECISION_COLUMNS}, write_token)
    VALUES (%(id)s, %(experiment)s, %(generation)s, %(scope)s, %(arm)s, %(propensity)s,
            %(arms)s, %(probabilities)s, %(policy)s, %(subject)s, %(context)s, %(kind)s,
            %(created_at)s, %(reward)s, %(rewarded_at)s, %(weight)s, %(allocation_id)s,
            %(token)s)
    ON CONFLICT (id) DO NOTHING
    RETURNING experiment, generation, scope, arm, reward, weight
), s AS (
    INSERT INTO arm_stats (experiment, generation, scope, arm, shard, pulls, n, total, total_sq)
    SELECT experiment, generation, scope, arm, {_SHARD}, 1,
           CASE WHEN reward IS NULL THEN 0 ELSE weight END,
           coalesce(weight * reward, 0), coalesce(weight * reward * reward, 0) FROM d
    {_ADD_STATS}
)
SELECT (SELECT count(*) FROM d), (SELECT write_token FROM decisions WHERE id = %(id)s)
"""

# One statement: take the key unless an unexpired record holds it (a conflict always updates
# the row, to itself when it is held, so that RETURNING gives the record as it is now); log
# the decision and add its pull only if the key is this statement's (or its own lost
# attempt's: the decision exists then, and nothing is added twice)
_KEEP_UNLESS_HELD = ("CASE WHEN k.expires <= %(now)s THEN excluded.{0} ELSE k.{0} END")
_RECORD_KEYED = f"""
WITH k AS (
    INSERT INTO decision_keys AS k (key, fingerprint, decision_id, expires, token)
    VALUES (%(key)s, %(fingerprint)s, %(id)s, %(expires)s, %(token)s)
    ON CONFLICT (key) DO UPDATE SET {", ".join(
        f"{c} = {_KEEP_UNLESS_HELD.format(c)}"
        for c in ("fingerprint", "decision_id", "expires", "token"))}
    RETURNING fingerprint, decision_id, expires, token
), d AS (
    INSERT INTO decisions ({_DECISION_COLUMNS}, write_token)
    SELECT %(id)s::text, %(experiment)s::text, %(generation)s::bigint, %(scope)s::text,
           %(arm)s::text, %(propensity)s::float8, %(arms)s::text, %(probabilities)s::bytea,
           %(policy)s::text, %(subject)s::text, %(context)s::text, %(kind)s::text,
           %(created_at)s::float8, %(reward)s::float8, %(rewarded_at)s::float8,
           %(weight)s::float8, %(allocation_id)s::text, %(token)s::bigint
    FROM k WHERE k.token = %(token)s::bigint
    ON CONFLICT (id) DO NOTHING
    RETURNING experiment, generation, scope, arm, reward, weight
), s AS (
    INSERT INTO arm_stats (experiment, generation, scope, arm, shard, pulls, n, total, total_sq)
    SELECT experiment, generation, scope, arm, {_SHARD}, 1, 0, 0, 0 FROM d
    {_ADD_STATS}
)
SELECT (SELECT count(*) FROM d), fingerprint, decision_id, expires, token FROM k
"""

# One statement: set the reward if there is none and add it (and the extra fields) to the arm
# the stored decision has. The last line reads the row as it was before this statement.
_APPLY_REWARD = f"""
WITH r AS (
    UPDATE decisions SET reward = %(value)s, rewarded_at = %(at)s, reward_token = %(token)s
    WHERE id = %(id)s AND reward IS NULL
    RETURNING experiment, generation, scope, arm, weight, allocation_id
), a AS (
    UPDATE allocations SET rewards = allocations.rewards + r.weight
    FROM r WHERE allocations.id = r.allocation_id
), s AS (
    INSERT INTO arm_stats (experiment, generation, scope, arm, shard, pulls, n, total, total_sq)
    SELECT experiment, generation, scope, arm, {_SHARD}, 0, weight,
           weight * %(value)s, weight * %(value)s * %(value)s FROM r
    {_ADD_STATS}
), x AS (
    INSERT INTO extra_stats (experiment, generation, scope, arm, field, shard, value)
    SELECT r.experiment, r.generation, r.scope, r.arm, f.field, {_SHARD}, f.value
    FROM r, unnest(%(fields)s::text[], %(values)s::float8[]) AS f(field, value)
    ORDER BY f.field
    {_ADD_EXTRA}
)
SELECT (SELECT count(*) FROM r), d.reward_token, d.id IS NOT NULL
FROM (SELECT 1) AS one LEFT JOIN decisions AS d ON d.id = %(id)s
"""

# the vectors computed for deferred decisions, kept where none is (or an older version's)
_KEEP_VECTORS = """
UPDATE decisions AS d SET propensity = v.p, probabilities = v.b
FROM unnest(%(ids)s::text[], %(p)s::float8[], %(b)s::bytea[]) AS v(id, p, b)
WHERE d.id = v.id AND length(d.probabilities) %% 8 = 1
  AND substring(d.probabilities from 1 for 1) <> %(tag)s
"""

_RECORD_MANUAL = f"""
WITH d AS (
    INSERT INTO decisions ({_DECISION_COLUMNS}, write_token)
    SELECT *, %(token)s::bigint FROM unnest(
        %(id)s::text[], %(experiment)s::text[], %(generation)s::bigint[], %(scope)s::text[],
        %(arm)s::text[], %(propensity)s::float8[], %(arms)s::text[], %(probabilities)s::bytea[],
        %(policy)s::text[], %(subject)s::text[], %(context)s::text[], %(kind)s::text[],
        %(created_at)s::float8[], %(reward)s::float8[], %(rewarded_at)s::float8[],
        %(weight)s::float8[], %(allocation_id)s::text[])
    ON CONFLICT (id) DO NOTHING
    RETURNING experiment, generation, scope, arm, reward, weight
), s AS (
    INSERT INTO arm_stats (experiment, generation, scope, arm, shard, pulls, n, total, total_sq)
    SELECT experiment, generation, scope, arm, {_SHARD}, count(*), sum(weight),
           sum(weight * reward), sum(weight * reward * reward)
    FROM d GROUP BY experiment, generation, scope, arm
    ORDER BY experiment, generation, scope, arm
    {_ADD_STATS}
), x AS (
    INSERT INTO extra_stats (experiment, generation, scope, arm, field, shard, value)
    SELECT f.experiment, f.generation, f.scope, f.arm, f.field, {_SHARD}, sum(f.value)
    FROM unnest(%(x_experiment)s::text[], %(x_generation)s::bigint[], %(x_scope)s::text[],
                %(x_arm)s::text[], %(x_field)s::text[], %(x_value)s::float8[])
         AS f(experiment, generation, scope, arm, field, value)
    WHERE (SELECT count(*) FROM d) > 0
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    {_ADD_EXTRA}
)
SELECT (SELECT count(*) FROM d),
       (SELECT count(*) FROM decisions WHERE id = ANY(%(id)s) AND write_token = %(token)s)
"""


def _decision_params(d: DecisionRecord, token: int) -> dict[str, Any]:
    return {
        "id": d.id, "experiment": d.experiment, "generation": d.generation, "scope": d.scope,
        "arm": d.arm, "propensity": stored_propensity(d), "arms": "\n".join(d.arms),
        "probabilities": encode_vector(d),
        "policy": d.policy, "subject": d.subject,
        "context": json.dumps(d.context, separators=(",", ":")) if d.context else None,
        "kind": d.kind, "created_at": float(d.created_at),
        "reward": None if d.reward is None else float(d.reward),
        "rewarded_at": None if d.rewarded_at is None else float(d.rewarded_at),
        "weight": float(d.weight), "allocation_id": d.allocation_id, "token": token,
    }


def _decision_from_row(row: Sequence[Any]) -> DecisionRecord:
    probabilities, propensity, posterior = split_vector(row[7], row[5])
    return DecisionRecord(
        id=row[0], experiment=row[1], generation=int(row[2]), scope=row[3], arm=row[4],
        propensity=propensity, arms=tuple(row[6].split("\n")),
        probabilities=probabilities, policy=row[8],
        subject=row[9], context=json.loads(row[10]) if row[10] else None, kind=row[11],
        created_at=row[12], reward=row[13], rewarded_at=row[14], weight=row[15],
        allocation_id=row[16], posterior=posterior,
    )


def _token() -> int:
    return secrets.randbits(63)


# --- URLs -------------------------------------------------------------------------------------
def mask_url(url: str) -> str:
    """``url`` with its password (in the authority or a ``password=`` parameter) masked.

    Examples
    --------
    >>> mask_url("postgresql://bot:s3cret@db:5432/bandits?sslmode=require")
    'postgresql://bot:***@db:5432/bandits?sslmode=require'
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = "&".join(
        f"{k}=***" if k == "password" else (f"{k}={quote(v, safe='')}" if v else k)
        for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _endpoints(parts: SplitResult, params: Mapping[str, str]) -> str:
    """The ``host:port`` (or several, comma-separated) a URL connects to, as libpq would
    choose them: the URL's, else ``host=``/``port=`` parameters, else ``PGHOST``/``PGPORT``,
    else libpq's default (the local socket, port 5432). Never the user or password."""
    defaults = _libpq_defaults()  # (PGHOST and PGPORT, as libpq reads them)
    hosts = unquote(parts.netloc.rpartition("@")[2]) or params.get("host") \
        or defaults.get("host") or ""
    port = params.get("port") or defaults.get("port") or "5432"
    found = []
    for host in hosts.split(","):
        if not host:
            continue
        named, _, own = host.rpartition(":")
        if named and own.isdigit() and not host.endswith("]"):
            found.append(host)
        elif host.startswith("/"):
            found.append(f"{host} (socket), port {port}")
        else:
            found.append(f"{host}:{port}")
    return ",".join(found) or f"the local socket, port {port} (no host in the URL or PGHOST)"


def _libpq_defaults() -> dict[str, str]:
    """libpq's connection defaults (its environment variables included), by keyword (none
    without psycopg: the store says how to install it when it first connects)."""
    try:
        from psycopg import pq
    except ImportError:
        return {}
    return {o.keyword.decode(): o.val.decode() for o in pq.Conninfo.get_defaults() if o.val}


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the server is down, restarting, out of reach or not answering
    (not: refused us, or our statement)."""
    import psycopg

    return isinstance(exc, psycopg.OperationalError) and \
        any(sign in str(exc) for sign in _TRANSIENT_CONNECT)


def _secrets_of(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [unquote(v) for k, v in parse_qsl(parts.query) if k == "password" and v]
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    return [s for s in found if s]


class PostgresStore:
    """A :class:`~banditbot.stores.Store` on a PostgreSQL database shared by any number of
    processes and hosts.

    Parameters
    ----------
    url
        ``postgresql://user:password@host:5432/dbname``; parts it omits come from libpq's
        environment variables. Query parameters other than banditbot's own (below) are passed
        to libpq (``sslmode=require``, ``connect_timeout`` (5 unless given), …).
    schema
        The PostgreSQL schema holding banditbot's tables (default ``banditbot``; URL
        ``?schema=``). Created by :meth:`init`.
    pool_min, pool_max
        Connections kept open / at most (per process; URL ``?pool_min=&pool_max=``).
    retry_seconds
        How long an operation keeps retrying through lost connections, a restarting server or
        deadlocks before it raises :class:`~banditbot.StoreError`.
    listen
        Keep ``read_meta`` in a cache that ``LISTEN``/``NOTIFY`` invalidates (one more
        connection per process). Turn off behind a pooler in transaction mode.

    Examples
    --------
    >>> PostgresStore("postgresql://bot:s3cret@db.internal/bandits").url
    'postgresql://bot:***@db.internal/bandits'
    """

    #: rows per keyset page of :meth:`iter_fields`
    scan_page = 10_000

    def __init__(self, url: str, *, schema: str | None = None, pool_min: int | None = None,
                 pool_max: int | None = None, retry_seconds: float | None = None,
                 listen: bool | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("postgresql", "postgres"):
            raise ConfigError(f"not a PostgreSQL URL: {mask_url(url)!r}",
                              hint="use postgresql://user:password@host:5432/dbname")
        if not parts.netloc and "//" not in url:  # (a trial: postgresql:/u:p@h/db got the
            # percent-encoding hint)
            raise ConfigError(f"the store URL needs '//' after '{parts.scheme}:'",
                              hint="use postgresql://user:password@host:5432/dbname")
        if "@" in parts.path + parts.fragment or any(
                "@" in item and "=" not in item for item in parts.query.split("&")):
            # a password with '/', '?' or '#' unencoded: the URL is cut inside it (trials:
            # part of the password was resolved as the host name, or read as a query
            # parameter, and shown); nothing of it is echoed here
            raise ConfigError("the store URL has an '@' after its host part: a reserved "
                              "character in the user or password ends it early",
                              hint="percent-encode them: @ %40, / %2F, : %3A, # %23, ? %3F, "
                                   "% %25 (e.g. python3 -c 'import urllib.parse, sys; "
                                   "print(urllib.parse.quote(sys.argv[1], safe=\"\"))' "
                                   "PASSWORD)")
        own: dict[str, str] = {}
        passed: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in _OWN_PARAMS:
                own[key] = value
            else:
                passed.append((key, value))
        try:
            self.schema = schema or own.get("schema", "banditbot")
            self.pool_min = pool_min if pool_min is not None else int(own.get("pool_min", 1))
            self.pool_max = pool_max if pool_max is not None else int(own.get("pool_max", 10))
            self.retry_seconds = retry_seconds if retry_seconds is not None else \
                float(own.get("retry_seconds", 15))
        except ValueError as exc:
            raise ConfigError(f"bad parameter in store URL {mask_url(url)!r}: {exc}",
                              hint="pool_min, pool_max and retry_seconds are numbers") from None
        flag = own.get("listen", "true").lower()
        if flag not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise ConfigError(f"bad listen= in store URL {mask_url(url)!r}",
                              hint="use listen=true or listen=false")
        self.listen = listen if listen is not None else flag in ("true", "1", "yes", "on")
        if not _SCHEMA_NAME.fullmatch(self.schema):
            raise ConfigError(f"bad schema name {self.schema!r} in the store URL",
                              hint="use lower-case letters, digits and _ (e.g. banditbot)")
        if not 0 <= self.pool_min <= self.pool_max or self.pool_max < 1:
            raise ConfigError(f"bad pool size in store URL {mask_url(url)!r}",
                              hint="use 0 <= pool_min <= pool_max and pool_max >= 1")
        if not (math.isfinite(self.retry_seconds) and self.retry_seconds > 0):
            raise ConfigError(f"bad retry_seconds in store URL {mask_url(url)!r}",
                              hint="use a number of seconds above 0, e.g. retry_seconds=15")
        # libpq sees the URL without banditbot's parameters, plus the search path
        options = [v for k, v in passed if k == "options"]
        passed = [(k, v) for k, v in passed if k != "options"]
        options.append(f"-c search_path={self.schema}")
        passed.append(("options", " ".join(options)))
        if not any(k == "connect_timeout" for k, _ in passed):  # libpq waits forever
            passed.append(("connect_timeout", "5"))
        # (libpq's fallback: the URL's application_name or PGAPPNAME wins; pg_stat_activity
        # had shown an ops trial a blank name)
        passed.append(("fallback_application_name", "banditbot"))
        # (not urlunsplit: it drops the "//" of an empty authority, and libpq needs it)
        self._conninfo = f"{parts.scheme}://{parts.netloc}{parts.path}?" + urlencode(
            passed, quote_via=quote)
        self.url = mask_url(url.split("#", 1)[0])
        self._secrets = _secrets_of(url)
        self._channel = f"banditbot_{self.schema}"
        self._pid = os.getpid()
        self._where = _endpoints(parts, dict(passed))
        self._pool: ConnectionPool[Any] | None = None
        self._pool_lock = threading.Lock()
        #: the last connection attempt or statement failed on the connection (server down,
        #: restarting, out of reach): requests wait for the pool in short turns
        self._failing = False
        self._waits = _Waits()
        self._local = threading.local()
        # group commit
        self._queue: list[_Op[Any]] = []
        self._flushing = 0  # groups being committed now
        #: How many groups one process may commit at once: the next group's statements run
        #: while the previous one waits for its flush to disk.
        self.groups_in_flight = 2
        self._cv = threading.Condition()
        # meta cache, kept fresh by the listener
        self._listener: _Listener | None = None
        self._meta_cache: dict[str, ExperimentMeta] = {}
        self._meta_parsed: dict[str, tuple[str, ExperimentMeta]] = {}
        self._seq = 0
        #: Writes and the commits they took, since the store was made (for benchmarks and
        #: metrics: ``writes / commits`` is the mean group size).
        self.writes = 0
        self.commits = 0

    # --- plumbing ---------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            # a short secret as a whole token only (a trial's one-letter password "p" made
            # "password" read "***assword" in every message)
            text = text.replace(secret, "***") if len(secret) >= 6 else re.sub(
                rf"(?<![\w]){re.escape(secret)}(?![\w])", "***", text)
        return text

    def _error(self, what: str, exc: BaseException, hint: str | None = None) -> StoreError:
        # the first line: the server's words (its LINE 1 / caret context and libpq's second
        # guesses follow on lines of their own, which a one-line error leaves out)
        said = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        if _unreachable(exc):  # e.g. "connection timeout expired": say where
            said = f"no connection to {self._where}: {said}"
        message = self._scrub(f"PostgreSQL {what} failed: {said}")
        state = getattr(exc, "sqlstate", None)
        grant = self._grant_hint()
        if state in ("42P01", "3F000") and self._schema_exists() is True:
            # there, but this role may not look inside (a trial: a missing GRANT USAGE read
            # as "no schema", and the operator ran init-db again, which said "ready")
            message = self._scrub(f"this role may not use schema {self.schema!r} "
                                  f"(PostgreSQL {what}: {said})")
            hint = grant
        elif state in ("42P01", "3F000"):  # no such table / schema
            # in the words serve uses (an operator read 'relation "meta" does not exist'
            # as a missing table, not a mistyped schema)
            message = self._scrub(f"the database has no banditbot schema {self.schema!r} "
                                  f"(PostgreSQL {what}: {said})")
            hint = f"check the URL's schema option, or {INIT_DB_HINT}"
        elif state == "42501":  # insufficient privilege, e.g. on a table
            message = self._scrub(f"this role may not use banditbot's tables in schema "
                                  f"{self.schema!r} (PostgreSQL {what}: {said})")
            hint = grant
        return StoreError(message, hint=self._scrub(hint or f"check the database at {self.url}"))

    def _grant_hint(self) -> str:
        """The grants a role needs to use banditbot's tables (docs/postgres.md)."""
        return (f"grant it as docs/postgres.md shows: GRANT USAGE ON SCHEMA {self.schema} TO "
                f"the role; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "
                f"{self.schema} TO the role")

    def _check_writable(self, conn: Any) -> None:
        """Refuse a role that may read but not write the decision log (a trial's read-only
        role ran init-db and read "store ready"; serve then refused it): asked of the
        catalog, nothing written."""
        quoted = self.schema.replace('"', '""')
        table = f'"{quoted}".decisions'
        row = conn.execute(
            "SELECT has_schema_privilege(%s, 'USAGE') AND has_table_privilege(%s, 'SELECT') "
            "AND has_table_privilege(%s, 'INSERT') AND has_table_privilege(%s, 'UPDATE') "
            "AND has_table_privilege(%s, 'DELETE')",
            (self.schema, table, table, table, table)).fetchone()
        if not (row and row[0]):
            raise StoreError(self._scrub(f"the store is set up, but this role may not write "
                                         f"banditbot's tables in schema {self.schema!r}"),
                             hint=self._scrub(self._grant_hint()))

    def _schema_exists(self) -> bool | None:
        """Whether the schema exists, as the catalog (readable by every role) says; ``None``
        when that cannot be asked."""
        import psycopg

        try:
            with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=3) as conn:
                row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                                   (self.schema,)).fetchone()
        except psycopg.Error:
            return None
        return row is not None

    def _outage_hint(self, exc: BaseException, then: str) -> str:
        """What to check when the database stayed out of reach (``then``: what to do next)."""
        if _unreachable(exc):
            return (f"check that PostgreSQL is up at {self._where} and that this host can "
                    "reach it (host name, port, firewall; connect_timeout= in the URL if it "
                    f"answers slowly); {then}")
        if type(exc).__name__ == "PoolTimeout":  # (from _cause: the server answers now)
            return (f"this process's {self.pool_max} connections (pool_max) were busy or "
                    f"being made again; {then}")
        return f"the database is unreachable or restarting; {then}"

    def _check_fork(self) -> None:
        if self._pool is None or self._pid != os.getpid():
            self._get_pool()  # (also: the install hint if psycopg is missing)

    def _get_pool(self) -> ConnectionPool[Any]:
        if self._pid != os.getpid():  # forked: never share the parent's connections
            self._pid = os.getpid()
            self._pool = None
            self._listener = None
            self._local = threading.local()
            self._cv = threading.Condition()
            self._queue, self._flushing = [], 0
            self._meta_cache.clear()
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                pool = self._pool
                if pool is None:
                    require("psycopg", "postgres")
                    require("psycopg_pool", "postgres")
                    from psycopg_pool import ConnectionPool

                    self._probe()
                    pool = ConnectionPool(
                        self._conninfo, min_size=self.pool_min, max_size=self.pool_max,
                        kwargs={"autocommit": True}, open=False, name="banditbot",
                        timeout=self.retry_seconds, reconnect_timeout=_RECONNECT_S)
                    pool.open(wait=False)
                    self._pool = pool
        return pool

    def _probe(self) -> None:
        """One direct connection before the pool opens: a mistake that no retry mends (a
        wrong password, no such database or role, a bad option) is refused now with the
        server's own words, where the pool would retry for ``retry_seconds`` and then say
        "unreachable or restarting". A server that is down or restarting is left to the
        pool's retries."""
        import psycopg

        try:
            with psycopg.connect(self._conninfo, autocommit=True) as conn:
                version = self._schema_version(conn)
        except psycopg.OperationalError as exc:
            if _unreachable(exc):
                self._failing = True  # (the pool's first attempts will fail too)
                # said now: the first call waits up to retry_seconds before it fails (a
                # trial's mistyped port: 15 s of silence, then the error)
                said = (str(exc).strip() or type(exc).__name__).splitlines()[0]
                log.warning("PostgreSQL at %s does not answer (%s); each call waits up to "
                            "%g s for it (retry_seconds in the store URL)", self._where,
                            self._scrub(said).rsplit(": ", 1)[-1], self.retry_seconds)
                return
            raise self._error("connect", exc, hint="check the URL: user, password, "
                                                   "database and options") from None
        except psycopg.ProgrammingError as exc:  # e.g. an option libpq does not know
            raise self._error("connect", exc, hint="check the URL's options") from None
        if version > SCHEMA_VERSION:  # its tables may not read as this code expects
            raise StoreError(f"schema {self.schema!r} has schema version {version}, newer "
                             f"than this banditbot's ({SCHEMA_VERSION})",
                             hint="upgrade banditbot on this host; docs/postgres.md")

    def _cause(self, exc: BaseException) -> BaseException:
        """What a pool's "couldn't get a connection after 15 sec" stands for: one direct
        connection attempt's own error ("connection refused", "no route to host"), or
        ``exc`` when the server answers now."""
        if type(exc).__name__ != "PoolTimeout":
            return exc
        import psycopg

        try:
            psycopg.connect(self._conninfo, autocommit=True, connect_timeout=2).close()
        except psycopg.Error as cause:
            return cause
        # (the pool's own words name its last wait, which may be a short one)
        return type(exc)(f"no connection from the pool within {self.retry_seconds:g} s, "
                         "though the server answers now")

    def _transient(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.OperationalError, psycopg.InterfaceError)

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, retrying transient errors (lost connection,
        restarting server, deadlock) with jittered backoff for up to ``retry_seconds``; a
        database error that ends it is raised as banditbot's own."""
        import psycopg

        try:
            return self._retrying_raw(attempt)
        except self._transient() as exc:  # (still failing at the deadline)
            # a read (read_meta, iter_decisions, …) is a read, and wrote nothing
            writing = what in ("write", "batch")
            exc = self._cause(exc)
            raise self._error(
                what if writing or what == "schema check" else "read", exc,
                hint=self._outage_hint(
                    exc, ("nothing was half-written, " if writing else "") + "retry")
            ) from None
        except psycopg.DataError as exc:
            raise PayloadError(self._scrub(f"the database refused a value: {exc}"),
                               hint="remove NUL characters and out-of-range numbers"
                               ) from None
        except psycopg.Error as exc:
            raise self._error(what, exc) from None

    def _pool_wait(self) -> float | None:
        """How long to wait for a connection from the pool this time: the pool's timeout
        (``retry_seconds``), or a second while the database has been failing (asking the pool
        again is what makes it try to connect again: see :data:`_RECONNECT_S`)."""
        return _WAIT_WHILE_FAILING_S if self._failing else None

    def _failed_attempt(self, stale: int) -> bool:
        """An attempt failed on a transient error (the store is failing from now on):
        whether to try again at once, without a pause: the failed attempt's connection
        was found broken (a server restart closes every idle one in the pool, and each
        fails at its first use; one cut mid-query is retried at once too, and the next
        attempt waits as usual), and fewer than the pool's size did. A trial's first
        request after an outage waited 1 s through its pool's dead connections, each
        retried after a longer pause, and the log called it an outage of 1 s."""
        self._failing = True
        broken, self._local.broken = getattr(self._local, "broken", False), False
        return broken and stale < self.pool_max

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        self._local.broken = False  # (this attempt's: read by _failed_attempt)
        with self._get_pool().connection(timeout=self._pool_wait()) as conn:
            try:
                yield conn
            except BaseException:
                self._local.broken = conn.broken
                raise
            finally:
                if conn.info.transaction_status not in (0, 4):  # idle / unknown (broken)
                    with contextlib.suppress(Exception):
                        conn.execute("ROLLBACK")

    def _read(self, what: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        self._check_fork()
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:  # inside a batch: read this transaction's own writes
            return batch.read(self, what, sql, params)

        def attempt() -> list[tuple[Any, ...]]:
            with self._connection() as conn:
                return conn.execute(sql, params).fetchall()

        return self._retrying(what, attempt)

    def _write(self, op: _Op[T]) -> T:
        """Run one write: in the caller's batch, alone (if it may be undone), or in the next
        group commit."""
        self._check_fork()
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:
            return batch.write(self, op)
        if op.atomic:
            self._commit_alone(op)
            return op.outcome()
        with self._cv:
            self._queue.append(op)
            while not op.done:
                if not op.taken and self._flushing < self.groups_in_flight:
                    self._flushing += 1  # lead: take everything queued so far
                    group, self._queue = self._queue, []
                    for queued in group:
                        queued.taken = True
                    break
                self._cv.wait()
            else:
                return op.outcome()
        try:
            self._commit_group(group)
        finally:
            with self._cv:
                self._flushing -= 1
                self._cv.notify_all()
        return op.outcome()

    def _commit_alone(self, op: _Op[Any]) -> None:
        """A write whose interpreter may undo it: BEGIN, statement, then COMMIT or ROLLBACK."""

        def attempt() -> None:
            with self._connection() as conn:
                try:
                    with conn.transaction():
                        op.settle(conn.execute(op.sql, op.params).fetchone())
                        if op.error is not None:
                            raise _Rollback(op.error)
                except _Rollback:
                    pass

        try:
            self._retrying("write", attempt)
        except Exception as exc:
            self._fail([op], exc)

    def _commit_group(self, group: list[_Op[Any]]) -> None:
        """One transaction, one pipeline, one round trip for every write of the group; a group
        that fails on a value (not on the connection) is retried one write at a time, so one
        bad write fails only its caller. Lost connections are retried as a whole: the tokens
        make every write recognize its own earlier success."""
        import psycopg

        group.sort(key=lambda op: op.lock_key)  # one lock order everywhere: no deadlocks

        def attempt() -> list[tuple[Any, ...] | None]:
            with self._connection() as conn:
                if len(group) == 1:  # alone: autocommit, one statement
                    return [conn.execute(group[0].sql, group[0].params).fetchone()]
                with conn.pipeline():
                    conn.execute("BEGIN")
                    cursors = [conn.execute(op.sql, op.params) for op in group]
                    conn.execute("COMMIT")
                return [cur.fetchone() for cur in cursors]

        try:
            rows = self._retrying_raw(attempt)
            with self._cv:
                self.writes += len(group)
                self.commits += 1
        except psycopg.Error as exc:
            if len(group) > 1 and not isinstance(exc, self._transient()):
                for op in group:
                    self._commit_group([op])
                return
            self._fail(group, self._classify(exc))
            return
        except BaseException as exc:
            self._fail(group, exc)
            raise
        for op, row in zip(group, rows, strict=True):
            op.settle(row)

    def _retrying_raw(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, retrying transient errors with jittered backoff
        for up to ``retry_seconds``; every database error that ends it (a transient one at the
        deadline included) goes through unchanged (:meth:`_retrying` translates them)."""
        transient = self._transient()
        deadline = time.monotonic() + self.retry_seconds
        delay, stale = 0.005, 0
        while True:
            try:
                result = attempt()
                self._failing = False
                if delay > 0.005:  # (it retried)
                    self._waits.went_through(deadline - self.retry_seconds, self._where)
                return result
            except transient:
                if self._failed_attempt(stale):
                    stale += 1
                    continue
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay * (0.5 + JITTER.random()))
                delay = min(delay * 2, 0.5)

    def _classify(self, exc: BaseException) -> BaseException:
        """The banditbot error for a database error."""
        import psycopg

        if isinstance(exc, psycopg.DataError):
            return PayloadError(self._scrub(f"the database refused a value: {exc}"),
                                hint="remove NUL characters and out-of-range numbers")
        if isinstance(exc, self._transient()):
            exc = self._cause(exc)  # the pool's "couldn't get a connection": why not
            return self._error("write", exc,
                               hint=self._outage_hint(exc, "nothing was half-written, retry"))
        if isinstance(exc, psycopg.Error):
            return self._error("write", exc)
        return exc

    @staticmethod
    def _fail(group: list[_Op[Any]], exc: BaseException) -> None:
        for op in group:
            op.error = exc
            op.done = True

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """One transaction on one connection around every write of this thread inside the
        block (a group commit the caller controls), as on SQLite: all or nothing, one commit.
        Reads inside the block see its writes. Blocks nest (the outermost one commits)."""
        return _Batch.enter(self)

    # --- lifecycle ----------------------------------------------------------------------------
    def init(self) -> None:
        """Create the schema or migrate it to :data:`SCHEMA_VERSION`; idempotent, and safe
        when several hosts start at once (an advisory lock serializes the migrations)."""
        require("psycopg", "postgres")
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(self._conninfo, autocommit=True) as conn:
                current = self._schema_version(conn)
                if current == SCHEMA_VERSION:
                    self._check_writable(conn)
                    return
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                                 (f"banditbot:{self.schema}",))
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        sql.Identifier(self.schema)))
                    conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                                 "version integer PRIMARY KEY, "
                                 "applied_at timestamptz NOT NULL DEFAULT now())")
                    current = self._schema_version(conn)
                    if current > SCHEMA_VERSION:
                        raise StoreError(
                            f"schema {self.schema!r} has schema version {current}, newer "
                            f"than this banditbot's ({SCHEMA_VERSION})",
                            hint="upgrade banditbot on this host; docs/postgres.md")
                    for version in range(current, SCHEMA_VERSION):
                        conn.execute(_MIGRATIONS[version].encode())
                        conn.execute("INSERT INTO schema_version (version) VALUES (%s)",
                                     (version + 1,))
        except psycopg.Error as exc:
            raise self._error("schema setup", exc,
                              hint=self._outage_hint(exc, "then run init-db again")
                              if _unreachable(exc) else
                              "check the URL, the credentials and that the user may "
                              "create a schema in the database") from None

    @staticmethod
    def _schema_version(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return 0
        found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        return int(found[0]) if found else 0

    def schema_version(self) -> int:
        """The schema version of the database (0: not initialized)."""
        self._check_fork()

        def attempt() -> int:
            with self._connection() as conn:
                return self._schema_version(conn)

        return self._retrying("schema check", attempt)

    def close(self) -> None:
        """Close the pool and stop listening (the listening thread ends at its next ping,
        within half a second). Using the store again opens a new pool."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.close()

    # --- meta ---------------------------------------------------------------------------------
    def _listening(self) -> bool:
        if not self.listen:
            return False
        self._get_pool()  # fork check
        listener = self._listener
        if listener is None:
            with self._pool_lock:
                if self._listener is None:
                    self._listener = _Listener(self)
                    self._listener.start()
                listener = self._listener
        return listener is not None and listener.fresh()

    def _invalidate(self, experiment: str | None) -> None:
        with self._pool_lock:
            self._seq += 1
            if experiment is None:
                self._meta_cache.clear()
            else:
                self._meta_cache.pop(experiment, None)

    def read_meta(self, experiment: str) -> ExperimentMeta:
        listening = self._listening()
        if listening:
            hit = self._meta_cache.get(experiment)
            if hit is not None:
                return hit
        seq = self._seq
        rows = self._read("read_meta", "SELECT doc, version FROM meta WHERE experiment = %s",
                          (experiment,))
        if not rows:
            meta = _DEFAULT_META
        else:
            doc, version = rows[0]
            parsed = self._meta_parsed.get(experiment)
            if parsed is not None and parsed[0] == doc and parsed[1].version == version:
                meta = parsed[1]  # same document: skip the JSON parse
            else:
                meta = ExperimentMeta.from_json(doc, int(version))
                self._meta_parsed[experiment] = (doc, meta)
        if listening:
            with self._pool_lock:
                if seq == self._seq:  # nothing was invalidated while we read
                    self._meta_cache[experiment] = meta
        return meta

    def write_meta(self, experiment: str, meta: ExperimentMeta) -> bool:
        token = _token()
        if meta.version == 0:
            change = ("INSERT INTO meta (experiment, doc, version, token) "
                      "VALUES (%(key)s, %(doc)s, 1, %(token)s) ON CONFLICT DO NOTHING RETURNING 1")
        else:
            change = ("UPDATE meta SET doc = %(doc)s, version = version + 1, token = %(token)s "
                      "WHERE experiment = %(key)s AND version = %(version)s RETURNING 1")
        sql = (f"WITH w AS ({change}) SELECT (SELECT count(*) FROM w), "
               "(SELECT token FROM meta WHERE experiment = %(key)s), "
               "pg_notify(%(channel)s, %(payload)s)")
        ok = self._write(_Op(
            sql, {"key": experiment, "doc": meta.to_json(), "token": token,
                  "version": meta.version, "channel": self._channel,
                  "payload": f"meta:{experiment}"},
            lambda row: bool(row and (row[0] == 1 or row[1] == token)),
            ("SELECT 1 FROM meta WHERE experiment = %s AND token = %s", (experiment, token))))
        self._invalidate(experiment)
        return ok

    # --- statistics -----------------------------------------------------------------------------
    def read_counts(self, experiment: str, generation: int, scope: str,
                    arms: tuple[str, ...], *, after_meta: bool = False) -> CountRows:
        return CountRows.of(self.read_stats(experiment, generation, scope, arms,
                                            with_extra=False))

    def drop_extra(self, experiment: str, generation: int, fields: Collection[str], *,
                   keep_total: str | None = None) -> None:
        if not fields:
            return
        names = sorted(fields)
        where = "experiment = %(e)s AND generation = %(g)s AND field = ANY(%(f)s)"
        # a delete is idempotent: after a lost reply it is simply run again (its probe
        # never confirms: rows gone could be another process's drop, and in a batch a
        # confirmed first write would vouch for the others)
        # (with a kept total, the sum is of the rows this delete removed: run again, it
        # removes and adds nothing)
        kept = "" if keep_total is None else (
            ", k AS (INSERT INTO extra_stats (experiment, generation, scope, arm, field, "
            "shard, value) SELECT experiment, generation, scope, arm, %(k)s, shard, sum(v) "
            "FROM w GROUP BY experiment, generation, scope, arm, shard "
            f"ORDER BY scope, arm, shard {_ADD_EXTRA})")
        self._write(_Op(
            f"WITH w AS (DELETE FROM extra_stats WHERE {where} RETURNING experiment, "
            f"generation, scope, arm, shard, value AS v){kept} SELECT count(*) FROM w",
            {"e": experiment, "g": generation, "f": names, "k": keep_total},
            lambda row: None, ("SELECT 1 WHERE false", ()),
            ("~extra", experiment, generation)))

    def read_stats(self, experiment: str, generation: int, scope: str | None,
                   arms: Sequence[str], *, with_extra: bool = True,
                   time_buckets: bool = True) -> StatsTable:
        where = "experiment = %(e)s AND generation = %(g)s" + (
            "" if scope is None else " AND scope = %(s)s")
        sql = (f"SELECT arm, NULL::text, sum(pulls), sum(n), sum(total), sum(total_sq) "
               f"FROM arm_stats WHERE {where} GROUP BY arm")
        if with_extra:
            sql += (f" UNION ALL SELECT arm, field, sum(value), NULL, NULL, NULL "
                    f"FROM extra_stats WHERE {where}"
                    f"{'' if time_buckets else _NO_BUCKETS} "
                    "GROUP BY arm, field")
        rows: dict[str, tuple[float, float, float, float]] = {}
        extra: dict[str, dict[str, float]] = {}
        for arm, name, a, b, c, d in self._read(
                "read_stats", sql, {"e": experiment, "g": generation, "s": scope}):
            if name is None:
                rows[arm] = (a, b, c, d)
            else:
                extra.setdefault(arm, {})[name] = a
        return StatsTable.from_rows(arms, rows, extra)

    # --- decisions and rewards --------------------------------------------------------------------
    def record_decision(self, decision: DecisionRecord) -> None:
        token = _token()

        def interpret(row: tuple[Any, ...] | None) -> None:
            if row and (row[0] == 1 or row[1] == token):
                return  # inserted now, or by our own earlier attempt whose reply was lost
            raise StoreError(f"decision id {decision.id!r} already exists",
                             hint="decision ids are unique; make a new decision")

        self._write(_Op(_RECORD_DECISION, _decision_params(decision, token), interpret,
                        ("SELECT 1 FROM decisions WHERE id = %s AND write_token = %s",
                         (decision.id, token)),
                        (decision.experiment, decision.generation, decision.scope,
                         decision.arm)))

    def record_keyed_decision(self, decision: DecisionRecord, key: str, fingerprint: str,
                              ttl_seconds: float) -> KeyedDecision:
        if decision.reward is not None:
            raise ValueError("a keyed decision is logged without its reward")
        now = time.time()
        token = _token()
        params = {**_decision_params(decision, token), "key": key, "fingerprint": fingerprint,
                  "expires": now + ttl_seconds, "now": now}
        keyed = self._write(_Op(
            _RECORD_KEYED, params, lambda row: KeyedDecision(key, *(row or ())[1:4]),
            ("SELECT 1 FROM decision_keys WHERE key = %s AND token = %s", (key, token)),
            (decision.experiment, decision.generation, decision.scope, decision.arm)))
        self._prune("decision_keys", now)
        return keyed

    def keyed_decision(self, key: str) -> KeyedDecision | None:
        rows = self._read("keyed_decision",
                          "SELECT key, fingerprint, decision_id, expires FROM decision_keys "
                          "WHERE key = %s AND expires > %s", (key, time.time()))
        return KeyedDecision(*rows[0]) if rows else None

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        rows = self._read("get_decision",
                          f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE id = %s",
                          (decision_id,))
        return _decision_from_row(rows[0]) if rows else None

    def apply_reward(self, decision_id: str, value: float, rewarded_at: float,
                     extra: Mapping[str, float] | None = None, *,
                     known: DecisionRecord | None = None) -> ApplyResult:
        token = _token()
        fields = sorted(extra or {})

        def interpret(row: tuple[Any, ...] | None) -> ApplyResult:
            if row and (row[0] == 1 or row[1] == token):
                return ApplyResult.APPLIED  # now, or by our own attempt whose reply was lost
            if row and row[2]:
                return ApplyResult.DUPLICATE
            return ApplyResult.UNKNOWN

        # the lock order of a group: the statement locks its period's allocations row, then
        # the arm's statistics, so the period leads (a trial: two groups spanning a period
        # change took two periods' rows in opposite orders, and PostgreSQL broke the
        # deadlock after its 1 s timeout)
        key = (known.allocation_id or "", known.experiment, known.generation, known.scope,
               known.arm) if known is not None and known.id == decision_id else ("",)
        return self._write(_Op(_APPLY_REWARD, {
            "id": decision_id, "value": float(value), "at": float(rewarded_at), "token": token,
            "fields": fields, "values": [float(extra[f]) for f in fields] if extra else [],
        }, interpret, ("SELECT 1 FROM decisions WHERE id = %s AND reward_token = %s",
                       (decision_id, token)), key))

    def record_manual(self, decisions: Sequence[DecisionRecord],
                      extras: Sequence[Mapping[str, float]] | None = None) -> None:
        """Log rewarded decisions and add them to the statistics in one statement (all or
        nothing: if any id exists already, nothing is written)."""
        if any(d.reward is None for d in decisions):
            raise ValueError("manual decisions carry their reward")
        if not decisions:
            return
        token = _token()
        rows = [_decision_params(d, token) for d in decisions]
        params: dict[str, Any] = {k: [r[k] for r in rows] for k in rows[0] if k != "token"}
        params["token"] = token
        flat = [(d.experiment, d.generation, d.scope, d.arm, k, float(v))
                for d, extra in zip(decisions, extras or [{}] * len(decisions), strict=True)
                for k, v in extra.items()]
        for i, name in enumerate(("experiment", "generation", "scope", "arm", "field",
                                  "value")):
            params[f"x_{name}"] = [f[i] for f in flat]
        count = len(decisions)

        def interpret(row: tuple[Any, ...] | None) -> None:
            if row and (row[0] == count or row[1] == count):
                return
            raise _Rollback(StoreError("a manual decision id already exists; nothing was "
                                       "written", hint="import each record once"))

        self._write(_Op(_RECORD_MANUAL, params, interpret,
                        ("SELECT 1 FROM decisions WHERE id = %s AND write_token = %s",
                         (decisions[0].id, token)), atomic=True))

    def keep_vectors(self, resolved: Sequence[ResolvedVector]) -> None:
        """One statement (idempotent: a retry after a lost reply changes nothing more)."""
        if not resolved:
            return
        self._check_fork()
        params = {"ids": [r.decision_id for r in resolved],
                  "p": [float(r.propensity) for r in resolved],
                  "b": [r.blob() for r in resolved], "tag": RESOLVED_TAG}

        def attempt() -> None:
            with self._connection() as conn:
                conn.execute(_KEEP_VECTORS, params)

        self._retrying("write", attempt)

    def iter_decisions(self, experiment: str, *, generation: int | None = None,
                       since: float | None = None, after_id: str | None = None,
                       limit: int | None = None) -> Iterator[DecisionRecord]:
        """Keyset pages of 1000 in ``(created_at, id)`` order: no connection or transaction
        is held while the caller consumes the records."""
        where = ["experiment = %(e)s"]
        params: dict[str, Any] = {"e": experiment}
        if generation is not None:
            where.append("generation = %(g)s")
            params["g"] = generation
        if since is not None:
            where.append("created_at >= %(since)s")
            params["since"] = since
        if after_id is not None:
            rows = self._read("iter_decisions",
                              "SELECT created_at, id FROM decisions WHERE id = %s", (after_id,))
            if not rows:
                return
            cursor: tuple[float, str] | None = (rows[0][0], rows[0][1])
        else:
            cursor = None
        left = limit
        while left is None or left > 0:
            page = 1000 if left is None else min(left, 1000)
            clauses = list(where)
            if cursor is not None:
                clauses.append("(created_at, id) > (%(c_at)s, %(c_id)s)")
                params["c_at"], params["c_id"] = cursor
            rows = self._read("iter_decisions",
                              f"SELECT {_DECISION_COLUMNS} FROM decisions "
                              f"WHERE {' AND '.join(clauses)} ORDER BY created_at, id "
                              f"LIMIT {page}", params)
            for row in rows:
                yield _decision_from_row(row)
            if len(rows) < page:
                return
            cursor = (rows[-1][12], rows[-1][0])
            if left is not None:
                left -= len(rows)

    def iter_fields(self, experiment: str, fields: Sequence[str], *, generation: int,
                    kinds: Collection[str] | None = None, scope: str | None = None
                    ) -> Iterator[tuple[Any, ...]]:
        """Keyset pages of :attr:`scan_page` rows in ``(created_at, id)`` order: no
        connection or transaction is held while the caller consumes the rows."""
        check_fields(fields, kinds)  # the names go into the query: DecisionRecord's only
        where = ["experiment = %(e)s", "generation = %(g)s"]
        params: dict[str, Any] = {"e": experiment, "g": generation}
        if kinds is not None:
            where.append("kind = ANY(%(k)s)")
            params["k"] = sorted(kinds)
        if scope is not None:
            where.append("scope = %(s)s")
            params["s"] = scope
        decode = FieldDecoder(fields)
        width = len(fields)
        page = self.scan_page
        clauses = where
        while True:
            rows = self._read("iter_fields",
                              f"SELECT {', '.join(FieldDecoder.columns(fields))}, "
                              "created_at, id FROM decisions "
                              f"WHERE {' AND '.join(clauses)} ORDER BY created_at, id "
                              f"LIMIT {page}", params)
            yield from decode([row[:width] for row in rows])
            if len(rows) < page:
                return
            params["c_at"], params["c_id"] = rows[-1][width], rows[-1][width + 1]
            clauses = [*where, "(created_at, id) > (%(c_at)s, %(c_id)s)"]

    def pending_decisions(self, experiment: str, generation: int, older_than: float,
                          limit: int = 1000, *, newer_than: float | None = None
                          ) -> list[DecisionRecord]:
        rows = self._read(
            "pending_decisions",
            f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE experiment = %s "
            "AND created_at >= %s AND created_at < %s AND generation = %s "
            "AND reward IS NULL AND kind IN ('policy', 'holdout') ORDER BY created_at, id "
            "LIMIT %s",
            (experiment, -1e300 if newer_than is None else newer_than, older_than, generation,
             int(limit)))
        return [_decision_from_row(r) for r in rows]

    # --- allocation periods ----------------------------------------------------------------
    def current_allocation(self, experiment: str, generation: int, scope: str, *,
                           after_meta: bool = False) -> AllocationRecord | None:
        rows = self._read("current_allocation",
                          "SELECT doc, rewards FROM allocations WHERE experiment = %s AND "
                          "generation = %s AND scope = %s ORDER BY period DESC LIMIT 1",
                          (experiment, generation, scope))
        return AllocationRecord.from_json(rows[0][0], rows[0][1]) if rows else None

    def start_allocation(self, record: AllocationRecord) -> AllocationRecord:
        """One statement: store the period if it has none yet (the first writer wins; a
        retry after a lost reply finds its own row by id), then read what the period has."""
        key = (record.experiment, record.generation, record.scope, record.period)
        self._write(_Op(
            "WITH w AS (INSERT INTO allocations (id, experiment, generation, scope, period, "
            "doc, created_at) VALUES (%(id)s, %(e)s, %(g)s, %(s)s, %(p)s, %(doc)s, %(at)s) "
            "ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM w",
            {"id": record.id, "e": record.experiment, "g": record.generation,
             "s": record.scope, "p": record.period, "doc": record.to_json(),
             "at": record.created_at},
            lambda row: None, ("SELECT 1 FROM allocations WHERE id = %s", (record.id,)),
            ("~allocation", *key)))
        rows = self._read("start_allocation",
                          "SELECT doc, rewards FROM allocations WHERE experiment = %s AND "
                          "generation = %s AND scope = %s AND period = %s", key)
        return AllocationRecord.from_json(rows[0][0], rows[0][1])

    def allocations(self, experiment: str, generation: int,
                    scope: str | None = None) -> list[AllocationRecord]:
        sql = ("SELECT doc, rewards FROM allocations WHERE experiment = %(e)s AND "
               "generation = %(g)s" + ("" if scope is None else " AND scope = %(s)s") +
               " ORDER BY created_at, period")
        rows = self._read("allocations", sql, {"e": experiment, "g": generation, "s": scope})
        return [AllocationRecord.from_json(doc, rewards) for doc, rewards in rows]

    def period_counts(self, experiment: str, generation: int,
                      scope: str | None = None) -> list[PeriodCounts]:
        sql = ("SELECT allocation_id, arm, count(*), "
               "coalesce(sum(CASE WHEN reward IS NULL THEN 0 ELSE weight END), 0), "
               "coalesce(sum(weight * reward), 0), coalesce(sum(weight * reward * reward), 0) "
               "FROM decisions WHERE experiment = %(e)s AND generation = %(g)s "
               "AND kind IN ('policy', 'holdout')" +
               ("" if scope is None else " AND scope = %(s)s") + " GROUP BY allocation_id, arm")
        rows = self._read("period_counts", sql, {"e": experiment, "g": generation, "s": scope})
        return [PeriodCounts(r[0], r[1], int(r[2]), float(r[3]), float(r[4]), float(r[5]))
                for r in rows]

    # --- admin log, idempotency, documents, counters ----------------------------------------
    def log_admin(self, record: AdminRecord) -> None:
        token = _token()
        self._write(_Op(
            "WITH w AS (INSERT INTO admin_log (id, at, actor, experiment, action, details) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING 1) "
            "SELECT count(*) FROM w",
            (token, record.at, record.actor, record.experiment, record.action,
             record.details), lambda row: None,
            ("SELECT 1 FROM admin_log WHERE id = %s", (token,))))

    def admin_log(self, experiment: str | None = None, limit: int = 100, *,
                  actions: Collection[str] | None = None) -> list[AdminRecord]:
        where, params = admin_filter(experiment, actions, "%s")
        rows = self._read("admin_log", "SELECT at, actor, experiment, action, details FROM "
                          f"admin_log{where} ORDER BY at DESC, id LIMIT {int(limit)}", params)
        return [AdminRecord(*r) for r in rows]

    def claim_key(self, key: str, ttl_seconds: float) -> bool:
        now = time.time()
        token = _token()
        ok = self._write(_Op(
            "WITH c AS (INSERT INTO claims (key, expires, token) "
            "VALUES (%(key)s, %(expires)s, %(token)s) ON CONFLICT (key) DO UPDATE "
            "SET expires = excluded.expires, token = excluded.token "
            "WHERE claims.expires <= %(now)s RETURNING 1) "
            "SELECT (SELECT count(*) FROM c), (SELECT token FROM claims WHERE key = %(key)s)",
            {"key": key, "expires": now + ttl_seconds, "token": token, "now": now},
            lambda row: bool(row and (row[0] == 1 or row[1] == token)),
            ("SELECT 1 FROM claims WHERE key = %s AND token = %s", (key, token))))
        self._prune("claims", now)
        return ok

    def _prune(self, table: str, now: float) -> None:
        """Now and then (outside a batch), forget the expired rows of ``table``."""
        if JITTER.random() < 0.01 and getattr(self._local, "batch", None) is None:
            with contextlib.suppress(StoreError):
                self._read(f"{table} cleanup", f"WITH d AS (DELETE FROM {table} WHERE "
                           "expires <= %s RETURNING 1) SELECT count(*) FROM d", (now,))

    def read_document(self, name: str) -> tuple[str | None, int]:
        rows = self._read("read_document",
                          "SELECT body, version FROM documents WHERE name = %s", (name,))
        return (rows[0][0], int(rows[0][1])) if rows else (None, 0)

    def write_document(self, name: str, text: str, version: int) -> bool:
        token = _token()
        if version == 0:
            change = ("INSERT INTO documents (name, body, version, token) "
                      "VALUES (%(name)s, %(body)s, 1, %(token)s) "
                      "ON CONFLICT DO NOTHING RETURNING 1")
        else:
            change = ("UPDATE documents SET body = %(body)s, version = version + 1, "
                      "token = %(token)s WHERE name = %(name)s AND version = %(version)s "
                      "RETURNING 1")
        return self._write(_Op(
            f"WITH w AS ({change}) SELECT (SELECT count(*) FROM w), "
            "(SELECT token FROM documents WHERE name = %(name)s)",
            {"name": name, "body": text, "token": token, "version": version},
            lambda row: bool(row and (row[0] == 1 or row[1] == token)),
            ("SELECT 1 FROM documents WHERE name = %s AND token = %s", (name, token))))

    def add_counters(self, key: str, deltas: Mapping[str, float]) -> None:
        """Add ``deltas`` once: the statement records its token as a claim (kept a day), so a
        retry after a lost reply adds nothing twice."""
        if not deltas:
            return
        token = _token()
        names = sorted(deltas)
        self._write(_Op(
            "WITH op AS (INSERT INTO claims (key, expires, token) "
            "VALUES (%(claim)s, %(expires)s, %(token)s) ON CONFLICT DO NOTHING RETURNING 1), "
            "c AS (INSERT INTO counters (key, name, value) "
            "SELECT %(key)s, f.name, f.value FROM op, "
            "unnest(%(names)s::text[], %(values)s::float8[]) AS f(name, value) ORDER BY f.name "
            "ON CONFLICT (key, name) DO UPDATE SET value = counters.value + excluded.value) "
            "SELECT count(*) FROM op",
            {"token": token, "claim": f"op:{token}", "expires": time.time() + 86400,
             "key": key, "names": names, "values": [float(deltas[n]) for n in names]},
            lambda row: None, ("SELECT 1 FROM claims WHERE key = %s", (f"op:{token}",)),
            ("~counters", key)))

    def read_counters(self, key: str) -> dict[str, float]:
        rows = self._read("read_counters", "SELECT name, value FROM counters WHERE key = %s",
                          (key,))
        return {name: float(value) for name, value in rows}


class _Rollback(Exception):  # noqa: N818 - control flow, not an error of its own
    """Raised by an interpreter whose statement must be undone (its transaction, or its
    savepoint inside a batch, is rolled back) and then reported as ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Op(Generic[R]):
    """One write: its statement (whose answer's first column counts the rows it wrote), the
    parameters, how to read the one-row answer, the lock-order key, and a probe that finds
    the write by its token (to learn whether a commit whose reply was lost happened)."""

    __slots__ = ("atomic", "done", "error", "interpret", "lock_key", "params", "probe",
                 "result", "sql", "taken", "wrote")

    def __init__(self, sql: str, params: Any, interpret: Callable[[tuple[Any, ...] | None], R],
                 probe: tuple[str, tuple[Any, ...]], lock_key: tuple[Any, ...] = ("",), *,
                 atomic: bool = False) -> None:
        self.sql = sql
        self.params = params
        self.interpret = interpret
        self.probe = probe
        self.lock_key = tuple(str(k) for k in lock_key)
        self.atomic = atomic  # may be undone by its interpreter: runs in its own transaction
        self.done = False
        self.taken = False  # in a group being committed
        self.wrote = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def settle(self, row: tuple[Any, ...] | None) -> None:
        """Read the statement's answer into ``result`` or ``error``."""
        self.wrote = bool(row and row[0])
        try:
            self.result = self.interpret(row)
        except _Rollback as exc:
            self.error = exc.error
        except Exception as exc:  # e.g. a decision id that exists
            self.error = exc
        self.done = True

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class _Batch:
    """The explicit transaction of :meth:`PostgresStore.batch` (one per thread)."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.conn: psycopg.Connection[Any] | None = None
        self.failed = False
        self.first_write: _Op[Any] | None = None

    @staticmethod
    @contextlib.contextmanager
    def enter(store: PostgresStore) -> Iterator[None]:
        local = store._local
        if getattr(local, "batch", None) is not None:  # nested: the outer block commits
            yield
            return
        batch = _Batch(store)
        local.batch = batch
        try:
            yield
        except BaseException:
            local.batch = None
            batch.finish(commit=False)
            raise
        local.batch = None
        batch.finish(commit=True)

    def _begin(self) -> psycopg.Connection[Any]:
        if self.conn is None:
            pool = self.store._get_pool()

            def attempt() -> psycopg.Connection[Any]:
                self.store._local.broken = False  # (this attempt's: read by _failed_attempt)
                conn: psycopg.Connection[Any] = pool.getconn(self.store._pool_wait())
                try:
                    conn.execute("BEGIN")
                except BaseException:
                    self.store._local.broken = conn.broken  # (read by _failed_attempt)
                    pool.putconn(conn)
                    raise
                return conn

            self.conn = self.store._retrying("batch", attempt)
        return self.conn

    def read(self, store: PostgresStore, what: str, sql: str, params: Any
             ) -> list[tuple[Any, ...]]:
        if self.conn is None:  # nothing written yet: any connection will do
            local = store._local
            local.batch = None
            try:
                return store._read(what, sql, params)
            finally:
                local.batch = self
        return self._run(what, lambda conn: conn.execute(sql, params).fetchall())

    def write(self, store: PostgresStore, op: _Op[R]) -> R:
        def run(conn: psycopg.Connection[Any]) -> None:
            if op.atomic:
                conn.execute("SAVEPOINT banditbot_op")
            op.settle(conn.execute(op.sql, op.params).fetchone())
            if op.atomic:
                conn.execute("ROLLBACK TO SAVEPOINT banditbot_op" if op.error is not None
                             else "RELEASE SAVEPOINT banditbot_op")

        self._run("write", run)
        if op.wrote and op.error is None and self.first_write is None:
            self.first_write = op
        return op.outcome()

    def _run(self, what: str, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        import psycopg

        if self.failed:
            raise StoreError("an earlier write of this batch failed; the batch is rolled back",
                             hint="retry the whole batch")
        conn = self._begin()
        try:
            return fn(conn)
        except psycopg.Error as exc:
            self.failed = True  # the transaction is aborted (or the connection is gone)
            raise self.store._classify(exc) from None

    def finish(self, *, commit: bool) -> None:
        import psycopg

        conn, self.conn = self.conn, None
        if conn is None:
            return
        pool = self.store._get_pool()
        if not commit or self.failed:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            pool.putconn(conn)
            if commit:
                raise StoreError("a write of this batch failed, so none of its writes was "
                                 "committed", hint="retry the requests")
            return
        try:
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            pool.putconn(conn)
            if self.first_write is None:
                return  # nothing was written: nothing to lose
            probe_sql, probe_params = self.first_write.probe
            if self.store._read("batch commit check", probe_sql, probe_params):
                return  # the commit happened; only its reply was lost
            raise self.store._error("batch commit", exc,
                                    hint="nothing of the batch was written; retry") from None
        pool.putconn(conn)


class _Listener(threading.Thread):
    """Listens for the store's ``NOTIFY`` messages and drops the cached meta they name.

    Pings every half second; the cache counts as fresh only while the last ping is less
    than two seconds old, and everything is dropped whenever the connection is (re)made.
    """

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(name=f"banditbot-listen:{store.schema}", daemon=True)
        self._store = weakref.ref(store)
        self._conninfo = store._conninfo
        self._channel = store._channel
        self._stopped = threading.Event()
        self._alive_until = 0.0
        weakref.finalize(store, self._stopped.set)

    def fresh(self) -> bool:
        return time.monotonic() < self._alive_until

    def stop(self) -> None:
        self._stopped.set()
        self._alive_until = 0.0

    def _invalidate(self, experiment: str | None) -> bool:
        store = self._store()
        if store is None:
            return False
        store._invalidate(experiment)
        return True

    def run(self) -> None:
        import psycopg
        from psycopg import sql

        delay = 0.05
        while not self._stopped.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True,
                                     connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    if not self._invalidate(None):  # what was cached may have changed
                        return
                    delay = 0.05
                    while not self._stopped.is_set():
                        self._alive_until = time.monotonic() + _LIVENESS_S
                        for note in conn.notifies(timeout=_PING_S):
                            payload = note.payload
                            if not self._invalidate(payload[5:] if payload.startswith("meta:")
                                                    else None):
                                return
                        conn.execute("SELECT 1")
            except psycopg.Error:
                pass
            finally:
                self._alive_until = 0.0
                self._invalidate(None)
            self._stopped.wait(delay)
            delay = min(delay * 2, 2.0)
