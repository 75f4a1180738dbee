"""`banditbot serve` as a child process on a free loopback port, for the tests that need a
real server (workers, signals, start-up logs): its output goes to a file, not a pipe nobody
drains, and the start waits for ``/healthz``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from .conftest import free_port
from .http_client import HTTP


def start_serve(tmp_path: Path, env: Mapping[str, str], *args: str,
                log: str = "serve.log") -> tuple[subprocess.Popen[bytes], str, Path]:
    """``banditbot serve --port PORT *args`` in ``tmp_path`` with ``env``: the process, its
    base URL and its log file (not waited for: see :func:`wait_healthy`)."""
    port = free_port()
    log_path = tmp_path / log
    with log_path.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "banditbot", "serve", "--port",
                                 str(port), *args], env=dict(env), cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}", log_path


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log_path: Path,
                 timeout: float = 60.0) -> None:
    """Wait until ``base`` answers ``/healthz`` with 200; fail the test with the server's
    log when it exits first or does not come up within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if HTTP.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            pytest.fail(f"serve did not come up: {log_path.read_text()}")
        time.sleep(0.1)
