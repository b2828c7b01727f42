"""HTTP routes. Thin: parse, await one engine call, map the result or a domain error.

``PROTECTED`` routers need the API key when one is configured; ``PUBLIC`` ones (probes, metrics, the page)
never do (see ``ttsd.api.middleware``); ``WEBSOCKET`` ones are checked on the upgrade (``ttsd.api.ws_guard``).
"""

from ttsd.api.routes import health, jobs, realtime, speech, ui, voices

PROTECTED = (speech.router, voices.router, jobs.router)
PUBLIC = (health.router, ui.router)
# WebSocket routes: the key and Origin are checked on the upgrade (ttsd.api.ws_guard), not by HTTP dependencies.
WEBSOCKET = (realtime.router,)

__all__ = ["PROTECTED", "PUBLIC", "WEBSOCKET", "health", "jobs", "realtime", "speech", "ui", "voices"]
