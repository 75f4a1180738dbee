"""Admin actions (an ``admin`` key): cheater mode, priors, reset, policy switch, arms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from ...service import ApiKey
from ...stores import AdminAction
from .._deps import Admin, Service
from .._models import ArmIn, AuditEntry, CheatIn, Done, PolicyIn, PriorIn, ResetIn
from .._problems import problem_responses

__all__ = ["router"]

router = APIRouter(tags=["admin"])
_ERRORS = problem_responses(400, 401, 403, 404, 413, 422, 503)


def _actor(key: ApiKey) -> str:
    return f"api:{key.name}"


@router.post("/v1/experiments/{experiment}/cheat", responses=_ERRORS)
def cheat(experiment: str, body: CheatIn, service: Service, key: Admin) -> Done:
    """Add rewards to an arm by hand ("cheater mode")."""
    n = service.cheat(experiment, body.arm, body.rewards, actor=_actor(key),
                      scope=body.scope or "")
    return Done(ok=True, detail=f"added {n:,} reward{'' if n == 1 else 's'} to {body.arm}")


@router.put("/v1/experiments/{experiment}/arms/{arm}/prior", responses=_ERRORS)
def prior(experiment: str, arm: str, body: PriorIn, service: Service, key: Admin) -> Done:
    """Set an arm's prior."""
    means = service.set_prior(experiment, arm, body.alpha, body.beta, actor=_actor(key))
    return Done(ok=True, detail=f"prior of {arm} set: {means}")


@router.post("/v1/experiments/{experiment}/reset", responses=_ERRORS)
def reset(experiment: str, service: Service, key: Admin, body: ResetIn | None = None) -> Done:
    """Start the experiment's learning over (the log is kept)."""
    body = body or ResetIn()  # no body: the defaults
    generation = service.reset(experiment, keep_priors=body.keep_priors, actor=_actor(key))
    return Done(ok=True, detail=f"generation {generation}")


@router.put("/v1/experiments/{experiment}/policy", responses=_ERRORS)
def policy(experiment: str, body: PolicyIn, service: Service, key: Admin) -> Done:
    """Switch the policy; what was learned is kept."""
    p = service.switch_policy(experiment, body.name, body.params, actor=_actor(key))
    return Done(ok=True, detail=p.message)


@router.post("/v1/experiments/{experiment}/arms", status_code=201, responses=_ERRORS)
def add_arm(experiment: str, body: ArmIn, service: Service, key: Admin) -> Done:
    """Add an arm (or bring back a retired one)."""
    service.add_arm(experiment, body.id, body.content, actor=_actor(key))
    return Done(ok=True, detail=f"arm {body.id} added")


@router.delete("/v1/experiments/{experiment}/arms/{arm}", responses=_ERRORS)
def retire_arm(experiment: str, arm: str, service: Service, key: Admin) -> Done:
    """Retire an arm (its statistics are kept)."""
    also = service.retire_arm(experiment, arm, actor=_actor(key))
    return Done(ok=True, detail=f"arm {arm} retired" + (f"; {also}" if also else ""))


@router.get("/v1/admin-log", responses=_ERRORS)
def admin_log(service: Service, key: Admin, experiment: str | None = None,
              action: Annotated[list[AdminAction] | None, Query()] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditEntry]:
    """The audit log, newest first: who changed what, when (``experiment`` and repeated
    ``action`` narrow it). Needs an admin key: it names the keys and Telegram ids that
    acted."""
    records = service.store.admin_log(experiment, limit,
                                      actions=set(action) if action else None)
    if experiment is not None and not records and not service.store.admin_log(experiment, 1):
        # an id neither the log nor the config knows: 404, with the known ones (one since
        # removed from the config keeps its audit log)
        service.experiment(experiment)
    return [AuditEntry(at=r.at, time=datetime.fromtimestamp(r.at, UTC).isoformat(
                timespec="seconds"), actor=r.actor, experiment=r.experiment, action=r.action,
                details=r.details)
            for r in records]
