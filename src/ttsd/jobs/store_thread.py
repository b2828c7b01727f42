"""The job records as the event loop uses them: every store call runs on one thread of its own.

A store call is blocking I/O: an SQLite transaction waits for the disk (and for another process's write lock,
up to its 10 s busy timeout), a Redis call for the network (up to its 10 s socket timeout when Redis stalls).
On the event loop such a wait would hold every interactive request of the process. :class:`ThreadedStore`
runs the calls on a single thread, one at a time and in the order they were made (the SQLite connection is
never used by two threads at once), opens the store there on first use, and lets the loop await them: a
stalled store slows jobs, not speech.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ttsd.jobs.model import JobStatus
from ttsd.jobs.records import JobRow, PartRow, Store

T = TypeVar("T")


class ThreadedStore:
    """See the module docstring. ``opener`` builds the store (it runs on the store's thread)."""

    def __init__(self, opener: Callable[[], Store]) -> None:
        self._opener = opener
        self._store: Store | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ttsd-jobs-store")

    @property
    def opened(self) -> bool:
        return self._store is not None

    async def open(self) -> None:
        """Open the store now (raises what opening it raises; a later call tries again)."""
        await self._run(lambda store: None)

    def release_soon(self, job_id: str, owner: str) -> None:
        """Queue :meth:`release` without waiting for it (a synchronous drain); it runs after the calls before it."""
        if self._store is not None:
            self._thread.submit(self._store.release, job_id, owner)

    async def _run(self, call: Callable[[Store], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, lambda: call(self._opened_store()))

    def _opened_store(self) -> Store:
        if self._store is None:
            self._store = self._opener()
        return self._store

    # -- the Store protocol, awaited -----------------------------------------------------------------------------

    async def create(
        self, job_id: str, *, spec: dict[str, Any], characters: int, parts: int, reserved: int, now: float
    ) -> None:
        await self._run(
            lambda s: s.create(job_id, spec=spec, characters=characters, parts=parts, reserved=reserved, now=now)
        )

    async def get(self, job_id: str) -> JobRow | None:
        return await self._run(lambda s: s.get(job_id))

    async def page(self, *, limit: int, after: str | None, status: JobStatus | None) -> list[JobRow]:
        return await self._run(lambda s: s.page(limit=limit, after=after, status=status))

    async def delete(self, job_id: str) -> bool:
        return await self._run(lambda s: s.delete(job_id))

    async def claim(self, owner: str, *, now: float, lease_s: float) -> str | None:
        return await self._run(lambda s: s.claim(owner, now=now, lease_s=lease_s))

    async def renew(self, job_id: str, owner: str, *, until: float) -> bool:
        return await self._run(lambda s: s.renew(job_id, owner, until=until))

    async def parts(self, job_id: str) -> list[PartRow]:
        return await self._run(lambda s: s.parts(job_id))

    async def commit_part(
        self, job_id: str, owner: str, *, idx: int, samples: int, sample_rate: int, characters: int, cues: list[Any]
    ) -> bool:
        return await self._run(
            lambda s: s.commit_part(
                job_id, owner, idx=idx, samples=samples, sample_rate=sample_rate, characters=characters, cues=cues
            )
        )

    async def finish(
        self,
        job_id: str,
        owner: str | None,
        *,
        status: JobStatus,
        now: float,
        error: str | None = None,
        output_bytes: int = 0,
        chapters: list[Any] | None = None,
    ) -> bool:
        return await self._run(
            lambda s: s.finish(
                job_id, owner, status=status, now=now, error=error, output_bytes=output_bytes, chapters=chapters
            )
        )

    async def expired(self, *, before: float) -> list[str]:
        return await self._run(lambda s: s.expired(before=before))

    async def callbacks_due(self) -> list[str]:
        return await self._run(lambda s: s.callbacks_due())

    async def set_callback(self, job_id: str, state: str) -> None:
        await self._run(lambda s: s.set_callback(job_id, state))

    async def gauges(self) -> tuple[dict[JobStatus, int], int]:
        """The store's ``counts()`` and ``backlog_chars()`` in one call: a pair read together, so the metrics that show
        them never disagree (calls complete in the order they were made, so a later pair is never overwritten by
        an earlier one)."""
        return await self._run(lambda s: (s.counts(), s.backlog_chars()))

    async def used_bytes(self) -> int:
        return await self._run(lambda s: s.used_bytes())
