"""Route dependencies: the service and the calling API key (with its role)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from fastapi import Depends, Header, Request

from .._errors import NotAllowedError
from ..service import ApiKey, BanditService, KeyRing, role_allows
from ._problems import UnauthorizedError

__all__ = ["Admin", "Reader", "Service", "authorize", "need"]


def _service(request: Request) -> BanditService:
    service: BanditService = request.app.state.service
    return service


Service = Annotated[BanditService, Depends(_service)]


def authorize(keys: KeyRing, headers: Mapping[str, str], role: str) -> ApiKey:
    """The calling key (``Authorization: Bearer`` or ``X-API-Key``), if it has ``role``."""
    presented = headers.get("x-api-key")
    authorization = headers.get("authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        presented = authorization[7:].strip()
    key = keys.authenticate(presented)
    if key is None:
        raise UnauthorizedError()
    if not role_allows(key.role, role):
        raise NotAllowedError(f"this needs a {role} key; yours is {key.role}",
                              hint="create one with: banditbot keys create --name NAME "
                                   f"--role {role} --store URL (the store this server uses)")
    return key


def need(role: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that admits keys with at least ``role``."""

    async def check(request: Request,
                    authorization: Annotated[str | None, Header()] = None,
                    x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
        # the headers are declared for the OpenAPI docs; the check reads them raw
        return authorize(request.app.state.keys, request.headers, role)

    return check


Reader = Annotated[ApiKey, Depends(need("read"))]
Admin = Annotated[ApiKey, Depends(need("admin"))]
