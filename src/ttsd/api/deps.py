"""Per-app service state (settings, metrics, the engine) and the FastAPI dependencies that reach it.

One :class:`ServiceState` lives on ``app.state.service``; nothing here is module-global, so several apps can
live in one process (tests). The engine owns the lifecycle (starting, ready, draining, stopped, failed):
probes, dependencies and the CLI all read ``engine.state``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from ttsd.config import Settings
from ttsd.jobs.service import JobService
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import TTSEngine

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ServiceState:
    """The app's handle on the service: its settings (for pages and docs), metrics, engine and job service
    (``None`` when long-form jobs are off)."""

    settings: Settings
    metrics: Metrics
    engine: TTSEngine
    jobs: JobService | None = None
    _drain_task: asyncio.Task[None] | None = field(default=None, repr=False)

    def begin_drain(self) -> asyncio.Task[None]:
        """Go unready at once and drain the engine in the background. Idempotent; call on the loop thread."""
        if self._drain_task is None:
            if self.jobs is not None:
                self.jobs.stop()  # running jobs go back to the queue: the next start resumes them at once
            self.engine.stop_accepting()
            log.info("draining: finishing admitted work (up to %.1f s)", self.engine.config.drain_timeout_s)
            self._drain_task = asyncio.get_running_loop().create_task(self._drain(), name="ttsd-drain")
        return self._drain_task

    async def _drain(self) -> None:
        await self.engine.drain()
        log.info("drained")


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, and that
# hop costs more than the whole lookup.
async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


async def get_engine(request: Request) -> TTSEngine:
    """The engine; its admission refuses work (503) unless it is ready."""
    state: ServiceState = request.app.state.service
    return state.engine


StateDep = Annotated[ServiceState, Depends(get_state)]
EngineDep = Annotated[TTSEngine, Depends(get_engine)]
