"""Run the HTTP service (uvicorn). Every setting is a flag here and a TTSD_* environment variable.

Shutdown: on SIGTERM/SIGINT the service first goes unready (``/readyz`` 503, new synthesis requests 503), lets
the engine finish the queued work (``drain_timeout_s`` at most), then stops uvicorn, which lets in-flight
responses complete. A second signal skips the wait. Exit status 0 after a clean shutdown, 1 when the voice
could not be loaded or its model workers crash in a loop.

One server process; each voice family's model runs in its own pool of worker processes
(``TTSD_WORKERS_PER_DEVICE``, :mod:`ttsd.serving.pool`), which replaced uvicorn's multi-process mode
(``--workers``): see docs/deployment.md.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from ttsd import allocator
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
    allocator.tune()  # before the models load: a request's memory goes back to the system after it
    return _run_single(settings)


def _run_single(settings: Settings) -> int:
    from ttsd.api.server import build_server, run_server
    from ttsd.bootstrap import build_app

    server = build_server(build_app(settings), settings)
    log.info("serving on http://%s:%d (voice %s)", settings.host, settings.port, settings.voice)
    return run_server(server)
