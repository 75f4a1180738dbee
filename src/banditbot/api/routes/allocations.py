"""Allocation periods: what each period's decisions were drawn from, and why it started."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...offline import store_pseudonyms
from .._deps import Reader, Service
from .._models import ScopeQuery
from .._problems import problem_responses
from .._scopes import stored_scope

__all__ = ["router"]

router = APIRouter(tags=["experiments"])


@router.get("/v1/experiments/{experiment}/allocations",
            responses=problem_responses(400, 401, 403, 404, 422, 503))
def list_allocations(experiment: str, service: Service, key: Reader,
                     scope: ScopeQuery = None) -> list[dict[str, Any]]:
    """The allocation periods of the current generation, oldest first: when each started,
    why (start, cadence, burn-in, burn-in ended, admin, winner), its probabilities and the
    decisions and rewards it got. Empty when the experiment updates every decision. A
    period's scope is pseudonymized as the decision log's is (a review: a read key got raw
    Telegram chat and user ids here); ``scope`` names one bandit so too (an admin key may
    also give its id)."""
    scope = stored_scope(service, experiment, scope, key)
    periods = service.allocation_history(experiment, scope=scope)
    decisions: dict[str | None, int] = {}
    for counts in service.store.period_counts(experiment, service.current_generation(
            experiment), scope):
        decisions[counts.allocation_id] = decisions.get(counts.allocation_id, 0) + \
            counts.decisions
    pseudonyms = store_pseudonyms(service.store)
    return [{"id": a.id, "period": a.period, "scope": pseudonyms.scope(a.scope),
             "started_at": a.created_at,
             "reason": a.reason, "probabilities": a.probability_of(),
             "decisions": decisions.get(a.id, 0), "rewards": a.rewards} for a in periods]
