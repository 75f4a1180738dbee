"""The documented decide and reward routes (the fast path answers the same requests first;
see :mod:`banditbot.api._hot`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel

from ...service import MAX_IDEMPOTENCY_KEY
from .._deps import SECURITY
from .._hot import DECIDE_ROUTE, REWARD_ROUTE
from .._models import DecisionIn, DecisionOut, RewardIn, RewardOut
from .._problems import problem_responses

__all__ = ["router"]

router = APIRouter(tags=["decide and reward"])
_ERRORS = problem_responses(400, 401, 403, 404, 413, 422, 503)


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The request body and the key, documented by hand (the fast path reads both itself)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema(
            ref_template="#/components/schemas/{model}")}}}, "security": SECURITY}


#: the decide route's optional header, documented by hand (the fast path reads it itself)
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Your key for this request, sent again with each retry of it: within 24 "
                   "hours the same request with the same key is answered with the decision "
                   "it made (201, `Idempotent-Replayed: true`), and nothing new is logged; "
                   "the same key with another request is refused (422).",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY,
               # (a header's value loses its leading and trailing spaces on the way)
               "pattern": "^[!-~]([ -~]*[!-~])?$"}}
_REPLAYED = {"Idempotent-Replayed": {
    "description": "`true` when the decision was made before, for the same Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]}}}


@router.post(DECIDE_ROUTE, status_code=201,
             responses={**_ERRORS, 201: {"model": DecisionOut, "headers": _REPLAYED},
                        400: {**_ERRORS[400], "description": "A malformed body or "
                              "Idempotency-Key (or two of them)"},
                        422: {**_ERRORS[422], "description": "Not allowed by the experiment, "
                              "or an Idempotency-Key sent before with another request"}},
             openapi_extra={**_body_doc(DecisionIn), "parameters": [_IDEMPOTENCY_KEY]},
             response_model=None)
async def create_decision(experiment: Annotated[str, Path(max_length=64)],
                          request: Request) -> Response:
    """Choose an arm for a subject; the decision is logged with its propensity. Send an
    `Idempotency-Key` to retry safely: a retry gets the same decision."""
    response: Response = await request.app.state.hot.decide(
        experiment, request.headers, await request.body(), request.state.request_id)
    return response


@router.post(REWARD_ROUTE, responses={**_ERRORS, 200: {"model": RewardOut},
                                      409: {"model": RewardOut}},
             openapi_extra=_body_doc(RewardIn), response_model=None)
async def reward(decision_id: Annotated[str, Path(max_length=64)],
                 request: Request) -> Response:
    """Report the reward of a decision: 200 applied, 409 duplicate (already counted),
    404 unknown, 403 not yours (or a decision the Telegram bot made, which only an admin
    key may reward here), 422 not allowed by the reward spec."""
    response: Response = await request.app.state.hot.reward(
        decision_id, request.headers, await request.body(), request.state.request_id)
    return response
