"""Probes and metrics: ``GET /healthz`` (alive), ``GET /readyz`` (ready for traffic), ``GET /metrics``.

``HEAD /healthz`` and ``HEAD /readyz`` answer with the same status and no body (load balancers that probe
with HEAD).

These never touch the engine's queue, so they answer at once even while long syntheses run.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ttsd.api.deps import ServiceState, StateDep
from ttsd.api.schemas import Liveness, Readiness, ReadyStatus

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness probe", responses={503: {"description": "Startup failed"}})
async def healthz(state: StateDep) -> JSONResponse:
    """200 while the process serves HTTP; 503 if startup failed (the voice could not load)."""
    if state.failure is not None:
        return JSONResponse({"status": "failed"}, status_code=503)
    return JSONResponse(Liveness().model_dump())


@router.get(
    "/readyz",
    summary="Readiness probe",
    responses={503: {"model": Readiness, "description": "Starting (voice not loaded/warmed) or draining"}},
)
async def readyz(state: StateDep) -> JSONResponse:
    """200 once the voice is loaded and warmed up; 503 before that and while draining for shutdown."""
    body = _readiness(state)
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ready" else 503)


@router.head(
    "/healthz",
    summary="Liveness probe (no body)",
    response_class=Response,
    responses={200: {"description": "Alive"}, 503: {"description": "Startup failed"}},
)
async def healthz_head(state: StateDep) -> Response:
    """The status of ``GET /healthz``, without a body."""
    return Response(status_code=503 if state.failure is not None else 200)


@router.head(
    "/readyz",
    summary="Readiness probe (no body)",
    response_class=Response,
    responses={200: {"description": "Ready"}, 503: {"description": "Starting or draining"}},
)
async def readyz_head(state: StateDep) -> Response:
    """The status of ``GET /readyz``, without a body."""
    return Response(status_code=200 if _readiness(state).status == "ready" else 503)


def _readiness(state: ServiceState) -> Readiness:
    engine = state.engine
    if engine is None:
        status: ReadyStatus = "failed" if state.failure is not None else "starting"
        return Readiness(status=status, queue_depth=0, device="", executor="")
    health = engine.health()
    draining = state.draining or health.draining
    status = "draining" if draining else "ready" if health.ready else "starting"
    return Readiness(status=status, queue_depth=health.queue_depth, device=health.device, executor=health.executor)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    """Text exposition format; metric names are listed in docs/metrics.md."""
    return Response(content=state.metrics.render(), media_type=state.metrics.content_type)
