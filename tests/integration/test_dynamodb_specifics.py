"""DynamoDB beyond the conformance suite: retries, exhausted retries, numbers, init, URLs."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import boto3
import numpy as np
import pytest

from banditbot import ConfigError, StoreError
from banditbot.stores import DecisionRecord, open_store
from banditbot.stores._dynamodb import DynamoDBStore, item_bytes

from ..conftest import EXAMPLES, FakeClock, run_cli
from ..flaky_proxy import RATE, FlakyProxy


@pytest.fixture
def table(moto_endpoint: str) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    DynamoDBStore(name, region="us-east-1", endpoint_url=moto_endpoint).init()
    return name


def _decision(propensity: float = 1 / 3) -> DecisionRecord:
    return DecisionRecord(
        id=secrets.token_urlsafe(16), experiment="e", generation=0, scope="", arm="a",
        propensity=propensity, arms=("a", "b", "c"),
        probabilities=np.array([propensity, 0.1 + 0.2, 1 - propensity - (0.1 + 0.2)]),
        policy="{}", subject="u", created_at=1_700_000_000.123456)


def test_throttling_is_retried_with_backoff(moto_endpoint: str, table: str) -> None:
    with FlakyProxy(moto_endpoint, failures=3) as proxy:
        store = DynamoDBStore(table, region="us-east-1", endpoint_url=proxy.url,
                              max_attempts=6)
        d = _decision()
        store.record_decision(d)  # three throttled attempts, then it goes through
        assert proxy.seen == 4
    direct = DynamoDBStore(table, region="us-east-1", endpoint_url=moto_endpoint)
    assert direct.get_decision(d.id) is not None


def test_exhausted_retries_raise_store_error_and_write_nothing(moto_endpoint: str,
                                                               table: str) -> None:
    with FlakyProxy(moto_endpoint, failures=10**6) as proxy:
        store = DynamoDBStore(table, region="us-east-1", endpoint_url=proxy.url,
                              max_attempts=3)
        d = _decision()
        with pytest.raises(StoreError) as err:
            store.record_decision(d)
        assert "ProvisionedThroughputExceeded" in str(err.value)
        assert "on-demand" in str(err.value)  # a fix that fits throttling
        assert proxy.seen == 3, proxy.targets
    direct = DynamoDBStore(table, region="us-east-1", endpoint_url=moto_endpoint)
    assert direct.get_decision(d.id) is None
    assert direct.read_stats("e", 0, "", ("a",)).pulls.tolist() == [0.0]


def test_the_cli_says_how_to_fix_throttling(moto_endpoint: str, table: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user trial found sustained throttling reported as "Rate exceeded (check the
    table, credentials and region)": none of those is wrong; the table's capacity is."""
    with FlakyProxy(moto_endpoint, failures=10**6, error=RATE) as proxy:
        url = f"dynamodb://{table}?region=us-east-1&endpoint_url={proxy.url}&max_attempts=2"
        code, _, err = run_cli(["report", "random", "--config", str(EXAMPLES),
                                "--store", url], capsys)
    assert code == 2
    assert "Rate exceeded" in err
    assert "on-demand mode" in err and "retry later" in err
    assert "credentials" not in err


def test_an_endpoint_that_is_not_dynamodb_is_named_in_one_line(
        moto_endpoint: str, table: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial's endpoint with a wrong path printed the web server's 404 page, HTML and all,
    then "check the table, credentials and region"; one line now names the endpoint."""
    url = f"dynamodb://{table}?region=us-east-1&endpoint_url={moto_endpoint}/foo"
    code, _, err = run_cli(["report", "random", "--config", str(EXAMPLES), "--store", url],
                           capsys)
    assert code == 2 and "<" not in err and len(err.strip().splitlines()) == 1, err
    assert "answered with a web page" in err and f"{moto_endpoint}/foo" in err


def test_a_time_limit_stops_retrying_before_it_ends(moto_endpoint: str, table: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Under sustained throttling, a store call inside ``time_limit(10)`` retries with
    backoff, then gives up: no attempt starts after the 10 s (on a fake clock: each request
    takes 0.05 s of it, each backoff its own length; one that starts in time finishes, as
    ``time_limit`` says), and a call after the limit is not sent. (It asserted the clock
    below 10 s after the last request: a jittered backoff that ended within 0.05 s of the
    limit failed it now and then.)"""
    from banditbot.stores import _dynamodb

    clock = FakeClock(0.0)
    starts: list[float] = []

    def request(_: str) -> None:
        starts.append(clock.now)
        clock.advance(0.05)

    monkeypatch.setattr(_dynamodb, "_clock", clock)
    monkeypatch.setattr(_dynamodb, "_sleep", clock.advance)
    with FlakyProxy(moto_endpoint, failures=10**6, error=RATE, on_request=request) as proxy:
        store = DynamoDBStore(table, region="us-east-1", endpoint_url=proxy.url,
                              max_attempts=20)
        with store.time_limit(10.0):
            with pytest.raises(StoreError) as err:
                store.record_decision(_decision())
            assert max(starts) < 10.0  # no attempt started after the limit
            assert proxy.seen > 2  # after retrying
            assert "retries stopped at the time limit" in str(err.value)
            assert "on-demand" in str(err.value)
            clock.advance(10.0)
            sent = proxy.seen
            with pytest.raises(StoreError, match="time limit was reached"):
                store.read_meta("e")
            assert proxy.seen == sent
        proxy.failures = 0  # outside the block: no limit, and the throttling is over
        d = _decision()
        store.record_decision(d)
        assert store.get_decision(d.id) is not None


def test_numbers_round_trip_exactly(moto_endpoint: str, table: str) -> None:
    store = DynamoDBStore(table, region="us-east-1", endpoint_url=moto_endpoint)
    d = _decision()
    store.record_decision(d)
    got = store.get_decision(d.id)
    assert got is not None
    assert got.propensity == 1 / 3  # exact, not 0.3333333333333333148 or a Decimal
    assert got.probabilities.tolist() == d.probabilities.tolist()
    assert got.created_at == d.created_at
    store.apply_reward(d.id, 0.1, 2.0)
    for _ in range(2):
        e = _decision()
        store.record_decision(e)
        store.apply_reward(e.id, 0.1, 2.0)
    total = store.read_stats("e", 0, "", ("a",)).total[0]
    assert isinstance(total, float)
    assert total == pytest.approx(0.3, abs=1e-12)


def test_a_failed_transaction_changes_nothing(moto_endpoint: str, table: str) -> None:
    """The emulator keeps DynamoDB's all-or-nothing transactions (conftest mends how it
    backs up before one): an update, a put and a delete followed by a failed condition leave
    every item as it was, and the same transaction without the failing check applies."""
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_endpoint)
    key = {"PK": {"S": "k"}, "SK": {"S": "one"}}
    client.put_item(TableName=table, Item={**key, "n": {"N": "1"}})
    client.put_item(TableName=table, Item={"PK": {"S": "k"}, "SK": {"S": "gone"}})
    ops: list[dict[str, Any]] = [
        {"Update": {"TableName": table, "Key": key, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Put": {"TableName": table, "Item": {"PK": {"S": "k"}, "SK": {"S": "new"}}}},
        {"Delete": {"TableName": table, "Key": {"PK": {"S": "k"}, "SK": {"S": "gone"}}}}]
    failing = {"ConditionCheck": {"TableName": table,
                                  "Key": {"PK": {"S": "k"}, "SK": {"S": "absent"}},
                                  "ConditionExpression": "attribute_exists(PK)"}}

    def items() -> dict[str, Any]:
        got = client.query(TableName=table, KeyConditionExpression="PK = :k",
                           ExpressionAttributeValues={":k": {"S": "k"}})["Items"]
        return {i["SK"]["S"]: i.get("n", {}).get("N") for i in got}

    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=[*ops, failing])
    assert items() == {"one": "1", "gone": None}
    client.transact_write_items(TransactItems=ops)
    assert items() == {"one": "2", "new": None}


def test_every_attribute_type_reads_back_as_written(moto_endpoint: str, table: str) -> None:
    """What the emulator writes back (conftest writes the items of a read reply itself) is
    what was put, for every attribute type, through GetItem, Query and a missing item."""
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_endpoint)
    item = {"PK": {"S": "k"}, "SK": {"S": "é"}, "n": {"N": "1.5E-16"},
            "b": {"B": b"\x00\xffab"}, "bs": {"BS": [b"\x01", b"\x02"]},
            "t": {"BOOL": True}, "z": {"NULL": True},
            "l": {"L": [{"S": "a"}, {"N": "2"}, {"M": {"q": {"B": b"zz"}}}]},
            "m": {"M": {"x": {"SS": ["a", "b"]}, "y": {"NS": ["1", "2"]}}}}
    client.put_item(TableName=table, Item=item)
    key = {"PK": {"S": "k"}, "SK": {"S": "é"}}
    assert client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == item
    reply = client.query(TableName=table, KeyConditionExpression="PK = :k",
                         ExpressionAttributeValues={":k": {"S": "k"}})
    assert reply["Items"] == [item] and reply["Count"] == 1
    assert "Item" not in client.get_item(TableName=table, Key={**key, "SK": {"S": "x"}})


def test_init_is_idempotent_and_enables_ttl(moto_endpoint: str) -> None:
    import boto3

    name = f"t-{uuid.uuid4().hex[:10]}"
    store = DynamoDBStore(name, region="us-east-1", endpoint_url=moto_endpoint, ttl_days=30)
    store.init()
    store.init()
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    desc = client.describe_table(TableName=name)["Table"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    d = _decision()
    store.record_decision(d)
    item = client.get_item(TableName=name, Key={"PK": {"S": f"DEC#{d.id}"},
                                                 "SK": {"S": "DEC"}})["Item"]
    assert int(item["ttl"]["N"]) == int(d.created_at + 30 * 86400)


@pytest.mark.parametrize(("url", "kind"), [
    ("sqlite:///x.db", "SQLiteStore"),
    ("memory://", "MemoryStore"),
    ("dynamodb://tbl?region=eu-west-1&endpoint_url=http://127.0.0.1:1", "DynamoDBStore"),
])
def test_store_urls(url: str, kind: str) -> None:
    assert type(open_store(url)).__name__ == kind


@pytest.mark.parametrize(("days", "kept"), [("0", None), ("30", 30.0), ("0.5", 0.5)])
def test_ttl_days_0_keeps_every_decision_as_the_template_says(days: str,
                                                              kept: float | None) -> None:
    """The template's DecisionTtlDays=0 means "never expire"; the URL's ttl_days=0 was
    refused ("not a number from 1e-06 to 36500")."""
    store: Any = open_store(f"dynamodb://tbl?region=eu-west-1&ttl_days={days}")
    assert store.ttl_days == kept


@pytest.mark.parametrize("url", ["mysql://x", "sqlite://", "dynamodb://", "nonsense"])
def test_bad_store_urls_say_what_works(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        open_store(url)
    assert repr(url) in err.value.message
    assert err.value.hint is not None and err.value.hint.startswith("use ")


@pytest.mark.parametrize("name", ["b", "bad%20name", "a/b", "x" * 256])
def test_a_table_name_dynamodb_would_refuse_is_refused_when_parsed(name: str) -> None:
    """moto created tables named "b" and "bad%20name"; DynamoDB itself would refuse them
    (3-255 letters, digits, _ . -), so a URL that works against the emulator failed in AWS."""
    with pytest.raises(ConfigError, match="not a DynamoDB table name") as err:
        open_store(f"dynamodb://{name}?region=eu-west-1")
    assert err.value.hint is not None and "3-255" in err.value.hint


def test_a_write_command_never_creates_a_table(moto_endpoint: str, table: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`decide` on a mistyped table name: refused, saying how to create a table, and no
    table made (it created one and started the experiment afresh there); on the real
    table the same command works."""
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_endpoint)
    before = set(client.list_tables()["TableNames"])
    typo = f"dynamodb://{table}x?region=us-east-1&endpoint_url={moto_endpoint}"
    code, _, err = run_cli(["decide", "greeting", "--subject", "u", "--store", typo,
                            "--config", str(EXAMPLES)], capsys)
    assert code == 2 and "ResourceNotFoundException" in err and "banditbot init-db" in err
    assert set(client.list_tables()["TableNames"]) == before
    good = f"dynamodb://{table}?region=us-east-1&endpoint_url={moto_endpoint}"
    code, out, _ = run_cli(["decide", "greeting", "--subject", "u", "--store", good,
                            "--config", str(EXAMPLES)], capsys)
    assert code == 0 and '"arm"' in out
    # and it says where it points: an emulator's endpoint is part of the printed URL
    assert open_store(good).url == good


@pytest.mark.parametrize("layout", ["no-index", "other-keys"])
def test_init_refuses_a_table_of_another_layout(moto_endpoint: str, layout: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user trial found `init-db` said "store ready" for a table without the GSI1
    index (or with other key names), and later commands said "no table … create it with
    banditbot init-db": init compares the layout and names what differs."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    key = "PK" if layout == "no-index" else "id"
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    url = f"dynamodb://{name}?region=us-east-1&endpoint_url={moto_endpoint}"
    with pytest.raises(StoreError) as err:
        open_store(url).init()
    assert "GSI1" in err.value.message and err.value.hint
    if layout == "other-keys":
        assert "id (HASH)" in err.value.message
    if layout == "no-index":  # a command on it (no init) does not say "create the table"
        with pytest.raises(StoreError) as err:
            list(open_store(url).iter_decisions("e"))
        assert err.value.hint and "lacks the index GSI1" in err.value.hint
        assert "init-db says what differs" in err.value.hint
    code, out, stderr = run_cli(["init-db", "--store", url], capsys)
    assert code == 2 and "store ready" not in out + stderr
    assert "no global secondary index GSI1" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_init_accepts_its_own_table_again(moto_endpoint: str, table: str) -> None:
    DynamoDBStore(table, region="us-east-1", endpoint_url=moto_endpoint).init()


def test_an_endpoint_url_without_a_scheme_is_refused_when_parsed() -> None:
    with pytest.raises(ConfigError) as err:
        open_store("dynamodb://tbl?endpoint_url=localhost:19500&region=us-east-1")
    assert "endpoint_url needs http:// or https://" in str(err.value)


def test_a_missing_region_says_how_to_give_one(moto_endpoint: str,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for var in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/banditbot-test-config")
    url = f"dynamodb://t-{uuid.uuid4().hex[:8]}?endpoint_url={moto_endpoint}"
    code, _, err = run_cli(["init-db", "--store", url], capsys)
    assert code == 2 and "no AWS region" in err
    assert "?region=" in err and "AWS_DEFAULT_REGION" in err
    assert len(err.strip().splitlines()) == 1


def test_a_report_says_answers_may_have_expired_with_their_decisions(
        moto_endpoint: str, table: str) -> None:
    """With ttl_days, DynamoDB deletes old decisions while the statistics keep counting
    them: a trial's report then said their answers were "sticky, added by hand or
    imported", which they were not. It names the expiry among the reasons."""
    from banditbot import BanditService, parse_config

    store = DynamoDBStore(table, region="us-east-1", endpoint_url=moto_endpoint, ttl_days=1)
    svc = BanditService(parse_config({"experiments": [{"id": "e", "burn_in": 0, "arms": [
        {"id": "a", "content": "A"}, {"id": "b", "content": "B"}]}]}), store,
        rng=np.random.default_rng(3))
    ids = []
    for i in range(12):
        d = svc.decide("e", f"u{i}")
        svc.reward(d.id, float(i % 2), f"u{i}")
        ids.append(d.id)
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    for decision_id in ids[:6]:  # what DynamoDB's TTL does, some time after a day
        client.delete_item(TableName=table, Key={"PK": {"S": f"DEC#{decision_id}"},
                                                 "SK": {"S": "DEC"}})
    kind = svc.report("e").estimate_kind
    assert "6 answers outside the policy's draws (sticky, added by hand, imported or " \
        "expired from the log) are not in it" in kind


def test_a_discounts_reward_is_one_request(moto_endpoint: str, table: str) -> None:
    """A reward to a discounted experiment read the meta first (to learn the half-life its
    epoch's sums are for): two DynamoDB requests where every other reward makes one (a
    trial counted them). The half-life comes from the view the service built last."""
    from banditbot import BanditService, parse_config

    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_endpoint)
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb",
                                lambda model, **_: calls.append(model.name))
    clock = FakeClock()
    svc = BanditService(parse_config({"experiments": [{
        "id": "drift", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
        "policy": {"name": "discounted-thompson", "half_life": "1d"},
        "time_bucket_seconds": 3600}]}),
        DynamoDBStore(table, region="us-east-1", client=client),
        rng=np.random.default_rng(1), clock=clock)
    first = svc.decide("drift", "u")
    svc.reward(first.id, 1, "u")  # (the bucket's first reward also prunes, once)
    d = svc.decide("drift", "u")
    calls.clear()
    assert svc.reward(d.id, 1, "u").applied
    assert calls == ["TransactWriteItems"]
    stats = svc.store.read_stats("drift", 0, "", ("a", "b"))
    assert any(name.startswith("ew.") for f in stats.extra.values() for name in f)


def test_whether_the_table_is_there_asks_once_and_says_what_failed(table: str) -> None:
    """`serve` and the CLI's writes ask DescribeTable whether the table is there: a role
    that may not ask is let through (the function's role has only four actions), any other
    refusal is one StoreError from the first answer (a review found it asked again and
    reported the second answer, or raised botocore's own error), and an empty message from
    DynamoDB is no IndexError."""
    from botocore.stub import Stubber

    client = boto3.client("dynamodb", region_name="us-east-1",
                          endpoint_url="http://127.0.0.1:9")  # (stubbed: never sent)
    store = DynamoDBStore(table, region="us-east-1", client=client)
    with Stubber(client) as stub:
        stub.add_client_error("describe_table", "AccessDeniedException", "not allowed")
        assert store.table_exists() is True
        stub.add_client_error("describe_table", "ResourceNotFoundException", "")
        assert store.table_exists() is False
        stub.add_client_error("describe_table", "ThrottlingException", "")
        with pytest.raises(StoreError, match="describe_table failed: ThrottlingException") \
                as refused:
            store.table_exists()
        stub.assert_no_pending_responses()
    assert "on-demand" in (refused.value.hint or "")


def test_time_buckets_live_apart_so_decisions_and_rewards_stay_cheap(
        moto_endpoint: str, table: str) -> None:
    """DynamoDB charges a read and a write by the whole item's size. The arm's statistics
    item held every time bucket (a discount keeps 50 half-lives of them): at hourly buckets
    for a 20-hour half-life, ~62 KB, so each decision's read cost ~16 read units an arm and
    each decision's and reward's write ~63 write units (docs/dynamodb.md). The buckets now
    live in items of 32: the arm's item stays small, a read without buckets does not touch
    them, and every bucket is still read back where it is asked for."""
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_endpoint)
    store = DynamoDBStore(table, region="us-east-1", client=client)
    grid = "@3600.0"
    decisions, extras = [], []
    for i in range(300):  # a reward in each of 300 hourly buckets
        decisions.append(_decision()._replace(reward=1.0))
        extras.append({f"tb.{i}.n{grid}": 1.0, f"tb.{i}.s{grid}": 0.5 + i / 1000,
                       f"tb.{i}.q{grid}": (0.5 + i / 1000) ** 2, f"ec.{i // 256}{grid}": 1.0})
    for start in range(0, 300, 10):
        store.record_manual(decisions[start:start + 10], extras[start:start + 10])

    def items(partition: str) -> list[dict[str, Any]]:
        return client.query(TableName=table, KeyConditionExpression="PK = :pk",
                            ExpressionAttributeValues={":pk": {"S": partition}})["Items"]

    (own,) = items("STATS#e#0")
    assert not [name for name in own if name.startswith("x:tb.")]
    assert item_bytes(own) < 1024  # one write unit (it held ~9 KB of buckets here)
    buckets = items("TB#e#0")
    assert len(buckets) == 10  # 300 buckets, 32 an item
    assert max(item_bytes(item) for item in buckets) < 4 * 1024  # one read unit each
    assert all(len([n for n in item if n.startswith("x:tb.")]) <= 32 * 3 for item in buckets)

    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb",
                                lambda model, **_: calls.append(model.name))
    lean = store.read_stats("e", 0, "", ("a", "b", "c"), time_buckets=False)
    assert calls == ["Query"] and not [f for f in lean.extra.get("a", {}) if f[:3] == "tb."]
    assert lean.extra["a"][f"ec.1{grid}"] == 300 - 256
    full = store.read_stats("e", 0, "", ("a", "b", "c"))
    fields = full.extra["a"]
    assert len([f for f in fields if f.startswith("tb.")]) == 900
    assert fields[f"tb.299.s{grid}"] == 0.5 + 299 / 1000
    assert full.pulls[0] == full.n[0] == 300  # (the counters, from the arm's own item)

    # old buckets go from their items as from the arm's: pruned, and folded into a total
    store.drop_extra("e", 0, [f"tb.{i}.{x}{grid}" for i in range(64) for x in "nsq"])
    store.drop_extra("e", 0, [f"ec.0{grid}"], keep_total=f"ec.base{grid}")
    after = store.read_stats("e", 0, "", ("a", "b", "c")).extra["a"]
    assert len([f for f in after if f.startswith("tb.")]) == 900 - 64 * 3
    assert len(items("TB#e#0")) == 8  # (two items' buckets all gone: the items too)
    assert after[f"ec.base{grid}"] == 256 and f"ec.0{grid}" not in after


def test_a_scope_that_begins_like_another_is_not_read_as_it(moto_endpoint: str,
                                                             table: str) -> None:
    """A review found that a read of one scope's statistics (a key prefix) also summed
    every scope that begins with it and ``#A#``: a subject named ``x#A#y`` added to the
    bandit of subject ``x``. Each scope reads its own."""
    store = DynamoDBStore(table, region="us-east-1", endpoint_url=moto_endpoint)
    for scope in ("subject:x", "subject:x#A#y"):
        d = _decision()._replace(scope=scope, reward=1.0)
        store.record_manual([d], [{"tb.5.n@60.0": 1.0, "ips_total": 2.0}])
    for scope in ("subject:x", "subject:x#A#y"):
        stats = store.read_stats("e", 0, scope, ("a", "b", "c"))
        assert stats.pulls.tolist() == [1.0, 0.0, 0.0]
        assert stats.extra["a"] == {"tb.5.n@60.0": 1.0, "ips_total": 2.0}


def test_a_decision_reads_time_buckets_only_where_the_experiment_keeps_them(
        moto_endpoint: str, table: str) -> None:
    """With the buckets in items of their own, every read of the extra statistics asked a
    second ``Query`` for them, buckets or none (an experiment with importance-weighted sums
    paid a round trip and a read unit a decision for nothing). An experiment without time
    buckets asks one."""
    from banditbot import BanditService, parse_config

    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_endpoint)
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb",
                                lambda model, **_: calls.append(model.name))
    svc = BanditService(parse_config({"experiments": [{
        "id": "ips", "arms": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
        "policy": "exp3", "burn_in": 0}]}),
        DynamoDBStore(table, region="us-east-1", client=client), rng=np.random.default_rng(1))
    svc.reward(svc.decide("ips", "u").id, 1, "u")
    calls.clear()
    svc.decide("ips", "u")
    assert calls.count("Query") == 1, calls
