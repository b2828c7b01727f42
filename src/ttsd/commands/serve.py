"""Run the HTTP service (uvicorn). Every setting is a flag here and a TTSD_* environment variable.

Shutdown: on SIGTERM/SIGINT the service first goes unready (``/readyz`` 503, new synthesis requests 503), lets
the engine finish the queued work (``drain_timeout_s`` at most), then stops uvicorn, which lets in-flight
responses complete. A second signal skips the wait. Exit status 0 after a clean shutdown, 1 when the voice
could not be loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import TYPE_CHECKING, Any

from ttsd.logs import configure_logging

if TYPE_CHECKING:
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


def _run_single(settings: Settings) -> int:
    from ttsd.api.server import build_server, run_server
    from ttsd.bootstrap import build_app

    server = build_server(build_app(settings), settings)
    log.info("serving on http://%s:%d (voice %s)", settings.host, settings.port, settings.voice)
    return run_server(server)


def _run_workers(settings: Settings) -> int:
    """Several processes, each with its own voice: settings travel to the workers as TTSD_* variables."""
    import uvicorn

    from ttsd.api.server import uvicorn_options

    os.environ.update(_settings_env(settings))
    log.info("serving on http://%s:%d with %d workers", settings.host, settings.port, settings.workers)
    uvicorn.run(
        "ttsd.commands.serve:app_from_env",
        factory=True,
        workers=settings.workers,
        **uvicorn_options(settings),
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
    from ttsd.bootstrap import build_app
    from ttsd.config import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return build_app(settings)
