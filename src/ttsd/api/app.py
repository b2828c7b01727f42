"""The FastAPI application factory.

``create_app(settings, engine=..., metrics=...)`` returns an app whose lifespan starts the engine in the
background (so ``/healthz`` answers and ``/readyz`` says 503 while the voices load and warm up) and drains it
at shutdown. The engine comes from the composition root (:func:`ttsd.bootstrap.build_engine`); the app only
serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from ttsd import __version__
from ttsd.api import errors
from ttsd.api.deps import ServiceState
from ttsd.api.docs import install_docs
from ttsd.api.middleware import install_middleware, protected_route_options
from ttsd.api.routes import PROTECTED, PUBLIC, WEBSOCKET
from ttsd.api.routes.ui import static_files
from ttsd.config import Settings
from ttsd.jobs.service import JobService
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import TTSEngine

log = logging.getLogger(__name__)

DESCRIPTION = """Mandarin text-to-speech.

* `POST /tts` with `{"text": "..."}` returns `audio/wav` (the original service's contract).
* `POST /v1/audio/speech` is OpenAI-compatible (point an OpenAI client's `base_url` at `/v1`).
* `POST /v1/jobs` queues a long text (an audiobook) as a durable background job: poll it, then download.
* Errors are `{"error": {"code": "...", "message": "..."}}`.
"""


def create_app(settings: Settings, *, engine: TTSEngine, metrics: Metrics, jobs: JobService | None = None) -> FastAPI:
    """Build the app around ``engine`` (started and drained by the lifespan) and the ``metrics`` it was built
    with, so ``/metrics`` shows the engine's metrics; ``jobs``: the long-form job service over the same engine
    (started with it, stopped first at a drain)."""
    state = ServiceState(settings=settings, metrics=metrics, engine=engine, jobs=jobs)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        startup = asyncio.create_task(state.engine.start(), name="ttsd-startup")
        if state.jobs is not None:
            state.jobs.start()  # its loop takes jobs once the engine is ready
        try:
            yield
        finally:
            if not startup.done():
                startup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await startup
            await state.begin_drain()

    app = FastAPI(
        title="ttsd", version=__version__, description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.service = state
    errors.install(app)
    for router in PROTECTED:
        app.include_router(router, **protected_route_options(settings))
    for router in (*PUBLIC, *WEBSOCKET):
        app.include_router(router)
    app.mount("/static", static_files(), name="static")
    install_docs(app)
    install_middleware(app, settings, state.metrics)
    return app
