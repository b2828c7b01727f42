"""HTTP routes. Thin: parse, await one engine call, map the result or a domain error.

``PROTECTED`` routers need the API key when one is configured; ``PUBLIC`` ones (probes, metrics, the page)
never do (see ``ttsd.api.middleware``).
"""

from ttsd.api.routes import health, jobs, speech, ui, voices

PROTECTED = (speech.router, voices.router, jobs.router)
PUBLIC = (health.router, ui.router)

__all__ = ["PROTECTED", "PUBLIC", "health", "jobs", "speech", "ui", "voices"]
