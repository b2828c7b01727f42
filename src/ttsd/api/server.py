"""The server ``ttsd serve`` runs: uvicorn configured from Settings with ttsd's protocol
(:mod:`ttsd.api.protocol`: head/idle/send timeouts, connection cap), and a drain that keeps its budget.

:class:`DrainingServer`: on the first SIGTERM/SIGINT the service goes unready and drains the engine; uvicorn then
stops listening and waits for in-flight responses; whatever is still running when ``drain_timeout_s`` (counted
from the signal) has passed is cut (the client sees an incomplete body), one log line in all, where uvicorn
would cancel each with a traceback. :func:`run_server` then exits the process even if a worker thread is still
inside a model call that nothing can interrupt.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import sys
import threading
import time
from types import FrameType
from typing import Any

import uvicorn

from ttsd.api.deps import ServiceState
from ttsd.api.middleware import request_id
from ttsd.api.protocol import ConnectionLimits, GuardedProtocol, guarded_protocol, guarded_ws_protocol
from ttsd.config import Settings

log = logging.getLogger(__name__)
_EXIT_JOIN_S = 1.0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """``uvicorn.Config``/``uvicorn.run`` keyword arguments derived from Settings (logging is configured by the
    caller, once)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "log_level": settings.log_level.lower(),
        "timeout_graceful_shutdown": max(1, math.ceil(settings.drain_timeout_s)),
        "timeout_keep_alive": max(1, math.ceil(settings.keep_alive_timeout_s)),
        "http": guarded_protocol(ConnectionLimits.from_settings(settings)),
        "ws": guarded_ws_protocol(ConnectionLimits.from_settings(settings)),
        "ws_max_size": settings.ws_max_message_bytes,
        "backlog": max(128, min(4096, settings.max_connections)),
    }


class DrainingServer(uvicorn.Server):
    """See the module docstring. ``fail()`` (startup failed) stops the server; ``failed`` then says so."""

    def __init__(self, config: uvicorn.Config, *, state: ServiceState, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.failed = False
        self._state = state
        self._drain_timeout_s = drain_timeout_s
        self._drain_requested = False
        self._deadline: float | None = None  # loop.time() by which in-flight responses must be done
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_requested or self._loop is None or not self.started:
            super().handle_exit(sig, frame)  # a second signal, or not serving yet: uvicorn's behaviour
            return
        self._drain_requested = True
        self._deadline = self._loop.time() + self._drain_timeout_s
        log.info("signal %d: draining before shutdown (up to %g s)", sig, self._drain_timeout_s)
        self._loop.call_soon_threadsafe(self._begin_drain)

    def _begin_drain(self) -> None:
        self._state.begin_drain().add_done_callback(self._drained)

    def _drained(self, _: asyncio.Task[None]) -> None:
        self.should_exit = True

    def fail(self, _: BaseException) -> None:
        self.failed = True
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        deadline = self._deadline or loop.time() + self._drain_timeout_s
        remaining = max(0.0, deadline - loop.time())
        # uvicorn cancels (with a traceback each) what is left 1 s after the cut: only if the cut did not end it.
        self.config.timeout_graceful_shutdown = math.ceil(remaining) + 1
        cutter = loop.call_later(remaining, self._cut_in_flight)
        try:
            await super().shutdown(sockets=sockets)
        finally:
            cutter.cancel()

    def _cut_in_flight(self) -> None:
        busy = [c for c in self.server_state.connections if isinstance(c, GuardedProtocol) and c.in_flight]
        names = [_describe(connection) for connection in busy]
        for connection in busy:
            connection.abort()
        if busy:
            log.warning(
                "drain timeout (%g s): cut %d unfinished response(s): %s",
                self._drain_timeout_s,
                len(busy),
                ", ".join(names),
            )


def _describe(connection: GuardedProtocol) -> str:
    """``POST /tts (request 5f0c...)`` for the connection's request in flight."""
    scope = connection.cycle.scope if connection.cycle is not None else {}
    return f"{scope.get('method', '?')} {scope.get('path', '?')} (request {request_id(scope) or '-'})"


def build_server(app: Any, settings: Settings, **overrides: Any) -> DrainingServer:
    """The server ``ttsd serve`` runs: ``app`` from :func:`ttsd.api.create_app`, options from Settings
    (``overrides`` replace single uvicorn options, e.g. ``port=0`` in tests)."""
    state: ServiceState = app.state.service
    options = {**uvicorn_options(settings), **overrides}
    server = DrainingServer(
        uvicorn.Config(app, lifespan="on", **options), state=state, drain_timeout_s=settings.drain_timeout_s
    )
    state.engine.on_failure(server.fail)
    return server


def run_server(server: DrainingServer) -> int:
    """Run until shut down; 1 if startup failed, else 0. Exits the process at once (``os._exit``) when worker
    threads are still busy afterwards: a model call cannot be interrupted, its result has no reader any more,
    and waiting for it would keep the process (and its CPU) busy past the grace period."""
    server.run()
    code = 1 if server.failed else 0
    deadline = time.monotonic() + _EXIT_JOIN_S
    busy = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    for thread in busy:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in busy if t.is_alive()]
    if stuck:
        log.info("exiting without waiting for %d busy worker thread(s): %s", len(stuck), ", ".join(stuck))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
