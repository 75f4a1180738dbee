"""Many HTTP clients at once, each a thread with keep-alive connections of its own.

The load tests used one ``httpx.AsyncClient`` shared by 16–32 coroutines: its connection
pool spent about 8 ms of CPU per request here, more than the two servers it loaded, so the
client, not the server, set the pace (and most of the test's time). ``http.client`` costs
a fraction of a millisecond per request; the servers see the same requests, as many
connections and more of them in flight at once.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit


class Reply:
    """What a test reads of a response (the names httpx uses)."""

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.text = body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.text)


class Client:
    """One client: a keep-alive connection per server it talks to, default headers."""

    def __init__(self, headers: dict[str, str], timeout: float = 60.0) -> None:
        self.headers = {**headers, "Content-Type": "application/json"}
        self.timeout = timeout
        self._connections: dict[str, http.client.HTTPConnection] = {}

    def post(self, url: str, *, json: Any) -> Reply:  # the keyword httpx uses
        parts = urlsplit(url)
        connection = self._connections.get(parts.netloc)
        if connection is None:
            connection = http.client.HTTPConnection(parts.netloc, timeout=self.timeout)
            self._connections[parts.netloc] = connection
        connection.request("POST", parts.path, body=_dumps(json), headers=self.headers)
        response = connection.getresponse()
        return Reply(response.status, response.read())

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def run_clients(count: int, body: Callable[[int, Client], None],
                headers: dict[str, str]) -> None:
    """``body(i, client)`` for ``i`` in ``range(count)``, all at once, each on its own
    thread and connections; the first exception (a failed assertion) is raised here."""
    def one(i: int) -> None:
        client = Client(headers)
        try:
            body(i, client)
        finally:
            client.close()

    with ThreadPoolExecutor(count) as pool:
        for future in [pool.submit(one, i) for i in range(count)]:
            future.result()
