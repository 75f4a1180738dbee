"""``create_app``: the ASGI app ``banditbot serve`` runs: the HTTP API under ``/v1``, the
dashboard at ``/``, Prometheus metrics at ``/metrics``, health routes and, when configured,
the Telegram webhook.

Routes live in :mod:`banditbot.api.routes` (one router per area); errors are translated in
one place here into ``application/problem+json`` (RFC 9457) with the request id; every
request is logged as one JSON line (:class:`~banditbot.api._envelope.Envelope`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from .._errors import BanditBotError, StoreError
from .._logging import register_secret
from ..service import BanditService, KeyRing
from ._deps import authorize, presented_key
from ._envelope import Envelope, Gate
from ._health import StoreHealth
from ._hot import FastPath, HotPath
from ._metrics import MeteredStore, Metrics
from ._models import error_text
from ._problems import (
    INVALID_HINT,
    STORE_FAILED,
    STORE_NOT_SET_UP,
    MalformedBodyError,
    UnauthorizedError,
    problem,
    status_of,
    title_of,
)
from .routes import admin, allocations, dashboard, decide, experiments, ops

__all__ = ["create_app"]

log = logging.getLogger("banditbot.http")


def create_app(service: BanditService, *, telegram: Any = None,
               webhook_secret: str | None = None, cors_origins: list[str] | None = None,
               keys: KeyRing | None = None, metrics: Metrics | None = None,
               fast_path: bool = True, metrics_key: bool = False) -> FastAPI:
    """Build the ASGI application.

    Parameters
    ----------
    service
        The engine. Unless its store is already a :class:`MeteredStore`, the app serves the
        same service over a metered view of its store (``service.with_store``), so every
        store call shows up in ``/metrics``; the object passed in is not changed.
    telegram
        A PTB ``Application`` built with ``webhook=True``; enables ``POST /telegram``.
    webhook_secret
        The secret Telegram sends in ``X-Telegram-Bot-Api-Secret-Token``.
    cors_origins
        Origins allowed to call the API from a browser (none by default).
    keys
        API keys (default: the config's plus those in the store).
    metrics
        The metrics registry (default: a new one, or the metered store's).
    fast_path
        Answer decide and reward before FastAPI's router (see :mod:`banditbot.api._hot`);
        ``False`` only to measure what it buys.
    metrics_key
        ``/metrics`` needs a read key, as ``/v1/`` does (default: open, for a scraper
        behind a proxy that limits it; on Lambda the handler turns this on).
    """
    if telegram is not None and not webhook_secret:
        raise ValueError("a Telegram webhook needs a secret token")
    register_secret(webhook_secret)  # no log line ever carries it
    if isinstance(service.store, MeteredStore):
        metered = service.store
        metrics = metered.metrics
    else:
        metrics = metrics or Metrics()
        metered = MeteredStore(service.store, metrics)
        service = service.with_store(metered)
    health = metered.health  # store outages, told in the log
    keyring = keys or KeyRing(service.store, service.config.api_keys)
    hot = HotPath(service, keyring, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hot.run(service.warm_up)  # the first requests should not pay for lazy imports
        if telegram is None:
            yield
            return
        from ..telegram import start_webhook_bot

        # the API serves even when Telegram is unreachable or refuses the token: the bot
        # then retries in the background (the webhook answers 503 meanwhile)
        starting = await start_webhook_bot(telegram)
        try:
            yield
        finally:
            if starting is not None:
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await starting  # (its failures were logged; shutdown goes on)
            if telegram.running:
                await telegram.stop()
            await telegram.shutdown()

    app = FastAPI(
        title="banditbot", version="0.1.0", lifespan=lifespan,
        docs_url=None, redoc_url=None,  # /docs without a CDN: routes/dashboard.py
        description="Adaptive experiments over HTTP: ask for a decision, show its content, "
                    "report the reward. Authenticate with `Authorization: Bearer <key>` "
                    "(roles: read < decide < admin; `banditbot keys create`).")
    app.state.service = service
    app.state.metrics = metrics
    app.state.metrics_key = metrics_key
    app.state.keys = keyring
    app.state.hot = hot
    _add_error_handlers(app, metrics, health)
    routers = (ops.router, experiments.router, allocations.router, decide.router,
               admin.router, dashboard.router)
    for router in routers:
        app.include_router(router)
    if telegram is not None:
        _add_webhook(app, service, telegram, str(webhook_secret))

    if fast_path:
        app.add_middleware(FastPath, hot=hot,
                           on_error=lambda exc, rid: problem_of(metrics, health, exc, rid))
    if cors_origins:  # around the fast path too: a browser app decides and rewards
        from ._cors import ProblemCORS  # (a refused preflight: a problem, as every error)

        app.add_middleware(ProblemCORS, allow_origins=cors_origins,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key",
                                          "X-Request-ID", "Idempotency-Key"],
                           # the log's paging cursors, the request id and whether a decision
                           # was answered again for its idempotency key, readable by a page
                           expose_headers=["X-Next-After", "X-Next-Before", "X-Request-ID",
                                           "Idempotent-Replayed"])
    # outermost: request id, credentials, size limit, access log, latency (added last =
    # runs first)
    app.add_middleware(Envelope, metrics=metrics,
                       gate=_gate(keyring, webhook_secret if telegram is not None else None,
                                  health),
                       gate_blocks=lambda headers: keyring.needs_reload(
                           presented_key(headers)),
                       route_of=_route_finder(
                           # (the routers' own routes: the app's wrap them, and match
                           # without naming the route)
                           [*(r for router in routers for r in router.routes),
                            *(r for r in app.router.routes if hasattr(r, "path"))]))
    return app


def _route_finder(routes: Sequence[BaseRoute]) -> Callable[[dict[str, Any]], str | None]:
    """The route template of a request answered before the router saw it (refused at the
    gate, or for its size): the access log and the metrics name the route, not
    ``unmatched``."""

    def route_of(scope: dict[str, Any]) -> str | None:
        partial = None
        for route in routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "path", None)
            if match is Match.PARTIAL and partial is None:
                partial = getattr(route, "path", None)
        return partial

    return route_of


def _gate(keys: KeyRing, webhook_secret: str | None, health: StoreHealth) -> Gate:
    """Who may send a body at all, checked before it is read: the webhook needs Telegram's
    secret token, everything under ``/v1/`` a known API key (its role is checked by the
    route). A refused client costs a header check, however big its body."""

    if webhook_secret is not None:
        from ..telegram import check_secret
    else:
        def check_secret(headers: Any, secret: str) -> bool:
            return True

    def gate(path: str, headers: Mapping[str, str], request_id: str) -> Response | None:
        if path.rstrip("/") == "/telegram":
            if webhook_secret is None or check_secret(headers, webhook_secret):
                return None
            return JSONResponse({"ok": False, "detail": "missing or wrong secret token"}, 403)
        if path.startswith("/v1/"):
            try:
                authorize(keys, headers, "read")
            except UnauthorizedError as exc:
                return problem(401, title_of(exc), exc.message, request_id, exc.hint)
            except BanditBotError as exc:  # the key list unreadable (the store is down): 503
                health.failed(exc, request_id)  # the cause: in the log, not to the client
                return store_problem(exc, request_id)
        return None

    return gate


#: what a 503 of the store tells a client (it has retried for the store's retry_seconds)
RETRY_AFTER = {"Retry-After": "5"}


def problem_of(metrics: Metrics, health: StoreHealth, exc: BanditBotError,
               request_id: str | None) -> Response:
    """The problem response of one of banditbot's errors (counted by type). A store's
    failure is answered in general words to every caller: its own name hosts and ports,
    and goes to the log (``health``)."""
    metrics.errors.labels(type(exc).__name__).inc()
    if isinstance(exc, StoreError):
        health.failed(exc, request_id)
        return store_problem(exc, request_id)
    return problem(status_of(exc), title_of(exc), exc.message, request_id, exc.hint)


def store_problem(exc: BanditBotError, request_id: str | None) -> Response:
    """A store's failure in general words (its own words name hosts and ports: they go to
    the log): retry in a moment (503), or, for a store that is not set up (a missing table,
    credentials), that retrying will not help (500, a trial's Lambda said "retry")."""
    if isinstance(exc, StoreError) and exc.lasting:
        return problem(status_of(exc), title_of(exc), STORE_NOT_SET_UP, request_id)
    return problem(status_of(exc), title_of(exc), STORE_FAILED, request_id,
                   headers=RETRY_AFTER)


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _add_error_handlers(app: FastAPI, metrics: Metrics, health: StoreHealth) -> None:
    """The one place errors become responses."""

    @app.exception_handler(BanditBotError)
    async def bandit_error(request: Request, exc: BanditBotError) -> Response:
        return problem_of(metrics, health, exc, _rid(request))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        broken = _broken_body(errors[0], exc.body) if errors else None
        if broken is not None:  # no JSON object to validate: 400, as the hot path says
            return problem_of(metrics, health, broken, _rid(request))
        metrics.errors.labels("ValidationError").inc()
        return problem(422, "invalid request", error_text(errors), _rid(request),
                       hint=INVALID_HINT)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == _UNPARSED:  # (e.g. JSON nested 30,000
            # deep: FastAPI's parser raised RecursionError) the words every route says
            return problem_of(metrics, health, MalformedBodyError.of(await request.body()),
                              _rid(request))
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # list every method of the path, not just one route's
            # (each method asked of the routes as they match; a trial: the Allow header
            # listed none, FastAPI's included routers holding their routes out of sight)
            allowed = {method for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
                       if any(route.matches({**request.scope, "method": method})[0]
                              is Match.FULL for route in app.router.routes)}
            headers = {"Allow": ", ".join(sorted(allowed))}
        try:
            title = HTTPStatus(exc.status_code).phrase.lower()
        except ValueError:
            title = "error"
        return problem(exc.status_code, title, str(exc.detail), _rid(request),
                       headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        metrics.errors.labels(type(exc).__name__).inc()
        log.exception("unexpected error", extra={"request_id": _rid(request)})
        return problem(500, "internal error", "something went wrong on our side",
                       _rid(request))


#: FastAPI's detail for a body its JSON parser failed on without a position
_UNPARSED = "There was an error parsing the body"


def _broken_body(error: Mapping[str, Any], body: Any) -> MalformedBodyError | None:
    """What is wrong with a request body that is not JSON (FastAPI's validation error of
    a route's body, and the body), ``None`` for a JSON body that breaks a field's rule."""
    loc, kind = tuple(error.get("loc", ())), error.get("type")
    if kind == "json_invalid":
        return MalformedBodyError.of(body if isinstance(body, bytes | str) else None, error)
    if loc == ("body",) and kind == "missing":
        return MalformedBodyError("the request has no body")
    if loc == ("body",) and isinstance(error.get("input"), bytes):  # (a JSON string: 422)
        return MalformedBodyError("the body was not read as JSON: send it with "
                                  "Content-Type: application/json")
    return None


def _add_webhook(app: FastAPI, service: BanditService, telegram: Any, secret: str) -> None:
    """``POST /telegram``: the bot's webhook (answers once the update is handled)."""
    from ..telegram import process_webhook

    @app.post("/telegram", include_in_schema=False)
    async def telegram_webhook(request: Request) -> JSONResponse:
        body = await request.body()
        outcome = await process_webhook(telegram, service, request.headers, body, secret,
                                        ready=telegram.running)
        return JSONResponse({"ok": outcome.status == 200, "detail": outcome.reason},
                            outcome.status)
