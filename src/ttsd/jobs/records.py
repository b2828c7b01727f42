"""A job's stored record and the store protocol, shared by the SQLite store (one host) and the Redis one (replicas).

Both keep the same contract: every change of a running job is conditional on its lease (``owner``); a part's
record is its checkpoint; :meth:`Store.claim` takes the oldest queued job or one whose lease lapsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ttsd.jobs.model import JobStatus


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    status: JobStatus
    spec: dict[str, Any]
    characters: int
    characters_done: int
    parts: int
    parts_done: int
    samples_done: int
    sample_rate: int
    reserved_bytes: int
    output_bytes: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None
    owner: str | None
    lease_until: float | None
    chapters: list[Any]
    callback: str


@dataclass(frozen=True, slots=True)
class PartRow:
    idx: int
    samples: int
    cues: list[list[Any]]


class Store(Protocol):
    """What the job service needs of a store (see :class:`ttsd.jobs.store.JobStore` for the semantics)."""

    def close(self) -> None: ...

    def create(
        self, job_id: str, *, spec: dict[str, Any], characters: int, parts: int, reserved: int, now: float
    ) -> None: ...

    def get(self, job_id: str) -> JobRow | None: ...

    def page(self, *, limit: int, after: str | None, status: JobStatus | None) -> list[JobRow]: ...

    def delete(self, job_id: str) -> bool: ...

    def claim(self, owner: str, *, now: float, lease_s: float) -> str | None: ...

    def renew(self, job_id: str, owner: str, *, until: float) -> bool: ...

    def release(self, job_id: str, owner: str) -> None: ...

    def parts(self, job_id: str) -> list[PartRow]: ...

    def commit_part(
        self, job_id: str, owner: str, *, idx: int, samples: int, sample_rate: int, characters: int, cues: list[Any]
    ) -> bool: ...

    def finish(
        self,
        job_id: str,
        owner: str | None,
        *,
        status: JobStatus,
        now: float,
        error: str | None = None,
        output_bytes: int = 0,
        chapters: list[Any] | None = None,
    ) -> bool: ...

    def expired(self, *, before: float) -> list[str]: ...

    def callbacks_due(self) -> list[str]: ...

    def set_callback(self, job_id: str, state: str) -> None: ...

    def counts(self) -> dict[JobStatus, int]: ...

    def backlog_chars(self) -> int: ...

    def used_bytes(self) -> int: ...
