"""Route dependencies: the service and the calling API key (with its role)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from .._errors import NotAllowedError
from ..service import ApiKey, BanditService, KeyRing, role_allows
from ..stores import store_kind
from ._problems import UnauthorizedError

__all__ = ["API_KEY", "BEARER", "SECURITY", "Admin", "Reader", "Service", "authorize", "need",
           "presented_key"]


def _service(request: Request) -> BanditService:
    service: BanditService = request.app.state.service
    return service


Service = Annotated[BanditService, Depends(_service)]


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: ``Authorization: Bearer``, else ``X-API-Key``."""
    authorization = headers.get("authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return headers.get("x-api-key")


def authorize(keys: KeyRing, headers: Mapping[str, str], role: str) -> ApiKey:
    """The calling key (``Authorization: Bearer`` or ``X-API-Key``), if it has ``role``."""
    key = keys.authenticate(presented_key(headers))
    in_memory = store_kind(keys.store.url) == "memory"
    if key is None:
        raise UnauthorizedError(_IN_MEMORY.format(role="ROLE") if in_memory else
                                _UNKNOWN + _CREATE.format(role="ROLE"))
    if not role_allows(key.role, role):
        article = "an" if role[0] in "aeiou" else "a"
        raise NotAllowedError(f"this needs {article} {role} key; yours is {key.role}",
                              hint=_IN_MEMORY.format(role=role) if in_memory else
                              _CREATE.format(role=role))
    return key


#: where a key comes from, said by a 401 and a 403 alike (a trial's key, created without
#: --store, went to another store than the server's: the 401 did not say so)
_CREATE = ("create one with: banditbot keys create --name NAME --role {role} --store URL "
           "(the store this server uses)")
#: what a 401 says first: how to send a key, and why a key may be unknown
_UNKNOWN = ("send Authorization: Bearer <key> or X-API-Key: <key>; a key created in another "
            "store is unknown here: ")


#: where a key of a server on ``memory://`` comes from: its store lives in its process, so
#: ``banditbot keys create`` (another process) cannot add one to it
_IN_MEMORY = ("send Authorization: Bearer <key>; this server's store is memory:// (inside "
              "its process), which banditbot keys create cannot reach: list the key in the "
              "experiments file's api_keys (name, role: {role}, sha256: printf %s KEY | "
              "sha256sum), or serve a sqlite:/// or postgresql:// store")


#: The two ways to present a key, as OpenAPI security schemes (so ``/docs`` offers
#: "Authorize"); :func:`authorize` reads the headers itself.
BEARER = HTTPBearer(scheme_name="bearer", auto_error=False,
                    description="An API key: `banditbot keys create --name NAME --role ROLE`.")
API_KEY = APIKeyHeader(name="X-API-Key", scheme_name="apiKey", auto_error=False,
                       description="The same key in an `X-API-Key` header.")
#: The routes' ``security`` entry (either scheme), for routes documented by hand.
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]


def need(role: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that admits keys with at least ``role``."""

    async def check(request: Request,
                    bearer: Annotated[HTTPAuthorizationCredentials | None,
                                      Depends(BEARER)] = None,
                    api_key: Annotated[str | None, Depends(API_KEY)] = None) -> ApiKey:
        # the schemes are declared for the OpenAPI docs; the check reads the headers raw
        keys: KeyRing = request.app.state.keys
        if keys.needs_reload(presented_key(request.headers)):  # (the store is read: off the
            # event loop, so a slow store stalls this request alone)
            return await run_in_threadpool(authorize, keys, request.headers, role)
        return authorize(keys, request.headers, role)

    return check


Reader = Annotated[ApiKey, Depends(need("read"))]
Admin = Annotated[ApiKey, Depends(need("admin"))]
