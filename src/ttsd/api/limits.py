"""Request and response size limits: the body-size/body-time middleware and the non-streaming size check.

* :class:`BodyLimitMiddleware` reads a request body before the app sees it, counting bytes as they arrive:
  a ``Content-Length`` above ``max_body_bytes`` is refused up front (413, nothing read), a chunked body is cut
  off as soon as it passes the limit (413), and a body that takes longer than ``body_timeout_s`` to arrive gets
  408. These answers carry ``Connection: close`` so the server does not read the rest. The body the app gets
  is replayed from memory (at most ``max_body_bytes``); later ``receive()`` calls go to the server, so the
  routes still see ``http.disconnect``.
* (A whole-file answer whose audio would pass ``max_response_audio_s`` is refused by the engine's output stage,
  :func:`ttsd.pipeline.output.check_response_size`, before any work; streams have bounded memory per request.)
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ttsd.api.errors import error_body
from ttsd.metrics import Metrics

log = logging.getLogger(__name__)

JOB_PATHS = "/v1/jobs"


class BodyLimitMiddleware:
    """See the module docstring. Rejections count in ``ttsd_rejected_total{reason="too_large"|"slow_body"}``."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, body_timeout_s: float, metrics: Metrics, job_body_bytes: int = 0
    ) -> None:
        """``job_body_bytes``: the limit for job submissions (``/v1/jobs...``: a book), when larger."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.job_body_bytes = max(job_body_bytes, max_body_bytes)
        self.body_timeout_s = body_timeout_s
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not declares_body(scope):
            await self.app(scope, receive, send)
            return
        limit = self.job_body_bytes if str(scope.get("path", "")).startswith(JOB_PATHS) else self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._too_large(send, limit)
            return
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body = await _read_body(receive, limit)
        except TimeoutError:
            self.metrics.rejected.labels(reason="slow_body").inc()
            message = f"the request body did not arrive within {self.body_timeout_s:g} s"
            await _send_error(send, 408, "request_timeout", message)
            return
        if body is None:  # over the limit while reading
            await self._too_large(send, limit)
            return
        if isinstance(body, Disconnected):
            return  # the client left before sending its body: nobody to answer
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, send: Send, limit: int) -> None:
        self.metrics.rejected.labels(reason="too_large").inc()
        await _send_error(send, 413, "body_too_large", f"the request body is larger than {limit} bytes")


class Disconnected:
    """Marker: the client disconnected while its body was being read."""


def declares_body(scope: Scope) -> bool:
    """The request has a body to read (a non-zero Content-Length, or Transfer-Encoding)."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b"")):
            return True
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server's parser refuses such requests before they get here
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | Disconnected | None:
    """The whole body, ``None`` as soon as it passes ``limit`` bytes, or :class:`Disconnected`."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read: do not reuse the connection
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
