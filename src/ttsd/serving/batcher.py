"""The batcher: an asyncio loop around the pure policy (:mod:`ttsd.serving.policy`).

It owns the queue (length buckets), the clock (the event loop's ``loop.time()``) and the batches in flight,
and turns policy decisions into executor calls and resolved futures. Contracts:

* :meth:`Batcher.submit` is all-or-nothing: either every item of the call is queued, or none is and
  :class:`ShuttingDown` (once stopped) is raised at once. It returns one future per item, resolving to that item's
  float32 waveform.
* ``max_queue`` is a capacity, not a refusal: the caller awaits :meth:`Batcher.room` before it submits (work
  that reaches the batcher was admitted already; refusing happens once, at admission). Submitting past it is a
  programming error (:class:`RuntimeError`).
* Items still queued at their deadline are dropped; their futures fail with :class:`DeadlineExceeded` and
  never reach the model.
* Cancelling an item's future removes it from the queue. A batch already running is not interrupted; results
  for cancelled futures are discarded.
* If a batch of several items fails, each item is retried alone, so one bad input fails only its own future
  (a voice failure must not lose anyone else's work). A batch of one fails with the executor's error. A
  batch that lost two model workers (:class:`~ttsd.serving.pool.WorkerLost`) is not retried item by item.
* Work-conserving dispatch: up to ``executor.capacity`` batches in flight (one per live model worker; one for
  an in-process executor). Whenever fewer are running, the policy is asked for the next batch, told how many
  workers are free (it splits a lane's queue across them rather than leave one idle).
* Runs on the event loop only: no locks, not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ttsd.config import BatchConfig
from ttsd.controls import Controls
from ttsd.errors import BackendDead, BackendError, DeadlineExceeded, ShuttingDown, TTSError
from ttsd.metrics import Metrics
from ttsd.serving.executors import Executor
from ttsd.serving.policy import Dispatch, PendingItem, bucket_of, next_batch, prune
from ttsd.serving.pool import WorkerLost
from ttsd.voices.base import BatchItem, BatchOutput, IntArray, Rendered, Utterance

log = logging.getLogger(__name__)

RenderedFuture = asyncio.Future[Rendered]


@dataclass(slots=True, eq=False)
class _Entry:
    pending: PendingItem
    item: BatchItem
    future: RenderedFuture


class Batcher:
    """Queue, batch and run items; see the module docstring for the contracts."""

    def __init__(
        self,
        *,
        executor: Executor,
        config: BatchConfig,
        metrics: Metrics,
        estimate_frames: Callable[[Utterance, Controls], int],
        sample_rate: int,
        voice: str = "",
        on_batch: Callable[..., None] | None = None,
        on_fatal: Callable[[BaseException], None] | None = None,
        on_depth: Callable[[], None] | None = None,
    ) -> None:
        """``on_batch(audio_s=, model_s=)`` after every batch (admission's drain rate); ``on_fatal(exc)`` once
        the executor reports :class:`BackendDead` (everything queued fails with it; the owner goes failed);
        ``on_depth()`` when the queue depth changed (the owner of several batchers reports their sum; without it
        this batcher sets ``ttsd_queue_depth`` itself)."""
        self._executor = executor
        self._config = config
        self._metrics = metrics
        self._estimate_frames = estimate_frames
        self._sample_rate = sample_rate
        self._voice = voice
        self._on_batch = on_batch
        self._on_fatal = on_fatal
        self._on_depth = on_depth
        self._buckets: dict[int, deque[PendingItem]] = {}
        self._queued: dict[int, _Entry] = {}
        self._seq = itertools.count()
        self._accepting = True
        self._in_flight: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._has_room = asyncio.Event()
        self._has_room.set()
        executor.watch(self._wake.set)  # a worker freed or replaced: re-plan

    @property
    def queue_depth(self) -> int:
        """Items waiting (not counting the batches in flight)."""
        return len(self._queued)

    async def room(self, count: int = 1) -> None:
        """Return once ``count`` more items fit under ``max_queue`` (at once when they do, or when the batcher
        stopped accepting: :meth:`submit` then says why). Submit right after it, with no ``await`` between."""
        while self._accepting and len(self._queued) + count > self._config.max_queue:
            self._has_room.clear()
            await self._has_room.wait()

    async def start(self) -> None:
        """Start the loop (idempotent). Must be called on the event loop that will call submit()."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="ttsd-batcher")

    def submit(
        self, items: Sequence[BatchItem], *, deadline: float, urgent: int = 0, background: bool = False
    ) -> list[RenderedFuture]:
        """Queue ``items`` (all or none); ``deadline`` is absolute, on ``asyncio.get_running_loop().time()``.

        The first ``urgent`` items are urgent (see :class:`~ttsd.serving.policy.PendingItem`): they run as soon
        as the executor is free, in batches of urgent items only. A stream marks its first sentence urgent.
        ``background`` items (a long-form job's) run only when nothing else is queued.

        Raises :class:`ShuttingDown` once stopped (:meth:`stop`, the end of :meth:`drain`); :class:`RuntimeError`
        when the items do not fit under ``max_queue`` (await :meth:`room` first).
        """
        if not self._accepting:
            raise ShuttingDown("the service is shutting down")
        if len(self._queued) + len(items) > self._config.max_queue:
            raise RuntimeError(f"submit() past max_queue ({len(self._queued)} queued): await room() first")
        loop = asyncio.get_running_loop()
        now = loop.time()
        futures: list[RenderedFuture] = []
        for position, item in enumerate(items):
            pending = PendingItem(
                seq=next(self._seq),
                length=len(item.utterance.ids),
                frames=self._estimate_frames(item.utterance, item.controls),
                enqueued_at=now,
                deadline=deadline,
                urgent=position < urgent and not background,
                background=background,
            )
            future: RenderedFuture = loop.create_future()
            future.add_done_callback(self._on_future_done)
            self._queued[pending.seq] = _Entry(pending=pending, item=item, future=future)
            index = bucket_of(pending.length, self._config.bucket_edges)
            self._buckets.setdefault(index, deque()).append(pending)
            futures.append(future)
        self._changed()
        return futures

    async def drain(self, timeout_s: float) -> None:
        """Let queued and running work finish within ``timeout_s``, then :meth:`stop`. Items submitted meanwhile
        are accepted: they are later sentences of requests already admitted (refusing new requests is the
        engine's admission's job), and waiting for idle waits for them too."""
        self._wake.set()
        if self._loop_task is not None:
            try:
                async with asyncio.timeout(timeout_s):
                    await self._idle.wait()
            except TimeoutError:
                log.warning("drain timed out with %d item(s) queued", len(self._queued))
        await self.stop()

    async def stop(self) -> None:
        """Stop now: queued and running items fail with :class:`ShuttingDown`."""
        self._accepting = False
        self._has_room.set()  # whoever waits for room learns from submit() that the batcher stopped
        for task in (self._loop_task, *self._in_flight):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = None
        self._fail_all_queued(ShuttingDown("the service shut down before this request ran"))

    # -- the loop ----------------------------------------------------------------------------------

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            try:
                now = loop.time()
                self._drop_dead(now)
                free = self._executor.capacity - len(self._in_flight)
                decision = next_batch(self._buckets, now, self._config, executor_idle=free > 0, idle_workers=free)
                if isinstance(decision, Dispatch):
                    self._dispatch(decision, now)
                    continue
            except Exception:
                # A bug here must not leave callers waiting forever: fail what is queued and carry on.
                log.exception("batcher loop failed; failing %d queued item(s)", len(self._queued))
                self._fail_all_queued(BackendError("the server failed to schedule this request"))
                continue
            await self._sleep(decision.wake_at)

    async def _sleep(self, wake_at: float | None) -> None:
        if wake_at is None:
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(wake_at):
                await self._wake.wait()

    def _drop_dead(self, now: float) -> None:
        """Remove expired and cancelled items (policy.prune) and fail/count them."""
        cancelled = {seq for seq, entry in self._queued.items() if entry.future.done()}
        pruned = prune(self._buckets, now=now, cancelled=cancelled)
        if not pruned.expired and not pruned.cancelled:
            return
        self._buckets = {index: deque(items) for index, items in pruned.buckets.items()}
        for pending in pruned.expired:
            entry = self._queued.pop(pending.seq)
            _fail(entry, DeadlineExceeded("the request's deadline passed while it was queued"))
        for pending in pruned.cancelled:
            del self._queued[pending.seq]
        self._changed()

    def _dispatch(self, decision: Dispatch, now: float) -> None:
        taken = {pending.seq for pending in decision.items}
        entries = [self._queued.pop(seq) for seq in (pending.seq for pending in decision.items)]
        remaining = deque(p for p in self._buckets[decision.bucket] if p.seq not in taken)
        if remaining:
            self._buckets[decision.bucket] = remaining
        else:
            del self._buckets[decision.bucket]
        for pending in decision.items:
            self._metrics.queue_wait.labels(voice=self._voice).observe(now - pending.enqueued_at)
        self._in_flight.add(asyncio.create_task(self._run_batch(entries), name="ttsd-batch"))
        self._changed()

    async def _run_batch(self, entries: list[_Entry]) -> None:
        try:
            await self._execute(entries, retry_singly=True)
        except asyncio.CancelledError:
            for entry in entries:
                _fail(entry, ShuttingDown("the service shut down while this request ran"))
            raise
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._in_flight.discard(task)
            self._changed()

    async def _execute(self, entries: list[_Entry], *, retry_singly: bool) -> None:
        live = [entry for entry in entries if not entry.future.done()]
        if not live:
            return  # everyone went away before the batch started: skip the model work
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            output = await self._executor.run([entry.item for entry in live])
            if len(output.waveforms) != len(live):
                raise BackendError("the voice returned the wrong number of waveforms")
        except BackendDead as exc:
            for entry in live:
                _fail(entry, exc)
            self._accepting = False
            self._fail_all_queued(exc)
            if self._on_fatal is not None:
                self._on_fatal(exc)
            return
        except Exception as exc:
            if retry_singly and len(live) > 1 and not isinstance(exc, WorkerLost):
                log.warning("batch of %d failed (%s); retrying its items one by one", len(live), exc)
                for entry in live:
                    await self._execute([entry], retry_singly=False)
                return
            if not isinstance(exc, TTSError):
                log.error("executor failed outside the voice", exc_info=exc)
                exc = BackendError("speech synthesis failed on the server")
            for entry in live:
                _fail(entry, exc)
            return
        self._record(output, wall_s=loop.time() - started, size=len(live))
        durations: Sequence[IntArray | None] = output.durations or [None] * len(live)
        for entry, waveform, spent in zip(live, output.waveforms, durations, strict=True):
            if not entry.future.done():
                entry.future.set_result(Rendered(waveform, spent))

    # -- bookkeeping -------------------------------------------------------------------------------

    def _record(self, output: BatchOutput, *, wall_s: float, size: int) -> None:
        m = self._metrics
        voice = self._voice
        m.batch_size.labels(voice=voice).observe(size)
        m.batch_duration.labels(voice=voice, stage="acoustic").observe(output.acoustic_seconds)
        m.batch_duration.labels(voice=voice, stage="vocoder").observe(output.vocoder_seconds)
        if output.padded_frames > 0:
            m.batch_padding_ratio.labels(voice=voice).observe(
                max(0, output.padded_frames - output.frames) / output.padded_frames
            )
        audio_s = sum(len(w) for w in output.waveforms) / self._sample_rate
        if audio_s > 0:
            m.real_time_factor.labels(voice=voice).observe((output.acoustic_seconds + output.vocoder_seconds) / audio_s)
        if self._on_batch is not None:
            # Admission's drain rate is the family's: with N workers busy side by side, N times one batch's.
            self._on_batch(audio_s=audio_s, model_s=wall_s / max(1, self._executor.capacity))

    def _fail_all_queued(self, exc: Exception) -> None:
        for entry in self._queued.values():
            _fail(entry, exc)
        self._queued.clear()
        self._buckets.clear()
        self._changed()

    def _on_future_done(self, future: RenderedFuture) -> None:
        if future.cancelled():
            self._wake.set()  # the loop prunes the cancelled item

    def _changed(self) -> None:
        if self._on_depth is not None:
            self._on_depth()
        else:
            self._metrics.queue_depth.set(len(self._queued))
        if not self._queued and not self._in_flight:
            self._idle.set()
        else:
            self._idle.clear()
        if len(self._queued) < self._config.max_queue or not self._accepting:
            self._has_room.set()
        self._wake.set()


def _fail(entry: _Entry, exc: BaseException) -> None:
    if not entry.future.done():
        entry.future.set_exception(exc)
