"""One request on its way through the pipeline: front-end stage -> per-sentence step -> cache -> batcher -> in
order.

A :class:`Job` reads its :class:`~ttsd.pipeline.plan.RequestPlan` (decided at admission) and runs a producer
task. Its first hop to the front-end thread pool reads the script (:func:`~ttsd.pipeline.plan.read_script`:
SSML parsed, every ``<voice>`` resolved once) and starts the front end's lazy sentence iterator; each hop
produces the sentences of one time slice. Each sentence goes through the one per-sentence step
(:func:`~ttsd.pipeline.plan.prepare`: its section's ids, controls, gain and cache key), is looked up in the
cache, and its synthesis is submitted to its family's lane at once: the first audio of a long text does not
wait for its last sentence to be normalized. The consumer (:meth:`Job.pieces`) awaits them in reading order.

* First audio first: a stream's producer waits for its first synthesized sentence before reading further, so
  the front end's work on the rest of a long text does not slow the first chunk down.
* Slices: each hop to the pool produces the sentences the front end makes in one :data:`SLICE_S` slice
  (at least one), so a short text takes one hop and a long one yields the pool between slices.
* Lookahead: at most :data:`LOOKAHEAD` sentences are produced ahead of the consumer, which bounds a stream's
  memory and its share of the queue; a full batcher queue makes the producer wait for room
  (:meth:`~ttsd.serving.batcher.Batcher.room`): the request was admitted, it is never refused half-way.
  A stream's producer also waits while its unsent audio passes a limit (:mod:`ttsd.pipeline.backpressure`):
  a slow reader holds a bounded amount of audio.
* The deadline covers every stage: it is checked between sentences, and items still queued at it are dropped.
  For a whole answer it bounds the request; for a stream it bounds progress (each chunk sent restarts it), so a
  long audiobook chapter streams for as long as it takes while a stalled one still ends.
* :meth:`Job.close` cancels the producer and every queued item of this request (a client that went away).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ttsd.errors import DeadlineExceeded
from ttsd.pipeline.backpressure import ESTIMATE_S_PER_CHAR, STREAM_UNSENT_AUDIO_S, UnsentAudio
from ttsd.pipeline.cache import CacheKey, SentenceCache
from ttsd.pipeline.lane import Lane
from ttsd.pipeline.plan import Prepared, RequestPlan, Script, VoiceTable, prepare, read_script
from ttsd.serving.batcher import RenderedFuture
from ttsd.text.types import Frontend, Sentence
from ttsd.voices.base import BatchItem, Rendered

LOOKAHEAD = 8
SLICE_S = 0.005
_T = TypeVar("_T")
EMPTY = Rendered(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))


@dataclass(frozen=True, slots=True, kw_only=True)
class Stages:
    """What every job of one engine shares: the voice table, the lanes by family, the front end and its pool,
    the sentence cache, the set of running producer tasks, and the cache-key variant."""

    table: VoiceTable
    lanes: Mapping[str, Lane]
    frontend: Frontend
    pool: ThreadPoolExecutor
    cache: SentenceCache
    tasks: set[asyncio.Task[None]]
    variant: str


@dataclass(slots=True, eq=False)
class Scheduled:
    """One sentence of a request on its way: the per-sentence step's result and (once ready) its audio."""

    prepared: Prepared
    rendered: Rendered | None = None
    future: RenderedFuture | None = None
    cached: bool = False


class Job:
    """See the module docstring. Create, :meth:`start`, iterate :meth:`pieces`, and always :meth:`close`."""

    def __init__(self, *, plan: RequestPlan, stages: Stages) -> None:
        """``stages.tasks``: the owner's set of running producer tasks (asyncio keeps only weak references to
        tasks: a producer cancelled by :meth:`close` must stay referenced until it has finished)."""
        self._plan = plan
        self._stages = stages
        self._deadline = plan.deadline
        self._queue: asyncio.Queue[Scheduled | BaseException | None] = asyncio.Queue()
        self._room = asyncio.Semaphore(LOOKAHEAD)
        self._unsent = UnsentAudio(limit_s=STREAM_UNSENT_AUDIO_S if plan.stream else math.inf, audio_s=_unsent_s)
        self._shared: dict[CacheKey, RenderedFuture] = {}
        self._urgent_left = 1 if plan.stream else 0
        self._first_awaited = False
        self._producer: asyncio.Task[None] | None = None
        self.sentences = 0
        self.cached = 0

    def start(self) -> None:
        self._producer = asyncio.create_task(self._produce(), name="ttsd-frontend-stage")
        self._stages.tasks.add(self._producer)
        self._producer.add_done_callback(self._stages.tasks.discard)

    async def pieces(self) -> AsyncIterator[Scheduled]:
        """The sentences in order, each with its audio; raises the first error of any stage."""
        while True:
            item = await _before(self._next_item(), self._deadline)
            if item is None:
                return
            if item.rendered is None:
                assert item.future is not None  # set for every sentence that is not cached
                item.rendered = await _before(item.future, self._deadline)
                if item.prepared.key is not None:
                    self._stages.cache.put(item.prepared.key, item.rendered)
            self._room.release()
            self._unsent.taken()
            if self._plan.stream:  # a stream's deadline is for progress: each chunk restarts it
                self._deadline = asyncio.get_running_loop().time() + self._plan.timeout_s
            yield item

    def close(self) -> None:
        """Stop producing and cancel what is still queued (the batcher drops cancelled items). Synchronous on
        purpose: it runs while streams are torn down (a client gone, a generator finalized), where awaiting is
        not safe."""
        if self._producer is not None and not self._producer.done():
            self._producer.cancel()
        for future in self._shared.values():
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # mark a failure as seen: it was (or will never be) reported

    async def _next_item(self) -> Scheduled | None:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    # -- the front-end stage -------------------------------------------------------------------------------

    async def _produce(self) -> None:
        try:
            script, sentences, (batch, done) = await self._hop(self._first_slice)
            while True:
                for sentence in batch:
                    await self._unsent.wait_for_room()  # back-pressure: a slow reader holds a bounded amount
                    await self._room.acquire()
                    item = await self._add(sentence, script)
                    await self._first_audio_first(item)
                if done:
                    break
                self._check_deadline()
                batch, done = await self._hop(lambda: _slice(sentences))
            self._queue.put_nowait(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the consumer re-raises it in order, after the sentences before it
            self._queue.put_nowait(exc)

    def _first_slice(self) -> tuple[Script, Iterator[Sentence], tuple[list[Sentence], bool]]:
        """On the front-end pool: the script (markup parsed, voices resolved) and the first slice of sentences,
        each section cut to its own family's budget."""
        script = read_script(self._plan, self._stages.table)
        sentences = iter(self._stages.frontend.sentences(script.source, budget=script.budgets))
        return script, sentences, _slice(sentences)

    async def _first_audio_first(self, item: Scheduled) -> None:
        """A stream's first synthesized sentence runs with the cores to itself: the front end does not read
        ahead (pure-Python work that competes for the CPU and the GIL) until that sentence's audio is ready."""
        if not self._plan.stream or self._first_awaited or item.future is None:
            return
        self._first_awaited = True
        await asyncio.wait([item.future])

    async def _add(self, sentence: Sentence, script: Script) -> Scheduled:
        item = Scheduled(prepare(sentence, script, variant=self._stages.variant))
        self.sentences += 1
        key = item.prepared.key
        if key is None:
            item.rendered = EMPTY  # a pure pause
        else:
            item.rendered = self._stages.cache.get(key)
            item.cached = item.rendered is not None
            self.cached += item.cached
            if item.rendered is None:
                item.future = await self._submit(item.prepared, key)
        self._queue.put_nowait(item)
        self._unsent.queued(item)
        return item

    async def _submit(self, prepared: Prepared, key: CacheKey) -> RenderedFuture:
        shared = self._shared.get(key)
        if shared is not None:  # the same sentence twice in one request: synthesized once
            return shared
        self._check_deadline()
        batcher = self._stages.lanes[prepared.section.family].batcher
        await _before(batcher.room(), self._deadline)  # admitted already: wait for room, never fail half-way
        # A stream's items wait for their turn behind its own earlier sentences: progress is enforced where the
        # chunks are awaited (and closing the job drops them), not by a queue deadline.
        deadline = math.inf if self._plan.stream else self._deadline
        item = BatchItem(utterance=prepared.utterance, controls=prepared.controls)
        (future,) = batcher.submit(
            [item], deadline=deadline, urgent=self._urgent_left, background=self._plan.background
        )
        self._urgent_left = 0
        self._shared[key] = future
        return future

    def _check_deadline(self) -> None:
        if asyncio.get_running_loop().time() >= self._deadline:
            raise DeadlineExceeded("the request's deadline passed during text processing")

    async def _hop(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._stages.pool, fn)


def _unsent_s(item: Scheduled) -> float:
    """Seconds of audio the sentence holds: its length once cached or synthesized, an estimate from its text
    before (:data:`ESTIMATE_S_PER_CHAR` at its speed), 0 once it failed."""
    rendered = item.rendered
    future = item.future
    if rendered is None and future is not None:
        if not future.done():
            return len(item.prepared.utterance.text) * ESTIMATE_S_PER_CHAR / item.prepared.controls.speed
        if future.cancelled() or future.exception() is not None:
            return 0.0
        rendered = future.result()
    return 0.0 if rendered is None else len(rendered.waveform) / item.prepared.section.voice.sample_rate


def _slice(iterator: Iterator[Sentence]) -> tuple[list[Sentence], bool]:
    """The next sentences the front end makes within one :data:`SLICE_S` time slice (at least one), and
    whether the text is done. Short texts take one hop to the front-end pool; a long text gives the pool back
    after every slice, so requests queued behind it wait at most one slice (one sentence when they are slow)."""
    started = time.perf_counter()
    batch: list[Sentence] = []
    for sentence in iterator:
        batch.append(sentence)
        if time.perf_counter() - started >= SLICE_S:
            return batch, False
    return batch, True


async def _before(awaitable: Awaitable[_T], deadline: float) -> _T:
    """``await awaitable`` by ``deadline`` (loop time), else :class:`DeadlineExceeded`."""
    try:
        async with asyncio.timeout_at(deadline):
            return await awaitable
    except TimeoutError:
        raise DeadlineExceeded("the request's deadline passed before its audio was ready") from None
