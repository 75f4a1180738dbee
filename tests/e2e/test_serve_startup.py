"""What `banditbot serve` says when it starts: the experiments file and the store it serves
(a new-user trial ran it in an empty folder and it served the packaged example silently),
and, on an in-memory store, where an API key can come from."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from banditbot.stores import open_store

from ..conftest import EXAMPLES, postgres_schema_url
from ..http_client import HTTP
from ..serve_process import start_serve, wait_healthy


def _serve_and_stop(tmp_path: Path, env: dict[str, str], *args: str,
                    then: Any = None) -> list[dict[str, Any]]:
    """Start serve, call ``then(base)`` once it answers, stop it; its log lines."""
    env.pop("TELEGRAM_TOKEN", None)
    proc, base, log_path = start_serve(tmp_path, env, *args)
    try:
        wait_healthy(base, proc, log_path)
        if then is not None:
            then(base)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]


def _served(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in lines if x["logger"] == "banditbot.serve"
            and x["message"].startswith("serving ")]


def test_serve_in_an_empty_folder_says_it_serves_the_packaged_example(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("BANDITBOT_CONFIG", "BANDITBOT_STORE")}
    answers = []

    def list_without_a_key(base: str) -> None:
        answers.append(HTTP.get(f"{base}/v1/experiments", timeout=30))

    lines = _serve_and_stop(tmp_path, env, "--store", "memory://", then=list_without_a_key)
    (said,) = _served(lines)
    assert said["level"] == "warning" and said["experiments_file"] is None
    assert said["message"].startswith("serving the packaged example experiments")
    assert "memory://" in said["message"] and "api_keys" in said["message"]
    # the 401's hint works for this store: `banditbot keys create` cannot reach it
    (refused,) = answers
    assert refused.status_code == 401
    hint = refused.json()["hint"]
    assert "memory://" in hint and "api_keys" in hint and "sha256sum" in hint


def test_an_in_memory_server_takes_the_key_its_hint_describes(tmp_path: Path) -> None:
    """The hint's way works: a key listed by its SHA-256 in the experiments file."""
    key = "my-own-key-for-this-server"
    config = tmp_path / "experiments.yaml"
    shutil.copy(EXAMPLES, config)
    with config.open("a") as fh:
        fh.write("\napi_keys:\n  - name: app\n    role: decide\n"
                 f"    sha256: {hashlib.sha256(key.encode()).hexdigest()}\n")
    env = {k: v for k, v in os.environ.items() if k != "BANDITBOT_CONFIG"}
    answers = []

    def decide(base: str) -> None:
        answers.append(HTTP.post(f"{base}/v1/experiments/greeting/decisions",
                                 json={"subject": "u"},
                                 headers={"Authorization": f"Bearer {key}"}, timeout=30))

    lines = _serve_and_stop(tmp_path, env, "--store", "memory://", then=decide)
    (said,) = _served(lines)
    assert said["level"] == "info" and said["experiments_file"] == str(config.resolve())
    assert answers[0].status_code == 201, answers[0].text


def test_serve_names_its_experiments_file_and_its_store_without_the_password(
        tmp_path: Path, postgres_url: str) -> None:
    # (the test server trusts every connection: any password is accepted, and must not show)
    url = postgres_schema_url(postgres_url.replace("banditbot@", "banditbot:s3cret-pw@"))
    store = open_store(url)
    store.init()  # banditbot init-db (serve makes no schema from nothing)
    store.close()
    env = {**os.environ, "BANDITBOT_STORE": url, "BANDITBOT_CONFIG": str(EXAMPLES)}
    lines = _serve_and_stop(tmp_path, env)
    (said,) = _served(lines)
    assert said["experiments_file"] == str(EXAMPLES.resolve())
    assert said["store"].startswith("postgresql://banditbot:***@127.0.0.1:")
    assert f"serving the experiments of {EXAMPLES.resolve()} with the store " \
           f"{said['store']}" == said["message"]
    assert not [x for x in lines if "s3cret-pw" in json.dumps(x)]



@pytest.mark.slow
def test_a_second_server_with_another_experiments_file_on_the_store_is_warned(
        tmp_path: Path) -> None:
    """A trial ran two servers on one database with different experiments files (an arm
    renamed, another text, a 0-10 rating where the other had 1-5): nothing was said, each
    report counted only its own arms and each server checked rewards by its own rules.
    The server that starts with settings other than the last one's names each experiment
    that differs and who started with the others; the same file again says nothing."""
    db = tmp_path / "shared.db"
    env = {**{k: v for k, v in os.environ.items() if k != "BANDITBOT_CONFIG"},
           "BANDITBOT_STORE": f"sqlite:///{db}"}
    first = tmp_path / "a.yaml"
    shutil.copy(EXAMPLES, first)
    second = tmp_path / "b.yaml"
    text = first.read_text(encoding="utf-8")
    second.write_text(text.replace("{name: epsilon-greedy, epsilon: 0.5}",
                                   "{name: epsilon-greedy, epsilon: 0.2}", 1), encoding="utf-8")
    assert second.read_text(encoding="utf-8") != text

    def drifted(config: Path) -> list[str]:
        lines = _serve_and_stop(tmp_path, {**env, "BANDITBOT_CONFIG": str(config)})
        return [x["message"] for x in lines
                if x["level"] == "warning" and "settings differ" in x["message"]]

    assert drifted(first) == []
    (line,) = drifted(second)
    assert "its settings differ from those of the last server to start on this store " \
        f"(host {socket.gethostname()}, file {first}, at " in line
    assert "same experiments file" in line
    assert ": policy.params.epsilon (this file: 0.2; theirs: 0.5); " in line, line
    assert drifted(second) == []  # (the same file again; the sentence, and back to the
    # first file, on every backend: tests/integration/test_arm_content_changes.py)
