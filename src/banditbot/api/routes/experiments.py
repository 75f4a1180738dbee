"""Reading experiments: list, configuration, report, timeline, the decision log."""

from __future__ import annotations

import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from ...offline import decision_rows, store_pseudonyms, write_log_csv
from ...service import BanditService
from .._deps import Reader, Service
from .._models import ExperimentOut, ScopeQuery
from .._problems import problem_responses

__all__ = ["json_safe", "router"]

router = APIRouter()
_ERRORS = problem_responses(400, 401, 403, 404, 413, 422)


@router.get("/v1/whoami", tags=["auth"], responses=_ERRORS)
def whoami(key: Reader) -> dict[str, str]:
    """The calling key's name and role."""
    return {"name": key.name, "role": key.role}


@router.get("/v1/experiments", tags=["experiments"], responses=_ERRORS)
def list_experiments(service: Service, key: Reader) -> list[ExperimentOut]:
    """All experiments."""
    return [experiment_out(service, e.id) for e in service.config.experiments]


@router.get("/v1/experiments/{experiment}", tags=["experiments"], responses=_ERRORS)
def get_experiment(experiment: str, service: Service, key: Reader) -> ExperimentOut:
    """One experiment's configuration and runtime state."""
    return experiment_out(service, experiment)


@router.get("/v1/experiments/{experiment}/config", tags=["experiments"], responses=_ERRORS)
def get_config(experiment: str, service: Service, key: Reader) -> dict[str, Any]:
    """The experiment's configuration as loaded from the YAML file."""
    return service.experiment(experiment).model_dump(mode="json")


@router.get("/v1/experiments/{experiment}/report", tags=["experiments"], responses=_ERRORS)
def get_report(experiment: str, service: Service, key: Reader,
               scope: ScopeQuery = None) -> dict[str, Any]:
    """What the experiment has learned (the same report the bot and the CLI show)."""
    out: dict[str, Any] = json_safe(service.report(experiment, scope=scope).to_dict())
    return out


@router.get("/v1/experiments/{experiment}/timeline", tags=["experiments"], responses=_ERRORS)
def get_timeline(experiment: str, service: Service, key: Reader,
                 bins: Annotated[int, Query(ge=1, le=500)] = 40,
                 scope: ScopeQuery = None) -> dict[str, Any]:
    """Decisions and rewards per arm over time (for charts)."""
    return service.timeline(experiment, bins=bins, scope=scope).to_dict()


@router.get("/v1/experiments/{experiment}/decisions", tags=["experiments"],
            responses={**_ERRORS, 200: {"content": {"application/x-ndjson": {},
                                                    "text/csv": {}}}})
def list_decisions(experiment: str, service: Service, key: Reader,
                   limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                   after: Annotated[str | None, Query(max_length=64)] = None,
                   format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
                   generation: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None
                   ) -> Response:
    """The decision log, oldest first, one page at a time (``after`` = the last
    ``decision_id`` of the previous page; ``X-Next-After`` gives it). CSV has the columns of
    ``banditbot export``."""
    records = list(service.decisions(experiment, generation=generation, after_id=after,
                                     limit=limit))
    headers = {"X-Next-After": records[-1].id} if len(records) == limit else {}
    pseudonyms = store_pseudonyms(service.store)  # ids never leave raw
    if format == "csv":
        buffer = io.StringIO()
        write_log_csv(records, buffer, pseudonyms=pseudonyms)
        return Response(buffer.getvalue(), media_type="text/csv", headers=headers)
    body = "".join(json.dumps(json_safe(r)) + "\n"
                   for r in decision_rows(records, pseudonyms=pseudonyms))
    return Response(body, media_type="application/x-ndjson", headers=headers)


def experiment_out(service: BanditService, experiment: str) -> ExperimentOut:
    """An experiment as the API shows it."""
    exp = service.experiment(experiment)
    report = service.report(experiment)
    return ExperimentOut(
        id=exp.id, command=exp.telegram.command_for(exp.id), description=exp.description,
        arms=[a.arm for a in report.arms], active_arms=list(service.active_arms(experiment)),
        policy=report.policy, reward=exp.reward.model_dump(mode="json"),
        reward_mode=exp.reward_mode, scope=exp.scope, generation=report.generation)


def json_safe(value: Any) -> Any:
    """Replace non-finite floats (which JSON cannot carry) by ``None``."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
