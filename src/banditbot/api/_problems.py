"""Errors as HTTP responses: RFC 9457 problem details, and the one map from banditbot's error
tree to status codes (the core knows nothing of HTTP)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .._errors import (
    BanditBotError,
    ConfigError,
    InvalidRewardError,
    KeyReusedError,
    MissingDependencyError,
    NotAllowedError,
    PayloadError,
    PolicyError,
    StoreError,
    UnknownArmError,
    UnknownExperimentError,
)

__all__ = ["INVALID_HINT", "PROBLEM", "STORE_FAILED", "STORE_NOT_SET_UP",
           "InvalidBodyError", "MalformedBodyError", "Problem", "UnauthorizedError", "problem",
           "problem_responses", "status_of", "title_of"]

PROBLEM = "application/problem+json"
#: the detail of every store failure a client hears (the store's own words name its host
#: and port: they go to the server log, see :class:`~banditbot.api._health.StoreHealth`)
STORE_FAILED = "the store did not answer; retry in a moment"
#: ... and of a store that refuses because of how it is set up (its cause: in the log)
STORE_NOT_SET_UP = ("the server's store is not set up right (a missing table, credentials "
                    "or region: the server's log says which); retrying will not help")


#: what to do about a request that breaks a field's rule (422 ``invalid request``)
INVALID_HINT = "see /docs for the request's parameters and body"


class InvalidBodyError(PayloadError):
    """A request body that does not validate against its model (422)."""


class MalformedBodyError(PayloadError):
    """A request body that is not JSON at all (400).

    Parameters
    ----------
    detail
        What is wrong with the body: where its JSON broke off, or that there is none, or
        that it was not sent as JSON.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail, hint="send a JSON object, with Content-Type: "
                                       "application/json (/docs shows each request's body)")

    @classmethod
    def of(cls, body: bytes | str | None, error: Mapping[str, Any] | None = None, *,
           content_type: str | None = None) -> MalformedBodyError:
        """The error of a body that does not parse as JSON, saying where it breaks (the
        same words on every route).

        Parameters
        ----------
        body
            The request's body as received.
        error
            Pydantic's first error, when it refused the body (its parser stops at a depth
            of 200, which the standard library's reads).
        content_type
            The request's ``Content-Type``, named when it is not JSON's.
        """
        if error is not None and "recursion limit" in str(error.get("msg", "")):
            return cls.too_deep()
        sent = f", and it was sent as {content_type.split(';')[0].strip()}" \
            if content_type and "json" not in content_type.lower() else ""
        try:
            json.loads(body or b"")
        except ValueError as exc:  # (a body that is not UTF-8: no position)
            at = getattr(exc, "pos", None)
            if at is not None:
                return cls(f"the body is not JSON (at character {at + 1}){sent}")
        except RecursionError:  # (a trial: 30,000 nested lists were a 500 and a traceback)
            return cls.too_deep()
        return cls(f"the body is not JSON{sent}")

    @classmethod
    def too_deep(cls) -> MalformedBodyError:
        """The error of a body whose JSON nests deeper than the server reads."""
        return cls("the body's JSON nests too deeply (a request body is an object of "
                   "plain values, a level or two deep)")


class UnauthorizedError(BanditBotError):
    """No API key, or an unknown one (401).

    Parameters
    ----------
    hint
        Where a key comes from (default: ``banditbot keys create``).
    """

    def __init__(self, hint: str | None = None) -> None:
        super().__init__("missing or unknown API key", hint=hint or (
            "send Authorization: Bearer <key> (banditbot keys create)"))


#: Most specific first: the first class an error is an instance of gives its status and the
#: problem's title: a few plain words, never a code (``not yours``, not ``not_yours``); a
#: client tells errors apart by the status (the type is always ``about:blank``), and a
#: refused reward by its title (the hot path's, ``_REFUSED``).
_STATUS: tuple[tuple[type[BanditBotError], int, str], ...] = (
    (UnauthorizedError, 401, "unauthorized"),
    (MalformedBodyError, 400, "malformed JSON"),
    (InvalidBodyError, 422, "invalid request"),
    (KeyReusedError, 422, "idempotency key reused"),
    (NotAllowedError, 403, "not allowed"),
    (UnknownExperimentError, 404, "unknown experiment"),
    (UnknownArmError, 404, "unknown arm"),
    # (a request the experiment as it stands cannot take: retire its last arm, reward a
    # retired one, a sticky decision without sticky_seconds; the config is fine)
    (ConfigError, 422, "not possible"),
    (InvalidRewardError, 422, "invalid reward"),
    (PolicyError, 422, "invalid policy"),
    (PayloadError, 400, "bad request"),
    (StoreError, 503, "store unavailable"),
    (MissingDependencyError, 500, "missing dependency"),
)


def status_of(error: BanditBotError) -> int:
    """The HTTP status of an error of banditbot's tree (400 for any other; 500 for a store
    that is not set up, which retries cannot mend)."""
    if isinstance(error, StoreError) and error.lasting:
        return 500
    return next((code for cls, code, _ in _STATUS if isinstance(error, cls)), 400)


def title_of(error: BanditBotError) -> str:
    """The problem title of an error of banditbot's tree (``bad request`` for any other)."""
    if isinstance(error, StoreError) and error.lasting:
        return "store not set up"
    return next((title for cls, _, title in _STATUS if isinstance(error, cls)),
                "bad request")


class Problem(BaseModel):
    """An error (RFC 9457 problem details)."""

    type: str
    title: str
    status: int
    detail: str
    hint: str | None = None
    request_id: str | None = None


def problem(status: int, title: str, detail: str, request_id: str | None,
            hint: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """An ``application/problem+json`` response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail, "request_id": request_id}
    if hint:
        body["hint"] = hint
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error codes: the :class:`Problem` schema
    under ``application/problem+json``, the media type the errors are sent as (a trial's
    generated client found the schema under ``application/json`` only; ``model`` keeps it
    among the components)."""
    schema = {"schema": {"$ref": "#/components/schemas/Problem"}}
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": Problem, "content": {PROBLEM: schema}} for code in codes}
    if 503 in responses:  # (the store's outage: how long to wait, a trial's client asked)
        responses[503]["description"] = "The store did not answer; retry after Retry-After"
        responses[503]["headers"] = {"Retry-After": {
            "description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
    return responses
