"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from .._deps import Service, authorize
from .._health import ProbeTimeoutError
from .._problems import problem_responses

__all__ = ["router"]

router = APIRouter(tags=["ops"])

#: how long /readyz waits for the store's answer before it says 503
READY_SECONDS = 3.0


@router.head("/healthz", include_in_schema=False)  # a load balancer's probe
@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.head("/readyz", include_in_schema=False)
@router.get("/readyz", summary="Readiness: the store answers",
            responses=problem_responses(503))
async def readyz(service: Service) -> dict[str, str]:
    """The store answers a read, within :data:`READY_SECONDS` (a store that retries a
    server that is down would otherwise keep the probe waiting past the balancer's own
    timeout; the read goes on in its thread and ends with the store's retries)."""
    try:
        await asyncio.wait_for(run_in_threadpool(
            service.store.read_meta, service.config.experiments[0].id), READY_SECONDS)
    except TimeoutError:
        raise ProbeTimeoutError(f"the store did not answer within {READY_SECONDS:g} s",
                         hint="it is down, restarting or overloaded") from None
    # its kind, not its address: the probe answers anyone
    return {"status": "ready", "store": service.store.url.split(":")[0]}


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def prometheus(request: Request, service: Service) -> Response:
    """The exposition text (the sample-ratio check is computed for each scrape). With
    ``metrics_key`` (on Lambda) a read key is needed, as for ``/v1/``."""
    if request.app.state.metrics_key:
        authorize(request.app.state.keys, request.headers, "read")
    metrics = request.app.state.metrics
    for exp in service.config.experiments:
        check = service.sample_ratio(exp.id)
        if check is not None:
            metrics.srm_p_value.labels(exp.id).set(check.p_value)
            metrics.srm_flagged.labels(exp.id).set(float(check.flagged))
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")
