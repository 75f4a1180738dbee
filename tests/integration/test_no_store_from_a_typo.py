"""A process that writes never makes a network store from nothing: a mistyped table or
schema name would start every experiment afresh in a new, empty store (a trial's
``banditbot serve`` made DynamoDB table ``nosuch`` and PostgreSQL schema ``banditbt`` and
answered "ready"; its API keys then all got 401). ``banditbot init-db`` creates them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from banditbot import ConfigError
from banditbot._compose import http_app_from_env
from banditbot.stores import open_store

from ..conftest import postgres_schema_url, run_cli


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A serve worker's build takes over logging (JSON lines, banditbot's logger not
    propagating): put it back for the tests after these in this process."""
    names = ("banditbot", "py.warnings", "httpx", "")
    saved = [(logging.getLogger(n), list(logging.getLogger(n).handlers),
              logging.getLogger(n).level, logging.getLogger(n).propagate) for n in names]
    yield
    logging.captureWarnings(False)
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def _tables(endpoint: str) -> list[str]:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    return list(client.list_tables()["TableNames"])


def test_serve_and_a_cli_write_create_no_dynamodb_table(
        moto_endpoint: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"dynamodb://nosuch-{id(monkeypatch)}?region=us-east-1&endpoint_url={moto_endpoint}"
    monkeypatch.setenv("BANDITBOT_STORE", url)
    # a serve worker refuses to start (it started, answered ready to /healthz and "retry in
    # a moment" to every request: a trial), and creates nothing
    with pytest.raises(ConfigError, match="no DynamoDB table 'nosuch-") as refused:
        http_app_from_env()
    assert "create it with banditbot init-db" in (refused.value.hint or "")
    # where it looked (a trial's wrong region read "no DynamoDB table 'banditbot' here")
    assert f"in us-east-1 at {moto_endpoint}" in str(refused.value)
    code, _, err = run_cli(["decide", "tip", "--subject", "u", "--store", url], capsys)
    assert code == 2 and "create it with banditbot init-db" in err
    assert f"in us-east-1 at {moto_endpoint}" in " ".join(err.split())
    assert not [t for t in _tables(moto_endpoint) if t.startswith("nosuch")]
    monkeypatch.setenv("BANDITBOT_INIT_STORE", "1")  # asked for: made
    http_app_from_env()
    assert [t for t in _tables(moto_endpoint) if t.startswith("nosuch")]
    monkeypatch.delenv("BANDITBOT_INIT_STORE")
    http_app_from_env()  # there now: served
    assert run_cli(["decide", "tip", "--subject", "u", "--store", url], capsys)[0] == 0


def test_serve_and_a_cli_write_refuse_a_missing_postgres_schema(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres_schema_url(postgres_url)
    monkeypatch.setenv("BANDITBOT_STORE", url)
    with pytest.raises(ConfigError, match="no banditbot schema") as err:
        http_app_from_env()
    assert "banditbot init-db" in (err.value.hint or "")
    code, _, out_err = run_cli(["decide", "tip", "--subject", "u", "--store", url], capsys)
    assert code == 2 and "no banditbot schema" in out_err
    # a read says it in the same words (an operator's report said 'relation "meta" does
    # not exist', which reads as a missing table rather than a mistyped schema)
    code, _, out_err = run_cli(["report", "tip", "--store", url], capsys)
    assert code == 2 and "the database has no banditbot schema" in out_err, out_err
    assert "check the URL's schema option" in out_err
    store: Any = open_store(url)
    assert store.schema_version() == 0  # nothing was made
    store.init()  # init-db: from now on writes and serve work
    store.close()
    # (its pool closed here: one left to the collector may be collected in its own worker
    # thread, which cannot join itself, and fails a later test at random)
    http_app_from_env().state.service.store.close()
    assert run_cli(["decide", "tip", "--subject", "u", "--store", url], capsys)[0] == 0
