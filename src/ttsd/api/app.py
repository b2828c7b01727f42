"""The FastAPI application factory.

``create_app(settings)`` returns an app whose lifespan builds the engine (``ttsd.engine.build_engine``),
starts it in the background (so ``/healthz`` answers and ``/readyz`` says 503 while the voice loads and warms
up), and drains it at shutdown. Each app has its own :class:`~ttsd.metrics.Metrics`; tests may pass their
own engine.
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
from ttsd.api.routes import PROTECTED, PUBLIC
from ttsd.api.routes.ui import static_files
from ttsd.config import Settings
from ttsd.engine import TTSEngine
from ttsd.metrics import Metrics

log = logging.getLogger(__name__)

DESCRIPTION = """Mandarin text-to-speech.

* `POST /tts` with `{"text": "..."}` returns `audio/wav` (the original service's contract).
* `POST /v1/audio/speech` is OpenAI-compatible (point an OpenAI client's `base_url` at `/v1`).
* Errors are `{"error": {"code": "...", "message": "..."}}`.
"""


def create_app(settings: Settings, engine: TTSEngine | None = None, *, metrics: Metrics | None = None) -> FastAPI:
    """Build the app. ``engine``: use this engine instead of building one (it is still started and drained
    by the lifespan); pass the ``metrics`` it was built with, so ``/metrics`` shows the engine's metrics."""
    state = ServiceState(settings=settings, metrics=metrics if metrics is not None else Metrics())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        startup = asyncio.create_task(_start(state, engine), name="ttsd-startup")
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
    for router in PUBLIC:
        app.include_router(router)
    app.mount("/static", static_files(), name="static")
    install_docs(app)
    install_middleware(app, settings, state.metrics)
    return app


async def _start(state: ServiceState, engine: TTSEngine | None) -> None:
    """Build (unless given) and start the engine; only then is it visible to routes and /readyz."""
    try:
        if engine is None:
            from ttsd.engine import build_engine  # heavy (voice, torch): only when serving

            engine = await build_engine(state.settings, state.metrics)
        await engine.start()
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        state.fail(exc)
        return
    state.engine = engine
    log.info("ready: voice %s on %s", engine.info.name, engine.info.device)
