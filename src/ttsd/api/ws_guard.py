"""The checks a WebSocket upgrade gets before any app code: the Origin rule and the API key.

Browsers apply no CORS to WebSockets, so the server checks ``Origin`` itself: a request that carries one (a
browser) is accepted from the server's own origin (the same host and port) or from ``TTSD_CORS_ORIGINS``
(``*`` allows any); non-browser clients send none. With ``TTSD_API_KEY`` set, the key comes as for HTTP
(``Authorization: Bearer``, ``X-API-Key``) or, since a browser cannot set headers on a WebSocket, as the
subprotocol ``ttsd-key.<key>``. A refusal is an HTTP answer to the upgrade (403 / 401, JSON error body),
counted like HTTP refusals.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from ttsd.api.errors import error_body
from ttsd.metrics import Metrics

KEY_SUBPROTOCOL = "ttsd-key."


class WebSocketGuard:
    """See the module docstring. HTTP requests pass through untouched (their own middleware checks them)."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, origins: Sequence[str], metrics: Metrics) -> None:
        self.app = app
        self.key = api_key.encode() if api_key is not None else None
        self.origins = frozenset(o.rstrip("/") for o in origins)
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and not self._origin_allowed(origin, headers.get(b"host", b"").decode("latin-1")):
            message = f"origin {origin!r} may not open a session: add it to TTSD_CORS_ORIGINS"
            await _deny(send, 403, "origin_not_allowed", message)
            return
        if self.key is not None and not self._authorized(scope, headers):
            self.metrics.rejected.labels(reason="unauthorized").inc()
            message = "missing or invalid API key (Authorization: Bearer, or the subprotocol ttsd-key.<key>)"
            await _deny(send, 401, "unauthorized", message)
            return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        if "*" in self.origins or origin.rstrip("/") in self.origins:
            return True
        return bool(host) and urlsplit(origin).netloc.lower() == host.lower()

    def _authorized(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        assert self.key is not None
        auth = headers.get(b"authorization", b"")
        presented = auth[7:].strip() if auth[:7].lower() == b"bearer " else headers.get(b"x-api-key", b"").strip()
        for protocol in scope.get("subprotocols") or ():
            if protocol.startswith(KEY_SUBPROTOCOL):
                presented = presented or protocol[len(KEY_SUBPROTOCOL) :].encode()
        return hmac.compare_digest(presented, self.key)


async def _deny(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})
