"""The worker pool: one family's model workers (:mod:`ttsd.serving.worker`), fed by its batcher.

The pool is an executor (:class:`ttsd.serving.executors.Executor`) whose :attr:`WorkerPool.capacity` is the
number of live workers: the batcher keeps up to that many batches in flight, and each batch runs on whichever
worker is free. Faults:

* A worker that dies mid-batch (segfault, OOM kill, ``kill -9``) or runs a batch past the watchdog (it is then
  killed) is replaced in the background, and its batch is retried once on the next free worker (another one,
  or the replacement): the requests in it still succeed. A batch that loses two workers fails with
  :class:`WorkerLost` (it is not retried item by item: a poison input must not kill every worker).
* ``crash_limit`` deaths within ``crash_window_s`` (a crash loop) kill the pool: every batch then fails with
  :class:`BackendDead` and the engine fails, as a dead model thread did before the pool.
* :meth:`close` asks every worker to exit, waits a little, and kills what is left.

Metrics: ``ttsd_worker_restarts_total{voice}``, ``ttsd_worker_busy_seconds_total{voice,worker}`` (its rate is
the worker's busy ratio), ``ttsd_workers{voice}`` (live workers) and ``ttsd_worker_info`` (the plan).
Use from the event loop, except :meth:`start` (blocking, before serving).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from ttsd.errors import BackendDead, BackendError
from ttsd.metrics import Metrics
from ttsd.serving.worker import ProcessWorker, WorkerDied, WorkerSpec
from ttsd.voices.base import BatchItem, BatchOutput, VoiceInfo

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP_WAIT_S = 2.0
_RESPAWN_BACKOFF_S = 1.0


class WorkerLost(BackendError):
    """A batch lost its worker twice (it is probably what kills them): its items fail, and are not retried."""


@dataclass(eq=False)
class _Slot:
    spec: WorkerSpec
    io: ThreadPoolExecutor
    worker: ProcessWorker | None = None
    busy: bool = False
    waiting: list[asyncio.Future[None]] = field(default_factory=list)


class WorkerPool:
    """See the module docstring."""

    name = "process-pool"

    def __init__(
        self,
        *,
        specs: Sequence[WorkerSpec],
        metrics: Metrics,
        watchdog_s: float | None = None,
        start_timeout_s: float = 600.0,
        crash_limit: int = 3,
        crash_window_s: float = 60.0,
    ) -> None:
        if not specs:
            raise ValueError("a worker pool needs at least one worker")
        self._family = specs[0].family
        self._slots = [
            _Slot(spec=spec, io=ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ttsd-pool-{spec.label}"))
            for spec in specs
        ]
        self._metrics = metrics
        self._watchdog_s = watchdog_s
        self._start_timeout_s = start_timeout_s
        self._crash_limit = crash_limit
        self._crash_window_s = crash_window_s
        self._deaths: deque[float] = deque()
        self._idle: deque[_Slot] = deque()
        self._waiters: deque[asyncio.Future[_Slot]] = deque()
        self._listeners: list[Callable[[], None]] = []
        self._dead: str | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.info: VoiceInfo | None = None

    # -- the Executor protocol -----------------------------------------------------------------------------

    @property
    def device(self) -> str:
        return ",".join(dict.fromkeys(slot.spec.options.device for slot in self._slots))

    @property
    def capacity(self) -> int:
        """Live workers (a dead one's replacement counts once it is ready)."""
        return sum(1 for slot in self._slots if slot.worker is not None)

    @property
    def size(self) -> int:
        return len(self._slots)

    def pids(self) -> list[int]:
        return [pid for slot in self._slots if slot.worker is not None and (pid := slot.worker.pid) is not None]

    def watch(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` when a worker becomes free or a replacement is ready (the batcher re-plans).
        Called on the event loop, it also starts watching the workers there (an idle worker's death is then
        seen at once, not at its next batch)."""
        self._listeners.append(listener)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._loop is None:
            self._loop = loop
            for slot in self._slots:
                if slot.worker is not None:
                    self._watch_exit(slot, slot.worker)

    def _watch_exit(self, slot: _Slot, worker: ProcessWorker) -> None:
        fd = worker.sentinel
        if self._loop is not None and fd is not None:
            self._loop.add_reader(fd, self._exited, slot, worker)

    def _exited(self, slot: _Slot, worker: ProcessWorker) -> None:
        """A worker process ended: lose it now if idle (a running batch reports its own loss)."""
        if self._loop is not None and worker.sentinel is not None:
            self._loop.remove_reader(worker.sentinel)
        if slot.worker is worker and not slot.busy and not self._closed:
            self._lose(slot, worker, "the process exited while idle")

    def start(self) -> VoiceInfo:
        """Spawn every worker, wait until all have loaded; the family's :class:`VoiceInfo`. Blocking."""
        for slot in self._slots:
            slot.worker = ProcessWorker(slot.spec)
            slot.worker.launch()
        try:
            infos = [slot.worker.wait_ready(self._start_timeout_s) for slot in self._slots if slot.worker is not None]
        except BaseException:
            self.close(wait=False)
            raise
        self._idle.extend(self._slots)
        for slot in self._slots:
            self._export(slot)
        self._metrics.workers.labels(voice=self._family).set(self.capacity)
        self.info = infos[0]
        return self.info

    async def run(self, items: Sequence[BatchItem]) -> BatchOutput:
        """One batch on the next free worker; retried once if that worker dies (see the module docstring)."""
        batch = tuple(items)
        slot = await self._acquire()
        try:
            return await self._run_on(slot, batch)
        except WorkerDied as first:
            log.warning("voice %s: %s; retrying its batch of %d on another worker", self._family, first, len(batch))
        slot = await self._acquire()
        try:
            return await self._run_on(slot, batch)
        except WorkerDied as second:
            raise WorkerLost(f"speech synthesis failed on the server (the model worker crashed: {second})") from None

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a thread (the workers warm themselves up; nothing whole-model runs here)."""
        return await asyncio.to_thread(fn)

    def close(self, *, wait: bool = True) -> None:
        """Stop every worker (each finishes the batch it runs when ``wait``), then kill what is left."""
        self._closed = True
        timeout = _STOP_WAIT_S if wait else 0.2
        for slot in self._slots:
            if slot.worker is not None and slot.worker.sentinel is not None and self._loop is not None:
                self._loop.remove_reader(slot.worker.sentinel)
            if slot.worker is not None:
                slot.worker.stop(timeout)
            slot.io.shutdown(wait=False, cancel_futures=True)
        self._fail_waiters(BackendDead("the speech model is shutting down"))

    # -- internals -----------------------------------------------------------------------------------------

    async def _acquire(self) -> _Slot:
        if self._dead is not None:
            raise BackendDead(f"the speech model is unavailable: {self._dead}")
        self._loop = asyncio.get_running_loop()
        while self._idle:
            slot = self._idle.popleft()
            if slot.worker is not None and not slot.busy:
                slot.busy = True
                return slot
        waiter: asyncio.Future[_Slot] = self._loop.create_future()
        self._waiters.append(waiter)
        return await waiter

    async def _run_on(self, slot: _Slot, batch: tuple[BatchItem, ...]) -> BatchOutput:
        worker = slot.worker
        assert worker is not None
        loop = asyncio.get_running_loop()
        job = slot.io.submit(worker.run, batch)
        job.add_done_callback(lambda done: loop.call_soon_threadsafe(self._finished, slot, worker, done))
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._watchdog_s):
                return await asyncio.wrap_future(job)
        except TimeoutError:
            self._lose(slot, worker, f"a batch ran past the {self._watchdog_s:g} s watchdog")
            raise WorkerDied(f"model worker {slot.spec.label} hung and was killed") from None
        except WorkerDied as exc:
            self._lose(slot, worker, str(exc))
            raise
        finally:
            busy = time.perf_counter() - started
            self._metrics.worker_busy.labels(voice=self._family, worker=str(slot.spec.index)).inc(busy)

    def _finished(self, slot: _Slot, worker: ProcessWorker, done: Future[BatchOutput]) -> None:
        """The worker's thread is done with a batch: the slot is free again (unless the worker was lost)."""
        error = None if done.cancelled() else done.exception()
        if isinstance(error, WorkerDied):
            self._lose(slot, worker, str(error))  # no-op when the awaiting batch already reported it
        elif slot.worker is worker and not self._closed:
            slot.busy = False
            self._offer(slot)

    def _offer(self, slot: _Slot) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                slot.busy = True
                waiter.set_result(slot)
                return
        self._idle.append(slot)
        self._notify()

    def _lose(self, slot: _Slot, worker: ProcessWorker, why: str) -> None:
        """Kill ``worker``, count the death, and replace it (or declare a crash loop)."""
        if slot.worker is not worker:
            return
        if self._loop is not None and worker.sentinel is not None:
            self._loop.remove_reader(worker.sentinel)
        log.error("voice %s: model worker %s (pid %s) lost: %s", self._family, slot.spec.label, worker.pid, why)
        slot.worker = None
        slot.busy = False
        worker.kill()
        self._metrics.worker_restarts.labels(voice=self._family).inc()
        self._metrics.workers.labels(voice=self._family).set(self.capacity)
        if self._count_death():
            return
        self._respawn(slot)

    def _count_death(self) -> bool:
        """Record a death; True (and the pool dead) when it makes a crash loop."""
        now = time.monotonic()
        self._deaths.append(now)
        while self._deaths and self._deaths[0] < now - self._crash_window_s:
            self._deaths.popleft()
        if len(self._deaths) < self._crash_limit or self._dead is not None:
            return self._dead is not None
        self._dead = f"{len(self._deaths)} model workers died within {self._crash_window_s:g} s"
        log.critical("voice %s: %s; giving up", self._family, self._dead)
        self._fail_waiters(BackendDead(f"the speech model keeps crashing ({self._dead}); this server is restarting"))
        return True

    def _respawn(self, slot: _Slot) -> None:
        if self._closed or self._loop is None:
            return
        loop = self._loop

        def spawn() -> ProcessWorker:
            worker = ProcessWorker(slot.spec)
            worker.launch()
            try:
                worker.wait_ready(self._start_timeout_s)
            except BaseException:
                time.sleep(_RESPAWN_BACKOFF_S)
                raise
            return worker

        job = slot.io.submit(spawn)
        job.add_done_callback(lambda done: loop.call_soon_threadsafe(self._respawned, slot, done))

    def _respawned(self, slot: _Slot, done: Future[ProcessWorker]) -> None:
        error = done.exception() if not done.cancelled() else BackendDead("shut down")
        if error is not None:
            if self._closed:
                return
            log.error("voice %s: replacing worker %s failed: %s", self._family, slot.spec.label, error)
            if not self._count_death():
                self._respawn(slot)
            return
        worker: ProcessWorker = done.result()
        if self._closed or self._dead is not None:
            worker.stop(0.2)
            return
        slot.worker = worker
        self._watch_exit(slot, worker)
        log.info("voice %s: model worker %s replaced (pid %s)", self._family, slot.spec.label, worker.pid)
        self._metrics.workers.labels(voice=self._family).set(self.capacity)
        self._offer(slot)

    def _fail_waiters(self, exc: BaseException) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def _export(self, slot: _Slot) -> None:
        options = slot.spec.options
        self._metrics.worker_info.labels(
            voice=self._family,
            worker=str(slot.spec.index),
            device=options.device,
            threads=str(options.threads or 0),
        ).set(1)
