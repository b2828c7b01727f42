"""Probes and metrics: ``GET /healthz`` (alive), ``GET /readyz`` (ready for traffic), ``GET /metrics``.

``HEAD /healthz`` and ``HEAD /readyz`` answer with the same status and no body (load balancers that probe
with HEAD). Both probes read the engine's lifecycle state and never touch its queues, so they answer at once
even while long syntheses run.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ttsd.api.deps import StateDep
from ttsd.api.schemas import Liveness, Readiness
from ttsd.pipeline.engine import State

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness probe", responses={503: {"description": "The engine failed"}})
async def healthz(state: StateDep) -> JSONResponse:
    """200 while the process serves HTTP; 503 once the engine failed (the voice could not load, or the model
    thread hung or died): the orchestrator should restart the process."""
    if state.engine.state is State.FAILED:
        return JSONResponse({"status": "failed"}, status_code=503)
    return JSONResponse(Liveness().model_dump())


@router.get(
    "/readyz",
    summary="Readiness probe",
    responses={503: {"model": Readiness, "description": "Starting (voices not loaded/warmed), draining or failed"}},
)
async def readyz(state: StateDep) -> JSONResponse:
    """200 once the voices are loaded and warmed up; 503 before that, while draining and after a failure."""
    health = state.engine.health()
    body = Readiness(
        status=health.state.value,
        queue_depth=health.queue_depth,
        device=health.device,
        executor=health.executor,
        voices=[info.name for info in state.engine.voices()],
    )
    return JSONResponse(body.model_dump(), status_code=200 if health.ready else 503)


@router.head(
    "/healthz",
    summary="Liveness probe (no body)",
    response_class=Response,
    responses={200: {"description": "Alive"}, 503: {"description": "The engine failed"}},
)
async def healthz_head(state: StateDep) -> Response:
    """The status of ``GET /healthz``, without a body."""
    return Response(status_code=503 if state.engine.state is State.FAILED else 200)


@router.head(
    "/readyz",
    summary="Readiness probe (no body)",
    response_class=Response,
    responses={200: {"description": "Ready"}, 503: {"description": "Starting, draining or failed"}},
)
async def readyz_head(state: StateDep) -> Response:
    """The status of ``GET /readyz``, without a body."""
    return Response(status_code=200 if state.engine.health().ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    """Text exposition format; the metrics are listed in docs/architecture.md ("Metrics")."""
    return Response(content=state.metrics.render(), media_type=state.metrics.content_type)
