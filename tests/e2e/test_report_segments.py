"""``banditbot report EXP --by FEATURE`` and ``GET /v1/experiments/{id}/report?by=``: a
contextual experiment's arms per value of a context feature, on that value's decisions
alone — the question the whole report cannot answer ("which greeting works best for
premium users?")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from banditbot import build_service

from ..conftest import cli_sqlite_service, run_cli
from ..http_client import HTTP
from ..telegram_double import ServerThread

CONFIG = """\
experiments:
- id: greet
  policy: linucb
  floor: 0.1
  arms: [{id: formal, content: Good day}, {id: casual, content: Hey}, {id: emoji, content: 👋}]
  features:
    - {name: is_premium, type: categorical, values: [true, false]}
    - {name: language, type: categorical, values: [en, de]}
    - {name: hour, type: cyclic}
    - {name: returning, type: numeric}
    - {name: past_rate, type: numeric, center: 0.5}
- id: plain
  arms: [{id: a, content: A}, {id: b, content: B}]
"""
#: P(👍 | premium, arm): formal is best for premium users, casual for the rest (0.15-0.6
#: apart); over everyone (40% premium) casual 0.38, formal 0.33: close
RATE = {True: {"formal": 0.6, "casual": 0.2, "emoji": 0.15},
        False: {"formal": 0.15, "casual": 0.5, "emoji": 0.2}}
DECISIONS = 1500


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A SQLite store with 1,500 answered LinUCB decisions of ``greet`` (fixed seeds) and 30
    of ``plain`` whose contexts carry a ``plan`` (text) or nothing; the CLI's store options."""
    svc, options = cli_sqlite_service(tmp_path_factory.mktemp("segments"), CONFIG, "seg.db", 1)
    rng = np.random.default_rng(101)
    for t in range(DECISIONS):
        premium = bool(rng.random() < 0.4)
        d = svc.decide("greet", f"u{t}", {
            "is_premium": premium, "language": "en" if rng.random() < 0.6 else "de",
            "hour": int(rng.integers(24)), "returning": bool(rng.random() < 0.5),
            "past_rate": round(float(rng.random()), 2)})
        svc.reward(d.id, int(rng.random() < RATE[premium][d.arm]), f"u{t}")
    for t in range(30):
        context = None if t % 10 == 9 else {"plan": "pro" if t % 3 == 0 else "free"}
        d = svc.decide("plain", f"p{t}", context)
        svc.reward(d.id, t % 2, f"p{t}")
    svc.store.close()
    return options


def test_each_segment_names_its_own_best_arm_where_the_whole_report_cannot(
        logged: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Premium users are best served by formal, the rest by casual: the whole report
    (an estimate over all contexts) names no winner, the view by is_premium names each
    segment's leader, and says what its numbers are of."""
    code, whole, err = run_cli(["report", "greet", *logged], capsys)
    assert code == 0, err
    assert "winner" not in whole.split("status:")[1].split("\n")[0]
    code, out, err = run_cli(["report", "greet", "--by", "is_premium", *logged], capsys)
    assert code == 0, err
    text = " ".join(out.split())  # the caption wraps at the terminal's width
    assert "is_premium=true: formal leads" in text
    assert "is_premium=false: casual leads" in text
    assert "of: each arm's mean reward among the decisions with is_premium = the " \
           "segment's value, if that arm were sent to all of them" in text
    assert "P(a wrong leader in any segment) <= 5%" in text


def test_the_json_view_gives_each_segments_arms_with_intervals(
        logged: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["report", "greet", "--by", "language", "--json", *logged], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["by"] == "language" and doc["kind"] == "categorical"
    assert [s["label"] for s in doc["segments"]] == ["en", "de"]  # the declared order
    assert sum(s["decisions"] for s in doc["segments"]) == DECISIONS
    for s in doc["segments"]:
        assert [a["arm"] for a in s["arms"]] == ["formal", "casual", "emoji"]
        assert sum(a["answered"] for a in s["arms"]) == s["answered"] == s["decisions"]
        for a in s["arms"]:
            assert a["low"] <= a["estimate"] <= a["high"]
            assert a["anytime_low"] <= a["estimate"] <= a["anytime_high"]


def test_a_numeric_feature_that_holds_true_and_false_is_split_as_a_boolean(
        logged: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["report", "greet", "--by", "returning", "--json", *logged],
                             capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "boolean"
    assert [s["label"] for s in doc["segments"]] == ["true", "false"]


@pytest.mark.parametrize(("feature", "said"), [
    ("hour", "'hour' is a cyclic feature of greet (period 24)"),
    ("past_rate", "'past_rate' is a numeric feature of greet (the log holds "),
    ("tier", "greet has no feature 'tier' to split by"),
])
def test_a_feature_that_cannot_be_split_by_is_refused_naming_those_that_can(
        logged: list[str], capsys: pytest.CaptureFixture[str], feature: str,
        said: str) -> None:
    code, out, err = run_cli(["report", "greet", "--by", feature, *logged], capsys)
    assert code == 2 and out == ""
    assert said in err
    assert "categorical features of greet: is_premium, language" in " ".join(err.split())


def test_an_experiment_without_features_is_split_by_a_key_its_contexts_carry(
        logged: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """decide --context logs a context a plain experiment does not use: its view splits
    by a key of it, keeps the decisions without one apart, and marks the segments with
    too few answers for a point."""
    code, out, err = run_cli(["report", "plain", "--by", "plan", *logged], capsys)
    assert code == 0, err
    text = " ".join(out.split())
    assert "plan=pro: no leader yet; too few answers for a point yet: a, b" in text
    # b has 12 answers among the free plan's decisions: a point, and not on the list
    assert "plan=free: no leader yet; too few answers for a point yet: a plan=pro" in text
    assert "plan=(not given)" in text and "plan=pro" in text
    assert "plain declares no features: its policy does not read the context" in text
    code, _, err = run_cli(["report", "plain", "--by", "tier", *logged], capsys)
    assert code == 2 and "no decision of plain in this generation has 'tier' in its " \
                         "context; context keys in its log: plan" in " ".join(err.split())


def test_by_needs_one_experiment_and_has_no_chart(
        logged: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["report", "--by", "is_premium", *logged], capsys)
    assert code == 2 and "--by needs one experiment" in err
    code, _, err = run_cli(["report", "greet", "--by", "is_premium", "--png",
                            str(tmp_path / "x.png"), *logged], capsys)
    assert code == 2 and "--by has no chart" in err and not (tmp_path / "x.png").exists()


@pytest.fixture
def api(logged: list[str]) -> Iterator[tuple[str, str]]:
    from banditbot.api import create_app
    from banditbot.service import KeyRing

    svc = build_service(logged[1], logged[3])
    ring = KeyRing(svc.store, svc.config.api_keys)
    key = ring.create("reader", "read")[0]
    with ServerThread(create_app(svc, keys=ring)) as url:
        yield url, key
    svc.store.close()


def test_the_api_report_takes_by_and_refuses_what_the_cli_refuses(api: Any) -> None:
    url, key = api
    headers = {"Authorization": f"Bearer {key}"}
    r = HTTP.get(f"{url}/v1/experiments/greet/report", params={"by": "is_premium"},
                 headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert {s["label"]: s["leader"] for s in doc["segments"]} == {"true": "formal",
                                                                  "false": "casual"}
    refused = HTTP.get(f"{url}/v1/experiments/greet/report", params={"by": "hour"},
                       headers=headers, timeout=30)
    assert refused.status_code == 400
    assert "categorical features of greet: is_premium, language" in refused.text
    whole = HTTP.get(f"{url}/v1/experiments/greet/report", headers=headers, timeout=30)
    assert "segments" not in whole.json() and whole.json()["arms"]
