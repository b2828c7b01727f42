"""Job records in SQLite (WAL): the durable truth of every job, shared by the processes of one host (the default
store; :mod:`ttsd.jobs.redis_store` is the one shared by replicas).

A part's row is its checkpoint: its audio file is written (and renamed into place) before the row, so a committed
part always has its whole file, and a file without a row is simply written again. Every change of a running job
is conditional on its lease (``owner``): a process whose lease lapsed (it stalled; another took the job over)
finds its commits refused and stops. Used from one thread at a time (:mod:`ttsd.jobs.store_thread`: the job
service's store thread); each call is one short transaction.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ttsd.jobs.model import JobStatus
from ttsd.jobs.records import JobRow, PartRow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    characters INTEGER NOT NULL,
    characters_done INTEGER NOT NULL DEFAULT 0,
    parts INTEGER NOT NULL,
    parts_done INTEGER NOT NULL DEFAULT 0,
    samples_done INTEGER NOT NULL DEFAULT 0,
    sample_rate INTEGER NOT NULL DEFAULT 0,
    reserved_bytes INTEGER NOT NULL DEFAULT 0,
    output_bytes INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    error TEXT,
    owner TEXT,
    lease_until REAL,
    chapters TEXT NOT NULL DEFAULT '[]',
    callback TEXT NOT NULL DEFAULT 'none'
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS parts (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    cues TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
"""


class JobStore:
    """See the module docstring."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Opened and used on the job service's store thread (one call at a time): never used by two threads at once.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- records -----------------------------------------------------------------------------------------------

    def create(
        self, job_id: str, *, spec: dict[str, Any], characters: int, parts: int, reserved: int, now: float
    ) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO jobs (id, status, spec, characters, parts, reserved_bytes, created_at, callback) "
                "VALUES (?, 'queued', ?, ?, ?, ?, ?, ?)",
                (job_id, json.dumps(spec), characters, parts, reserved, now,
                 "pending" if spec.get("callback_url") else "none"),
            )  # fmt: skip

    def get(self, job_id: str) -> JobRow | None:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def page(self, *, limit: int, after: str | None, status: JobStatus | None) -> list[JobRow]:
        """Jobs newest first; ``after``: the last id of the previous page."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if status is not None:
            sql, args = sql + " AND status = ?", [status.value]
        if after is not None:
            sql += " AND (created_at, id) < (SELECT created_at, id FROM jobs WHERE id = ?)"
            args.append(after)
        rows = self._db.execute(sql + " ORDER BY created_at DESC, id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_job(row) for row in rows]

    def delete(self, job_id: str) -> bool:
        with self._write() as db:
            db.execute("DELETE FROM parts WHERE job_id = ?", (job_id,))
            return db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount > 0

    # -- leases ------------------------------------------------------------------------------------------------

    def claim(self, owner: str, *, now: float, lease_s: float) -> str | None:
        """Take the oldest queued job, or a running one whose lease lapsed; ``None`` when there is none."""
        with self._write() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < ?) "
                "ORDER BY created_at, id LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', owner = ?, lease_until = ?, started_at = coalesce(started_at, ?) "
                "WHERE id = ?",
                (owner, now + lease_s, now, row["id"]),
            )
            return str(row["id"])

    def renew(self, job_id: str, owner: str, *, until: float) -> bool:
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ? AND status = 'running'",
                (until, job_id, owner),
            )
            return cur.rowcount > 0

    def release(self, job_id: str, owner: str) -> None:
        """Give a running job back to the queue (a graceful stop): the next process resumes it at once."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET status = 'queued', owner = NULL, lease_until = NULL "
                "WHERE id = ? AND owner = ? AND status = 'running'",
                (job_id, owner),
            )

    # -- progress ----------------------------------------------------------------------------------------------

    def parts(self, job_id: str) -> list[PartRow]:
        rows = self._db.execute("SELECT idx, samples, cues FROM parts WHERE job_id = ? ORDER BY idx", (job_id,))
        return [PartRow(row["idx"], row["samples"], json.loads(row["cues"])) for row in rows]

    def commit_part(
        self, job_id: str, owner: str, *, idx: int, samples: int, sample_rate: int, characters: int, cues: list[Any]
    ) -> bool:
        """Record a finished part, if ``owner`` still holds the job (else ``False``: stop working on it)."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE jobs SET parts_done = parts_done + 1, characters_done = characters_done + ?, "
                "samples_done = samples_done + ?, sample_rate = ? WHERE id = ? AND owner = ? AND status = 'running'",
                (characters, samples, sample_rate, job_id, owner),
            )
            if cur.rowcount == 0:
                return False
            db.execute(
                "INSERT INTO parts (job_id, idx, samples, cues) VALUES (?, ?, ?, ?)",
                (job_id, idx, samples, json.dumps(cues, ensure_ascii=False)),
            )
            return True

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
    ) -> bool:
        """End a job (``owner`` ``None``: whoever holds it, for a cancel). ``False`` if it was not ours/running."""
        with self._write() as db:
            sql = (
                "UPDATE jobs SET status = ?, finished_at = ?, error = ?, output_bytes = ?, chapters = ?, "
                "reserved_bytes = 0, owner = NULL, lease_until = NULL WHERE id = ? AND status IN ('queued', 'running')"
            )
            args: list[Any] = [status.value, now, error, output_bytes, json.dumps(chapters or []), job_id]
            if owner is not None:
                sql, args = sql + " AND owner = ?", [*args, owner]
            if db.execute(sql, args).rowcount == 0:
                return False
            db.execute("DELETE FROM parts WHERE job_id = ?", (job_id,))
            return True

    # -- housekeeping ------------------------------------------------------------------------------------------

    def expired(self, *, before: float) -> list[str]:
        rows = self._db.execute("SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?", (before,))
        return [str(row["id"]) for row in rows]

    def callbacks_due(self) -> list[str]:
        rows = self._db.execute("SELECT id FROM jobs WHERE callback = 'pending' AND finished_at IS NOT NULL")
        return [str(row["id"]) for row in rows]

    def set_callback(self, job_id: str, state: str) -> None:
        with self._write() as db:
            db.execute("UPDATE jobs SET callback = ? WHERE id = ?", (state, job_id))

    def counts(self) -> dict[JobStatus, int]:
        rows = self._db.execute("SELECT status, count(*) AS n FROM jobs GROUP BY status")
        found = {JobStatus(row["status"]): int(row["n"]) for row in rows}
        return {status: found.get(status, 0) for status in JobStatus}

    def backlog_chars(self) -> int:
        row = self._db.execute(
            "SELECT coalesce(sum(characters - characters_done), 0) AS n FROM jobs WHERE status IN ('queued', 'running')"
        ).fetchone()
        return int(row["n"])

    def used_bytes(self) -> int:
        """Disk the jobs hold or may hold: reserved estimates of unfinished jobs plus finished outputs."""
        row = self._db.execute("SELECT coalesce(sum(reserved_bytes + output_bytes), 0) AS n FROM jobs").fetchone()
        return int(row["n"])


def _job(row: sqlite3.Row) -> JobRow:
    return JobRow(
        id=row["id"],
        status=JobStatus(row["status"]),
        spec=json.loads(row["spec"]),
        characters=row["characters"],
        characters_done=row["characters_done"],
        parts=row["parts"],
        parts_done=row["parts_done"],
        samples_done=row["samples_done"],
        sample_rate=row["sample_rate"],
        reserved_bytes=row["reserved_bytes"],
        output_bytes=row["output_bytes"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        owner=row["owner"],
        lease_until=row["lease_until"],
        chapters=json.loads(row["chapters"]),
        callback=row["callback"],
    )
