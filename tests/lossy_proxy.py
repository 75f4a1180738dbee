"""A TCP proxy on 127.0.0.1 that loses replies: the request reaches the server and is applied,
but the reply never reaches the client.

It sits in front of the DynamoDB emulator's HTTP server. Every ``every``-th write request
(``PutItem``, ``UpdateItem``, ``TransactWriteItems``; botocore names the operation in
``X-Amz-Target``) is forwarded and answered by the server, then its reply is held until the
client gives up on it (its read timeout closes the connection) and dropped. That is what a
slow network does to a write that succeeded: botocore retries it, and the retry meets the
state the first attempt left behind. Holding the reply until the client hangs up, instead
of for a fixed time, keeps the fault independent of how fast the machine is.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from typing import Any

WRITES = (b"PutItem", b"UpdateItem", b"TransactWriteItems", b"DeleteItem")


class LossyProxy:
    """``with LossyProxy(upstream_port, every=3) as url:`` — point a client at ``url``."""

    def __init__(self, upstream_port: int, *, every: int = 3) -> None:
        self.upstream_port = upstream_port
        self.every = every
        self.enabled = True
        self.writes = 0
        self.lost = 0  # replies held back and dropped
        self._count = itertools.count(1)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._closing = False

    def __enter__(self) -> str:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.closing(client):
            reader = client.makefile("rb")
            while True:
                request = _read_request(reader)
                if request is None:
                    return
                reply = self._forward(request)
                if self._lose(request):
                    # the server applied it; the client waits, times out, closes, retries
                    client.settimeout(60)
                    with contextlib.suppress(OSError):
                        while client.recv(65536):
                            pass
                    return
                client.sendall(reply)

    def _lose(self, request: bytes) -> bool:
        head = request.split(b"\r\n\r\n", 1)[0]
        target = next((line for line in head.split(b"\r\n")
                       if line.lower().startswith(b"x-amz-target:")), b"")
        if not self.enabled or not any(target.endswith(b"." + op) for op in WRITES):
            return False
        with self._lock:
            self.writes += 1
            lose = next(self._count) % self.every == 0
            self.lost += lose
        return lose

    def _forward(self, request: bytes) -> bytes:
        """Send one request to the server on a fresh connection; its whole reply."""
        head, _, body = request.partition(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n")
                 if not line.lower().startswith(b"connection:")]
        with socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            upstream.sendall(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        reply = b"".join(chunks)
        # keep the client's connection open: drop the server's "Connection: close"
        rhead, _, rbody = reply.partition(b"\r\n\r\n")
        rlines = [line for line in rhead.split(b"\r\n")
                  if not line.lower().startswith(b"connection:")]
        if not any(line.lower().startswith(b"content-length:") for line in rlines):
            rlines.append(b"Content-Length: " + str(len(rbody)).encode())
        return b"\r\n".join(rlines) + b"\r\n\r\n" + rbody


def _read_request(reader: Any) -> bytes | None:
    """One HTTP/1.1 request with a Content-Length body (what botocore sends), or ``None``
    when the client closed the connection."""
    lines = []
    while True:
        try:
            line = reader.readline()
        except OSError:
            return None
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
    length = 0
    for line in lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = reader.read(length) if length else b""
    return b"".join(lines) + body
