"""The Lambda handler with real-shaped API Gateway v2 / Function URL events, DynamoDB and SSM
on a local emulator over HTTP, and the Telegram Bot API double."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from banditbot.aws import LambdaApp
from banditbot.stores._dynamodb import DynamoDBStore

from ..conftest import EXAMPLES, ROOT, FakeClock
from ..flaky_proxy import RATE, FlakyProxy
from ..telegram_double import BotApiDouble

SECRET = "lambda-webhook-secret_0123456789"
CFN_LINT = "import sys; from cfnlint.runner import main; sys.exit(main())"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The handler configures banditbot's JSON logging (as on a cold start): put the
    process's logging back afterwards, for the tests that capture records."""
    import logging

    loggers = [logging.getLogger(n) for n in ("banditbot", "py.warnings", "")]
    saved = [(lg, list(lg.handlers), lg.propagate, lg.level) for lg in loggers]
    formatters = {h: h.formatter for h in logging.getLogger().handlers}
    yield
    for lg, handlers, propagate, level in saved:
        lg.handlers[:] = handlers
        lg.propagate, lg.level = propagate, level
    for h, formatter in formatters.items():
        h.setFormatter(formatter)
    logging.captureWarnings(False)


@pytest.fixture
def lambda_env(moto_endpoint: str, double: BotApiDouble,
               monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    table = f"banditbot-{uuid.uuid4().hex[:8]}"
    ssm = boto3.client("ssm", endpoint_url=moto_endpoint, region_name="us-east-1")
    ssm.put_parameter(Name=f"/{table}/token", Value=double.token, Type="SecureString")
    ssm.put_parameter(Name=f"/{table}/secret", Value=SECRET, Type="SecureString")
    store_url = f"dynamodb://{table}?region=us-east-1&endpoint_url={moto_endpoint}"
    DynamoDBStore(table, region="us-east-1", endpoint_url=moto_endpoint).init()  # the template
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,  # SSM (and any other AWS client) → the emulator
        "BANDITBOT_STORE": store_url,
        "BANDITBOT_CONFIG": str(EXAMPLES),
        "TELEGRAM_TOKEN_PARAMETER": f"/{table}/token",
        "BANDITBOT_WEBHOOK_SECRET_PARAMETER": f"/{table}/secret",
        "BANDITBOT_TELEGRAM_BASE_URL": double.base_url,
        "TABLE": table,
        "ENDPOINT": moto_endpoint,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def http_api_event(body: bytes, *, secret: str | None = SECRET, path: str = "/telegram",
                   method: str = "POST", base64_body: bool = False) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event."""
    headers = {"content-type": "application/json", "host": "abc123.execute-api.us-east-1"
               ".amazonaws.com", "user-agent": "TelegramBot (like TwitterBot)",
               "x-forwarded-for": "91.108.6.1", "x-forwarded-proto": "https"}
    if secret is not None:
        headers["x-telegram-bot-api-secret-token"] = secret
    now = time.time()
    return {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path,
        "rawQueryString": "", "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "91.108.6.1", "userAgent": "TelegramBot (like TwitterBot)"},
            "requestId": uuid.uuid4().hex, "routeKey": f"{method} {path}", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000)},
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }


def function_url_event(body: bytes, **kwargs: Any) -> dict[str, Any]:
    """A Lambda Function URL event (payload 2.0, routeKey $default, base64 bodies)."""
    event = http_api_event(body, base64_body=True, **kwargs)
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    event["requestContext"]["domainName"] = "xyz.lambda-url.us-east-1.on.aws"
    event["requestContext"]["authorizer"] = None
    return event


def _update(double: BotApiDouble, update_id: int, *, press: Any = None) -> bytes:
    if press is not None:
        upd = double.callback_update(double.user(501), press, press.buttons()[0]["callback_data"])
    else:
        upd = double.message_update(double.user(501), 501, "/random")
    upd["update_id"] = update_id
    return json.dumps(upd).encode()


def test_update_in_reply_out_state_in_dynamodb(lambda_env: dict[str, str],
                                               double: BotApiDouble) -> None:
    handler = LambdaApp()
    result = handler(http_api_event(_update(double, 1)), None)
    assert result["statusCode"] == 200
    # processed to completion before returning: the reply is already there
    (prompt,) = double.chat_messages(501)
    assert [b["text"] for b in prompt.buttons()] == ["👍", "👎"]
    result = handler(function_url_event(_update(double, 2, press=prompt)), None)
    assert result["statusCode"] == 200
    assert prompt.text is not None and prompt.text.endswith("thanks")
    store = DynamoDBStore(lambda_env["TABLE"], region="us-east-1",
                          endpoint_url=lambda_env["ENDPOINT"])
    (record,) = list(store.iter_decisions("random"))
    assert record.reward == 1.0 and record.subject == "501"
    stats = store.read_stats("random", 0, "", ("arm1", "arm2"))
    assert stats.n.sum() == 1 and stats.pulls.sum() == 1


def test_missing_or_wrong_secret_is_403(lambda_env: dict[str, str],
                                        double: BotApiDouble) -> None:
    handler = LambdaApp()
    assert handler(http_api_event(_update(double, 1), secret=None), None)["statusCode"] == 403
    assert handler(function_url_event(_update(double, 1), secret="nope"),
                   None)["statusCode"] == 403
    assert double.messages == []


def test_redelivered_update_has_no_second_effect(lambda_env: dict[str, str],
                                                 double: BotApiDouble) -> None:
    handler = LambdaApp()
    body = _update(double, 7)
    assert handler(http_api_event(body), None)["statusCode"] == 200
    assert handler(http_api_event(body), None)["statusCode"] == 200  # Lambda retry / Telegram
    assert LambdaApp()(http_api_event(body), None)["statusCode"] == 200  # another container
    assert len(double.chat_messages(501)) == 1
    store = DynamoDBStore(lambda_env["TABLE"], region="us-east-1",
                          endpoint_url=lambda_env["ENDPOINT"])
    assert len(list(store.iter_decisions("random"))) == 1


def test_malformed_body_is_400(lambda_env: dict[str, str], double: BotApiDouble) -> None:
    assert LambdaApp()(http_api_event(b"{nope"), None)["statusCode"] == 400


def test_other_paths_go_to_the_http_app(lambda_env: dict[str, str]) -> None:
    response = LambdaApp()(http_api_event(b"", path="/readyz", method="GET", secret=None),
                           None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ready", "store": "dynamodb"}


def test_metrics_on_a_function_url_need_a_read_key(lambda_env: dict[str, str]) -> None:
    """A walkthrough found /metrics answered anyone on the internet (a Function URL has no
    proxy in front to limit it): on Lambda it needs a read key, as /v1/ does."""
    from banditbot.service import KeyRing

    handler = LambdaApp()
    anonymous = http_api_event(b"", path="/metrics", method="GET", secret=None)
    assert handler(anonymous, None)["statusCode"] == 401
    store = DynamoDBStore(lambda_env["TABLE"], region="us-east-1",
                          endpoint_url=lambda_env["ENDPOINT"])
    key, _ = KeyRing(store).create("scraper", "read")
    keyed = http_api_event(b"", path="/metrics", method="GET", secret=None)
    keyed["headers"]["authorization"] = f"Bearer {key}"
    response = LambdaApp()(keyed, None)
    assert response["statusCode"] == 200 and "banditbot_" in response["body"]


def test_importing_the_handler_is_light_and_connects_nowhere() -> None:
    """No matplotlib, SciPy or pandas on the import path, nor the stores the handler does
    not open (SQLite, PostgreSQL, memory), nor what only reports need (the report types,
    the anytime-valid sequences: loaded by the first /report); no settings needed."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c",
         "import banditbot.aws, banditbot._compose, banditbot.telegram, "
         "banditbot.stores._dynamodb"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stderr
    modules = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    for heavy in ("matplotlib", "scipy", "pandas", "pyarrow", "fastapi",
                  "banditbot.stores._sqlite", "banditbot.stores._postgres",
                  "banditbot.stores._memory", "sqlalchemy", "psycopg", "sqlite3",
                  "banditbot._report",
                  "banditbot.statistics._sequential", "banditbot.statistics._betting"):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in modules), heavy


def test_the_lambda_package_keeps_telegrams_flood_control() -> None:
    """A walkthrough found the package `sam build` makes (src/requirements.txt) without the
    rate limiter: every cold start logged "flood-control retries are off". The Telegram
    requirement is the telegram extra's, extras and all."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (wanted,) = [r for r in project["project"]["optional-dependencies"]["telegram"]
                 if r.startswith("python-telegram-bot")]
    lines = [line.strip() for line in
             (ROOT / "src" / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    assert wanted in lines and "[rate-limiter]" in wanted


def test_sam_template_validates() -> None:
    template = ROOT / "deploy" / "template.yaml"
    proc = subprocess.run([sys.executable, "-c", CFN_LINT, str(template)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = template.read_text()
    assert "Handler: banditbot.aws.handler" in text
    assert "dynamodb:Scan" not in text and "dynamodb:*" not in text  # least privilege
    # a DynamoDB request in flight at the retries' deadline (the remaining time less
    # ANSWER_MARGIN) could run botocore's default 10 s read timeout past the function's
    # Timeout: every store URL the template sets ends its requests within the margin
    from banditbot.aws import ANSWER_MARGIN

    # an SSM parameter's name without its leading "/" is refused at deploy time: the
    # permission is built as ...:parameter${name}, and such a name was granted nothing (a
    # trial: every update answered 503, the log saying only ParameterNotFound)
    doc = yaml.load(text, Loader=_cfn_loader())
    for name in ("TelegramTokenParameter", "WebhookSecretParameter"):
        spec = doc["Parameters"][name]
        assert re.fullmatch(spec["AllowedPattern"], spec["Default"]), name
        for wrong in ("banditbot-token", "banditbot/token", ""):
            assert not re.fullmatch(spec["AllowedPattern"], wrong), (name, wrong)
        assert f":parameter${{{name}}}\"" in text, name  # (the grant this guards)
    urls = re.findall(r'"(dynamodb://[^"]+)"', text)
    assert urls
    for url in urls:
        options = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
        assert float(options["read_timeout"]) + float(options["connect_timeout"]) \
            <= ANSWER_MARGIN, url


def test_template_grants_exactly_the_actions_the_store_uses(moto_endpoint: str) -> None:
    """Least privilege, checked against what the store really sends: every DynamoDB
    operation (and every kind of item inside a transaction) a full service workload puts on
    the wire is granted by the SAM template, and nothing more is."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def passthrough(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        return None

    Loader.add_multi_constructor("!", passthrough)
    doc = yaml.load((ROOT / "deploy" / "template.yaml").read_text(), Loader=Loader)
    policies = doc["Resources"]["BanditFunction"]["Properties"]["Policies"]
    granted: set[str] = set()
    for policy in policies:
        for statement in policy["Statement"]:
            listed = statement["Action"]
            granted |= {a for a in ([listed] if isinstance(listed, str) else listed)
                        if a.startswith("dynamodb:")}

    store = DynamoDBStore(f"iam-{uuid.uuid4().hex[:8]}", region="us-east-1",
                          endpoint_url=moto_endpoint)
    store.init()  # table creation is the deployment's job, not the function's
    used: set[str] = set()
    kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
             "ConditionCheck": "ConditionCheckItem"}

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems":  # IAM authorizes each item's own action
            used.update(f"dynamodb:{kinds[k]}" for item in params["TransactItems"]
                        for k in item)
        else:
            used.add(f"dynamodb:{model.name}")

    store.client.meta.events.register("provide-client-params.dynamodb.*",
                                      lambda params, model, **kw: record(model, params))
    from banditbot import build_service

    service = build_service(EXAMPLES, store, init=False)
    d = service.decide("random", "u1")
    service.reward(d.id, 1, "u1")
    service.reward(d.id, 1, "u1")  # a duplicate
    service.cheat("random", "arm1", "10")
    service.set_prior("random", "arm1", 2, 3)
    service.report("random")
    list(service.decisions("random"))
    store.claim_key("update:1", 60)
    store.add_counters("c", {"n": 1.0})
    store.read_counters("c")
    store.write_document("doc", "{}", 0)
    store.read_document("doc")
    store.pending_decisions("random", 0, time.time() + 10)
    store.admin_log("random")
    store.close()
    assert used == granted, (used - granted, granted - used)


def _getme_calls(double: BotApiDouble) -> int:
    return sum(1 for method, _ in double.calls if method == "getMe")


def test_the_api_serves_while_telegram_is_down_and_the_bot_connects_later(
        lambda_env: dict[str, str], double: BotApiDouble,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A new-user trial found every invocation failing while Telegram refused getMe at a cold
    start (/healthz and /v1 included), each one fetching the SSM parameters and calling
    getMe again: the API serves, Telegram events are answered 503 (Telegram delivers them
    again) and only they try getMe again, at most once per retry interval; a request with
    a wrong secret tries nothing (a stranger cannot make the function call Telegram)."""
    import banditbot.aws as aws

    now = [1000.0]
    monkeypatch.setattr(aws, "_clock", lambda: now[0])
    double.refuse["getMe"] = [502, "Bad Gateway", 1]
    handler = LambdaApp()
    body = _update(double, 11)
    assert handler(http_api_event(body), None)["statusCode"] == 503
    assert _getme_calls(double) == 1
    for path in ("/healthz", "/readyz", "/", "/v1/experiments"):
        response = handler(http_api_event(b"", path=path, method="GET", secret=None), None)
        assert response["statusCode"] in (200, 401), (path, response)
    assert _getme_calls(double) == 1  # the API did not retry Telegram
    assert handler(http_api_event(body), None)["statusCode"] == 503  # within the interval
    assert _getme_calls(double) == 1
    now[0] += aws._RETRY_SECONDS + 1
    stranger = handler(http_api_event(body, secret="not-the-secret"), None)
    assert stranger["statusCode"] == 403 and _getme_calls(double) == 1
    assert handler(http_api_event(body), None)["statusCode"] == 200  # redelivered: works
    assert _getme_calls(double) == 2
    assert len(double.chat_messages(501)) == 1
    assert handler(http_api_event(_update(double, 12)), None)["statusCode"] == 200
    assert _getme_calls(double) == 2


def test_a_refused_token_never_reaches_the_logs(lambda_env: dict[str, str],
                                                double: BotApiDouble,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    """python-telegram-bot's InvalidToken quotes the token: the handler's log lines (JSON,
    as serve writes them, with an access line per request) and answers never carry it."""
    wrong = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
    monkeypatch.setenv("TELEGRAM_TOKEN", wrong)
    handler = LambdaApp()
    first = handler(http_api_event(_update(double, 21)), None)
    second = handler(http_api_event(_update(double, 21)), None)
    health = handler(http_api_event(b"", path="/healthz", method="GET", secret=None), None)
    assert (first["statusCode"], second["statusCode"], health["statusCode"]) == (503, 503, 200)
    _, err = capfd.readouterr()
    assert wrong not in err and wrong.split(":")[1] not in err
    assert wrong not in json.dumps([first, second, health])
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert any("rejected the bot token" in x.get("message", "") for x in lines)
    assert any(x.get("path") == "/healthz" and x.get("status") == 200
               and x.get("method") == "GET" for x in lines)


@pytest.mark.parametrize("event", [{"foo": 1}, {}, {"body": "x"}])
def test_an_event_that_is_not_http_is_400(event: dict[str, Any]) -> None:
    response = LambdaApp()(event, None)
    assert response["statusCode"] == 400, response


def _log_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in err.splitlines() if x.startswith("{")]


def test_health_needs_no_store_and_an_unset_store_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    """Without BANDITBOT_STORE the handler used a SQLite banditbot.db in the working
    directory (the container's scratch space): it refuses, naming the variable in its log
    (not to whoever called). A new-user trial found /healthz answering 500 then: it says
    the function runs (docs/production.md: /readyz is the one that needs the store)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BANDITBOT_CONFIG", str(EXAMPLES))
    handler = LambdaApp()
    health = handler(http_api_event(b"", path="/healthz", method="GET", secret=None), None)
    assert health["statusCode"] == 200 and json.loads(health["body"]) == {"status": "ok"}
    ready = handler(http_api_event(b"", path="/readyz", method="GET", secret=None), None)
    assert ready["statusCode"] == 500
    assert "BANDITBOT_STORE" not in ready["body"]
    _, err = capfd.readouterr()
    assert any("BANDITBOT_STORE is not set" in x.get("message", "") for x in _log_lines(err))
    assert not (tmp_path / "banditbot.db").exists()


def test_a_broken_deployment_tells_callers_nothing_and_strangers_get_403(
        lambda_env: dict[str, str], double: BotApiDouble, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    """A new-user trial deployed an experiments file that was not in the package: every
    caller got 500 with ``my-experiments.yaml: cannot read the experiments file …``, a
    request with a wrong secret too (the service was built before the secret was checked).
    The secret is checked first; the reason goes to the log only."""
    monkeypatch.setenv("BANDITBOT_CONFIG", "my-experiments.yaml")
    handler = LambdaApp()
    stranger = handler(http_api_event(_update(double, 41), secret="not-the-secret"), None)
    assert stranger["statusCode"] == 403
    telegram = handler(http_api_event(_update(double, 41)), None)
    api = handler(http_api_event(b"", path="/v1/experiments", method="GET", secret=None),
                  None)
    assert telegram["statusCode"] == api["statusCode"] == 500
    for response in (stranger, telegram, api):
        assert "my-experiments.yaml" not in response["body"]
        assert "experiments file" not in response["body"]
    _, err = capfd.readouterr()
    said = [x.get("message", "") for x in _log_lines(err)]
    # the Lambda's fix, not the CLI's (a trial's log said "pass --config PATH")
    assert any("my-experiments.yaml: no experiments file there" in x and "ExperimentsFile" in x
               and "--config" not in x for x in said), said
    assert double.chat_messages(501) == []


@pytest.mark.parametrize("fault", ["table", "credentials"])
def test_a_store_not_set_up_names_no_table_to_anyone_and_is_not_retried(
        lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str], fault: str) -> None:
    """/readyz answers anyone: a missing table made it answer 503 with ``no table 'missing'
    here``. The body says the store is not set up and gives the request id; the log says
    which table. A store that is not set up is a 500 that says retrying will not help, on
    every route (an operator's trial: a mistyped table, missing credentials or a wrong
    region were answered 503 and logged as "retry in a moment", so clients retried a fault
    that never clears); the log names the table."""
    table = f"missing-{uuid.uuid4().hex[:8]}" if fault == "table" else lambda_env["TABLE"]
    monkeypatch.setenv("BANDITBOT_STORE", f"dynamodb://{table}?region=us-east-1"
                                          f"&endpoint_url={lambda_env['ENDPOINT']}")
    if fault == "credentials":  # (a second trial found these answered 503: the flag that
        # says retrying will not help was lost on the way)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # (it keeps what it resolved)
    app = LambdaApp()
    response = app(http_api_event(b"", path="/readyz", method="GET", secret=None), None)
    asked = http_api_event(b'{"subject": "u"}', path="/v1/experiments/random/decisions",
                           secret=None)
    asked["headers"]["authorization"] = "Bearer bb_some-key"  # (its check reads the store)
    decide = app(asked, None)
    for answered in (response, decide):
        assert answered["statusCode"] == 500
        problem = json.loads(answered["body"])
        assert problem["title"] == "store not set up" and problem["request_id"]
        assert table not in answered["body"] and "hint" not in problem
        assert "retry-after" not in {k.lower() for k in answered["headers"]}
    problem = json.loads(response["body"])
    _, err = capfd.readouterr()
    lines = _log_lines(err)
    named = table if fault == "table" else "no AWS credentials"
    assert any(named in x.get("message", "") and x.get("request_id") == problem["request_id"]
               for x in lines)
    assert not any("retry in a moment" in x.get("message", "") for x in lines)
    assert any("retrying will not help" in x.get("message", "") for x in lines)


class FakeLambdaContext:
    """The Lambda context's clock: the invocation ends ``timeout`` seconds after it began,
    on a fake clock."""

    def __init__(self, clock: FakeClock, timeout: float) -> None:
        self.clock = clock
        self.ends = clock.now + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.ends - self.clock.now) * 1000), 0)


def test_sustained_throttling_is_answered_503_before_the_timeout(
        lambda_env: dict[str, str], double: BotApiDouble, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    """A new-user trial throttled the table: webhook invocations answered 500 after 42.8 s
    and 45.2 s, past the template's 30 s timeout (Lambda kills the invocation before it logs
    anything). The store's retries stop within the invocation's remaining time (a fake
    clock: each request takes 0.05 s of it, each backoff its length): the update is answered
    503, unclaimed, with the cause in the log, and Telegram's redelivery is processed once
    the throttling is over."""
    from banditbot.stores import _dynamodb

    clock = FakeClock(0.0)
    monkeypatch.setattr(_dynamodb, "_clock", clock)
    monkeypatch.setattr(_dynamodb, "_sleep", clock.advance)
    with FlakyProxy(lambda_env["ENDPOINT"], failures=10**6, error=RATE,
                    on_request=lambda _: clock.advance(0.05)) as proxy:
        monkeypatch.setenv("BANDITBOT_STORE", f"dynamodb://{lambda_env['TABLE']}?region="
                                              f"us-east-1&endpoint_url={proxy.url}")
        handler = LambdaApp()
        context = FakeLambdaContext(clock, timeout=30)  # the template's Timeout
        response = handler(http_api_event(_update(double, 51)), context)
        assert response["statusCode"] == 503
        assert context.get_remaining_time_in_millis() > 0  # answered before the timeout
        assert proxy.seen > 2  # after retrying
        assert lambda_env["TABLE"] not in response["body"]
        _, err = capfd.readouterr()
        assert any("ThrottlingException" in x.get("message", "") and "on-demand" in
                   x.get("message", "") and x.get("status") == 503 for x in _log_lines(err))
        assert double.chat_messages(501) == []

        proxy.failures = 0  # the throttling is over; Telegram delivers the update again
        context = FakeLambdaContext(clock, timeout=30)
        assert handler(http_api_event(_update(double, 51)), context)["statusCode"] == 200
        assert len(double.chat_messages(501)) == 1


def _cfn_loader() -> type[yaml.SafeLoader]:
    """A YAML loader that reads CloudFormation's short tags as their long forms."""

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "GetAtt":
            return {"Fn::GetAtt": value.split(".")}
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", intrinsic)
    return Loader


def template_environment(lambda_env: dict[str, str], **parameters: str) -> dict[str, str]:
    """The function's environment as CloudFormation gives it: the template's parameter
    defaults (overridden by ``parameters``), conditions and intrinsic functions evaluated,
    the table being ``lambda_env``'s; its store URL then pointed at the emulator and its
    experiments file found in src/ (the package's root)."""
    doc = yaml.load((ROOT / "deploy" / "template.yaml").read_text(encoding="utf-8"),
                    Loader=_cfn_loader())
    values = {name: str(spec.get("Default", "")) for name, spec in doc["Parameters"].items()}
    values.update(parameters)
    values.update({"BanditTable": lambda_env["TABLE"], "AWS::Region": "us-east-1"})
    conditions: dict[str, bool] = {}

    def evaluate(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return values[arg]
            if key == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda m: values[m[1]], arg)
            if key == "Fn::Equals":
                return str(evaluate(arg[0])) == str(evaluate(arg[1]))
            if key == "Fn::Not":
                return not evaluate(arg[0])
            if key == "Fn::If":
                return evaluate(arg[1] if conditions[arg[0]] else arg[2])
        if isinstance(node, dict):
            return {k: evaluate(v) for k, v in node.items()}
        if isinstance(node, list):
            return [evaluate(v) for v in node]
        return node

    for name, condition in (doc.get("Conditions") or {}).items():
        conditions[name] = bool(evaluate(condition))
    variables = doc["Resources"]["BanditFunction"]["Properties"]["Environment"]["Variables"]
    env = {k: str(evaluate(v)) for k, v in variables.items()}
    env["BANDITBOT_STORE"] += f"&endpoint_url={lambda_env['ENDPOINT']}"
    env["BANDITBOT_CONFIG"] = str(ROOT / "src" / env["BANDITBOT_CONFIG"])
    return env


def _use_template(lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                  **parameters: str) -> None:
    env = template_environment(lambda_env, **parameters)
    for name in ("BANDITBOT_STORE", "BANDITBOT_CONFIG", "BANDITBOT_ADMINS"):
        monkeypatch.setenv(name, env.get(name, ""))


def test_the_template_keeps_decisions_unless_told_to_expire_them(
        lambda_env: dict[str, str], double: BotApiDouble,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A new-user trial found the template's default DecisionTtlDays (365) making DynamoDB
    delete decisions after a year while the statistics kept counting them (reports, exports
    and off-policy evaluation then disagree, silently). By default a decision carries no
    ``ttl``; with DecisionTtlDays it does."""
    client = boto3.client("dynamodb", region_name="us-east-1",
                          endpoint_url=lambda_env["ENDPOINT"])
    store = DynamoDBStore(lambda_env["TABLE"], region="us-east-1",
                          endpoint_url=lambda_env["ENDPOINT"])
    expiry: dict[str, bool] = {}
    for update_id, days in ((61, None), (62, "30")):
        _use_template(lambda_env, monkeypatch,
                      **({"DecisionTtlDays": days} if days is not None else {}))
        assert LambdaApp()(http_api_event(_update(double, update_id)), None)["statusCode"] \
            == 200
        for d in store.iter_decisions("random"):
            item = client.get_item(TableName=lambda_env["TABLE"],
                                   Key={"PK": {"S": f"DEC#{d.id}"}, "SK": {"S": "DEC"}})
            expiry.setdefault(d.id, "ttl" in item["Item"])
    assert sorted(expiry.values()) == [False, True]  # the default's decision kept; 30 days'
    assert len(double.chat_messages(501)) == 2


def test_the_templates_admins_may_run_admin_commands(
        lambda_env: dict[str, str], double: BotApiDouble,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A new-user trial followed the README's 5 steps with the packaged example
    (``admins: []``): every admin command answered "Not allowed", and the template had no
    way to name admins. Its AdminIds parameter does (BANDITBOT_ADMINS)."""
    store = DynamoDBStore(lambda_env["TABLE"], region="us-east-1",
                          endpoint_url=lambda_env["ENDPOINT"])

    def cheat(user_id: int, update_id: int) -> str:
        update = double.message_update(double.user(user_id), user_id, "/cheat random arm1 1")
        update["update_id"] = update_id
        response = LambdaApp()(http_api_event(json.dumps(update).encode()), None)
        assert response["statusCode"] == 200
        return str(double.chat_messages(user_id)[-1].text)

    _use_template(lambda_env, monkeypatch)  # the defaults: nobody
    assert "Not allowed" in cheat(1001, 71)
    _use_template(lambda_env, monkeypatch, AdminIds="1001,1002")
    assert "Not allowed" not in cheat(1001, 72)
    assert "Not allowed" in cheat(501, 73)
    stats = store.read_stats("random", 0, None, ("arm1",))
    assert (stats.pulls[0], stats.total[0]) == (1.0, 1.0)  # the admin's one reward


@pytest.mark.parametrize("which", ["TELEGRAM_TOKEN_PARAMETER",
                                   "BANDITBOT_WEBHOOK_SECRET_PARAMETER"])
def test_an_unreadable_ssm_parameter_is_named_in_the_log(
        lambda_env: dict[str, str], double: BotApiDouble, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str], which: str) -> None:
    """A trial's mistyped parameter was logged as ``"error": "ParameterNotFound"`` with no
    word of which name was asked for (a name is no secret; its value is)."""
    typo = f"/{lambda_env['TABLE']}/typo"
    monkeypatch.setenv(which, typo)
    answered = LambdaApp()(http_api_event(_update(double, 61)), None)
    assert answered["statusCode"] == 503
    _, err = capfd.readouterr()
    said = [x.get("message", "") for x in _log_lines(err)]
    assert any(f"SSM parameter {typo} unreadable (ParameterNotFound)" in x for x in said), said
    assert double.token not in err and SECRET not in err


def test_two_events_at_once_in_one_container_are_both_answered(
        lambda_env: dict[str, str], double: BotApiDouble) -> None:
    """Lambda sends one event at a time, but a local harness may call the handler from
    threads: a trial's two presses at once got "This event loop is already running", a 500
    and an update never processed. The loop takes one event at a time."""
    from concurrent.futures import ThreadPoolExecutor

    handler = LambdaApp()
    assert handler(http_api_event(_update(double, 70)), None)["statusCode"] == 200  # (built)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: handler(http_api_event(_update(double, 71 + i)),
                                                  None), range(8)))
    assert [a["statusCode"] for a in answers] == [200] * 8
    assert len(double.chat_messages(501)) == 9  # every /random answered with its prompt
