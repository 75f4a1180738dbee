"""CORS as Starlette does it, but a refused preflight answered as every other error of the
API is: ``application/problem+json`` with a plain-words title, what was refused and where
the allowed origins are set (Starlette says only ``Disallowed CORS origin``, in plain text).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from ._problems import problem

__all__ = ["CORS_REFUSED", "ProblemCORS"]

#: the title of a refused preflight
CORS_REFUSED = "refused by CORS"
#: what to do about it: the setting that lists the origins (methods and headers are fixed)
CORS_HINT = ("the server's BANDITBOT_CORS_ORIGINS lists the origins a browser may call it "
             "from, comma-separated, each with its scheme and port as the browser sends it "
             "(https://app.example.org)")
#: the response headers Starlette's refusal had that a JSON body replaces
_BODY_HEADERS = frozenset({"content-type", "content-length"})


class ProblemCORS(CORSMiddleware):
    """:class:`~starlette.middleware.cors.CORSMiddleware` whose refused preflight (an origin,
    a method or a header not allowed) is a problem: status 400 and the CORS headers as
    before, the body RFC 9457's. An allowed preflight, and every other request, is
    Starlette's."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await super().__call__(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "origin" not in headers or "access-control-request-method" not in headers:
            await super().__call__(scope, receive, send)  # (not a preflight)
            return
        answer = self.preflight_response(request_headers=headers)
        if answer.status_code == 400:
            kept = {k: v for k, v in answer.headers.items() if k not in _BODY_HEADERS}
            answer = problem(400, CORS_REFUSED, self._refusal(headers),
                             scope.get("state", {}).get("request_id"), CORS_HINT, kept)
        await answer(scope, receive, send)

    def _refusal(self, headers: Headers) -> str:
        """What the preflight asked for that is not allowed, in words."""
        parts = []
        origin = headers["origin"]
        if not self.is_allowed_origin(origin):
            parts.append(f"the origin {origin} is not among the allowed origins")
        method = headers["access-control-request-method"]
        if method not in self.allow_methods:
            parts.append(f"the method {method} is not allowed (allowed: "
                         f"{', '.join(self.allow_methods)})")
        asked = (h.strip() for h in headers.get("access-control-request-headers", "").split(","))
        refused = [h for h in asked if h and h.lower() not in self.allow_headers]
        if refused:
            parts.append(f"the header{'s' if len(refused) > 1 else ''} {', '.join(refused)} "
                         f"{'are' if len(refused) > 1 else 'is'} not allowed (allowed: "
                         f"{', '.join(self.allow_headers)})")
        if "access-control-request-private-network" in headers \
                and not getattr(self, "allow_private_network", False):  # (Starlette 0.51+)
            parts.append("a request from a private network is not allowed")
        return "; ".join(parts) or "the browser's cross-origin request is not allowed"
