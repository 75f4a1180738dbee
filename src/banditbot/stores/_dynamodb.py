"""DynamoDB store: one table, atomic counters, exactly-once rewards by transaction.

Single-table design (documented with access patterns in ``docs/dynamodb.md``):

==================  ===========================  ==========================================
item                PK / SK                      attributes
==================  ===========================  ==========================================
experiment meta     ``EXP#{exp}`` / ``META``     doc (JSON), version
arm statistics      ``STATS#{exp}#{gen}`` /      pulls, n, total, total_sq, ``x:{field}``
                    ``S#{scope}#A#{arm}``        (changed only by ``ADD``)
time buckets        ``TB#{exp}#{gen}`` /         ``x:tb.{b}.…`` of 32 buckets
                    ``S#{scope}#A#{arm}#{b//32}``  (``ADD``; read only where weighed)
decision            ``DEC#{id}`` / ``DEC``       experiment, generation, scope, arm, …,
                                                 reward (absent until rewarded), ttl;
                                                 GSI1: ``LOG#{exp}`` / ``{time}#{id}``
admin action        ``ADMIN`` / ``{time}#{rand}``  actor, experiment, action, details
idempotency claim   ``CLAIM#{key}`` / ``CLAIM``  expires, ttl
decision key        ``DKEY#{key}`` / ``DKEY``    fingerprint, decision_id, expires, ttl
named counters      ``CNT#{key}`` / ``CNT``      ``c:{name}`` (changed only by ``ADD``)
document            ``DOC#{name}`` / ``DOC``     body, version (API keys, sticky arms)
allocation period   ``ALLOC#{exp}#{gen}#{scope}``  doc (JSON), rewards (``ADD``)
                    / ``P#{period:010d}``
==================  ===========================  ==========================================

* ``read_stats`` is one ``Query`` on the statistics partition (``begins_with`` the scope),
  and one on the time buckets' where they are asked for. The buckets are kept apart, in
  items of 32 buckets, because DynamoDB charges a read and a write by the whole item's size:
  in the arm's item, a discount's 50 half-lives of hourly buckets (~62 KB) made each
  decision's read ~16 read units an arm and each decision's and reward's write ~63 write
  units, twice that in its transaction (``benchmarks/dynamodb_units.py``).
* A decision is one ``TransactWriteItems``: put the decision (if new) + ``ADD pulls 1``;
  a decision asked for with an idempotency key puts the key's item in the same transaction,
  unless an unexpired one holds the key.
* A reward is one ``TransactWriteItems``: set the reward under
  ``attribute_not_exists(reward)`` + ``ADD`` to the decided arm's statistics — exactly once,
  even when Lambda retries. Conflicting transactions are retried with jittered backoff.
* An allocation period is one conditional ``PutItem`` (``attribute_not_exists``: the first
  writer of a period wins); the current one is a ``Query`` for the latest period. A reward of a
  decision made in a period adds to the period's ``rewards`` with one ``UpdateItem`` after its
  transaction (the cadence counter; kept out of the transaction so that rewards do not
  conflict on that one item).
* Every write is idempotent under retry. botocore retries a request whose reply was lost
  (a read timeout, a dropped connection) although DynamoDB may have applied it; the retry
  must not fail its own condition. Transactions carry a ``ClientRequestToken`` (one per
  logical write, the same on every attempt: DynamoDB answers a repeat with success), and
  every conditional write stores a random token of its own (``wtok``) and, when its
  condition fails, reads the item back: finding its own token means the earlier attempt
  was applied, so the write succeeded. A decision's id is its token (96 random bits after
  its second).
* Throttling and transient errors are retried by botocore (standard mode), or — inside
  :meth:`DynamoDBStore.time_limit` (the Lambda handler: the invocation's remaining time) —
  by the store's own hook with the same jittered backoff, which stops retrying when the next
  attempt would start past the limit: the caller gets its :class:`StoreError` in time to
  answer (a webhook: 503, Telegram delivers the update again).
* Every expression names attributes through ``ExpressionAttributeNames``, so reserved words
  never break a request. Numbers travel as strings (the low-level client), so floats
  round-trip exactly and nothing passes through ``Decimal`` arithmetic on our side.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from .._errors import ConfigError, StoreError, require
from ._base import (
    ALLOCATED,
    JITTER,
    PERIOD_FIELDS,
    AdminRecord,
    AllocationRecord,
    ApplyResult,
    CountRows,
    DecisionRecord,
    ExperimentMeta,
    KeyedDecision,
    PeriodCounts,
    ResolvedVector,
    StatsTable,
    check_actions,
    decisions_of,
    encode_vector,
    fields_of,
    fold_period_counts,
    split_vector,
    stored_propensity,
)

__all__ = ["DynamoDBStore"]

_MAX_TRANSACT_ITEMS = 100
#: the longest condition written (DynamoDB refuses an expression over 4 KB)
_MAX_EXPRESSION = 3500
#: time buckets a bucket item holds (``tb.<index>.…`` fields, index // this)
_BUCKETS_PER_ITEM = 32


def _bucket_item(name: str) -> int | None:
    """The bucket item a statistics field belongs in (``tb.<index>.…``), ``None`` for a
    field of the arm's own item."""
    if not name.startswith("tb."):
        return None
    return int(name[3:name.index(".", 3)]) // _BUCKETS_PER_ITEM


def item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it (close to its rule, for the account of capacity
    units): each attribute's name and value — a string's or a binary's bytes, a number's
    significant digits, two a byte, plus one."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "B" in value:
            size += len(value["B"])
        elif "N" in value:
            digits = value["N"].lstrip("-").split("E")[0].split("e")[0].replace(".", "")
            size += (len(digits.strip("0") or "0") + 1) // 2 + 1
    return size


def _adding(pk: str, sk: str, scope: str, arm: str,
            adds: Sequence[tuple[str, float]]) -> dict[str, Any]:
    """A transaction's ``Update`` that adds ``adds`` (attribute, value) to a statistics
    item, naming its arm and scope."""
    names = {"#arm": "arm", "#scope": "scope"}
    values: dict[str, Any] = {":arm": _str(arm), ":scope": _str(scope)}
    for i, (name, value) in enumerate(adds):
        names[f"#a{i}"] = name
        values[f":a{i}"] = _num(value)
    return {"Update": {
        "TableName": "",  # filled by the caller
        "Key": {"PK": _str(pk), "SK": _str(sk)},
        "UpdateExpression": "SET #arm = :arm, #scope = :scope ADD " + ", ".join(
            f"#a{i} :a{i}" for i in range(len(adds))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }}


#: the table's keys and its one index, as :meth:`DynamoDBStore.init` creates them (and as it
#: requires of a table that exists already)
_KEY_SCHEMA = [{"AttributeName": "PK", "KeyType": "HASH"},
               {"AttributeName": "SK", "KeyType": "RANGE"}]
_GSI1_KEY_SCHEMA = [{"AttributeName": "GSI1PK", "KeyType": "HASH"},
                    {"AttributeName": "GSI1SK", "KeyType": "RANGE"}]
_KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK")
_CORE = ("pulls", "n", "total", "total_sq")
#: the error codes with which DynamoDB throttles a request (the table's capacity, or the
#: account's request rate)
_THROTTLING = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException",
                         "RequestLimitExceeded", "ThrottlingError",
                         "ProvisionedThroughputExceeded"})
_THROTTLING_HINT = ("DynamoDB is throttling the table: raise its provisioned capacity or "
                    "switch it to on-demand mode, and retry later")
#: the clock and the sleep of :meth:`DynamoDBStore.time_limit` and of the retries it bounds
#: (tests put a fake clock in, whose sleep moves it)
_clock = time.monotonic
_sleep = time.sleep


def _num(x: float) -> dict[str, str]:
    value = float(x)
    if value != 0.0 and abs(value) < 1e-120:  # below DynamoDB's number range
        value = 0.0
    if value != value:  # NaN has no DynamoDB form
        value = 0.0
    if value.is_integer() and abs(value) < 1e15:
        return {"N": str(int(value))}
    return {"N": repr(value)}


def _str(x: str) -> dict[str, str]:
    return {"S": x}


def _token() -> str:
    """A random token that marks one logical write as ours (see the module docstring)."""
    return secrets.token_urlsafe(12)


#: DynamoDB's refusals that say how the store is set up (a table or index that is not
#: there, credentials it does not take): retrying will not help
_SETUP_CODES = frozenset({"ResourceNotFoundException", "AccessDeniedException",
                          "UnrecognizedClientException", "InvalidSignatureException"})


def _network_error(op: str, exc: Exception) -> StoreError:
    """The one-line error for a request that never got an answer (after retries)."""
    from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StoreError(f"DynamoDB {op} failed: no AWS credentials",
                          hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                          lasting=True)
    if isinstance(exc, NoRegionError):
        return StoreError(f"DynamoDB {op} failed: no AWS region",
                          hint="add ?region=eu-west-1 (yours) to the store URL, or set "
                               "AWS_DEFAULT_REGION (botocore does not read AWS_REGION)",
                          lasting=True)
    return StoreError(f"DynamoDB {op} failed: {type(exc).__name__}: {exc}",
                      hint="check the endpoint, region and network")


def _core(value: float, weight: float) -> tuple[float, float, float]:
    return weight, weight * value, weight * value * value


def _time_key(t: float, decision_id: str) -> str:
    return f"{t:020.6f}#{decision_id}"


class DynamoDBStore:
    """A :class:`~banditbot.stores.Store` on one DynamoDB table.

    Parameters
    ----------
    table
        Table name (created by :meth:`init` if missing).
    region
        AWS region (default: the environment's).
    endpoint_url
        For DynamoDB-compatible servers (DynamoDB Local, moto); ``None`` for AWS.
    ttl_days
        Expire decision items this many days after they were made (DynamoDB TTL).
    max_attempts
        Total attempts per request (botocore standard retries with backoff) for throttling
        and transient errors, lost replies included (every write is idempotent under retry).
    read_timeout, connect_timeout
        Seconds botocore waits for a reply, and for a connection, before it retries.
    client
        A ready boto3 DynamoDB client (overrides region/endpoint/timeouts).

    Notes
    -----
    Without ``ttl_days`` decisions are kept until deleted: the log stays the source of the
    statistics (invariant: statistics == fold(log)). With it, DynamoDB deletes each decision
    some time after ``ttl_days`` while the arm statistics keep counting it: reports mix
    counters of every decision with estimates from the rows left, and exports and
    off-policy evaluation see fewer rows (``docs/dynamodb.md``).
    """

    def __init__(self, table: str, *, region: str | None = None,
                 endpoint_url: str | None = None, ttl_days: float | None = None,
                 max_attempts: int = 8, read_timeout: float = 10.0,
                 connect_timeout: float = 3.0, client: Any = None) -> None:
        if endpoint_url is not None and not endpoint_url.lower().startswith(
                ("http://", "https://")):
            raise ConfigError(f"DynamoDB endpoint_url {endpoint_url!r}: endpoint_url needs "
                              "http:// or https://",
                              hint="e.g. endpoint_url=http://127.0.0.1:8000")
        self.table = table
        self.region = region
        self.endpoint_url = endpoint_url
        self.ttl_days = ttl_days
        self.max_attempts = max_attempts
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        # where it points, the endpoint included (a local emulator or AWS: the difference
        # matters when reading "store ready: …")
        query = "&".join(f"{k}={v}" for k, v in (("region", region),
                                                  ("endpoint_url", endpoint_url)) if v)
        self.url = f"dynamodb://{table}" + (f"?{query}" if query else "")
        if client is None:  # said here, before any call reaches for botocore's errors
            require("boto3", "aws")
        self._client = client
        self._hooked: Any = None  # the client the retry hook is registered on
        self._deadline: float | None = None  # (``_clock``) see time_limit
        self._gave_up = threading.local()  # a request of this thread stopped at the limit

    # --- plumbing -----------------------------------------------------------------------
    @property
    def _where(self) -> str:
        """Where the table was looked for, in words: ``in eu-west-1`` (with the endpoint,
        when the URL names one; the region the environment gives when the URL has none)."""
        region = self.region or getattr(getattr(self._client, "meta", None), "region_name",
                                        None)
        at = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"in {region}{at}" if region else f"in the default region{at}"

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
                            connect_timeout=self.connect_timeout,
                            read_timeout=self.read_timeout, max_pool_connections=64)
            self._client = boto3.client("dynamodb", region_name=self.region,
                                        endpoint_url=self.endpoint_url, config=config)
        if self._hooked is not self._client:
            # first: while a time limit is set, its answer (a delay, or False: no retry)
            # comes before botocore's own policy's
            self._client.meta.events.register_first("needs-retry.dynamodb",
                                                    self._retry_within_limit)
            self._hooked = self._client
        return self._client

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Within the block, stop retrying a request when its next attempt would start more
        than ``seconds`` from now, and start no request after that: a call fails with
        :class:`StoreError` in time for the caller to answer (the Lambda handler gives the
        invocation's remaining time, less a margin to answer).

        Parameters
        ----------
        seconds
            The time the block's store calls may take, retries and their backoff included
            (one attempt already under way finishes, within the read timeout).
        """
        previous = self._deadline
        self._deadline = _clock() + seconds
        try:
            yield
        finally:
            self._deadline = previous

    def _retry_within_limit(self, attempts: int, **kwargs: Any) -> float | bool | None:
        """botocore's ``needs-retry`` hook: without a time limit, ``None`` (botocore's
        standard retries decide); within one, the standard conditions and a jittered
        exponential backoff (1 s base when throttled, as botocore's), slept here on
        ``_sleep`` — ``False`` (no retry: the last error is raised) when the next attempt
        would start past the limit."""
        deadline = self._deadline
        if deadline is None:
            return None
        from botocore.retries import standard

        context = standard.RetryEventAdapter().create_retry_context(attempts=attempts,
                                                                   **kwargs)
        if not standard.StandardRetryConditions(
                max_attempts=self.max_attempts).is_retryable(context):
            return False
        base = 1.0 if context.get_error_code() in _THROTTLING else 0.025
        delay = JITTER.random() * min(base * 2 ** (attempts - 1), 20.0)
        if _clock() + delay >= deadline:
            self._gave_up.value = True
            return False
        _sleep(delay)
        return 0.0  # retry now (slept above)

    def _call(self, op: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        self._gave_up.value = False
        if self._deadline is not None and _clock() >= self._deadline:
            raise StoreError(f"DynamoDB {op} not sent: the time limit was reached",
                             hint="the earlier requests took it all; retry later")
        try:
            return getattr(self.client, op)(TableName=self.table, **kwargs) \
                if op not in ("transact_write_items",) else getattr(self.client, op)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in (
                    "ConditionalCheckFailedException", "TransactionCanceledException",
                    "TransactionInProgressException"):
                raise
            raise self._refused(op, exc, kwargs) from exc
        except BotoCoreError as exc:
            error = _network_error(op, exc)
            raise StoreError(error.message + self._stopped(), hint=error.hint,
                             lasting=error.lasting) from exc

    def _refused(self, op: str, exc: Any, kwargs: Mapping[str, Any]) -> StoreError:
        """What DynamoDB's refusal ``exc`` (a ``ClientError``) of ``op`` means, in one line
        with what to check."""
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        message = str(error.get("Message", ""))
        if "IndexName" in kwargs and "index" in message.lower() and code in (
                "ResourceNotFoundException", "ValidationException"):
            hint = f"table {self.table!r} lacks the index {kwargs['IndexName']}: it is " \
                "not laid out as banditbot needs (banditbot init-db says what differs)"
        elif code == "ResourceNotFoundException":
            hint = f"no table {self.table!r} {self._where}: check its name and region, or " \
                "create it with banditbot init-db"
        elif code in _THROTTLING:
            hint = _THROTTLING_HINT
        else:
            hint = "check the table, credentials and region"
        said = str(error.get("Message", exc))
        if said.lstrip().startswith("<"):  # a web page, not DynamoDB: not its endpoint
            said = "the endpoint answered with a web page, not as DynamoDB does"
            hint = f"check the endpoint URL ({self.client.meta.endpoint_url})"
        return StoreError(f"DynamoDB {op} failed: {code}: {said.partition(chr(10))[0][:300]}"
                          f"{self._stopped()}", hint=hint, lasting=code in _SETUP_CODES)

    def _stopped(self) -> str:
        """What to add to an error whose retries the time limit stopped."""
        return "; retries stopped at the time limit" if getattr(
            self._gave_up, "value", False) else ""

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction; ``None`` on success, else the per-item cancellation codes
        (after retrying conflicts with jittered backoff).

        Every attempt carries the same ``ClientRequestToken``: should an attempt be applied
        but its reply lost, DynamoDB answers the next one with success instead of running
        it again (for 10 minutes, far longer than any retry here)."""
        from botocore.exceptions import ClientError

        token = str(uuid.uuid4())
        throttled = False
        for attempt in range(12):
            try:
                self._call("transact_write_items", TransactItems=items,
                           ClientRequestToken=token)
                return None
            except ClientError as exc:
                reasons = [r.get("Code", "None") for r in
                           exc.response.get("CancellationReasons", [])]
                retryable = {"TransactionConflict", "ThrottlingError",
                             "ProvisionedThroughputExceeded"}
                if exc.response.get("Error", {}).get("Code") == \
                        "TransactionInProgressException":  # an earlier attempt still runs
                    reasons = ["TransactionConflict"]
                if not reasons or "ConditionalCheckFailed" in reasons or \
                        not set(reasons) & retryable:
                    if "ConditionalCheckFailed" in reasons:
                        return reasons
                    raise StoreError(f"DynamoDB transaction failed: {reasons or exc}") from exc
                throttled = throttled or bool(set(reasons) & _THROTTLING)
                delay = min(0.5, 0.005 * 2**attempt) * JITTER.random()
                if self._deadline is not None and _clock() + delay >= self._deadline:
                    break
                _sleep(delay)
        what = "was throttled" if throttled else "kept conflicting"
        raise StoreError(f"DynamoDB transaction {what}; nothing was written",
                         hint=_THROTTLING_HINT if throttled else "retry later")

    def init(self) -> None:
        """Create the table (on-demand billing, GSI for the log) and enable TTL; idempotent.

        Raises
        ------
        StoreError
            DynamoDB cannot be reached, refuses the credentials, or the table cannot be
            created (one line that says what to check).
        """
        from botocore.exceptions import BotoCoreError

        try:
            self._init()
        except BotoCoreError as exc:
            raise _network_error("init", exc) from exc

    def table_exists(self) -> bool:
        """Whether the table is there (one ``DescribeTable``): True too when the role may
        not ask (``AccessDenied``: the function's role needs only the four actions of
        docs/dynamodb.md, and its first request says it if the table is missing);
        :class:`StoreError` when DynamoDB cannot be asked."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.describe_table(TableName=self.table)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                return False
            if code in ("AccessDeniedException", "AccessDenied"):
                return True
            raise self._refused("describe_table", exc, {}) from exc
        except BotoCoreError as exc:
            raise _network_error("describe_table", exc) from exc
        return True

    def require_table(self) -> None:
        """Refuse a missing table (:meth:`table_exists`), saying where it was looked for.

        Raises
        ------
        ConfigError
            No table of that name in the region (and at the endpoint) the store asks.
        StoreError
            DynamoDB cannot be asked."""
        if not self.table_exists():
            raise ConfigError(f"no DynamoDB table {self.table!r} {self._where} "
                              "(DynamoDB: ResourceNotFoundException)",
                              hint="check its name and region, or create it with banditbot "
                                   "init-db; BANDITBOT_INIT_STORE=1 lets any process create it")

    def _init(self) -> None:
        from botocore.exceptions import ClientError

        client = self.client
        try:
            self._check_layout(client.describe_table(TableName=self.table)["Table"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                error = exc.response.get("Error", {})
                raise StoreError(f"DynamoDB describe_table failed: {error.get('Code')}: "
                                 f"{error.get('Message', exc)}",
                                 hint="check the table, credentials and region") from exc
            try:
                client.create_table(
                    TableName=self.table,
                    BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                                          for name in _KEY_ATTRIBUTES],
                    KeySchema=_KEY_SCHEMA,
                    GlobalSecondaryIndexes=[{
                        "IndexName": "GSI1",
                        "KeySchema": _GSI1_KEY_SCHEMA,
                        "Projection": {"ProjectionType": "ALL"},
                    }],
                )
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ResourceInUseException":
                    raise StoreError(f"DynamoDB create_table failed: {err}") from err
            client.get_waiter("table_exists").wait(TableName=self.table,
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        try:
            ttl = client.describe_time_to_live(TableName=self.table)
            status = ttl.get("TimeToLiveDescription", {}).get("TimeToLiveStatus")
            if status not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=self.table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
        except ClientError as exc:
            raise StoreError(f"DynamoDB TTL setup failed: {exc}") from exc

    def _check_layout(self, table: Mapping[str, Any]) -> None:
        """Refuse a table that exists but is not laid out as :meth:`init` creates one
        (other key names, no ``GSI1`` index): one line that names what differs."""

        def keys(schema: Any) -> str:
            return ", ".join(f"{k.get('AttributeName')} ({k.get('KeyType')})"
                             for k in schema or []) or "none"

        differences = []
        if keys(table.get("KeySchema")) != keys(_KEY_SCHEMA):
            differences.append(f"its key is {keys(table.get('KeySchema'))}, not "
                               f"{keys(_KEY_SCHEMA)}")
        indexes = {i.get("IndexName"): i for i in table.get("GlobalSecondaryIndexes") or []}
        gsi1 = indexes.get("GSI1")
        if gsi1 is None:
            differences.append("it has no global secondary index GSI1")
        else:
            if keys(gsi1.get("KeySchema")) != keys(_GSI1_KEY_SCHEMA):
                differences.append(f"its index GSI1's key is {keys(gsi1.get('KeySchema'))}, "
                                   f"not {keys(_GSI1_KEY_SCHEMA)}")
            projection = (gsi1.get("Projection") or {}).get("ProjectionType")
            if projection != "ALL":
                differences.append(f"its index GSI1 projects {projection}, not ALL")
        types = {a.get("AttributeName"): a.get("AttributeType")
                 for a in table.get("AttributeDefinitions") or []}
        wrong = [name for name in _KEY_ATTRIBUTES if name in types and types[name] != "S"]
        if wrong:
            differences.append(f"its key attribute {wrong[0]} is of type {types[wrong[0]]}, "
                               "not S (string)")
        if differences:
            raise StoreError(f"DynamoDB table {self.table!r} is not laid out as banditbot "
                             f"needs: {'; '.join(differences)}",
                             hint="point the store URL at another table name (init-db "
                                  "creates it), or delete this table if it is an old one")

    def close(self) -> None:
        """Nothing to release (boto3 pools connections)."""

    # --- meta ---------------------------------------------------------------------------
    def read_meta(self, experiment: str) -> ExperimentMeta:
        item = self._call("get_item", Key={"PK": _str(f"EXP#{experiment}"),
                                           "SK": _str("META")},
                          ConsistentRead=True).get("Item")
        if not item:
            return ExperimentMeta()
        return ExperimentMeta.from_json(item["doc"]["S"], int(float(item["version"]["N"])))

    def write_meta(self, experiment: str, meta: ExperimentMeta) -> bool:
        key = {"PK": _str(f"EXP#{experiment}"), "SK": _str("META")}
        return self._put_versioned(key, {"doc": _str(meta.to_json())}, meta.version)

    def _put_versioned(self, key: dict[str, Any], body: dict[str, Any], version: int) -> bool:
        """Put an item under optimistic concurrency (its stored ``version`` must still be
        ``version``, 0: absent). A retried put that finds its own token was applied."""
        from botocore.exceptions import ClientError

        token = _token()
        condition = "attribute_not_exists(#pk)" if version == 0 else "#version = :expected"
        try:
            self._call(
                "put_item", Item={**key, **body, "version": _num(version + 1),
                                  "wtok": _str(token)},
                ConditionExpression=condition,
                ExpressionAttributeNames={"#pk": "PK"} if version == 0
                else {"#version": "version"},
                **({} if version == 0 else
                   {"ExpressionAttributeValues": {":expected": _num(version)}}))
            return True
        except ClientError:
            return self._written_by(key, token)

    def _written_by(self, key: dict[str, Any], token: str) -> bool:
        """Whether the item at ``key`` carries ``token``: a conditional write whose
        condition failed was in fact applied by an earlier attempt of the same call."""
        item = self._call("get_item", Key=key, ConsistentRead=True,
                          ProjectionExpression="#t",
                          ExpressionAttributeNames={"#t": "wtok"}).get("Item") or {}
        return bool(item.get("wtok", {}).get("S") == token)

    # --- statistics ---------------------------------------------------------------------
    def read_counts(self, experiment: str, generation: int, scope: str,
                    arms: tuple[str, ...], *, after_meta: bool = False) -> CountRows:
        return CountRows.of(self.read_stats(experiment, generation, scope, arms,
                                            with_extra=False))

    def read_stats(self, experiment: str, generation: int, scope: str | None,
                   arms: Sequence[str], *, with_extra: bool = True,
                   time_buckets: bool = True) -> StatsTable:
        key: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk" + (" AND begins_with(#sk, :prefix)"
                                                     if scope is not None else ""),
            "ExpressionAttributeNames": {"#pk": "PK", **({"#sk": "SK"} if scope is not None
                                                          else {})},
            "ExpressionAttributeValues": {
                ":pk": _str(f"STATS#{experiment}#{generation}"),
                **({":prefix": _str(f"S#{scope}#A#")} if scope is not None else {}),
            },
            "ConsistentRead": True,
        }
        rows: dict[str, list[float]] = {}
        extra: dict[str, dict[str, float]] = {}
        items: Iterator[dict[str, Any]] = self._query(**key)
        if with_extra and time_buckets:
            buckets = {**key, "ExpressionAttributeValues": {
                **key["ExpressionAttributeValues"], ":pk": _str(f"TB#{experiment}#{generation}")}}
            items = itertools.chain(items, self._query(**buckets))
        for item in items:
            if scope is not None and item.get("scope", {}).get("S") != scope:
                continue  # (a scope that starts with this one and "#A#": not this bandit)
            if "arm" not in item:  # (no statistics: an item some other writer left)
                continue
            arm = item["arm"]["S"]
            row = rows.setdefault(arm, [0.0, 0.0, 0.0, 0.0])
            for i, name in enumerate(_CORE):
                if name in item:
                    row[i] += float(item[name]["N"])
            for name, value in item.items():
                if name.startswith("x:") and (time_buckets or not name.startswith("x:tb.")):
                    fields = extra.setdefault(arm, {})
                    fields[name[2:]] = fields.get(name[2:], 0.0) + float(value["N"])
        return StatsTable.from_rows(arms, rows, extra)

    def drop_extra(self, experiment: str, generation: int, fields: Collection[str], *,
                   keep_total: str | None = None) -> None:
        """Removes the fields' attributes from each stats item that has any (every scope,
        every shard), up to 100 per update; removing an absent attribute is no error, so a
        retried update is harmless. With ``keep_total``, an update adds what it removes to
        that attribute, on the condition that the removed values are still those read (a
        retry after a lost reply, or an item changed since, finds them gone or changed and
        reads the item again)."""
        drop = {f"x:{name}" for name in fields}
        if not drop:
            return
        items = [item for partition in ("STATS", "TB") for item in self._query(
            KeyConditionExpression="#pk = :pk", ExpressionAttributeNames={"#pk": "PK"},
            ExpressionAttributeValues={":pk": _str(f"{partition}#{experiment}#{generation}")},
            ConsistentRead=True)]
        for item in items:
            present = sorted(drop.intersection(item))
            if present and item["PK"]["S"].startswith("TB#") and keep_total is None \
                    and all(name in drop for name in item if name.startswith("x:")):
                self._drop_bucket_item(item, present)  # (all its buckets go: the item too)
                continue
            if keep_total is None:
                self._remove_fields(item, present)
                continue
            for i in range(0, len(present), 100):
                self._fold_extra(item, present[i:i + 100], f"x:{keep_total}")

    def _drop_bucket_item(self, item: dict[str, Any], fields: list[str]) -> None:
        """Delete a bucket item whose every bucket is dropped, on the condition that its
        buckets still hold the values read and no other bucket of its range (on the grids
        it held) was added since (else its buckets are removed one by one, as from any
        item)."""
        from botocore.exceptions import ClientError

        chunk = _bucket_item(fields[0][2:])
        assert chunk is not None
        held = {f"#f{j}": name for j, name in enumerate(fields)}
        absent = {f"#b{j}": name for j, name in enumerate(
            f"x:tb.{index}.n@{grid}" for grid in sorted({f.partition("@")[2] for f in fields})
            for index in range(chunk * _BUCKETS_PER_ITEM, (chunk + 1) * _BUCKETS_PER_ITEM))
            if name not in item}
        condition = " AND ".join([f"{ref} = :{ref[1:]}" for ref in held]
                                 + [f"attribute_not_exists({ref})" for ref in absent])
        if len(condition) > _MAX_EXPRESSION:  # (buckets of several grids in one item)
            self._remove_fields(item, fields)
            return
        try:
            self._call("delete_item", Key={"PK": item["PK"], "SK": item["SK"]},
                       ConditionExpression=condition,
                       ExpressionAttributeNames={**held, **absent},
                       ExpressionAttributeValues={f":{ref[1:]}": item[name]
                                                  for ref, name in held.items()})
        except ClientError:  # (what _call lets through: the condition failed)
            self._remove_fields(item, fields)

    def _remove_fields(self, item: dict[str, Any], fields: list[str]) -> None:
        """Remove ``fields`` from one statistics item (up to 100 an update), if it is still
        there (an update of an item deleted meanwhile would make it again, empty)."""
        from botocore.exceptions import ClientError

        for i in range(0, len(fields), 100):
            chunk = fields[i:i + 100]
            try:
                self._call("update_item", Key={"PK": item["PK"], "SK": item["SK"]},
                           UpdateExpression="REMOVE " + ", ".join(
                               f"#r{j}" for j in range(len(chunk))),
                           ConditionExpression="attribute_exists(#pk)",
                           ExpressionAttributeNames={
                               "#pk": "PK", **{f"#r{j}": name for j, name in enumerate(chunk)}})
            except ClientError:  # (the condition failed: gone, nothing to remove)
                return

    def _fold_extra(self, item: dict[str, Any], chunk: list[str], into: str) -> None:
        """Remove ``chunk``'s attributes from ``item`` and add their sum to ``into``, if
        they still hold the values read (else read the item again; three tries)."""
        from botocore.exceptions import ClientError

        key = {"PK": item["PK"], "SK": item["SK"]}
        for _ in range(3):
            chunk = [name for name in chunk if name in item]
            if not chunk:
                return
            names = {f"#r{j}": name for j, name in enumerate(chunk)}
            values = {f":v{j}": item[name] for j, name in enumerate(chunk)}
            total = sum(float(item[name]["N"]) for name in chunk)
            try:
                self._call("update_item", Key=key,
                           UpdateExpression="REMOVE " + ", ".join(names) + " ADD #k :k",
                           ConditionExpression=" AND ".join(
                               f"#r{j} = :v{j}" for j in range(len(chunk))),
                           ExpressionAttributeNames={**names, "#k": into},
                           ExpressionAttributeValues={**values, ":k": _num(total)})
                return
            except ClientError:  # (the condition failed: read the item again)
                item = self._call("get_item", Key=key, ConsistentRead=True).get("Item", {})

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._call("query", **kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _stats_updates(experiment: str, generation: int, scope: str, arm: str,
                       pulls: float, core: tuple[float, float, float] | None,
                       extra: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
        """The transaction items that add to an arm's statistics: its own item (the pull,
        the core sums, the extra fields but the time buckets) and, for time buckets, the
        bucket items they belong in (:func:`_bucket_item`)."""
        own: list[tuple[str, float]] = [("pulls", pulls)]
        if core is not None:
            own += [("n", core[0]), ("total", core[1]), ("total_sq", core[2])]
        apart: dict[int, list[tuple[str, float]]] = {}
        for name, value in (extra or {}).items() if core is not None else ():
            chunk = _bucket_item(name)
            (own if chunk is None else apart.setdefault(chunk, [])).append((f"x:{name}", value))
        updates = [_adding(f"STATS#{experiment}#{generation}", f"S#{scope}#A#{arm}", scope,
                           arm, own)]
        updates += [_adding(f"TB#{experiment}#{generation}", f"S#{scope}#A#{arm}#{chunk}",
                            scope, arm, adds) for chunk, adds in sorted(apart.items())]
        return updates

    # --- decisions ----------------------------------------------------------------------
    def _decision_item(self, d: DecisionRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            "PK": _str(f"DEC#{d.id}"), "SK": _str("DEC"),
            "GSI1PK": _str(f"LOG#{d.experiment}"), "GSI1SK": _str(_time_key(d.created_at, d.id)),
            "id": _str(d.id), "experiment": _str(d.experiment), "generation": _num(d.generation),
            "scope": _str(d.scope), "arm": _str(d.arm), "propensity": _num(stored_propensity(d)),
            "arms": _str("\n".join(d.arms)), "probabilities": {"B": encode_vector(d)},
            "policy": _str(d.policy), "subject": _str(d.subject), "kind": _str(d.kind),
            "created_at": _num(d.created_at), "weight": _num(d.weight),
        }
        if d.context:
            item["context"] = _str(json.dumps(d.context, separators=(",", ":")))
        if d.allocation_id is not None:
            item["allocation_id"] = _str(d.allocation_id)
        if d.reward is not None:
            item["reward"] = _num(d.reward)
            item["rewarded_at"] = _num(d.rewarded_at if d.rewarded_at is not None
                                       else d.created_at)
        if self.ttl_days:
            item["ttl"] = _num(int(d.created_at + self.ttl_days * 86400))
        return item

    @staticmethod
    def _decision_from_item(item: Mapping[str, Any]) -> DecisionRecord:
        probabilities, propensity, posterior = split_vector(
            item["probabilities"]["B"], float(item["propensity"]["N"]))
        return DecisionRecord(
            id=item["id"]["S"], experiment=item["experiment"]["S"],
            generation=int(float(item["generation"]["N"])), scope=item["scope"]["S"],
            arm=item["arm"]["S"], propensity=propensity,
            arms=tuple(item["arms"]["S"].split("\n")), probabilities=probabilities,
            policy=item["policy"]["S"], subject=item["subject"]["S"],
            created_at=float(item["created_at"]["N"]),
            context=json.loads(item["context"]["S"]) if "context" in item else None,
            kind=item["kind"]["S"],
            reward=float(item["reward"]["N"]) if "reward" in item else None,
            rewarded_at=float(item["rewarded_at"]["N"]) if "rewarded_at" in item else None,
            weight=float(item["weight"]["N"]) if "weight" in item else 1.0,
            allocation_id=item["allocation_id"]["S"] if "allocation_id" in item else None,
            posterior=posterior,
        )

    def _with_table(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for item in items:
            next(iter(item.values()))["TableName"] = self.table
        return items

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Each write stays its own (transactional) request: one DynamoDB transaction is
        all or nothing, so a single duplicate reward in a group would cancel everyone's
        writes."""
        return contextlib.nullcontext()

    def record_decision(self, decision: DecisionRecord) -> None:
        reasons = self._transact(self._with_table(self._decision_writes(decision)))
        if reasons is not None and self._raw_decision(decision.id) is None:
            # the put's condition failed, so a decision with this id exists: with 96 random
            # bits to its second it is ours, written by an attempt whose reply was lost
            raise StoreError(f"decision id {decision.id!r} could not be logged")

    def record_keyed_decision(self, decision: DecisionRecord, key: str, fingerprint: str,
                              ttl_seconds: float) -> KeyedDecision:
        """One transaction: the decision's two items and the key's, put under
        ``attribute_not_exists(PK) OR expires <= :now``; DynamoDB's TTL deletes expired keys
        (within days: an expired key that is still there counts as absent)."""
        if decision.reward is not None:
            raise ValueError("a keyed decision is logged without its reward")
        now = time.time()
        keyed = KeyedDecision(key, fingerprint, decision.id, now + ttl_seconds)
        item_key = {"PK": _str(f"DKEY#{key}"), "SK": _str("DKEY")}
        reasons = self._transact(self._with_table([
            *self._decision_writes(decision),
            {"Put": {"TableName": "", "Item": {
                **item_key, "fingerprint": _str(fingerprint), "decision_id": _str(decision.id),
                "expires": _num(keyed.expires), "ttl": _num(int(keyed.expires) + 1)},
                "ConditionExpression": "attribute_not_exists(#pk) OR #expires <= :now",
                "ExpressionAttributeNames": {"#pk": "PK", "#expires": "expires"},
                "ExpressionAttributeValues": {":now": _num(now)}}},
        ]))
        if reasons is None:
            return keyed
        held = self._keyed(item_key, 0.0)  # the key's condition failed (or the decision's:
        if held is not None:  # then this call's own lost attempt wrote both)
            return held
        raise StoreError(f"decision {decision.id!r} could not be logged with its key",
                         hint="retry")

    def keyed_decision(self, key: str) -> KeyedDecision | None:
        return self._keyed({"PK": _str(f"DKEY#{key}"), "SK": _str("DKEY")}, time.time())

    def _keyed(self, item_key: dict[str, Any], now: float) -> KeyedDecision | None:
        item = self._call("get_item", Key=item_key, ConsistentRead=True).get("Item")
        if not item or float(item["expires"]["N"]) <= now:
            return None
        return KeyedDecision(item["PK"]["S"].removeprefix("DKEY#"), item["fingerprint"]["S"],
                             item["decision_id"]["S"], float(item["expires"]["N"]))

    def _decision_writes(self, decision: DecisionRecord) -> list[dict[str, Any]]:
        """A decision's transaction items: put it (if new) and add its pull."""
        return [{"Put": {"TableName": "", "Item": self._decision_item(decision),
                         "ConditionExpression": "attribute_not_exists(#pk)",
                         "ExpressionAttributeNames": {"#pk": "PK"}}},
                *self._stats_updates(decision.experiment, decision.generation,
                                     decision.scope, decision.arm, 1.0, None)]

    def _raw_decision(self, decision_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._call(
            "get_item", Key={"PK": _str(f"DEC#{decision_id}"), "SK": _str("DEC")},
            ConsistentRead=True).get("Item")
        return item

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        item = self._raw_decision(decision_id)
        return self._decision_from_item(item) if item else None

    def apply_reward(self, decision_id: str, value: float, rewarded_at: float,
                     extra: Mapping[str, float] | None = None, *,
                     known: DecisionRecord | None = None) -> ApplyResult:
        record = known if known is not None and known.id == decision_id \
            else self.get_decision(decision_id)
        if record is None:
            return ApplyResult.UNKNOWN
        if record.reward is not None:
            return ApplyResult.DUPLICATE
        token = _token()
        reasons = self._transact(self._with_table([
            {"Update": {
                "TableName": "",
                "Key": {"PK": _str(f"DEC#{decision_id}"), "SK": _str("DEC")},
                "UpdateExpression": "SET #reward = :reward, #at = :at, #tok = :tok",
                # the statistics below go to this arm: the stored decision must have it
                "ConditionExpression": "attribute_exists(#pk) AND attribute_not_exists(#reward)"
                                       " AND #arm = :arm AND #exp = :exp AND #gen = :gen"
                                       " AND #scope = :scope AND #weight = :weight",
                "ExpressionAttributeNames": {"#reward": "reward", "#at": "rewarded_at",
                                             "#pk": "PK", "#arm": "arm", "#exp": "experiment",
                                             "#gen": "generation", "#scope": "scope",
                                             "#weight": "weight", "#tok": "wtok"},
                "ExpressionAttributeValues": {":reward": _num(value), ":at": _num(rewarded_at),
                                              ":tok": _str(token),
                                              ":arm": _str(record.arm),
                                              ":exp": _str(record.experiment),
                                              ":gen": _num(record.generation),
                                              ":scope": _str(record.scope),
                                              ":weight": _num(record.weight)},
            }},
            *self._stats_updates(record.experiment, record.generation, record.scope,
                                 record.arm, 0.0, _core(value, record.weight), extra),
        ]))
        if reasons is None:
            if record.allocation_id is not None:
                self._count_allocation_reward(record)
            return ApplyResult.APPLIED
        # find out why: applied by an attempt whose reply was lost, already rewarded, or
        # (with ``known``) a record that lied
        item = self._raw_decision(decision_id)
        if item is None:
            return ApplyResult.UNKNOWN
        if item.get("wtok", {}).get("S") == token:
            return ApplyResult.APPLIED
        if "reward" not in item and known is not None:
            return self.apply_reward(decision_id, value, rewarded_at, extra)
        return ApplyResult.DUPLICATE

    # --- allocation periods ------------------------------------------------------------
    @staticmethod
    def _allocation_key(experiment: str, generation: int, scope: str,
                        period: int) -> dict[str, Any]:
        return {"PK": _str(f"ALLOC#{experiment}#{generation}#{scope}"),
                "SK": _str(f"P#{period:010d}")}

    @staticmethod
    def _allocation_from_item(item: Mapping[str, Any]) -> AllocationRecord:
        rewards = float(item["rewards"]["N"]) if "rewards" in item else 0.0
        return AllocationRecord.from_json(item["doc"]["S"], rewards)

    def _count_allocation_reward(self, record: DecisionRecord) -> None:
        """Add a reward to its period's cadence counter (best effort: a lost increment
        only delays the next period)."""
        from botocore.exceptions import ClientError

        period = int(str(record.allocation_id).partition(".")[0])

        with contextlib.suppress(ClientError):  # no such period: nothing to count
            self._call("update_item",
                       Key=self._allocation_key(record.experiment, record.generation,
                                                record.scope, period),
                       UpdateExpression="ADD #r :w",
                       ConditionExpression="attribute_exists(#pk)",
                       ExpressionAttributeNames={"#r": "rewards", "#pk": "PK"},
                       ExpressionAttributeValues={":w": _num(record.weight)})

    def current_allocation(self, experiment: str, generation: int, scope: str, *,
                           after_meta: bool = False) -> AllocationRecord | None:
        page = self._call("query", KeyConditionExpression="#pk = :pk",
                          ExpressionAttributeNames={"#pk": "PK"},
                          ExpressionAttributeValues={
                              ":pk": _str(f"ALLOC#{experiment}#{generation}#{scope}")},
                          ScanIndexForward=False, Limit=1, ConsistentRead=True)
        items = page.get("Items", [])
        return self._allocation_from_item(items[0]) if items else None

    def start_allocation(self, record: AllocationRecord) -> AllocationRecord:
        from botocore.exceptions import ClientError

        key = self._allocation_key(record.experiment, record.generation, record.scope,
                                   record.period)
        try:
            self._call("put_item", Item={**key, "doc": _str(record.to_json()),
                                         "rewards": _num(0)},
                       ConditionExpression="attribute_not_exists(#pk)",
                       ExpressionAttributeNames={"#pk": "PK"})
            return record
        except ClientError:  # another writer started this period first: theirs stands
            item = self._call("get_item", Key=key, ConsistentRead=True).get("Item")
            if item is None:
                raise StoreError("an allocation period could not be stored",
                                 hint="retry") from None
            return self._allocation_from_item(item)

    def allocations(self, experiment: str, generation: int,
                    scope: str | None = None) -> list[AllocationRecord]:
        if scope is not None:
            items = self._query(KeyConditionExpression="#pk = :pk",
                                ExpressionAttributeNames={"#pk": "PK"},
                                ExpressionAttributeValues={
                                    ":pk": _str(f"ALLOC#{experiment}#{generation}#{scope}")},
                                ConsistentRead=True)
            found = [self._allocation_from_item(i) for i in items]
        else:  # every scope that has decisions (one partition per scope)
            scopes = {r.scope for r in self.iter_decisions(experiment, generation=generation)}
            found = [a for s in scopes | {""}
                     for a in self.allocations(experiment, generation, s)]
        return sorted(found, key=lambda a: (a.created_at, a.period))

    def period_counts(self, experiment: str, generation: int,
                      scope: str | None = None) -> list[PeriodCounts]:
        return fold_period_counts(self.iter_fields(
            experiment, PERIOD_FIELDS, generation=generation, kinds=ALLOCATED, scope=scope))

    def record_manual(self, decisions: Sequence[DecisionRecord],
                      extras: Sequence[Mapping[str, float]] | None = None) -> None:
        """Log rewarded decisions; each chunk of up to 33 is one transaction that keeps the
        statistics equal to the fold of the log."""
        if any(d.reward is None for d in decisions):
            raise ValueError("manual decisions carry their reward")
        no_extra: list[Mapping[str, float] | None] = [None] * len(decisions)
        pairs = list(zip(decisions, extras or no_extra, strict=True))
        # puts, and at most as many updates of the arms' items and of bucket items (one
        # decision's extra fields hold one time bucket)
        step = _MAX_TRANSACT_ITEMS // 3
        for start in range(0, len(pairs), step):
            chunk = pairs[start:start + step]
            sums: dict[tuple[str, int, str, str], list[float]] = {}
            sum_extra: dict[tuple[str, int, str, str], dict[str, float]] = {}
            items: list[dict[str, Any]] = []
            for d, extra in chunk:
                items.append({"Put": {"TableName": "", "Item": self._decision_item(d),
                                      "ConditionExpression": "attribute_not_exists(#pk)",
                                      "ExpressionAttributeNames": {"#pk": "PK"}}})
                key = (d.experiment, d.generation, d.scope, d.arm)
                acc = sums.setdefault(key, [0.0, 0.0, 0.0, 0.0])
                n, total, total_sq = _core(float(d.reward or 0.0), d.weight)
                acc[0] += 1.0
                acc[1] += n
                acc[2] += total
                acc[3] += total_sq
                fields = sum_extra.setdefault(key, {})
                for k, v in (extra or {}).items():
                    fields[k] = fields.get(k, 0.0) + v
            for (exp, gen, scope, arm), acc in sums.items():
                items += self._stats_updates(exp, gen, scope, arm, acc[0],
                                             (acc[1], acc[2], acc[3]),
                                             sum_extra.get((exp, gen, scope, arm)))
            if self._transact(self._with_table(items)) is not None and \
                    self._raw_decision(chunk[0][0].id) is None:
                # ids hold 96 random bits: a chunk whose first decision exists was written
                # by an attempt whose reply was lost (the transaction is all or nothing)
                raise StoreError("a manual decision id already exists; nothing was written")

    def iter_fields(self, experiment: str, fields: Sequence[str], *, generation: int,
                    kinds: Collection[str] | None = None, scope: str | None = None
                    ) -> Iterator[tuple[Any, ...]]:
        return fields_of(self.iter_decisions(experiment, generation=generation), fields,
                         kinds=kinds, scope=scope)

    def keep_vectors(self, resolved: Sequence[ResolvedVector]) -> None:
        """Keeps none: a write per decision would cost a request each, more than computing
        the vector again (readers compute what is not kept)."""

    def iter_decisions(self, experiment: str, *, generation: int | None = None,
                       since: float | None = None, after_id: str | None = None,
                       limit: int | None = None) -> Iterator[DecisionRecord]:
        names = {"#pk": "GSI1PK"}
        values: dict[str, Any] = {":pk": _str(f"LOG#{experiment}")}
        condition = "#pk = :pk"
        if after_id is not None:
            cursor = self.get_decision(after_id)
            if cursor is not None:
                names["#sk"] = "GSI1SK"
                values[":after"] = _str(_time_key(cursor.created_at, cursor.id))
                condition += " AND #sk > :after"
        elif since is not None:
            names["#sk"] = "GSI1SK"
            values[":since"] = _str(f"{since:020.6f}")
            condition += " AND #sk >= :since"
        items = self._query(IndexName="GSI1", KeyConditionExpression=condition,
                            ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        yield from decisions_of((self._decision_from_item(item) for item in items),
                                generation=generation, since=since, limit=limit)

    def pending_decisions(self, experiment: str, generation: int, older_than: float,
                          limit: int = 1000, *, newer_than: float | None = None
                          ) -> list[DecisionRecord]:
        out: list[DecisionRecord] = []
        for item in self._query(
                IndexName="GSI1",
                KeyConditionExpression="#pk = :pk AND #sk BETWEEN :after AND :before",
                FilterExpression="attribute_not_exists(#reward) AND #gen = :gen "
                                 "AND #kind = :policy",
                ExpressionAttributeNames={"#pk": "GSI1PK", "#sk": "GSI1SK",
                                          "#reward": "reward", "#gen": "generation",
                                          "#kind": "kind"},
                ExpressionAttributeValues={":pk": _str(f"LOG#{experiment}"),
                                           ":before": _str(f"{older_than:020.6f}"),
                                           ":after": _str(f"{max(newer_than or 0.0, 0.0):020.6f}"),
                                           ":gen": _num(generation), ":policy": _str("policy")}):
            out.append(self._decision_from_item(item))
            if len(out) >= limit:
                break
        return out

    # --- admin log and idempotency -------------------------------------------------------
    def log_admin(self, record: AdminRecord) -> None:
        self._call("put_item", Item={
            "PK": _str("ADMIN"), "SK": _str(f"{record.at:020.6f}#{secrets.token_hex(4)}"),
            "at": _num(record.at), "actor": _str(record.actor),
            "experiment": _str(record.experiment), "action": _str(record.action),
            "details": _str(record.details)})

    def admin_log(self, experiment: str | None = None, limit: int = 100, *,
                  actions: Collection[str] | None = None) -> list[AdminRecord]:
        check_actions(actions)
        out: list[AdminRecord] = []
        for item in self._query(KeyConditionExpression="#pk = :pk",
                                ExpressionAttributeNames={"#pk": "PK"},
                                ExpressionAttributeValues={":pk": _str("ADMIN")},
                                ScanIndexForward=False):
            if experiment in (None, item["experiment"]["S"]) and \
                    (actions is None or item["action"]["S"] in actions):
                out.append(AdminRecord(float(item["at"]["N"]), item["actor"]["S"],
                                       item["experiment"]["S"], item["action"]["S"],
                                       item["details"]["S"]))
                if len(out) >= limit:
                    break
        return out

    def claim_key(self, key: str, ttl_seconds: float) -> bool:
        from botocore.exceptions import ClientError

        now = time.time()
        token = _token()
        item_key = {"PK": _str(f"CLAIM#{key}"), "SK": _str("CLAIM")}
        try:
            self._call(
                "put_item",
                Item={**item_key, "expires": _num(now + ttl_seconds),
                      "ttl": _num(int(now + ttl_seconds)), "wtok": _str(token)},
                ConditionExpression="attribute_not_exists(#pk) OR #expires <= :now",
                ExpressionAttributeNames={"#pk": "PK", "#expires": "expires"},
                ExpressionAttributeValues={":now": _num(now)})
            return True
        except ClientError:  # claimed before: by someone else, or by a lost attempt of ours
            return self._written_by(item_key, token)

    def add_counters(self, key: str, deltas: Mapping[str, float]) -> None:
        """``ADD`` the deltas, as a one-item transaction (its ``ClientRequestToken`` makes a
        retried attempt a no-op on DynamoDB) that also records its own token, so a retry
        that finds that token (the previous write to the item was this one) adds nothing."""
        token = _token()
        names = {f"#c{i}": f"c:{name}" for i, name in enumerate(deltas)}
        values = {f":c{i}": _num(v) for i, v in enumerate(deltas.values())}
        item_key = {"PK": _str(f"CNT#{key}"), "SK": _str("CNT")}
        reasons = self._transact([{"Update": {
            "TableName": self.table, "Key": item_key,
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(deltas)))
                                + " SET #tok = :tok",
            "ConditionExpression": "attribute_not_exists(#tok) OR #tok <> :tok",
            "ExpressionAttributeNames": {**names, "#tok": "wtok"},
            "ExpressionAttributeValues": {**values, ":tok": _str(token)}}}])
        if reasons is not None and not self._written_by(item_key, token):
            raise StoreError(f"DynamoDB counters {key!r} could not be updated")

    def read_counters(self, key: str) -> dict[str, float]:
        item = self._call("get_item", Key={"PK": _str(f"CNT#{key}"), "SK": _str("CNT")},
                          ConsistentRead=True).get("Item") or {}
        return {k[2:]: float(v["N"]) for k, v in item.items() if k.startswith("c:")}

    def read_document(self, name: str) -> tuple[str | None, int]:
        item = self._call("get_item", Key={"PK": _str(f"DOC#{name}"), "SK": _str("DOC")},
                          ConsistentRead=True).get("Item")
        if not item:
            return None, 0
        return item["body"]["S"], int(float(item["version"]["N"]))

    def write_document(self, name: str, text: str, version: int) -> bool:
        return self._put_versioned({"PK": _str(f"DOC#{name}"), "SK": _str("DOC")},
                                   {"body": _str(text)}, version)
