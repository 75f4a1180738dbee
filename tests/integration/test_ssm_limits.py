"""Reading a secret from SSM gives up in bounded time (a trial: an endpoint that accepted
connections and never answered kept a webhook invocation 180 s, botocore's 60 s read
timeout three times, far past the function's 30 s, with no log line)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from banditbot import _compose


def test_an_ssm_endpoint_that_never_answers_is_given_up_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits are ours, not botocore's: with 0.3 s to answer, the read fails after
    three attempts (three connections seen), in a few seconds, and says why."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:  # accept, read nothing back: a server that hangs
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setattr(_compose, "SSM_READ_SECONDS", 0.3)
    started = time.monotonic()
    try:
        with pytest.raises(Exception, match=r"(?i)timeout|timed out"):
            _compose.ssm_parameter("/bot/secret")
        took = time.monotonic() - started
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()
    assert len(accepted) == _compose.SSM_ATTEMPTS == 3
    assert took < 20.0, took  # (three 0.3 s reads and the retries' backoff; 180 s before)
