"""The two hot routes, decide and reward, and the ASGI fast path in front of FastAPI.

One handler per route (:class:`HotPath`), called by the documented FastAPI route and by
:class:`FastPath`, a pure ASGI middleware that matches the two paths with a regex, reads the
body in place and sends the handler's response as it is. FastAPI's routing, dependency and
response-model machinery cost more than the SQLite transaction they wrap
(``python benchmarks/http.py`` measures both ways in one run); everything else goes on to
FastAPI. Both ways parse with the same pydantic models, authenticate with the same key ring
and answer the same way, and call only the service's public methods.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from .._errors import BanditBotError, NotAllowedError, PayloadError
from ..service import (
    BanditService,
    KeyRing,
    RewardResult,
    RewardStatus,
    made_by_telegram,
    role_allows,
)
from ._deps import authorize
from ._group import GroupCommit
from ._metrics import Metrics
from ._models import Body, DecisionIn, RewardIn, error_text
from ._problems import INVALID_HINT, InvalidBodyError, MalformedBodyError, problem

__all__ = ["DECIDE_ROUTE", "REWARD_ROUTE", "FastPath", "HotPath"]

DECIDE_ROUTE = "/v1/experiments/{experiment}/decisions"
REWARD_ROUTE = "/v1/decisions/{decision_id}/reward"
#: a refused reward's status, title (in the words of the other errors) and what to do (an
#: invalid value's message names the allowed ones), by its outcome
_REFUSED: dict[RewardStatus, tuple[int, str, str | None]] = {
    RewardStatus.UNKNOWN: (404, "unknown decision",
                           "use the decision_id that POST /v1/experiments/{id}/decisions "
                           "answered (32 hexadecimal characters)"),
    RewardStatus.NOT_YOURS: (403, "not yours",
                             "send the subject the decision was made for; an admin key may "
                             "leave the subject out"),
    RewardStatus.INVALID: (422, "invalid reward", None),
}
#: the header of a decision answered again for its idempotency key
_REPLAYED = {"Idempotent-Replayed": "true"}


class HotPath:
    """Decide and reward over HTTP.

    On a local store (SQLite, memory) the service is called inline (a SQLite transaction
    takes tens of microseconds, less than a thread hop) and writes go through a
    :class:`GroupCommit`; on a network store each call runs in the thread pool.
    """

    def __init__(self, service: BanditService, keys: KeyRing, metrics: Metrics) -> None:
        self.service, self.keys, self.metrics = service, keys, metrics
        self.local = service.store.url.startswith(("sqlite:", "memory:"))
        self.group = GroupCommit(service.store) if self.local else None

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the service: inline for a local store, in the thread pool otherwise."""
        if self.local:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    async def decide(self, experiment: str, headers: Mapping[str, str], raw: bytes,
                     request_id: str | None) -> Response:
        """``POST /v1/experiments/{experiment}/decisions``: 201 with the decision; with an
        ``Idempotency-Key`` that came before with the same request, 201 with that request's
        decision and ``Idempotent-Replayed: true`` (422 if it came with another request)."""
        key = authorize(self.keys, headers, "decide")
        body: DecisionIn = _parse(raw, DecisionIn, headers)
        idempotency_key = headers.get("idempotency-key")
        if idempotency_key is not None and (idempotency_key == _TWO_KEYS or len(getattr(
                headers, "getlist", lambda _: ())("idempotency-key")) > 1):  # (Starlette's
            # headers keep each; the fast path marks a repeated one)
            raise _two_keys()
        caller = None if idempotency_key is None else key.sha256
        if self.group is not None and not body.sticky:
            planned = self.service.plan_decision(experiment, body.subject, body.context,
                                                 chat=body.chat, idempotency_key=idempotency_key,
                                                 caller=caller)
            decision = planned.decision if planned.decision.replayed else \
                await self.group.submit(self.service.commit_decision, planned)
        else:
            decision = await self.run(self.service.decide, experiment, body.subject,
                                      body.context, chat=body.chat, sticky=body.sticky,
                                      idempotency_key=idempotency_key, caller=caller)
        out = decision.to_dict()
        said = self.service.context_warnings(decision.experiment, body.context)
        if said:  # a contextual experiment: say what its features missed
            out["warnings"] = said
        return _json(out, 201, _REPLAYED if decision.replayed else None)

    async def reward(self, decision_id: str, headers: Mapping[str, str], raw: bytes,
                     request_id: str | None) -> Response:
        """``POST /v1/decisions/{decision_id}/reward``: 200 applied, 409 duplicate, 404
        unknown, 403 not yours, 422 not allowed.

        The subject is required unless the key is an admin key: the service checks that it
        owns the decision, so a client cannot reward someone else's. A decision the
        Telegram bot made is an admin key's alone (403 for a decide key): its user rewards
        it with a button."""
        key = authorize(self.keys, headers, "decide")
        body: RewardIn = _parse(raw, RewardIn, headers)
        admin = role_allows(key.role, "admin")
        if not admin and made_by_telegram(decision_id):
            # (before any read: whether the decision exists, or whose it is, is not told)
            raise NotAllowedError(
                "this decision was made by the Telegram bot: its reward is the user's "
                "button press, not a decide key's", hint="only an admin key may reward "
                "a Telegram decision over HTTP")
        if body.subject is None and not admin:
            raise InvalidBodyError("subject: required (the decision's subject)",
                                   hint="only an admin key may reward without a subject")
        result: RewardResult
        if self.group is not None:
            plan = self.service.plan_reward(decision_id, body.value, body.subject)
            result = plan if isinstance(plan, RewardResult) else \
                await self.group.submit(self.service.commit_reward, plan)
        else:
            result = await self.run(self.service.reward, decision_id, body.value,
                                    body.subject)
        self.metrics.child(self.metrics.reward_outcomes, result.status.value).inc()
        if result.status in (RewardStatus.APPLIED, RewardStatus.DUPLICATE):
            return _json({"status": result.status.value, "decision_id": result.decision_id,
                          "message": result.message, "arm": result.arm,
                          "value": result.value},
                         200 if result.status is RewardStatus.APPLIED else 409)
        code, title, hint = _REFUSED[result.status]
        return problem(code, title, result.message, request_id, hint=hint)


def _parse(raw: bytes, model: type[Body], headers: Mapping[str, str]) -> Any:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0].get("type") == "json_invalid":  # not JSON at all: 400
            # (a JSON body is read whatever its content type, e.g. curl -d's form type;
            # one that does not parse names the type it came as, if that is not JSON)
            raise MalformedBodyError.of(raw, errors[0],
                                        content_type=headers.get("content-type")) from None
        raise InvalidBodyError(error_text(errors), hint=INVALID_HINT) from None


def _json(payload: dict[str, Any], status: int,
          headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status_code=status,
                    headers=headers, media_type="application/json")


#: what the fast path gives as the key of a request with two (no header value holds a
#: line break)
_TWO_KEYS = "\n"


def _two_keys() -> PayloadError:
    """The refusal of a request with two ``Idempotency-Key`` headers (which one holds?)."""
    return PayloadError("two Idempotency-Key headers: a request has one key",
                        hint="send the key of this request once, the same on every retry")


@dataclass(frozen=True, slots=True)
class RouteName:
    """What the envelope reads from ``scope["route"]`` (the route template, for the access
    log and the metric labels) when the fast path answered instead of FastAPI's router."""

    path: str


Handler = Callable[[str, Mapping[str, str], bytes, str | None], Awaitable[Response]]


class FastPath:
    """ASGI middleware: ``POST`` to the decide or reward path goes straight to its
    :class:`HotPath` handler; anything else goes on to the app."""

    def __init__(self, app: Any, hot: HotPath,
                 on_error: Callable[[BanditBotError, str | None], Response]) -> None:
        self.app, self.on_error = app, on_error
        self.routes: list[tuple[re.Pattern[str], Handler, RouteName]] = [
            # (a trailing slash too: the app's redirect of a POST, 307 with no body, read
            # as an empty answer to a client that does not follow it)
            (re.compile(r"/v1/experiments/([A-Za-z0-9_.-]{1,64})/decisions/?"), hot.decide,
             RouteName(DECIDE_ROUTE)),
            (re.compile(r"/v1/decisions/([A-Za-z0-9_-]{1,64})/reward/?"), hot.reward,
             RouteName(REWARD_ROUTE)),
        ]

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
                if len(headers) < len(scope["headers"]) and sum(  # a header came twice
                        k.lower() == b"idempotency-key" for k, _ in scope["headers"]) > 1:
                    headers["idempotency-key"] = _TWO_KEYS  # refused once authorized
                try:
                    response = await handler(match.group(1), headers, b"".join(chunks),
                                             request_id)
                except BanditBotError as exc:
                    response = self.on_error(exc, request_id)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
