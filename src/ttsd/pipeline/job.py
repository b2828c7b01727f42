"""One request on its way through the pipeline: front-end stage -> encode -> cache -> batcher -> in order.

A :class:`Job` runs a producer task that walks the front end's lazy sentence iterator on the front-end
thread pool, one sentence per hop (normalization and G2P never run on the event loop, and a long text
occupies a front-end worker for one sentence at a time, so a short request queued behind it waits at most one
sentence). Each sentence is routed to its voice's lane (SSML may switch voices), encoded to ids, looked up in
the cache, and its synthesis submitted at once: the first audio of a long text does not wait for its last
sentence to be normalized. The consumer (:meth:`Job.pieces`) awaits the pieces in reading order.

* First audio first: a stream's producer waits for its first synthesized sentence before reading further, so
  the front end's work on the rest of a long text does not slow the first chunk down.
* Slices: each hop to the pool produces the sentences the front end makes in one :data:`SLICE_S` slice
  (at least one), so a short text takes one hop and a long one yields the pool between slices.
* Lookahead: at most :data:`LOOKAHEAD` pieces are produced ahead of the consumer, which bounds a stream's
  memory and its share of the queue; a full queue makes the producer wait (the request was admitted), not fail.
* The deadline covers every stage: it is checked between sentences, and items still queued at it are dropped.
  For a whole answer it bounds the request; for a stream it bounds progress (each chunk sent restarts it), so a
  long audiobook chapter streams for as long as it takes while a stalled one still ends.
* :meth:`Job.close` cancels the producer and every queued item of this request (a client that went away).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np

from ttsd.controls import Controls, with_prosody
from ttsd.errors import DeadlineExceeded, QueueFull
from ttsd.pipeline.cache import CacheKey, SentenceCache, cache_key
from ttsd.pipeline.lane import Lane
from ttsd.serving.batcher import RenderedFuture
from ttsd.text.types import Frontend, Segment, Sentence
from ttsd.voices.base import BatchItem, Rendered, Utterance

LOOKAHEAD = 8
SLICE_S = 0.005
_QUEUE_FULL_RETRY_S = 0.01
_T = TypeVar("_T")
_EMPTY = Rendered(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))


@dataclass(slots=True, eq=False)
class Piece:
    """One sentence of a request: where it runs, with what, and (once ready) its audio."""

    utterance: Utterance
    lane: Lane
    controls: Controls
    gain: float
    key: CacheKey | None
    rendered: Rendered | None = None
    future: RenderedFuture | None = None
    cached: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class JobPlan:
    """What the engine decided before any work: the lane and controls of the request's own voice, the text
    source (a string, or a thunk parsing markup on the front-end pool), and how to route ``<voice>`` switches."""

    lane: Lane
    controls: Controls
    source: Callable[[], str | Sequence[Segment]]
    route: Callable[[str], tuple[Lane, str | None]]
    deadline: float
    timeout_s: float
    stream: bool
    variant: str


class Job:
    """See the module docstring. Create, :meth:`start`, iterate :meth:`pieces`, and always :meth:`close`."""

    def __init__(
        self,
        *,
        plan: JobPlan,
        frontend: Frontend,
        pool: ThreadPoolExecutor,
        cache: SentenceCache,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        """``tasks``: the owner's set of running producer tasks (asyncio keeps only weak references to tasks:
        a producer cancelled by :meth:`close` must stay referenced until it has finished)."""
        self._plan = plan
        self._tasks = tasks
        self._deadline = plan.deadline
        self._frontend = frontend
        self._pool = pool
        self._cache = cache
        self._queue: asyncio.Queue[Piece | BaseException | None] = asyncio.Queue()
        self._room = asyncio.Semaphore(LOOKAHEAD)
        self._shared: dict[CacheKey, RenderedFuture] = {}
        self._urgent_left = 1 if plan.stream else 0
        self._first_awaited = False
        self._producer: asyncio.Task[None] | None = None
        self.sentences = 0
        self.cached = 0

    def start(self) -> None:
        self._producer = asyncio.create_task(self._produce(), name="ttsd-frontend-stage")
        self._tasks.add(self._producer)
        self._producer.add_done_callback(self._tasks.discard)

    async def pieces(self) -> AsyncIterator[Piece]:
        """The pieces in order, each with its audio; raises the first error of any stage."""
        while True:
            item = await _before(self._next_item(), self._deadline)
            if item is None:
                return
            if item.rendered is None:
                assert item.future is not None  # set for every piece that is not cached
                item.rendered = await _before(item.future, self._deadline)
                if item.key is not None:
                    self._cache.put(item.key, item.rendered)
            self._room.release()
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

    async def _next_item(self) -> Piece | None:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    # -- the front-end stage -------------------------------------------------------------------------------

    async def _produce(self) -> None:
        try:
            budget = self._plan.lane.voice.budget
            sentences: Iterator[Sentence] | None = None

            def first_slice() -> tuple[list[Sentence], bool]:
                nonlocal sentences
                sentences = iter(self._frontend.sentences(self._plan.source(), budget=budget))
                return _slice(sentences)

            batch, done = await self._hop(first_slice)
            while True:
                for sentence in batch:
                    await self._room.acquire()
                    piece = await self._add(sentence)
                    await self._first_audio_first(piece)
                if done:
                    break
                self._check_deadline()
                assert sentences is not None
                batch, done = await self._hop(lambda: _slice(sentences))
            self._queue.put_nowait(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the consumer re-raises it in order, after the pieces before it
            self._queue.put_nowait(exc)

    async def _first_audio_first(self, piece: Piece) -> None:
        """A stream's first synthesized sentence runs with the cores to itself: the front end does not read
        ahead (pure-Python work that competes for the CPU and the GIL) until that sentence's audio is ready."""
        if not self._plan.stream or self._first_awaited or piece.future is None:
            return
        self._first_awaited = True
        await asyncio.wait([piece.future])

    async def _add(self, sentence: Sentence) -> Piece:
        lane, speaker = self._plan.route(sentence.voice) if sentence.voice else (self._plan.lane, None)
        controls = self._controls(sentence, lane, speaker)
        utterance = lane.voice.encode(sentence)
        self.sentences += 1
        piece = Piece(utterance=utterance, lane=lane, controls=controls, gain=sentence.prosody.volume, key=None)
        if not utterance.ids:
            piece.rendered = _EMPTY  # a pure pause
        else:
            piece.key = cache_key(lane.voice.info, utterance, controls, variant=self._plan.variant)
            piece.rendered = self._cache.get(piece.key)
            piece.cached = piece.rendered is not None
            self.cached += piece.cached
            if piece.rendered is None:
                piece.future = await self._submit(piece)
        self._queue.put_nowait(piece)
        return piece

    def _controls(self, sentence: Sentence, lane: Lane, speaker: str | None) -> Controls:
        controls = self._plan.controls
        if lane is not self._plan.lane or speaker is not None:
            controls = replace(controls, speaker=speaker)
            lane.voice.validate(controls)
        unit = lane.voice.info.pitch_semitones
        shift = sentence.prosody.pitch_st / unit if unit > 0 else 0.0
        return with_prosody(controls, rate=sentence.prosody.rate, pitch_shift=shift)

    async def _submit(self, piece: Piece) -> RenderedFuture:
        assert piece.key is not None
        shared = self._shared.get(piece.key)
        if shared is not None:  # the same sentence twice in one request: synthesized once
            return shared
        item = BatchItem(utterance=piece.utterance, controls=piece.controls)
        while True:
            self._check_deadline()
            try:
                # A stream's items wait for their turn behind its own earlier sentences: progress is enforced where
                # the chunks are awaited (and closing the job drops them), not by a queue deadline.
                deadline = math.inf if self._plan.stream else self._deadline
                (future,) = piece.lane.batcher.submit([item], deadline=deadline, urgent=self._urgent_left)
                break
            except QueueFull:  # admitted already: wait for room rather than fail half-way through
                await asyncio.sleep(_QUEUE_FULL_RETRY_S)
        self._urgent_left = 0
        self._shared[piece.key] = future
        return future

    def _check_deadline(self) -> None:
        if asyncio.get_running_loop().time() >= self._deadline:
            raise DeadlineExceeded("the request's deadline passed during text processing")

    async def _hop(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)


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
