"""Property-based API testing with schemathesis against the app's own OpenAPI schema: for
generated requests (bounded examples), no 5xx and every response matches the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from banditbot import BanditService, SQLiteStore, parse_config
from banditbot.api import create_app

from ..conftest import CONFIG
from ..telegram_double import ServerThread

STATE: dict[str, Any] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path: Path = tmp_path_factory.mktemp("schema") / "api.db"
    store = SQLiteStore(path)
    store.init()
    service = BanditService(parse_config(CONFIG), store, rng=np.random.default_rng(0))
    app = create_app(service)
    STATE["key"] = app.state.keys.create("fuzzer", "admin")[0]
    with ServerThread(app) as url:
        STATE["url"] = url
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@pytest.mark.slow
def test_api_conforms_to_its_schema(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {STATE['key']}"})
