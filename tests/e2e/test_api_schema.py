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


def test_the_schema_says_a_subject_needs_a_visible_character() -> None:
    """schemathesis generated ``{"subject": " "}`` from the schema, which the API refuses
    (a blank subject, 422): the schema's pattern now says the whole rule, the same as the
    service's for every subject a client might generate."""
    import re

    from banditbot._values import blank_text

    schema = create_app(BanditService(parse_config(CONFIG), SQLiteStore(":memory:"))
                        ).openapi()
    body = schema["paths"]["/v1/experiments/{experiment}/decisions"]["post"]["requestBody"]
    pattern = re.compile(body["content"]["application/json"]["schema"]["properties"]
                         ["subject"]["pattern"])
    for subject in (" ", "\u200b", "\u3000 \u00a0", "\U000e0001", "\u00ad", "\u2800"):
        assert blank_text(subject) and not pattern.search(subject), repr(subject)
    for subject in ("a", " a ", "user 42", "x\u200b", "Zoë 🙂", "\u2028"):
        assert not blank_text(subject) and pattern.search(subject), repr(subject)
