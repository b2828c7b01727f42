"""Domain errors and framework errors -> HTTP responses of the shape ``{"error": {"code", "message"}}``.

Status mapping (the HTTP contract; README "Errors" and the OpenAPI document at /docs):

* 400 ``invalid_json``: the body is not JSON.
* 401 ``unauthorized``: bad or missing API key (``ttsd.api.middleware``).
* 408 ``request_timeout``: the body (``ttsd.api.limits``) or request head (``ttsd.api.protocol``) came too slowly.
* 413 ``body_too_large`` (``ttsd.api.limits``) / ``text_too_long``.
* 422 ``invalid_parameter`` / ``invalid_text`` / ``unknown_voice``: validation.
* 431 ``headers_too_large``: the request head passed 64 KiB (``ttsd.api.protocol``).
* 503 ``queue_full`` (with ``Retry-After``) / ``unavailable`` (starting or draining, ``Retry-After`` too).
* 503 ``too_many_connections``: past the connection cap with no idle connection to close (``ttsd.api.protocol``).
* 504 ``timeout`` (logged at INFO); 499 ``cancelled`` (the client is gone; nobody reads it).
* 500 ``backend_error`` / ``internal_error``: never a traceback in the body; details go to the log.

Validation failures are counted in ``ttsd_rejected_total{reason="invalid"}`` here. ``queue_full``, ``timeout``
and ``cancelled`` are counted by the batcher, which is where they happen, so they are not counted again here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ttsd.errors import (
    AssetError,
    BackendDead,
    BackendError,
    BackendUnavailable,
    Cancelled,
    DeadlineExceeded,
    InvalidControl,
    JobNotFound,
    JobStateConflict,
    QueueFull,
    ShuttingDown,
    StorageFull,
    TextError,
    TextTooLong,
    TTSError,
    UnknownVoice,
)
from ttsd.metrics import Metrics

log = logging.getLogger(__name__)

# Most specific first: TextTooLong is a TextError.
STATUS: tuple[tuple[type[TTSError], int], ...] = (
    (TextTooLong, 413),
    (TextError, 422),
    (InvalidControl, 422),
    (UnknownVoice, 422),
    (QueueFull, 503),
    (ShuttingDown, 503),
    (BackendUnavailable, 503),
    (DeadlineExceeded, 504),
    (Cancelled, 499),
    (BackendDead, 503),
    (BackendError, 500),
    (AssetError, 500),
    (JobNotFound, 404),
    (JobStateConflict, 409),
    (StorageFull, 507),
)
INVALID = (TextError, InvalidControl, UnknownVoice)
# ttsd_rejected_total{reason}: every refusal is counted here, once per request, by what refused it.
REASONS: tuple[tuple[type[TTSError], str], ...] = (
    (TextError, "invalid"),
    (InvalidControl, "invalid"),
    (UnknownVoice, "invalid"),
    (QueueFull, "queue_full"),
    (DeadlineExceeded, "timeout"),
    (Cancelled, "cancelled"),
    (ShuttingDown, "shutting_down"),
)


def count_rejection(metrics: Metrics, exc: TTSError) -> None:
    """Count one refused request under the reason its error stands for (errors of the server itself are not
    refusals and are not counted here)."""
    for cls, reason in REASONS:
        if isinstance(exc, cls):
            metrics.rejected.labels(reason=reason).inc()
            return


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 400: "bad_request"}


def error_body(code: str, message: str, param: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if param is not None:
        body["param"] = param
    return {"error": body}


def error_response(
    status: int, code: str, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, param), status_code=status, headers=headers)


def status_of(exc: TTSError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.service.metrics
    return metrics


async def tts_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TTSError)
    status = status_of(exc)
    count_rejection(_metrics(request), exc)
    headers = None
    if isinstance(exc, QueueFull):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    elif status == 503:
        headers = {"Retry-After": "1"}
    if isinstance(exc, DeadlineExceeded):
        # A deadline is a limit doing its job (the client's own timeout_s, or request_timeout_s under load, which
        # ttsd_rejected_total{reason="timeout"} and the queue metrics show), not a server fault.
        log.info("%s on %s: %s", type(exc).__name__, request.url.path, exc.message)
    elif status >= 500 and status not in (503, 507):
        # The message of a TTSError is written to be safe to show; the cause goes to the log only.
        log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc.message, exc_info=exc.__cause__)
    param = exc.param if isinstance(exc, InvalidControl) else None
    response = error_response(status, exc.code, exc.message, param=param, headers=headers)
    if isinstance(exc, JobStateConflict):  # the job's state, for a client to act on
        body = error_body(exc.code, exc.message)
        body["error"]["status"] = exc.status
        response = JSONResponse(body, status_code=status)
    return response


def _location(loc: Sequence[int | str]) -> str:
    """``("body", "speed")`` -> ``speed``; nested fields are joined with dots."""
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    _metrics(request).rejected.labels(reason="invalid").inc()
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "the request body is not valid JSON")
    messages = []
    for e in errors:
        where = _location(e.get("loc", ()))
        messages.append(f"{where}: {e.get('msg', 'invalid value')}" if where else str(e.get("msg")))
    first = _location(errors[0].get("loc", ())) if errors else None
    if errors and not first:  # the body as a whole: missing, not an object, or not sent as JSON
        message = "the request body must be a JSON object, sent with Content-Type: application/json"
        return error_response(400, "invalid_json", message)
    return error_response(422, "invalid_parameter", "; ".join(messages), param=first or None)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


def install(app: FastAPI) -> None:
    """Register the handlers. Unexpected exceptions become 500s in ``ttsd.api.middleware``."""
    app.add_exception_handler(TTSError, tts_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
