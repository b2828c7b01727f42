"""The drain: after SIGTERM, every admitted request runs to its end, within the drain budget.

Admission (the engine's ``_admit``) refuses new requests once the engine is ``draining``; nothing below it
refuses anything: an admitted request's later sentences, not yet read by the front end when the signal came,
are still queued and synthesized (the batcher accepts them until the lanes stop). :func:`finish_admitted` waits
until every admitted request has ended (its ticket closed: a whole answer synthesized, a stream's last chunk
handed to the server), or the deadline; what is still running then is named in the log with its request id and
cut when the lanes stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from ttsd.pipeline.admission import Admission, Ticket

log = logging.getLogger(__name__)


async def finish_admitted(admissions: Sequence[Admission], *, deadline: float) -> list[Ticket]:
    """Wait until no admission has an open ticket or loop time ``deadline``; the tickets still open then (each
    logged with its request id, as cut)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout_at(deadline):
            for admission in admissions:
                await admission.wait_idle()
    left = [ticket for admission in admissions for ticket in admission.open_tickets]
    for ticket in left:
        log.warning("drain timeout: request %s still running; it is cut", ticket.label or "(no id)")
    return left
