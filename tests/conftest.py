"""Shared fixtures: stores for every backend, services, a fake clock.

Every server a test starts listens on 127.0.0.1 and is stopped by its fixture.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import BanditService, MemoryStore, SQLiteStore, parse_config
from banditbot._types import compiled
from banditbot.stores import DecisionRecord, Store

from .pg_server import PostgresServer, postgres_bindir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "experiments.yaml"
OBD = ROOT / "tests" / "data" / "obd"  # the Open Bandit Dataset sample, vendored (README)

BACKENDS = ["memory", "sqlite", "dynamodb", "postgresql"]

#: whether this run's banditbot is the compiled build (BANDITBOT_COMPILE=1): its service's
#: classes are C types, whose attributes a test cannot patch (a class attribute set on one
#: is not seen by its instances) and which carry no docstrings
COMPILED = compiled()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``interpreted`` patch a class the compiled build compiles or read its
    docstrings: skipped there (with that said), run everywhere else."""
    if COMPILED:
        skip = pytest.mark.skip(reason="needs the interpreted build: patches a compiled class "
                                       "or reads its docstrings")
        for item in items:
            if item.get_closest_marker("interpreted"):
                item.add_marker(skip)


def rest_of_output(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """``(stdout, stderr)`` that ``proc`` prints until it exits (``""`` for a stream not
    piped), read through its file objects. Not ``communicate(timeout=…)``: that reads the
    pipes' descriptors and loses what an earlier ``readline()`` had buffered already (a
    test once counted 477 of 480 acknowledged writes)."""
    streams = [proc.stdout, proc.stderr]
    out = ["", ""]

    def drain(i: int) -> None:
        stream = streams[i]
        if stream is not None:
            out[i] = stream.read()

    readers = [threading.Thread(target=drain, args=(i,), daemon=True) for i in (0, 1)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    for reader in readers:
        reader.join(max(deadline - time.monotonic(), 0.0))
    if any(reader.is_alive() for reader in readers):
        proc.kill()
        pytest.fail(f"a process did not finish within {timeout:.0f} s")
    proc.wait(timeout=10)
    return out[0], out[1]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The CLI in this process: exit code, stdout, stderr (for the commands whose own
    process adds nothing to a test; each command keeps a real-process test somewhere)."""
    from banditbot.cli import main

    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def cli_sqlite_service(root: Path, config_text: str, name: str, seed: int
                       ) -> tuple[BanditService, list[str]]:
    """A service over SQLite file ``name`` in ``root``, whose experiments file holds
    ``config_text``; and the CLI's options that name both."""
    from banditbot import build_service

    config = root / "exps.yaml"
    config.write_text(config_text, encoding="utf-8")
    url = f"sqlite:///{root / name}"
    return build_service(config, url, seed=seed), ["--config", str(config), "--store", url]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _no_network_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests hermetic: no inherited store/config/admin settings, no AWS credentials."""
    for var in ("BANDITBOT_STORE", "BANDITBOT_CONFIG", "BANDITBOT_ADMINS", "TELEGRAM_TOKEN",
                "BANDITBOT_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("PG")]:  # libpq's settings
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _mend_moto_number_add() -> None:
    """Make moto's ``ADD`` parse numbers as DynamoDB does (exponent notation included)."""
    from decimal import Decimal

    from moto.dynamodb.models.dynamo_type import DDBType, DynamoType

    original = DynamoType.__add__
    if getattr(original, "_mended", False):
        return

    def add(self: Any, other: Any) -> Any:
        if self.type == other.type and self.is_number():
            return DynamoType({DDBType.NUMBER: f"{Decimal(self.value) + Decimal(other.value)}"})
        return original(self, other)

    add._mended = True  # type: ignore[attr-defined]
    DynamoType.__add__ = add  # type: ignore[method-assign]


def _mend_moto_transaction_backup() -> None:
    """Make moto's ``TransactWriteItems`` back up only the items it writes.

    moto deep-copies every table a transaction names (once per operation) so that it can
    put the table back if an operation fails: each transaction costs time in proportion to
    everything the table holds, so a test's transactions get slower as its log grows (most
    of the emulator's time in the longer DynamoDB tests). Here the items the operations name
    are copied instead, and put back as they were if the transaction fails — the same
    all-or-nothing outcome (``test_a_failed_transaction_changes_nothing`` in
    tests/integration/test_dynamodb_specifics.py). Requests are serialized
    (:class:`DynamoDBServer`), so nothing else sees the table meanwhile.
    """
    import copy

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_mended", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, item or None)
        for entry in transact_items:
            for op in entry.values():
                table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
                attrs = op.get("Item", op.get("Key")) if table is not None else None
                if not isinstance(attrs, dict) or table.hash_key_attr not in attrs or (
                        table.has_range_key and table.range_key_attr not in attrs):
                    continue  # moto refuses the operation before it writes anything
                h = DynamoType(attrs[table.hash_key_attr])
                r = DynamoType(attrs[table.range_key_attr]) if table.has_range_key else None
                item = table.items[h].get(r) if r is not None and h in table.items else \
                    table.items.get(h) if r is None else None
                saved.append((table, h, r, copy.deepcopy(item)))
        Table.__deepcopy__ = lambda table, memo: table  # type: ignore[attr-defined]
        try:
            original(self, transact_items)
        except Exception:
            for table, h, r, item in reversed(saved):  # back to the state before
                if r is None:
                    table.items.pop(h, None)
                    if item is not None:
                        table.items[h] = item
                else:
                    table.items[h].pop(r, None)
                    if item is not None:
                        table.items[h][r] = item
            raise
        finally:
            del Table.__deepcopy__  # type: ignore[attr-defined]

    transact_write_items._mended = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _mend_moto_query_partition() -> None:
    """Make moto's ``Query`` of a table's own key read that key's partition alone.

    moto gathers a query's candidates by sorting every item of the table, then keeping
    those of the queried partition: each query (a decision reads its arms' partition)
    costs time in proportion to everything the table holds, and sorting the table was
    the emulator's largest cost in the DynamoDB tests. Here such a query is handed the
    partition's items; moto sorts and filters them as before. Queries of an index, and
    tables without a sort key, go the way moto has them.
    """
    from moto.dynamodb.models.table import Table

    original = Table.query
    if getattr(original, "_mended", False):
        return

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None or not self.has_range_key:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition  # (this query only: requests are serialized)
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    query._mended = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]


def _mend_moto_module_listing() -> None:
    """moto lists its package's folders (``os.listdir`` and a ``stat`` each) for every
    request it dispatches; the list is made once here."""
    import moto.backends

    if isinstance(getattr(moto.backends, "_listed", None), tuple):
        return
    moto.backends._listed = tuple(moto.backends.list_of_moto_modules())  # type: ignore
    moto.backends.list_of_moto_modules = lambda: moto.backends._listed  # type: ignore


def _mend_moto_item_serialization() -> None:
    """Make moto write the items of a ``GetItem``, ``Query`` or ``Scan`` reply directly.

    moto 5 writes every reply through a generic, model-driven serializer that walks each
    attribute value against botocore's shapes: most of the emulator's time in a test that
    reads statistics items with many attributes. Here the reply without its items goes
    through that serializer as before, and the items (DynamoDB's JSON for attribute values:
    ``{"S": ...}``, ``{"N": ...}``, binary as base64, lists and maps recursively) are added
    to its body. ``test_every_attribute_type_reads_back_as_written`` in
    tests/integration/test_dynamodb_specifics.py reads each type back through both calls.
    """
    import base64
    import json

    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result
    if getattr(original, "_mended", False):
        return

    def attr(value: dict[str, Any]) -> dict[str, Any]:
        ((kind, inner),) = value.items()
        if kind == "B":
            return {"B": base64.b64encode(inner).decode()}
        if kind == "BS":
            return {"BS": [base64.b64encode(b).decode() for b in inner]}
        if kind == "L":
            return {"L": [attr(v) for v in inner]}
        if kind == "M":
            return {"M": {k: attr(v) for k, v in inner.items()}}
        return {kind: inner}

    def execute_result(self: Any, context: Any) -> Any:
        key = {"GetItem": "Item", "Query": "Items", "Scan": "Items"}.get(
            context.operation_model.name)
        result = self.result
        if key is None or not isinstance(result, dict) or result.get(key) is None:
            return original(self, context)
        self._result = {k: v for k, v in result.items() if k != key}
        try:
            status, headers, body = original(self, context)
        finally:
            self._result = result
        reply = json.loads(body) if body else {}
        items = result[key]
        reply[key] = {n: attr(v) for n, v in items.items()} if key == "Item" else \
            [{n: attr(v) for n, v in item.items()} for item in items]
        return status, headers, json.dumps(reply)

    execute_result._mended = True  # type: ignore[attr-defined]
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


class DynamoDBServer:
    """moto's DynamoDB emulator behind a real HTTP server on 127.0.0.1 (port 0).

    moto applies each request as a read-modify-write on unsynchronised in-memory state, so two
    concurrent requests on one item can overwrite each other inside the emulator (real DynamoDB
    serializes writes per item). The server therefore runs one request at a time — threaded
    for connections, serialized for execution — which makes the emulator linearizable like the
    real service. boto3 talks to it over HTTP exactly as it talks to AWS.

    One emulator bug is mended (:func:`_mend_moto_number_add`), and four slow paths
    (:func:`_mend_moto_transaction_backup`, :func:`_mend_moto_item_serialization`,
    :func:`_mend_moto_query_partition`, :func:`_mend_moto_module_listing`). moto
    adds numbers with
    ``int()`` unless their text has a ".", so an ``ADD`` to a stored ``1E-16`` (a sum of
    floats that nearly cancel, which DynamoDB accepts) fails with a ValueError.
    """

    def __init__(self) -> None:
        import threading

        _mend_moto_number_add()
        _mend_moto_transaction_backup()
        _mend_moto_item_serialization()
        _mend_moto_query_partition()
        _mend_moto_module_listing()

        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            with lock:
                return list(app(environ, start_response))

        self._server = make_server("127.0.0.1", 0, serialized, threaded=True)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A DynamoDB-compatible server (moto) on 127.0.0.1, shared by the session."""
    pytest.importorskip("moto.server")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with DynamoDBServer() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the session (per xdist worker); tests each take
    their own schema (:func:`postgres_schema_url`)."""
    if postgres_bindir() is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs the postgresql package)")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The session server's URL (no schema: add one with :func:`postgres_schema_url`)."""
    return postgres_server.url


_schema_counter = iter(range(10**9))


def postgres_schema_url(base: str, **params: object) -> str:
    """``base`` with a schema of its own (a fresh, empty store) and ``params``."""
    query = "&".join([f"schema=t{next(_schema_counter)}",
                      *(f"{k}={v}" for k, v in params.items())])
    return f"{base}?{query}"


_table_counter = iter(range(10**9))


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        store: Store = SQLiteStore(tmp_path / "bandit.db")
    elif kind == "postgresql":
        from banditbot.stores import open_store

        store = open_store(postgres_schema_url(request.getfixturevalue("postgres_url")))
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        from banditbot.stores import open_store

        store = open_store(f"dynamodb://tbl{next(_table_counter)}?region=us-east-1"
                           f"&endpoint_url={endpoint}")
    store.init()
    return store


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests run against every backend."""
    s = make_store(request.param, tmp_path, request)
    yield s
    s.close()


@pytest.fixture
def store_factory(request: pytest.FixtureRequest,
                  tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    made: list[Store] = []

    def factory(kind: str) -> Store:
        s = make_store(kind, tmp_path, request)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()


@pytest.fixture
def double() -> Iterator[Any]:
    """The Telegram Bot API double, serving on 127.0.0.1 for one test."""
    from .telegram_double import BotApiDouble, ServerThread, make_app

    d = BotApiDouble()
    with ServerThread(make_app(d)) as url:
        d.base_url = url
        yield d
        d.close()  # (the stopped bot's last long poll, answered: the shutdown waits for it)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


CONFIG: dict[str, Any] = {
    "admins": [1001],
    "experiments": [
        {"id": "seed", "command": "random", "parse_mode": "MarkdownV2",
         "arms": [{"id": "arm1", "content": "This is arm *1*"},
                  {"id": "arm2", "content": "This _is_ arm _2_"}],
         "policy": {"name": "epsilon-greedy", "epsilon": 0.5},
         "burn_in": 0},  # the tutorial's experiment, as in the shipped examples
        {"id": "ts", "arms": [{"id": a, "content": f"variant {a}"} for a in "abcd"],
         "policy": "thompson"},
        {"id": "rating", "arms": [{"id": a, "content": f"tip {a}"} for a in "xyz"],
         "policy": "gaussian-thompson", "reward": {"type": "rating", "min": 1, "max": 5}},
        {"id": "implicit", "arms": [{"id": a, "content": a} for a in ("p", "q")],
         "policy": "ucb1", "reward_mode": "implicit", "wait_seconds": 60,
         "default_reward": 0},
        {"id": "perchat", "scope": "chat", "arms": [{"id": a, "content": a} for a in "mn"],
         "policy": "softmax"},
    ],
}


@pytest.fixture
def config() -> Any:
    return parse_config(CONFIG, source="test-config")


@pytest.fixture
def service(store: Store, config: Any, clock: FakeClock) -> BanditService:
    return BanditService(config, store, rng=np.random.default_rng(12345), clock=clock)


class CountingStore(SQLiteStore):
    """A SQLite store that counts full reads of a generation's decision log (what a kept
    report or chart saves)."""

    log_reads = 0

    def iter_decisions(self, *args: Any, **kwargs: Any) -> Iterator[DecisionRecord]:
        if kwargs.get("limit") is None:
            self.log_reads += 1
        return super().iter_decisions(*args, **kwargs)

    def iter_fields(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, ...]]:
        self.log_reads += 1
        return super().iter_fields(*args, **kwargs)
