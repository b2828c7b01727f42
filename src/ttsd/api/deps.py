"""Per-app service state (settings, metrics, engine, drain) and the FastAPI dependencies that reach it.

One :class:`ServiceState` lives on ``app.state.service``; nothing here is module-global, so several apps can
live in one process (tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from ttsd.config import Settings
from ttsd.engine import TTSEngine
from ttsd.errors import ShuttingDown
from ttsd.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ServiceState:
    """The app's view of the service. ``engine`` is None until the lifespan has built and started it.

    ``failure`` is set when startup failed (the voice could not load): probes then report it, and
    ``on_failure`` (set by ``ttsd serve``) stops the server.
    """

    settings: Settings
    metrics: Metrics
    engine: TTSEngine | None = None
    draining: bool = False
    failure: BaseException | None = None
    on_failure: Callable[[BaseException], None] | None = None
    _drain_task: asyncio.Task[None] | None = field(default=None, repr=False)

    def fail(self, exc: BaseException) -> None:
        self.failure = exc
        log.critical("startup failed: %s", getattr(exc, "message", None) or exc, exc_info=exc)
        if self.on_failure is not None:
            self.on_failure(exc)

    def begin_drain(self) -> asyncio.Task[None]:
        """Go unready at once and drain the engine in the background. Idempotent; call on the loop thread."""
        self.draining = True
        if self._drain_task is None:
            self._drain_task = asyncio.get_running_loop().create_task(self._drain(), name="ttsd-drain")
        return self._drain_task

    async def _drain(self) -> None:
        if self.engine is None:
            return
        timeout = self.settings.drain_timeout_s
        log.info("draining: finishing queued work (up to %.1f s)", timeout)
        await self.engine.drain(timeout)
        log.info("drained")


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, and that
# hop costs more than the whole lookup.
async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


async def get_engine(request: Request) -> TTSEngine:
    """The running engine; ShuttingDown (503) before startup finished or while draining."""
    state: ServiceState = request.app.state.service
    if state.engine is None:
        raise ShuttingDown("the service is starting; retry shortly")
    if state.draining:
        raise ShuttingDown("the service is shutting down")
    return state.engine


StateDep = Annotated[ServiceState, Depends(get_state)]
EngineDep = Annotated[TTSEngine, Depends(get_engine)]
