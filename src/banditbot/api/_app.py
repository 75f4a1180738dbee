"""The ASGI app that ``banditbot serve`` runs: HTTP API under ``/v1``, the dashboard at ``/``,
Prometheus metrics at ``/metrics``, health routes, and (when configured) the Telegram webhook.

Errors are translated in one place into ``application/problem+json`` (RFC 9457) with the
request id; every request is logged as one JSON line.
"""


import asyncio
import contextlib
import csv
import io
import json
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .._errors import BanditBotError, NotAllowedError, PayloadError
from .._keys import ApiKey, KeyRing, role_allows
from .._service import BanditService, RewardResult, RewardStatus
from ._metrics import MeteredStore, Metrics

__all__ = ["MAX_BODY_BYTES", "create_app"]

log = logging.getLogger("banditbot.http")
DECIDE_ROUTE = "/v1/experiments/{experiment}/decisions"
REWARD_ROUTE = "/v1/decisions/{decision_id}/reward"
T = TypeVar("T")

MAX_BODY_BYTES = 64 * 1024
PROBLEM = "application/problem+json"

Scalar = str | int | float | bool


# --- request and response models --------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


ScopeQuery = Annotated[str | None, Query(
    pattern=r"^(chat|subject):[^\s]{1,128}$",
    description="One bandit of an experiment with scope chat or subject (chat:ID, "
                "subject:ID); default: all of them summed.")]


class DecisionIn(_Body):
    """Ask for a decision."""

    subject: str = Field(min_length=1, max_length=128, description="Who it is for.")
    context: dict[Annotated[str, Field(max_length=64)], Scalar] | None = Field(
        default=None, max_length=32, description="Features of this moment (logged; used by "
                                                 "contextual policies).")
    chat: str | None = Field(default=None, max_length=128,
                             description="Chat or group id, for scope: chat.")
    sticky: bool = Field(default=False, description="Keep this subject's arm for the "
                                                    "experiment's sticky_seconds.")


class DecisionOut(BaseModel):
    """A decision: show ``content``, then report the reward for ``decision_id``."""

    decision_id: str
    experiment: str
    arm: str
    content: str
    propensity: float
    probabilities: dict[str, float]
    created_at: float


class RewardIn(_Body):
    """Report a reward."""

    value: float | int | str = Field(description="The reward (1/0, a rating, a number).")
    subject: str | None = Field(default=None, max_length=128,
                                description="Who rewards; must be the decision's subject.")


class RewardOut(BaseModel):
    """The outcome of a reward call."""

    status: Literal["applied", "duplicate"]
    decision_id: str
    message: str
    arm: str | None = None
    value: float | None = None


class ExperimentOut(BaseModel):
    """An experiment as configured and as it runs now."""

    id: str
    command: str
    description: str
    arms: list[str]
    active_arms: list[str]
    policy: str
    reward: dict[str, Any]
    reward_mode: str
    scope: str
    generation: int


class CheatIn(_Body):
    """Add rewards to an arm by hand."""

    arm: str = Field(max_length=64)
    rewards: list[float] | str = Field(description="e.g. [1, 1, 0] or \"1101\"")


class PriorIn(_Body):
    """An arm's prior (pseudo-successes, pseudo-failures)."""

    alpha: float = Field(ge=0, le=1e9)
    beta: float = Field(ge=0, le=1e9)


class ResetIn(_Body):
    """Start over (a new generation)."""

    keep_priors: bool = True


class PolicyIn(_Body):
    """Switch the policy."""

    name: str = Field(max_length=64)
    params: dict[Annotated[str, Field(max_length=64)], Scalar] = Field(default_factory=dict,
                                                                        max_length=16)


class ArmIn(_Body):
    """Add (or bring back) an arm."""

    id: str = Field(max_length=32)
    content: str = Field(default="", max_length=4096)


class Done(BaseModel):
    """An admin action's result."""

    ok: bool
    detail: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details)."""

    type: str
    title: str
    status: int
    detail: str
    hint: str | None = None
    request_id: str | None = None


def _problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "content": {PROBLEM: {}}} for code in codes}


# --- the app ------------------------------------------------------------------------------------
def create_app(service: BanditService, *, telegram: Any = None,
               webhook_secret: str | None = None, cors_origins: list[str] | None = None,
               keys: KeyRing | None = None) -> FastAPI:
    """Build the ASGI application.

    Parameters
    ----------
    service
        The engine (its store is wrapped to measure every call).
    telegram
        A PTB ``Application`` built with ``webhook=True``; enables ``POST /telegram``.
    webhook_secret
        The secret Telegram sends in ``X-Telegram-Bot-Api-Secret-Token``.
    cors_origins
        Origins allowed to call the API from a browser (default: ``BANDITBOT_CORS_ORIGINS``,
        comma-separated; none).
    keys
        API keys (default: the config's plus those in the store).
    """
    if telegram is not None and not webhook_secret:
        raise ValueError("a Telegram webhook needs a secret token")
    metrics = Metrics()
    if not isinstance(service.store, MeteredStore):
        service.store = MeteredStore(service.store, metrics)
    else:
        metrics = service.store.metrics
    keyring = keys or KeyRing(service.store, service.config.api_keys)
    local = service.store.url.startswith(("sqlite:", "memory:"))
    group = _GroupCommit(service.store) if local else None

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the service: inline for local stores (a SQLite transaction takes tens of
        microseconds, less than a thread hop), in the thread pool for network stores."""
        if local:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run(service.warm_up)  # the first requests should not pay for lazy imports
        if telegram is None:
            yield
            return
        async with telegram:  # initialize (getMe) … shutdown
            await telegram.start()  # processes the update queue
            try:
                yield
            finally:
                await telegram.stop()

    app = FastAPI(
        title="banditbot", version="0.1.0", lifespan=lifespan, docs_url="/docs",
        redoc_url=None,
        description="Adaptive experiments over HTTP: ask for a decision, show its content, "
                    "report the reward. Authenticate with `Authorization: Bearer <key>` "
                    "(roles: read < decide < admin; `banditbot keys create`).")
    app.state.service = service
    app.state.metrics = metrics
    app.state.keys = keyring

    origins = cors_origins if cors_origins is not None else [
        o.strip() for o in os.environ.get("BANDITBOT_CORS_ORIGINS", "").split(",") if o.strip()]
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key",
                                          "X-Request-ID"])


    # --- errors: one place --------------------------------------------------------------------
    @app.exception_handler(BanditBotError)
    async def bandit_error(request: Request, exc: BanditBotError) -> Response:
        return problem_of(exc, _rid(request))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        metrics.errors.labels("ValidationError").inc()
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _problem(422, "invalid request", f"{where}: {first.get('msg', 'invalid')}",
                        _rid(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # list every method of the path, not just one route's
            allowed: set[str] = set()
            for route in app.router.routes:
                match, _ = route.matches(request.scope)
                if match is not Match.NONE:
                    allowed |= set(getattr(route, "methods", None) or ())
            headers = {"Allow": ", ".join(sorted(allowed - {"HEAD"} | (
                {"HEAD"} if "GET" in allowed else set())))}
        return _problem(exc.status_code, "error", str(exc.detail), _rid(request),
                        headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        metrics.errors.labels(type(exc).__name__).inc()
        log.exception("unexpected error", extra={"request_id": _rid(request)})
        return _problem(500, "internal error", "something went wrong on our side",
                        _rid(request))

    # --- auth -----------------------------------------------------------------------------------
    def authorize(headers: Mapping[str, str], role: str) -> ApiKey:
        """The calling key (``Authorization: Bearer`` or ``X-API-Key``), if it has ``role``."""
        presented = headers.get("x-api-key")
        authorization = headers.get("authorization")
        if authorization and authorization[:7].lower() == "bearer ":
            presented = authorization[7:].strip()
        key = keyring.authenticate(presented)
        if key is None:
            raise _UnauthorizedError()
        if not role_allows(key.role, role):
            raise NotAllowedError(f"this needs a {role} key; yours is {key.role}",
                                  hint=f"create one with: banditbot keys create --role {role}")
        return key

    def need(role: str) -> Callable[..., Awaitable[ApiKey]]:
        async def check(request: Request,
                        authorization: Annotated[str | None, Header()] = None,
                        x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
            return authorize(request.headers, role)  # the headers are declared for the docs

        return check

    Reader = Annotated[ApiKey, Depends(need("read"))]  # noqa: N806  (type aliases)
    Admin = Annotated[ApiKey, Depends(need("admin"))]  # noqa: N806
    errors = _problem_responses(400, 401, 403, 404, 413, 422)

    # --- health and metrics ---------------------------------------------------------------------
    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: the store answers",
             responses=_problem_responses(503))
    def readyz() -> dict[str, str]:
        service.store.read_meta(service.config.experiments[0].id)
        return {"status": "ready", "store": service.store.url.split("?")[0]}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics",
             response_class=PlainTextResponse)
    def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    # --- API ------------------------------------------------------------------------------------
    @app.get("/v1/whoami", tags=["auth"], responses=errors)
    def whoami(key: Reader) -> dict[str, str]:
        """The calling key's name and role."""
        return {"name": key.name, "role": key.role}

    @app.get("/v1/experiments", tags=["experiments"], responses=errors)
    def list_experiments(key: Reader) -> list[ExperimentOut]:
        """All experiments."""
        return [_experiment_out(service, e.id) for e in service.config.experiments]

    @app.get("/v1/experiments/{experiment}", tags=["experiments"], responses=errors)
    def get_experiment(experiment: str, key: Reader) -> ExperimentOut:
        """One experiment's configuration and runtime state."""
        return _experiment_out(service, experiment)

    @app.get("/v1/experiments/{experiment}/config", tags=["experiments"], responses=errors)
    def get_config(experiment: str, key: Reader) -> dict[str, Any]:
        """The experiment's configuration as loaded from the YAML file."""
        return service.experiment(experiment).model_dump(mode="json")

    @app.get("/v1/experiments/{experiment}/report", tags=["experiments"], responses=errors)
    def get_report(experiment: str, key: Reader, scope: ScopeQuery = None) -> dict[str, Any]:
        """What the experiment has learned (the same report the bot and the CLI show)."""
        out: dict[str, Any] = _json_safe(service.report(experiment, scope=scope).to_dict())
        return out

    @app.get("/v1/experiments/{experiment}/timeline", tags=["experiments"], responses=errors)
    def get_timeline(experiment: str, key: Reader,
                     bins: Annotated[int, Query(ge=1, le=500)] = 40,
                     scope: ScopeQuery = None) -> dict[str, Any]:
        """Decisions and rewards per arm over time (for charts)."""
        return service.timeline(experiment, bins=bins, scope=scope).to_dict()

    @app.get("/v1/experiments/{experiment}/decisions", tags=["experiments"],
             responses={**errors, 200: {"content": {"application/x-ndjson": {},
                                                    "text/csv": {}}}})
    def list_decisions(experiment: str, key: Reader,
                       limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                       after: Annotated[str | None, Query(max_length=64)] = None,
                       format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
                       generation: Annotated[int | None, Query(ge=0)] = None) -> Response:
        """The decision log, oldest first, one page at a time (``after`` = the last
        ``decision_id`` of the previous page; ``X-Next-After`` gives it)."""
        from ..offline import decision_rows

        records = list(service.decisions(experiment, generation=generation, after_id=after,
                                         limit=limit))
        rows = list(decision_rows(records))
        headers = {"X-Next-After": records[-1].id} if len(records) == limit else {}
        if format == "csv":
            buffer = io.StringIO()
            from ..offline import LOG_COLUMNS

            writer = csv.DictWriter(buffer, fieldnames=list(LOG_COLUMNS), extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
            return Response(buffer.getvalue(), media_type="text/csv", headers=headers)
        body = "".join(json.dumps(_json_safe(r)) + "\n" for r in rows)
        return Response(body, media_type="application/x-ndjson", headers=headers)

    # The two hot routes: one handler each, called by the documented FastAPI route and by an
    # ASGI fast path in front of FastAPI (routing, dependency and response-model machinery
    # cost more than the SQLite transaction they wrap). They parse with the same pydantic
    # models, authenticate with the same key ring and answer the same way.
    def parse(raw: bytes, model: type[_Body]) -> Any:
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            details = exc.errors()
            where = ".".join(str(p) for p in details[0]["loc"]) if details else ""
            message = details[0]["msg"] if details else "invalid"
            raise _InvalidBodyError(f"{where + ': ' if where else ''}{message}",
                                    hint="see /docs for the request body") from None

    def as_json(payload: dict[str, Any], status: int) -> Response:
        return Response(json.dumps(payload, separators=(",", ":")), status_code=status,
                        media_type="application/json")

    async def handle_decide(experiment: str, headers: Mapping[str, str], raw: bytes,
                            request_id: str | None) -> Response:
        authorize(headers, "decide")
        body: DecisionIn = parse(raw, DecisionIn)
        if group is not None and not body.sticky:
            record, d = service._plan_decision(experiment, body.subject, body.context,
                                               body.chat)
            await group.submit(service._record_decision, record)
        else:
            d = await run(service.decide, experiment, body.subject, body.context,
                          chat=body.chat, sticky=body.sticky)
        return as_json({"decision_id": d.id, "experiment": d.experiment, "arm": d.arm,
                        "content": d.content, "propensity": d.propensity,
                        "probabilities": dict(d.probabilities), "created_at": d.created_at},
                       201)

    async def handle_reward(decision_id: str, headers: Mapping[str, str], raw: bytes,
                            request_id: str | None) -> Response:
        authorize(headers, "decide")
        body: RewardIn = parse(raw, RewardIn)
        if group is not None:
            planned = service._plan_reward(decision_id, body.value, body.subject, None)
            result = planned if isinstance(planned, RewardResult) else \
                await group.submit(service._commit_reward, planned)
        else:
            result = await run(service.reward, decision_id, body.value, body.subject)
        metrics.child(metrics.reward_outcomes, result.status.value).inc()
        if result.status in (RewardStatus.APPLIED, RewardStatus.DUPLICATE):
            return as_json({"status": result.status.value, "decision_id": result.decision_id,
                            "message": result.message, "arm": result.arm,
                            "value": result.value},
                           200 if result.status is RewardStatus.APPLIED else 409)
        code = {RewardStatus.UNKNOWN: 404, RewardStatus.NOT_YOURS: 403,
                RewardStatus.INVALID: 422}[result.status]
        return _problem(code, result.status.value, result.message, request_id)

    def body_doc(model: type[BaseModel]) -> dict[str, Any]:
        return {"requestBody": {"required": True, "content": {
            "application/json": {"schema": model.model_json_schema(
                ref_template="#/components/schemas/{model}")}}}}

    @app.post(DECIDE_ROUTE, tags=["decide and reward"],
              status_code=201, responses={**errors, 201: {"model": DecisionOut}},
              openapi_extra=body_doc(DecisionIn), response_model=None)
    async def create_decision(experiment: Annotated[str, Path(max_length=64)],
                              request: Request) -> Response:
        """Choose an arm for a subject; the decision is logged with its propensity."""
        return await handle_decide(experiment, request.headers, await request.body(),
                                   _rid(request))

    @app.post(REWARD_ROUTE, tags=["decide and reward"],
              responses={**errors, 200: {"model": RewardOut}, 409: {"model": RewardOut}},
              openapi_extra=body_doc(RewardIn), response_model=None)
    async def reward(decision_id: Annotated[str, Path(max_length=64)],
                     request: Request) -> Response:
        """Report the reward of a decision: 200 applied, 409 duplicate (already counted),
        404 unknown, 403 not yours, 422 not allowed by the reward spec."""
        return await handle_reward(decision_id, request.headers, await request.body(),
                                   _rid(request))

    def problem_of(exc: BanditBotError, request_id: str | None) -> Response:
        metrics.errors.labels(type(exc).__name__).inc()
        return _problem(exc.status_code, type(exc).__name__, exc.message, request_id, exc.hint)

    app.add_middleware(_HotRoutes, routes=[
        (re.compile(r"/v1/experiments/([A-Za-z0-9_.-]{1,64})/decisions"), handle_decide,
         _RouteName(DECIDE_ROUTE)),
        (re.compile(r"/v1/decisions/([A-Za-z0-9_-]{1,64})/reward"), handle_reward,
         _RouteName(REWARD_ROUTE)),
    ], on_error=problem_of)

    # --- admin ----------------------------------------------------------------------------------
    def actor(key: ApiKey) -> str:
        return f"api:{key.name}"

    @app.post("/v1/experiments/{experiment}/cheat", tags=["admin"], responses=errors)
    def cheat(experiment: str, body: CheatIn, key: Admin) -> Done:
        """Add rewards to an arm by hand ("cheater mode")."""
        n = service.cheat(experiment, body.arm, body.rewards, actor=actor(key))
        return Done(ok=True, detail=f"added {n} rewards to {body.arm}")

    @app.put("/v1/experiments/{experiment}/arms/{arm}/prior", tags=["admin"], responses=errors)
    def prior(experiment: str, arm: str, body: PriorIn, key: Admin) -> Done:
        """Set an arm's prior."""
        service.set_prior(experiment, arm, body.alpha, body.beta, actor=actor(key))
        return Done(ok=True, detail=f"prior of {arm} set")

    @app.post("/v1/experiments/{experiment}/reset", tags=["admin"], responses=errors)
    def reset(experiment: str, body: ResetIn, key: Admin) -> Done:
        """Start the experiment's learning over (the log is kept)."""
        generation = service.reset(experiment, keep_priors=body.keep_priors, actor=actor(key))
        return Done(ok=True, detail=f"generation {generation}")

    @app.put("/v1/experiments/{experiment}/policy", tags=["admin"], responses=errors)
    def policy(experiment: str, body: PolicyIn, key: Admin) -> Done:
        """Switch the policy; what was learned is kept."""
        p = service.switch_policy(experiment, body.name, body.params, actor=actor(key))
        return Done(ok=True, detail=p.describe())

    @app.post("/v1/experiments/{experiment}/arms", tags=["admin"], status_code=201,
              responses=errors)
    def add_arm(experiment: str, body: ArmIn, key: Admin) -> Done:
        """Add an arm (or bring back a retired one)."""
        service.add_arm(experiment, body.id, body.content, actor=actor(key))
        return Done(ok=True, detail=f"arm {body.id} added")

    @app.delete("/v1/experiments/{experiment}/arms/{arm}", tags=["admin"], responses=errors)
    def retire_arm(experiment: str, arm: str, key: Admin) -> Done:
        """Retire an arm (its statistics are kept)."""
        service.retire_arm(experiment, arm, actor=actor(key))
        return Done(ok=True, detail=f"arm {arm} retired")

    # --- dashboard --------------------------------------------------------------------------------
    static = resources.files("banditbot.api") / "static"

    @app.get("/", include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        suffix = name[name.rfind("."):] if "." in name else ""
        target = static / name
        if suffix not in types or "/" in name or not target.is_file():
            raise StarletteHTTPException(404, "no such file")
        return Response(target.read_bytes(), media_type=types[suffix],
                        headers={"Cache-Control": "no-cache"})

    # outermost: request id, size limit, access log, latency (added last = runs first)
    app.add_middleware(_Envelope, metrics=metrics)

    # --- Telegram ------------------------------------------------------------------------------
    if telegram is not None:
        from ..telegram._app import process_webhook

        secret = str(webhook_secret)

        @app.post("/telegram", include_in_schema=False)
        async def telegram_webhook(request: Request) -> JSONResponse:
            body = await request.body()
            outcome = await process_webhook(telegram, service, request.headers, body, secret,
                                            wait=False)
            return JSONResponse({"ok": outcome.status == 200, "detail": outcome.reason},
                                outcome.status)

    return app


class _GroupCommit:
    """Group commit for the hot routes on a local store.

    A decide or reward request does its reads and its policy work first, then hands its
    write here and awaits it. The first write of an event-loop turn schedules a flush at
    the end of that turn, so every request that became ready in the same turn shares one
    ``store.batch()`` (on SQLite one transaction: one lock, one commit). Nobody waits for a
    timer: an idle server commits each request alone, a busy one in groups. A write that
    fails on its own fails only its request; a failed commit fails them all (and nothing
    was written).
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.pending: list[tuple[Callable[..., Any], tuple[Any, ...],
                                 asyncio.Future[Any]]] = []

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self.pending:
            loop.call_soon(self.flush)
        self.pending.append((fn, args, future))
        return future

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            with self.store.batch():
                for fn, args, future in batch:
                    try:
                        outcomes.append((future, fn(*args), None))
                    except BanditBotError as exc:  # this request's own problem
                        outcomes.append((future, None, exc))
        except Exception as exc:  # the commit failed: none of the writes happened
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, value, error in outcomes:
            if future.done():  # the client went away; its write stands, like a sync call's
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)


@dataclass(frozen=True, slots=True)
class _RouteName:
    """What the envelope reads from ``scope["route"]`` (the route template, for the access
    log and the metric labels) when the fast path answered instead of FastAPI's router."""

    path: str


class _HotRoutes:
    """ASGI fast path for the decide and reward routes (see ``handle_decide``): a regex on
    the path, the body read in place, the handler's response sent as is; anything else goes
    on to FastAPI."""

    def __init__(self, app: Any, routes: list[tuple[re.Pattern[str], Any, _RouteName]],
                 on_error: Callable[[BanditBotError, str | None], Response]) -> None:
        self.app, self.routes, self.on_error = app, routes, on_error

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            for pattern, handler, route in self.routes:
                match = pattern.fullmatch(scope["path"])
                if match is None:
                    continue
                scope["route"] = route
                chunks = []
                while True:
                    message = await receive()
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body"):
                        break
                headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                           for k, v in scope["headers"]}
                request_id = scope.get("state", {}).get("request_id")
                try:
                    response = await handler(match.group(1), headers, b"".join(chunks),
                                             request_id)
                except BanditBotError as exc:
                    response = self.on_error(exc, request_id)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Envelope:
    """Pure ASGI middleware: a request id (``X-Request-ID``, echoed), the body size limit,
    one JSON access-log line and the latency histogram per request."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or \
            secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = [500]
        limit = MAX_BODY_BYTES * 16 if scope["path"] == "/telegram" else MAX_BODY_BYTES
        raw_length = headers.get(b"content-length")

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        if raw_length is not None and (not raw_length.isdigit() or int(raw_length) > limit):
            response = _problem(413, "payload too large",
                                f"the body is limited to {limit} bytes", request_id)
            await response(scope, receive, send_with_id)
        else:
            await self.app(scope, receive, send_with_id)
        elapsed = time.perf_counter() - start
        route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.child(self.metrics.requests, scope["method"], route,
                           str(status[0])).observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info("request", extra={"request_id": request_id, "method": scope["method"],
                                       "path": route, "status": status[0],
                                       "ms": round(elapsed * 1000, 2)})


class _InvalidBodyError(PayloadError):
    status_code = 422


class _UnauthorizedError(BanditBotError):
    status_code = 401

    def __init__(self) -> None:
        super().__init__("missing or unknown API key",
                         hint="send Authorization: Bearer <key> (banditbot keys create)")


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _problem(status: int, title: str, detail: str, request_id: str | None,
             hint: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "request_id": request_id}
    if hint:
        body["hint"] = hint
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats (which JSON cannot carry) by ``None``."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _experiment_out(service: BanditService, experiment: str) -> ExperimentOut:
    exp = service.experiment(experiment)
    report = service.report(experiment)
    return ExperimentOut(
        id=exp.id, command=exp.telegram_command, description=exp.description,
        arms=[a.arm for a in report.arms], active_arms=list(service.active_arms(experiment)),
        policy=report.policy, reward=exp.reward.model_dump(mode="json"),
        reward_mode=exp.reward_mode, scope=exp.scope, generation=report.generation)

