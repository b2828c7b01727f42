"""The job service: submission (every check at once), the run loop, cancel/remove, retention and callbacks.

One :class:`JobService` per process. Its loop claims queued jobs (and jobs whose lease lapsed: a process that
died) up to ``concurrency`` at a time, renews the leases of the jobs it runs, removes finished jobs past their
retention and delivers pending callbacks. Stopping (a drain) gives running jobs back to the queue, so the next
start resumes them at once; a kill leaves their lease to lapse, after which any process takes them over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from ttsd.errors import (
    BackendUnavailable,
    JobNotFound,
    JobStateConflict,
    ShuttingDown,
    StorageFull,
    TextError,
    TextTooLong,
)
from ttsd.jobs.assemble import Assembled
from ttsd.jobs.callback import check_callback, deliver
from ttsd.jobs.files import JobFiles
from ttsd.jobs.model import Chapter, JobsConfig, JobSpec, JobStatus, JobView
from ttsd.jobs.plan import MAX_PART_CHARS, plan_text
from ttsd.jobs.records import JobRow, Store
from ttsd.jobs.runner import JobFailed, JobRunner, Stopped
from ttsd.jobs.store import JobStore
from ttsd.jobs.store_thread import ThreadedStore
from ttsd.metrics import Metrics
from ttsd.pipeline.engine import State, TTSEngine
from ttsd.pipeline.plan import AUDIO_S_PER_CHAR, MARKUP_ALLOWANCE

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 60.0
TICK_S = 1.0  # the loop looks for work (and renews leases) at least this often
# Disk a job may need, per second of estimated audio: 16-bit parts plus the output (at most 16-bit) at 24 kHz.
BYTES_PER_AUDIO_S = 24_000 * 2 * 2


class JobService:
    """See the module docstring. Use from the event loop; the store is opened (on its own thread: see
    :mod:`ttsd.jobs.store_thread`) by :meth:`start`'s loop or the first call that needs it."""

    def __init__(
        self, *, config: JobsConfig, engine: TTSEngine, metrics: Metrics, clock: Callable[[], float] = time.time
    ) -> None:
        assert config.directory is not None
        self.config = config
        self._engine = engine
        self._metrics = metrics
        self._clock = clock
        self._job_files: JobFiles | None = None
        self._store = ThreadedStore(self._open_store)
        self.failure: str | None = None
        self._owner = f"{config.owner}:{uuid.uuid4().hex[:8]}"
        self._running: dict[str, tuple[asyncio.Task[None], JobRunner]] = {}
        self._ending: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._swept_at = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def _files(self) -> JobFiles:
        if self._job_files is None:
            raise BackendUnavailable("long-form jobs are unavailable: the jobs store is not open yet")
        return self._job_files

    def _open_store(self) -> Store:
        """The directory and the records (on the store's thread, on first use: building an app touches no disk
        or network)."""
        assert self.config.directory is not None
        files = JobFiles(self.config.directory)
        if self.config.store.startswith(("redis://", "rediss://", "unix://")):
            from ttsd.jobs.redis_store import RedisJobStore

            store: Store = RedisJobStore(self.config.store)
        else:
            store = JobStore(files.database)
        self._job_files = files
        return store

    def start(self) -> None:
        """Start the loop: it opens the store, then takes jobs once the engine is ready. Idempotent. A store that
        cannot be opened (a jobs directory that cannot be written, Redis not up yet) leaves jobs off with the
        reason (:attr:`failure`, 503 on the job routes) while the loop keeps trying; the rest of the service runs."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="ttsd-jobs")

    async def _require(self) -> None:
        """Open the store if the loop has not yet; 503 with the reason while it cannot be opened."""
        if not self._store.opened and not await self._try_open():
            raise BackendUnavailable(f"long-form jobs are unavailable: {self.failure}")

    async def _try_open(self) -> bool:
        try:
            await self._store.open()
        except (OSError, sqlite3.Error) as exc:
            failure = f"the jobs directory {self.config.directory} cannot be used ({exc}); set TTSD_JOBS_DIR"
        except Exception as exc:  # the Redis store unreachable (redis.ConnectionError) or misconfigured
            failure = f"the jobs store {self.config.store} cannot be used ({exc}); check TTSD_JOBS_STORE"
        else:
            if self.failure is not None:
                log.info("long-form jobs are on: the store is open")
            self.failure = None
            return True
        if failure != self.failure:
            log.error("long-form jobs are off until the store opens: %s", failure)
        self.failure = failure
        return False

    def stop(self) -> None:
        """Stop running jobs now and give them back to the queue (a drain). Synchronous; idempotent."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None
        for job_id, (task, _) in list(self._running.items()):
            task.cancel()
            self._store.release_soon(job_id, self._owner)
        self._running.clear()

    async def _loop(self) -> None:
        while True:
            try:
                if self._store.opened or await self._try_open():
                    await self._tick()
            except Exception:
                log.exception("jobs loop failed; trying again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self.config.lease_s / 3, TICK_S)):
                    await self._wake.wait()

    async def _tick(self) -> None:
        now = self._clock()
        for job_id, (task, _) in list(self._running.items()):
            if not await self._store.renew(job_id, self._owner, until=now + self.config.lease_s):
                task.cancel()  # taken over, cancelled or removed meanwhile
        while len(self._running) < self.config.concurrency and self._engine.state is State.READY:
            claimed = await self._claim(now)
            if claimed is None:
                break
            self._launch(claimed)
        if now - self._swept_at >= SWEEP_EVERY_S:
            self._swept_at = now
            await self.sweep(now)
        await self._publish()

    async def _claim(self, now: float) -> str | None:
        """Claim the next job. A drain that stops the loop meanwhile gives a job claimed too late straight back
        (its lease would otherwise hold it for ``lease_s``)."""
        claim = asyncio.ensure_future(self._store.claim(self._owner, now=now, lease_s=self.config.lease_s))
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            claim.add_done_callback(self._give_back)
            raise

    def _give_back(self, claim: asyncio.Future[str | None]) -> None:
        if not claim.cancelled() and claim.exception() is None and (job_id := claim.result()) is not None:
            self._store.release_soon(job_id, self._owner)

    def _launch(self, job_id: str) -> None:
        runner = JobRunner(
            job_id=job_id, owner=self._owner, store=self._store, files=self._files, engine=self._engine,
            metrics=self._metrics, parallel=self.config.parallel, clock=self._clock,
        )  # fmt: skip
        log.info("job %s: running", job_id)
        task = asyncio.create_task(self._run(runner), name=f"ttsd-job-{job_id}")
        self._running[job_id] = (task, runner)

    async def _run(self, runner: JobRunner) -> None:
        job_id = runner.job_id
        try:
            done = await runner.run()
        except* JobFailed as group:
            await self._end(job_id, JobStatus.FAILED, error=str(group.exceptions[0]))
        except* Stopped as group:
            log.info("job %s: stopped (%s)", job_id, group.exceptions[0])
        except* Exception as group:  # the store failed (Redis gone): the lease lapses and the job is resumed later
            log.error("job %s: interrupted by an error; it resumes once its lease lapses", job_id, exc_info=group)
        else:
            await self._end(job_id, JobStatus.SUCCEEDED, done=done)
        finally:
            if self._running.get(job_id, (None,))[0] is asyncio.current_task():
                del self._running[job_id]
            self._wake.set()

    async def _end(
        self, job_id: str, status: JobStatus, *, error: str | None = None, done: Assembled | None = None
    ) -> None:
        chapters = [[c.title, c.start_s] for c in done.chapters] if done else None
        size = done.output_bytes if done else 0
        if await self._store.finish(
            job_id, self._owner, status=status, now=self._clock(), error=error, output_bytes=size, chapters=chapters
        ):
            await asyncio.to_thread(self._files.drop_parts, job_id)
            log.info("job %s: %s%s", job_id, status.value, f" ({error})" if error else "")
            await self._callback(job_id)

    # -- submission and queries --------------------------------------------------------------------------------

    async def submit(self, text: str, spec: JobSpec) -> JobView:
        """Check everything that can be checked now (length, voice, controls, markup, output, callback, disk),
        plan the text, and queue the job."""
        if not text.strip():
            raise TextError("the text is empty")
        if len(text) > self.config.max_chars:
            limit = self.config.max_chars
            raise TextTooLong(
                f"text is {len(text)} characters long; the job limit is {limit}", limit=limit, length=len(text)
            )
        if self._engine.state is not State.READY:
            raise ShuttingDown(f"the service is {self._engine.state.value}; retry shortly")
        await self._require()
        request = spec.request(text)
        markup = _is_markup(request.input_type, text)
        markup_limit = self._engine.config.max_text_chars * MARKUP_ALLOWANCE
        if markup and len(text) > markup_limit:
            raise TextTooLong(
                f"an SSML job is {len(text)} characters long; the limit is {markup_limit} (send long texts as plain "
                "text: they are split into chapters and sentences)",
                limit=markup_limit, length=len(text),
            )  # fmt: skip
        _ = spec.audio  # output format, rate and volume (422 now, not at the end)
        if spec.callback_url is not None:
            check_callback(spec.callback_url, self.config.callback_hosts)
        await asyncio.to_thread(self._engine.check, request)
        reserved = await self._reserve(len(text), spec)
        part_chars = min(MAX_PART_CHARS, self._engine.config.max_text_chars)
        plan = await asyncio.to_thread(plan_text, text, markup=markup, max_part_chars=part_chars)
        job_id = "job_" + uuid.uuid4().hex[:20]
        await asyncio.to_thread(self._files.write_plan, job_id, plan)
        await self._store.create(
            job_id, spec=spec.to_json(), characters=sum(len(p.text) for p in plan.parts), parts=len(plan.parts),
            reserved=reserved, now=self._clock(),
        )  # fmt: skip
        self._wake.set()
        return await self.get(job_id)

    async def _reserve(self, characters: int, spec: JobSpec) -> int:
        need = int(characters * AUDIO_S_PER_CHAR / spec.controls.speed * BYTES_PER_AUDIO_S)
        quota = self.config.quota_bytes
        used = await self._store.used_bytes()
        if quota > 0 and used + need > quota:
            raise StorageFull(
                f"the jobs' disk budget is spent: this job may need {need / 1e9:.2f} GB and {used / 1e9:.2f} of "
                f"{quota / 1e9:.2f} GB are held; retry when jobs expire or are removed"
            )
        free = self._files.free_bytes()
        if need > free:
            raise StorageFull(f"the disk has {free / 1e9:.2f} GB free; this job may need {need / 1e9:.2f} GB")
        return need

    async def get(self, job_id: str) -> JobView:
        await self._require()
        row = await self._store.get(job_id)
        if row is None:
            raise JobNotFound(f"no job {job_id!r} (never submitted, removed, or past its retention)")
        return self._view(row)

    async def page(self, *, limit: int, after: str | None = None, status: JobStatus | None = None) -> list[JobView]:
        await self._require()
        return [self._view(row) for row in await self._store.page(limit=limit, after=after, status=status)]

    async def finished_file(self, job_id: str, kind: str, fmt: str) -> tuple[Any, JobView]:
        """The path of a succeeded job's ``audio`` or ``subtitles``/``chapters`` file (409 before it succeeded)."""
        view = await self.get(job_id)
        if view.status is not JobStatus.SUCCEEDED:
            raise JobStateConflict(f"job {job_id} is {view.status.value}; its {kind} is ready once it has succeeded",
                                   status=view.status.value)  # fmt: skip
        if kind == "audio":
            return self._files.audio(job_id, view.spec.format), view
        if kind == "chapters":
            return self._files.chapters(job_id), view
        return self._files.subtitles(job_id, fmt), view

    async def cancel(self, job_id: str) -> JobView:
        """Stop a queued or running job; it stays listed as ``cancelled`` (409 if it had already ended)."""
        view = await self.get(job_id)
        if view.status.finished:
            raise JobStateConflict(f"job {job_id} already ended ({view.status.value})", status=view.status.value)
        self._stop_local(job_id)
        if await self._store.finish(job_id, None, status=JobStatus.CANCELLED, now=self._clock()):
            await asyncio.to_thread(self._files.remove, job_id)
            await self._callback(job_id)
        await self._publish()
        return await self.get(job_id)

    async def remove(self, job_id: str) -> None:
        """Cancel (if it runs) and delete a job and its files; it is then unknown (404)."""
        await self.get(job_id)
        self._stop_local(job_id)
        await self._store.delete(job_id)
        await asyncio.to_thread(self._files.remove, job_id)
        await self._publish()

    def _stop_local(self, job_id: str) -> None:
        found = self._running.pop(job_id, None)
        if found is not None:
            found[0].cancel()

    # -- views, housekeeping, callbacks ------------------------------------------------------------------------

    def _view(self, row: JobRow) -> JobView:
        eta = None
        running = self._running.get(row.id)
        if running is not None and row.status is JobStatus.RUNNING:
            progress = running[1].progress
            elapsed = time.monotonic() - progress.started
            if progress.characters > 0 and elapsed > 0:
                eta = (row.characters - row.characters_done) / (progress.characters / elapsed)
        return JobView(
            id=row.id, status=row.status, characters=row.characters, characters_done=row.characters_done,
            parts=row.parts, parts_done=row.parts_done,
            audio_s=row.samples_done / row.sample_rate if row.sample_rate else 0.0,
            created_at=row.created_at, started_at=row.started_at, finished_at=row.finished_at, error=row.error,
            spec=JobSpec.from_json(row.spec), output_bytes=row.output_bytes, eta_s=eta,
            chapters=tuple(Chapter(title=str(t), start_s=float(s)) for t, s in row.chapters), worker=row.owner,
        )  # fmt: skip

    async def sweep(self, now: float) -> None:
        """Remove finished jobs past their retention; send callbacks still pending (a restart)."""
        await self._require()
        for job_id in await self._store.expired(before=now - self.config.retention_s):
            log.info("job %s: removed after its retention", job_id)
            await self._store.delete(job_id)
            await asyncio.to_thread(self._files.remove, job_id)
        for job_id in await self._store.callbacks_due():
            await self._callback(job_id)

    async def _publish(self) -> None:
        counts, backlog = await self._store.gauges()
        for status, count in counts.items():
            self._metrics.jobs.labels(state=status.value).set(count)
        self._metrics.jobs_backlog.set(backlog)

    async def _callback(self, job_id: str) -> None:
        row = await self._store.get(job_id)
        url = row.spec.get("callback_url") if row is not None else None
        if row is None or url is None or row.callback != "pending":
            return
        await self._store.set_callback(job_id, "sending")
        task = asyncio.create_task(self._send(job_id, url, _callback_body(self._view(row))))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def _send(self, job_id: str, url: str, body: dict[str, Any]) -> None:
        delivered = await deliver(url, body)
        with contextlib.suppress(Exception):  # the job may have been removed meanwhile
            await self._store.set_callback(job_id, "delivered" if delivered else "failed")


def _callback_body(view: JobView) -> dict[str, Any]:
    return {"id": view.id, "status": view.status.value, "error": view.error, "audio_seconds": round(view.audio_s, 3)}


def _is_markup(input_type: str, text: str) -> bool:
    if input_type == "text":
        return False
    from ttsd.text.ssml import is_ssml

    return input_type == "ssml" or is_ssml(text)
