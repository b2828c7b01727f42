"""Pure ASGI middleware: request metrics + last-resort 500s, and the API key check.

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass through untouched and the timing covers the
whole body, not just the headers.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Sequence

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ttsd.metrics import Metrics

log = logging.getLogger(__name__)

# Routes whose first body byte is audio (time to first audio is observed when it is sent).
AUDIO_ROUTES = frozenset({"/tts", "/v1/audio/speech"})
UNMATCHED = "unmatched"
# Paths anyone may read when an API key is configured: probes, metrics, the page and the docs.
PUBLIC_PATHS = frozenset(
    {"/", "/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/openapi.json",
     "/favicon.ico", "/ui/config"}
)  # fmt: skip
PUBLIC_PREFIXES = ("/static/", "/docs-assets/")
_INTERNAL_ERROR = json.dumps({"error": {"code": "internal_error", "message": "internal server error"}}).encode()


def route_template(scope: Scope, original: Scope) -> str:
    """The route's path template (``/v1/audio/speech``), never the raw path (bounded label cardinality).

    ``scope`` is the scope after routing (the router records the route there); ``original`` is a copy taken
    before, matched against the app's routes when the router did not get that far (401s, mounts).
    """
    route = scope.get("route")
    if route is None:
        app = original.get("app")
        router = getattr(app, "router", None)
        for candidate in getattr(router, "routes", ()):
            match, _ = candidate.matches(original)
            if match is Match.FULL:
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class MetricsMiddleware:
    """Observes ``ttsd_request_duration_seconds{route,status}`` when the last body byte is sent, and
    ``ttsd_time_to_first_audio_seconds{route}`` when a successful audio route sends its first body byte.

    An exception that escapes the app becomes a JSON 500 (if no response started yet) with no details in the
    body; the traceback is logged. A request whose client went away mid-response is recorded as status 499.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        original = dict(scope)
        status = 0
        done = False
        first_byte = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, done, first_byte
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                if not first_byte and status == 200 and message.get("body"):
                    first_byte = True
                    self._first_audio(scope, original, start)
                done = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if status == 0:
                status = 500
                await _send_json(send, 500, _INTERNAL_ERROR)
                done = True
            else:
                raise  # headers are out: the server aborts the connection, so the client sees the truncation
        finally:
            label = str(status) if done or status == 0 else "499"
            self.metrics.request_duration.labels(route=route_template(scope, original), status=label).observe(
                time.perf_counter() - start
            )

    def _first_audio(self, scope: Scope, original: Scope, start: float) -> None:
        route = route_template(scope, original)
        if route in AUDIO_ROUTES:
            self.metrics.time_to_first_audio.labels(route=route).observe(time.perf_counter() - start)


async def _send_json(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*raw_headers, *headers]})
    await send({"type": "http.response.body", "body": body})


class ApiKeyMiddleware:
    """When a key is configured, every non-public path needs ``Authorization: Bearer <key>`` (what OpenAI
    clients send) or ``X-API-Key: <key>``. Failures are 401s, counted in
    ``ttsd_rejected_total{reason="unauthorized"}``; presented keys are never logged.
    """

    def __init__(self, app: ASGIApp, *, api_key: str, metrics: Metrics) -> None:
        self.app = app
        self.key = api_key.encode()
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_public(scope["path"]) or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        self.metrics.rejected.labels(reason="unauthorized").inc()
        body = json.dumps(
            {
                "error": {
                    "code": "unauthorized",
                    "message": "missing or invalid API key (Authorization: Bearer)",
                }
            }
        ).encode()
        await _send_json(send, 401, body, [(b"www-authenticate", b"Bearer")])

    def _authorized(self, scope: Scope) -> bool:
        presented = b""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].strip()
            elif name == b"x-api-key" and not presented:
                presented = value.strip()
        return hmac.compare_digest(presented, self.key)


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
