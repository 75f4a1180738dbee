"""One httpx client for the tests' single requests.

``httpx.get(...)`` and its siblings build a client for each call, and a client builds its
TLS context (the CA bundle read and parsed) even to talk plain HTTP to 127.0.0.1: about
50 ms of CPU per request here, far more than the request. This client is built once and
keeps no connection alive, so each request still opens a connection of its own, as before.
"""

from __future__ import annotations

import httpx

HTTP = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))
