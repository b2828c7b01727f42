"""ttsd's HTTP protocol for uvicorn: uvicorn's httptools protocol plus the connection limits uvicorn lacks.

uvicorn's own limits stop short of a hostile network: a connection that sends nothing (or trickles its request
head) is never timed out, ``limit_concurrency`` answers 503 to everyone once idle connections fill it (the
probes too), and a client that stops reading blocks its response forever. :class:`GuardedProtocol` adds:

* a request-head timeout (``header_timeout_s``): from accepting a connection, and from the end of each response,
  a client has that long to send a complete request head; else the connection is closed (408 if it had sent a
  partial head). Idle keep-alive connections are closed after ``keep_alive_timeout_s`` (uvicorn's timer).
* a request-head size limit (:data:`MAX_HEAD_BYTES`): a longer head gets 431 and the connection is closed
  (httptools itself accepts headers of any size).
* a connection cap (``max_connections``): past it, the connection idle for longest (no request in progress) is
  closed to make room; when every connection is busy, the newcomer gets a JSON 503 with ``Retry-After``, except
  on the probe paths (``/healthz``, ``/readyz``, ``/metrics``), which are always served. Open sockets stay at
  most ``max_connections + 1``.
* a send timeout (``send_timeout_s``): when the client reads nothing for that long while a response waits to be
  written, the connection is aborted; the app sees ``http.disconnect``, so the stream's work is cancelled.
* WebSockets (``GET /v1/audio/speech/ws``) run on :class:`GuardedWebSocketProtocol`: uvicorn's sans-I/O
  websockets protocol with the same send timeout (a client that reads no audio for ``send_timeout_s`` is dropped;
  the session sees the disconnect and cancels its work), and the ``gone`` extension
  (``scope["extensions"][GONE_EXTENSION]["event"]``, set when the client closes or the connection is lost): a
  session whose reader has stopped reading (read-ahead full) still learns at once that its client left.
* the ``abort`` ASGI extension (``scope["extensions"][ABORT_EXTENSION]["abort"]()``): middleware cuts a response
  mid-body with it (the client sees an incomplete body) without uvicorn's error log.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from ttsd.api.errors import error_body
from ttsd.api.middleware import ABORT_EXTENSION, GONE_EXTENSION
from ttsd.config import Settings

log = logging.getLogger(__name__)

PROBE_PATHS = frozenset({b"/healthz", b"/readyz", b"/metrics"})
CAP_RETRY_AFTER_S = 1
_WARN_EVERY_S = 10.0
_CAP_BODY = json.dumps(
    error_body("too_many_connections", "the server has too many open connections; retry shortly")
).encode()


MAX_HEAD_BYTES = 64 * 1024  # request line + headers; browsers and HTTP clients send a few KB at most


def _raw_error(status: str, code: str, message: str) -> bytes:
    """A whole ``Connection: close`` JSON error response, written on the transport directly."""
    body = json.dumps(error_body(code, message)).encode()
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
    return head.encode() + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body


_HEAD_TIMEOUT_RESPONSE = _raw_error("408 Request Timeout", "request_timeout", "the request head did not arrive in time")
_HEAD_TOO_LARGE_RESPONSE = _raw_error(
    "431 Request Header Fields Too Large",
    "headers_too_large",
    f"the request head is larger than {MAX_HEAD_BYTES} bytes",
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The per-connection limits (see the module docstring); seconds, and a count."""

    header_timeout_s: float = 10.0
    keep_alive_timeout_s: float = 5.0
    max_connections: int = 1000
    send_timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout_s=settings.header_timeout_s,
            keep_alive_timeout_s=settings.keep_alive_timeout_s,
            max_connections=settings.max_connections,
            send_timeout_s=settings.send_timeout_s,
        )


@dataclass(slots=True)
class _RateLimitedWarning:
    """One warning line per ``_WARN_EVERY_S`` at most, with the count of events since the last line."""

    last: float = 0.0
    suppressed: int = 0

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self.last < _WARN_EVERY_S:
            self.suppressed += 1
            return
        suffix = f" (+{self.suppressed} more since the last such line)" if self.suppressed else ""
        log.warning(message + suffix, *args)
        self.last, self.suppressed = now, 0


async def _too_many_connections(scope: Any, receive: Any, send: Any) -> None:
    """The ASGI app an over-cap connection gets (instead of ttsd's app) for a non-probe request."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_CAP_BODY)).encode()),
        (b"retry-after", str(CAP_RETRY_AFTER_S).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _CAP_BODY})


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the limits in the module docstring. uvicorn builds one per connection:
    give it :func:`guarded_protocol` (which binds the limits) as ``uvicorn.Config(http=...)``."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
        cap_warning: _RateLimitedWarning,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.cap_warning = cap_warning
        self.idle_since: float | None = None  # monotonic; None while a request is in progress
        self._head_bytes = 0  # bytes of the request head received so far
        self._over_cap = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None

    # -- connection lifecycle ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._become_idle()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Still no complete head after this chunk (the parser completes a head synchronously): count it.
        if self.idle_since is not None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self.transport.write(_HEAD_TOO_LARGE_RESPONSE)
                self.transport.close()

    def on_headers_complete(self) -> None:
        self._start_request()
        path = self.url.split(b"?", 1)[0]
        if not self._over_cap or path in PROBE_PATHS:
            super().on_headers_complete()
            return
        self.cap_warning.warn("connection cap (%d) reached with no idle connection: 503", self.limits.max_connections)
        app, self.app = self.app, _too_many_connections
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {ABORT_EXTENSION: {"abort": self.abort}}

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._become_idle()

    # -- write backpressure --------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.limits.send_timeout_s, self._send_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_timed_out(self) -> None:
        self._send_timer = None
        where = f"{self.scope.get('method', '?')} {self.scope.get('path', '?')}" if self.scope else "?"
        timeout = self.limits.send_timeout_s
        log.warning("client %s read nothing for %g s (%s): disconnecting it", _peer(self.client), timeout, where)
        self.abort()

    # -- helpers --------------------------------------------------------------------------------------

    @property
    def in_flight(self) -> bool:
        """A request's response is being produced on this connection."""
        return self.cycle is not None and not self.cycle.response_complete

    def abort(self) -> None:
        """Drop the connection now: an unfinished response ends visibly incomplete for the client. The request
        counts as disconnected at once (the transport reports the loss only on the next loop iteration)."""
        if self.in_flight:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def _become_idle(self) -> None:
        self.idle_since = time.monotonic()
        self._head_bytes = 0
        self._arm_head_timer()

    def _start_request(self) -> None:
        self.idle_since = None
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.idle_since is None or self.transport.is_closing():
            return
        if self._head_bytes:
            self.transport.write(_HEAD_TIMEOUT_RESPONSE)
        self.transport.close()

    def _make_room(self) -> None:
        idle = [c for c in self.connections if isinstance(c, GuardedProtocol) and c is not self and c.idle_since]
        if not idle:
            self._over_cap = True
            return
        oldest = min(idle, key=lambda c: c.idle_since or 0.0)
        oldest._over_cap = True  # it would answer 503 if a request head still arrived before the close
        oldest.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._send_timer = None


def guarded_protocol(limits: ConnectionLimits) -> Callable[..., GuardedProtocol]:
    """The protocol factory for ``uvicorn.Config(http=...)``: :class:`GuardedProtocol` bound to ``limits``.
    A ``functools.partial`` of a module-level class, so it pickles."""
    return functools.partial(GuardedProtocol, limits=limits, cap_warning=_RateLimitedWarning())


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol plus the send timeout: a client that reads nothing for
    ``send_timeout_s`` while frames wait to be written is aborted (its session sees the disconnect)."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._send_timer: asyncio.TimerHandle | None = None
        self._gone = asyncio.Event()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the app learns at once that the client left, even with its messages unread
            scope["extensions"][GONE_EXTENSION] = {"event": self._gone}

    def handle_close(self, event: Any) -> None:
        self._gone.set()
        super().handle_close(event)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.limits.send_timeout_s, self._send_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._gone.set()
        super().connection_lost(exc)

    def _send_timed_out(self) -> None:
        self._send_timer = None
        log.warning(
            "WebSocket client %s read nothing for %g s: disconnecting it",
            _peer(self.client),
            self.limits.send_timeout_s,
        )
        self.transport.abort()

    def _cancel_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None


def guarded_ws_protocol(limits: ConnectionLimits) -> Callable[..., GuardedWebSocketProtocol]:
    """The WebSocket protocol factory for ``uvicorn.Config(ws=...)``, bound to ``limits`` (pickles, as above)."""
    return functools.partial(GuardedWebSocketProtocol, limits=limits)


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"
