"""Run the HTTP service (uvicorn). Every setting is a flag here and a TTSD_* environment variable.

Shutdown: on SIGTERM/SIGINT the service first goes unready (``/readyz`` 503, new synthesis requests 503), lets
the engine finish the queued work (``drain_timeout_s`` at most), then stops uvicorn, which lets in-flight
responses complete. A second signal skips the wait. Exit status 0 after a clean shutdown, 1 when the voice
could not be loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
from types import FrameType
from typing import TYPE_CHECKING, Any

from ttsd.logs import configure_logging

if TYPE_CHECKING:
    from ttsd.api.deps import ServiceState
    from ttsd.config import Settings

USES_SETTINGS = True
log = logging.getLogger("ttsd.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The settings flags are added by ``ttsd.cli``; serve has no others."""
    parser.epilog = "Example: ttsd serve --port 8080 --device cpu --max-batch-size 8"


def run(args: argparse.Namespace) -> int:
    from ttsd.cli import settings_from_args

    settings = settings_from_args(args)
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers > 1:
        return _run_workers(settings)
    return _run_single(settings)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # logging is configured above, once
        "log_level": settings.log_level.lower(),
        "timeout_graceful_shutdown": max(1, round(settings.drain_timeout_s)),
        "ws": "none",
    }


def _run_single(settings: Settings) -> int:
    import uvicorn

    from ttsd.api import create_app
    from ttsd.bootstrap import build_engine
    from ttsd.metrics import Metrics

    metrics = Metrics()
    servers: list[Any] = []
    engine = build_engine(settings, metrics, on_failure=lambda exc: servers[0].fail(exc))
    app = create_app(settings, engine=engine, metrics=metrics)
    state: ServiceState = app.state.service
    server = _draining_server(uvicorn.Config(app, lifespan="on", **_uvicorn_options(settings)), state)
    servers.append(server)
    log.info("serving on http://%s:%d (voice %s)", settings.host, settings.port, settings.voice)
    server.run()
    return 1 if server.failed else 0


def _run_workers(settings: Settings) -> int:
    """Several processes, each with its own voice: settings travel to the workers as TTSD_* variables."""
    import uvicorn

    os.environ.update(_settings_env(settings))
    log.info("serving on http://%s:%d with %d workers", settings.host, settings.port, settings.workers)
    uvicorn.run(
        "ttsd.commands.serve:app_from_env",
        factory=True,
        workers=settings.workers,
        **_uvicorn_options(settings),
    )
    return 0


def _settings_env(settings: Settings) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None or name == "api_key":
            continue
        env[f"TTSD_{name.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    if settings.api_key is not None:
        env["TTSD_API_KEY"] = settings.api_key.get_secret_value()
    return env


def app_from_env() -> Any:
    """uvicorn worker factory (``--workers N``): Settings from the environment set by the parent."""
    from ttsd.api import create_app
    from ttsd.bootstrap import build_engine
    from ttsd.config import Settings
    from ttsd.metrics import Metrics

    settings = Settings.model_validate({})
    configure_logging(settings.log_level, settings.log_format)
    metrics = Metrics()
    return create_app(settings, engine=build_engine(settings, metrics), metrics=metrics)


def _draining_server(config: Any, state: ServiceState) -> Any:
    """A uvicorn.Server that drains the engine before it stops listening (see the module docstring).

    Built in a function so that importing this module (``ttsd --help``) does not import uvicorn.
    """
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            self.failed = False
            self._loop: asyncio.AbstractEventLoop | None = None
            self._drain_requested = False

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().serve(sockets=sockets)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self._drain_requested or self._loop is None or not self.started:
                super().handle_exit(sig, frame)  # a second signal, or not serving yet: uvicorn's behaviour
                return
            self._drain_requested = True
            log.info("signal %d: draining before shutdown", sig)
            self._loop.call_soon_threadsafe(self._begin_drain)

        def _begin_drain(self) -> None:
            task = state.begin_drain()
            task.add_done_callback(self._drained)

        def _drained(self, _: asyncio.Task[None]) -> None:
            self.should_exit = True

        def fail(self, _: BaseException) -> None:
            self.failed = True
            self.should_exit = True

    return DrainingServer(config)
