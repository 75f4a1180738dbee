"""Reading experiments: list, configuration, report, timeline, the decision log."""

from __future__ import annotations

import dataclasses
import heapq
import io
import itertools
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from starlette.exceptions import HTTPException

from ..._config import config_document
from ...offline import decision_rows, store_pseudonyms, write_log_csv
from ...service import BanditService, resolve_propensities
from ...stores import DecisionRecord, close_scan
from .._deps import Reader, Service
from .._models import ByQuery, ExperimentOut, ScopeQuery
from .._problems import problem_responses
from .._scopes import stored_scope

__all__ = ["json_safe", "router"]

router = APIRouter()
_ERRORS = problem_responses(400, 401, 403, 404, 413, 422, 503)


@router.get("/v1/whoami", tags=["auth"], responses=_ERRORS)
def whoami(key: Reader) -> dict[str, str]:
    """The calling key's name and role."""
    return {"name": key.name, "role": key.role}


@router.get("/v1/policies", tags=["experiments"], responses=_ERRORS)
def list_policies(key: Reader) -> list[dict[str, Any]]:
    """The policies an experiment can switch to, each with its parameters' defaults."""
    from ...policies import available_policies

    out = []
    for name, cls in available_policies().items():
        fields: tuple[dataclasses.Field[Any], ...] = (
            dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ())
        defaults = {f.name: f.default for f in fields
                    if f.init and f.default is not dataclasses.MISSING}
        summary = (cls.__doc__ or "").strip().split("\n\n")[0]
        out.append({"name": name, "summary": " ".join(summary.split()),
                    "params": json_safe(defaults)})
    return out


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
    document: dict[str, Any] = config_document(service.experiment(experiment))
    return document


@router.get("/v1/experiments/{experiment}/report", tags=["experiments"], responses=_ERRORS)
def get_report(experiment: str, service: Service, key: Reader,
               scope: ScopeQuery = None, by: ByQuery = None) -> dict[str, Any]:
    """What the experiment has learned (the same report the bot and the CLI show).

    With ``by`` (a categorical or true/false context feature), the report per segment
    instead, as ``banditbot report EXP --by FEATURE`` gives it: per value of the feature,
    its decisions and answers and each arm's estimate, interval at this look and interval
    at every look on that value's decisions alone, and the leader where the evidence names
    one. A cyclic or numeric feature, or one the experiment does not declare, is a 400
    naming the features it could be.

    ``scope`` names one bandit as the answers show it (by pseudonym; an admin key may also
    give its id), and comes back as given."""
    stored = stored_scope(service, experiment, scope, key)
    if by is not None:
        segmented: dict[str, Any] = json_safe(
            service.segment_report(experiment, by=by, scope=stored).to_dict())
        return {**segmented, "scope": scope}
    out: dict[str, Any] = json_safe(service.report(experiment, scope=stored).to_dict())
    return {**out, "scope": scope}


@router.get("/v1/experiments/{experiment}/timeline", tags=["experiments"], responses=_ERRORS)
def get_timeline(experiment: str, service: Service, key: Reader,
                 bins: Annotated[int, Query(ge=1, le=500)] = 40,
                 scope: ScopeQuery = None) -> dict[str, Any]:
    """Decisions and rewards per arm over time (for charts)."""
    return service.timeline(experiment, bins=bins,
                            scope=stored_scope(service, experiment, scope, key)).to_dict()


@router.get("/v1/experiments/{experiment}/series", tags=["experiments"], responses=_ERRORS)
def get_series(experiment: str, service: Service, key: Reader,
               points: Annotated[int, Query(ge=1, le=500)] = 60,
               scope: ScopeQuery = None) -> dict[str, Any]:
    """The current generation by decision count, for charts: per bin of equal decision count,
    each arm's allocation (mean logged probability), share of decisions and cumulative reward.
    The x axis is ``decisions``, never the clock. The log is read again only when it
    changed (a long one when it has grown by 0.5%: ``behind`` says by how much it has since)."""
    exp = service.experiment(experiment)
    # the series' generation is the report's (the log read is the service's current one)
    generation = service.current_generation(exp.id)
    series = service.report_series(exp.id, points=points,
                                   scope=stored_scope(service, exp.id, scope, key))
    return {**series.to_dict(), "generation": generation, "scope": scope}


class _NdjsonResponse(Response):
    """The decision list's default answer (documented as such: not application/json)."""

    media_type = "application/x-ndjson"


@router.get("/v1/experiments/{experiment}/decisions", tags=["experiments"],
            response_class=_NdjsonResponse,
            responses={**_ERRORS, 200: {"content": {"text/csv": {}}}})
def list_decisions(experiment: str, service: Service, key: Reader,
                   limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                   after: Annotated[str | None, Query(max_length=64)] = None,
                   format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
                   generation: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
                   order: Annotated[Literal["asc", "desc"], Query()] = "asc",
                   before: Annotated[str | None, Query(max_length=64)] = None,
                   scope: Annotated[str | None, Query(max_length=140)] = None) -> Response:
    """The decision log, one page at a time.

    ``order=asc`` (default): oldest first; ``after`` = the last ``decision_id`` of the previous
    page (``X-Next-After`` gives it). ``order=desc``: newest first; ``before`` = the last
    ``decision_id`` of the previous page (``X-Next-Before`` gives it). Neither header comes
    with the last page. Either cursor also
    bounds the other order (``after`` and ``before`` together: the decisions between them).
    ``generation`` keeps one generation (the report's ``generation`` is the current one;
    without it the log of every generation, as ``banditbot export --all-generations`` gives);
    ``scope`` one bandit, named as the rows name it (``chat:PSEUDONYM``; an admin key may
    also give ``chat:ID``). JSON Lines (default): one object per
    decision with the columns of ``banditbot export``, ``arms`` and ``probabilities`` as lists,
    ``context`` as an object and ``rewarded_at`` null until a reward came (``scope`` is
    ``""`` for the experiment's shared bandit); CSV: the columns of ``banditbot export``
    without its ``ctx_*`` columns (the ``context`` column holds every key), the same on
    every page."""
    exp = service.experiment(experiment)
    scope = stored_scope(service, exp.id, scope, key)  # as the report: no silent empty page
    after, before = after or None, before or None  # "?after=" is the first page, not none
    lower = _cursor(service, exp.id, after, "after") if after else None
    upper = _cursor(service, exp.id, before, "before") if before else None
    if order == "desc":
        records, more = _newest_first(service, exp.id, generation=generation, lower=lower,
                                      upper=upper, limit=limit, scope=scope)
        headers = {"X-Next-Before": records[-1].id} if more and records else {}
    else:
        source = service.decisions(exp.id, generation=generation, after_id=after, scope=scope)
        wanted = itertools.takewhile(lambda r: upper is None or (r.created_at, r.id) < upper,
                                     source)
        records = list(itertools.islice(wanted, limit + 1))  # one more: is there a next page?
        source.close()  # the store's scan ends before the page keeps its vectors
        more = len(records) > limit
        records = records[:limit]
        service.keep_vectors(records)  # a page does not read the log to its end
        headers = {"X-Next-After": records[-1].id} if more else {}
    pseudonyms = store_pseudonyms(service.store)  # ids never leave raw
    if format == "csv":
        buffer = io.StringIO()
        # no ctx_* columns: a page's header would follow its own rows' contexts, and
        # pages joined into one file (the dashboard's download) would not line up
        write_log_csv(records, buffer, pseudonyms=pseudonyms, context_columns=False)
        return Response(buffer.getvalue(), media_type="text/csv", headers=headers)
    body = "".join(json.dumps(json_safe(r)) + "\n"
                   for r in decision_rows(records, pseudonyms=pseudonyms, nested=True))
    return Response(body, media_type="application/x-ndjson", headers=headers)


#: How far back (seconds) newest-first paging looks first; each further look reaches
#: :data:`_WIDEN` times as far, until a page is full or the look holds the whole log.
_FIRST_WINDOW = 1.0 / 64.0  # a busy log fills a page within it; a quiet one costs ~15 reads
_WIDEN = 4.0
_LONGEST_WINDOW = 90 * 86400.0


def _cursor(service: BanditService, experiment: str, decision_id: str,
            name: str) -> tuple[float, str]:
    """``(created_at, id)`` of a paging cursor; 404 if no decision of the experiment has
    that id."""
    record = service.store.get_decision(decision_id)
    if record is None or record.experiment != experiment:
        raise HTTPException(404, f"{name}: no decision of {experiment!r} has the id "
                                 f"{decision_id!r} (use the X-Next-* header of a page)")
    return record.created_at, record.id


def _newest_first(service: BanditService, experiment: str, *, generation: int | None,
                  lower: tuple[float, str] | None, upper: tuple[float, str] | None,
                  limit: int, scope: str | None) -> tuple[list[DecisionRecord], bool]:
    """Up to ``limit`` decisions newest first, strictly between the cursors, and whether
    there are more.

    The store pages oldest first from a time, so this reads a window back from now (or from
    ``upper``, stopping there) and widens it until the page is full or the window holds
    the whole log: a window of 1/64 s first, each next one four times as long, so a page
    reads at most about four times the decisions of the window that fills it (a burst of
    thousands per second included), and a page of a quiet log some fifteen short reads.
    A store that could scan newest first would read a page alone.
    """
    end = upper[0] if upper else service.clock()
    found: list[DecisionRecord] = []
    window: float | None = _FIRST_WINDOW
    while True:
        if window is not None and window > _LONGEST_WINDOW:
            window = None
        since = None if window is None else end - window
        if lower is not None and (since is None or since < lower[0]):
            since, window = lower[0], None  # the window holds everything after the cursor
        scan = service.store.iter_decisions(experiment, generation=generation, since=since)
        try:  # the newest limit + 1 (one more: is there a next page?), in bounded memory
            found = heapq.nlargest(limit + 1, _between(scan, lower, upper, scope),
                                   key=lambda r: (r.created_at, r.id))
        finally:
            close_scan(scan)
        if len(found) > limit or window is None:
            break
        window *= _WIDEN
    page = list(resolve_propensities(found[:limit]))
    service.keep_vectors(page)
    return page, len(found) > limit


def _between(scan: Iterator[DecisionRecord], lower: tuple[float, str] | None,
             upper: tuple[float, str] | None, scope: str | None
             ) -> Iterator[DecisionRecord]:
    """The decisions of a time-ordered scan strictly between the cursors, of ``scope``."""
    for r in scan:
        if upper is not None and r.created_at > upper[0]:
            return  # time order: the rest is newer than the page
        if (upper is None or (r.created_at, r.id) < upper) \
                and (lower is None or (r.created_at, r.id) > lower) \
                and (scope is None or r.scope == scope):
            yield r


def experiment_out(service: BanditService, experiment: str) -> ExperimentOut:
    """An experiment as the API shows it."""
    exp = service.experiment(experiment)
    report = service.report(experiment)
    return ExperimentOut(
        id=exp.id, command=exp.telegram.command_for(exp.id) if exp.reward.buttons else None,
        description=exp.description,
        arms=[a.arm for a in report.arms], active_arms=list(service.active_arms(experiment)),
        policy=report.policy, reward=config_document(exp.reward),
        reward_mode=exp.reward_mode, scope=exp.scope, generation=report.generation,
        propensity="deferred" if report.propensity == "deferred" else "exact")


def json_safe(value: Any) -> Any:
    """Replace non-finite floats (which JSON cannot carry) by ``None``."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
