"""``callback_url``: one POST when a job ends, retried with backoff, only to hosts the operator allowed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from ttsd.errors import InvalidControl

log = logging.getLogger(__name__)

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
TIMEOUT_S = 10.0


def check_callback(url: str, allowed: Sequence[str]) -> None:
    """Refuse (422) a callback URL that is not http(s) or whose host is not in ``allowed``
    (``TTSD_JOBS_CALLBACK_HOSTS``; an entry ``*.example.com`` allows its subdomains)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidControl(f"callback_url must be an http(s) URL, got {url[:100]!r}", param="callback_url")
    if not any(_matches(host, pattern.lower()) for pattern in allowed):
        hint = ", ".join(allowed) if allowed else "none are allowed: the operator sets TTSD_JOBS_CALLBACK_HOSTS"
        raise InvalidControl(f"callback_url host {host!r} is not allowed ({hint})", param="callback_url")


def _matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


async def deliver(url: str, body: dict[str, Any], *, backoff: Sequence[float] = BACKOFF_S) -> bool:
    """POST ``body`` as JSON until a 2xx answer; ``False`` once every retry failed."""
    async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
        for attempt, pause in enumerate((0.0, *backoff)):
            await asyncio.sleep(pause)
            try:
                answer = await client.post(url, json=body)
                if 200 <= answer.status_code < 300:
                    return True
                log.warning("callback %s answered %d (attempt %d)", url, answer.status_code, attempt + 1)
            except httpx.HTTPError as exc:
                log.warning("callback %s failed: %s (attempt %d)", url, exc, attempt + 1)
    return False
