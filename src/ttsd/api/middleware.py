"""Pure ASGI middleware: request metrics + last-resort 500s, and the API key check; :func:`install_middleware`
stacks them (with CORS and the body limit) in the order they must run.

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass through untouched and the timing covers the
whole body, not just the headers.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPBearer
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ttsd.api.limits import BodyLimitMiddleware, declares_body
from ttsd.api.schemas import ErrorResponse
from ttsd.api.ws_guard import WebSocketGuard
from ttsd.config import Settings
from ttsd.errors import TTSError
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
ABORT_EXTENSION = "ttsd.abort"  # set by ttsd.api.protocol: cut a response mid-body
GONE_EXTENSION = "ttsd.gone"  # set by ttsd.api.protocol on WebSockets: an asyncio.Event set when the client is gone
EXPOSED_HEADERS = [
    "X-Audio-Duration",
    "X-Sample-Rate",
    "X-Sentences",
    "X-Cached-Sentences",
    "X-Processing-Time",
    "X-Voice",
    "X-Request-Id",
]
_INTERNAL_ERROR = json.dumps({"error": {"code": "internal_error", "message": "internal server error"}}).encode()


REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def request_id(scope: Mapping[str, Any]) -> str:
    """The request's id (:class:`RequestIdMiddleware`), or ``""`` outside it."""
    state = scope.get("state")
    return str(state.get("request_id", "")) if isinstance(state, dict) else ""


class RequestIdMiddleware:
    """Gives every HTTP request an id: the client's ``X-Request-Id`` when it is a plain token (letters, digits,
    ``._:-``, up to 64), else a new random one. It is kept in ``scope["state"]["request_id"]`` (routes and the
    server's drain log read it) and sent back as ``X-Request-Id`` on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == REQUEST_ID_HEADER), b"")
        rid = given.decode() if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (REQUEST_ID_HEADER, rid.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_id)


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
        except Exception as exc:
            if status != 0:
                _cut_response(scope, exc)  # headers are out: the client must see a truncated body
                return
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            status = 500
            await _send_json(send, 500, _INTERNAL_ERROR)
            done = True
        finally:
            label = str(status) if done or status == 0 else "499"
            self.metrics.request_duration.labels(route=route_template(scope, original), status=label).observe(
                time.perf_counter() - start
            )

    def _first_audio(self, scope: Scope, original: Scope, start: float) -> None:
        route = route_template(scope, original)
        if route in AUDIO_ROUTES:
            self.metrics.time_to_first_audio.labels(route=route).observe(time.perf_counter() - start)


def _cut_response(scope: Scope, exc: Exception) -> None:
    """A response failed after its status line was sent (a stream lost its engine, e.g. at the drain timeout).

    With ttsd's server, abort the connection (the client sees an incomplete body) and log one line: a domain
    error without a traceback (its cause was logged where it happened), anything else with one. Elsewhere
    (another ASGI server) re-raise, so that server closes the connection itself.
    """
    where = f"{scope.get('method')} {scope.get('path')}"
    # Starlette wraps an error that has a handler, when it comes too late for the handler, in a RuntimeError.
    domain = exc if isinstance(exc, TTSError) else exc.__cause__
    rid = request_id(scope) or "-"
    if isinstance(domain, TTSError):
        log.warning("response to %s cut mid-body: %s (%s; request %s)", where, domain.message, domain.code, rid)
    else:
        log.error("response to %s cut mid-body by an unhandled error (request %s)", where, rid, exc_info=exc)
    abort = (scope.get("extensions") or {}).get(ABORT_EXTENSION, {}).get("abort")
    if abort is None:
        raise exc
    abort()


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
        if scope["type"] != "http" or _is_public(scope["path"]) or _is_preflight(scope) or self._authorized(scope):
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
        headers = [(b"www-authenticate", b"Bearer")]
        if declares_body(scope):
            headers.append((b"connection", b"close"))  # the body is never read: do not read it to reuse the socket
        await _send_json(send, 401, body, headers)

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


def _is_preflight(scope: Scope) -> bool:
    """A CORS preflight (browsers never send credentials with it): answered by CORSMiddleware, or 405."""
    if scope["method"] != "OPTIONS":
        return False
    names = {name for name, _ in scope["headers"]}
    return b"origin" in names and b"access-control-request-method" in names


def install_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Outermost first: the request id, metrics (times everything), the WebSocket upgrade checks (Origin, key),
    CORS (so 401s and 413s carry its headers and preflights never need the key), the API key, then the body limit
    (unauthenticated bodies are never read)."""
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        metrics=metrics,
        job_body_bytes=settings.jobs_max_chars * 4 + 65_536 if settings.jobs else 0,  # UTF-8: 4 bytes a character
    )
    if settings.api_key is not None:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key.get_secret_value(), metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            expose_headers=EXPOSED_HEADERS,
        )
    api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    app.add_middleware(WebSocketGuard, api_key=api_key, origins=settings.cors_origins, metrics=metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)  # added last = outermost: every response carries the id


def protected_route_options(settings: Settings) -> dict[str, Any]:
    """``include_router`` options for the routers behind the key: with a key configured, the Bearer scheme
    (Swagger's "Authorize" button) and a documented 401; without one, neither (the server never asks)."""
    if settings.api_key is None:
        return {}
    bearer = HTTPBearer(auto_error=False, description="The server's API key (TTSD_API_KEY).")
    responses: dict[int | str, dict[str, Any]] = {
        401: {"model": ErrorResponse, "description": "Missing or wrong API key"}
    }
    return {"dependencies": [Security(bearer)], "responses": responses}
