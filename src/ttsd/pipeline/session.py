"""A text-in session: text arrives in pieces (an LLM writing), audio goes out in order as sentences complete.

The engine opens one (:meth:`ttsd.pipeline.engine.TTSEngine.open_session`) after the checks every request gets
(state, voice, controls, output format); the WebSocket route (:mod:`ttsd.api.routes.realtime`) drives it. The
session reuses the request pipeline piece for piece:

* :class:`~ttsd.text.incremental.Segmenter` turns the text into the whole text's sentence units as soon as each is
  final; every batch of units the client's last message completed is a *chunk*;
* each chunk is a :class:`~ttsd.pipeline.job.Job` (front-end stage -> cache -> batcher, its first sentence on the
  urgent lane), started the moment the chunk exists; admission prices it then, on the session's one ticket
  (:meth:`~ttsd.pipeline.admission.Admission.grow`: a session counts like one request whose text grows, at most
  its window), so :class:`~ttsd.errors.QueueFull` can refuse it mid-way, with a retry-after;
* one :class:`~ttsd.pipeline.timeline.Timeline` and one :class:`~ttsd.pipeline.output.ChunkEncoder` for the whole
  session: pauses, timestamps and the encoded stream are those of the whole text sent at once.

Flow control: :meth:`Session.feed` returns only while the text handed to synthesis and not yet spoken is within
``read_ahead_chars`` (the caller stops reading its socket meanwhile); ``max_chars`` caps a session's text.
:meth:`Session.close` (a client gone, an error) cancels every queued item of the session at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ttsd.audio import AudioSpec
from ttsd.controls import Controls
from ttsd.errors import DeadlineExceeded, ShuttingDown, TextError, TextTooLong
from ttsd.metrics import Metrics
from ttsd.pipeline.admission import Ticket
from ttsd.pipeline.job import Job, Scheduled, Stages
from ttsd.pipeline.lane import Lane
from ttsd.pipeline.output import ChunkEncoder
from ttsd.pipeline.plan import RequestPlan
from ttsd.pipeline.timeline import Timeline
from ttsd.subtitles import Timestamp
from ttsd.text.incremental import Segmenter, TextUnit
from ttsd.text.types import Budgets, Frontend, Segment, Sentence
from ttsd.voices.base import FloatArray

_WAITING_S = 365 * 24 * 3600.0  # "no deadline" for a chunk still waiting for its turn


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """What a client asks for when it opens a session (defaults as for ``/v1/audio/speech``)."""

    voice: str | None = None
    controls: Controls = field(default_factory=Controls)
    spec: AudioSpec = field(default_factory=lambda: AudioSpec(format="pcm"))
    max_chars: int = 100_000
    read_ahead_chars: int = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionParts:
    """What the engine lends a session: its plan (voice and controls resolved and validated, as a request's; each
    chunk's job runs a copy with the chunk's text), the shared stages, its lane, and its admission."""

    plan: RequestPlan
    stages: Stages
    lane: Lane
    metrics: Metrics
    ticket: Ticket  # the session's admission share: it grows as text comes, shrinks as audio goes out
    grow: Callable[[int], None]  # price this many more characters on the ticket (raises QueueFull)
    ready: Callable[[], bool]


@dataclass(frozen=True, slots=True)
class SpokenSentence:
    """A sentence of the session's audio: its index, text, and where it is (seconds from the session's start)."""

    index: int
    text: str
    start: float
    end: float
    timestamps: list[Timestamp]


@dataclass(frozen=True, slots=True)
class SessionAudio:
    """Encoded audio, in order (may be empty), and the sentence it carries (None for a pause or a stream tail)."""

    data: bytes
    sentence: SpokenSentence | None


@dataclass(frozen=True, slots=True)
class SessionDone:
    audio_seconds: float


@dataclass(slots=True, eq=False)
class _Chunk:
    job: Job
    chars: int
    arrived: float  # perf_counter when the message completing it arrived


class Session:
    """See the module docstring. Feed text with :meth:`feed`/:meth:`flush`/:meth:`end` while a second task
    iterates :meth:`output`; always :meth:`close`. Use from one event loop."""

    def __init__(self, *, config: SessionConfig, parts: SessionParts) -> None:
        self._config = config
        self._parts = parts
        self._segmenter = Segmenter()
        self._chunks: asyncio.Queue[_Chunk | None] = asyncio.Queue()
        self._live: deque[_Chunk] = deque()
        self._room = asyncio.Event()
        self._inflight = 0  # characters handed to synthesis and not yet spoken
        self._chars = 0
        self._ended = False
        self._closed = False
        self._encoder = ChunkEncoder(source_rate=parts.plan.main.voice.sample_rate, spec=config.spec)
        parts.metrics.sessions_open.inc()

    @property
    def sample_rate(self) -> int:
        return self._encoder.sample_rate

    @property
    def media_type(self) -> str:
        return self._encoder.media_type

    @property
    def voice(self) -> str:
        return self._parts.lane.name

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def characters(self) -> int:
        return self._chars

    @property
    def busy(self) -> bool:
        """Some of the text is still being spoken (the session is not idle, whatever the client does)."""
        return self._inflight > 0

    # -- text in -----------------------------------------------------------------------------------------------

    async def feed(self, text: str) -> None:
        """:meth:`take` the text, then wait until the read-ahead has room again."""
        self.take(text)
        await self.room()

    def take(self, text: str) -> None:
        """Take more text; the sentences it completes go to synthesis now. Raises :class:`TextTooLong` past the
        session's cap, :class:`~ttsd.errors.QueueFull` when admission refuses the sentences it completed."""
        self._check_open()
        self._chars += len(text)
        if self._chars > self._config.max_chars:
            limit = self._config.max_chars
            raise TextTooLong(f"a session may send {limit} characters at most", limit=limit, length=self._chars)
        self._submit(self._segmenter.feed(text), time.perf_counter())

    @property
    def has_room(self) -> bool:
        """The text in flight is within the read-ahead: more may be read."""
        return self._inflight <= self._config.read_ahead_chars or self._closed

    async def room(self) -> None:
        """Return once :attr:`has_room` (audio went out)."""
        while not self.has_room:
            self._room.clear()
            await self._room.wait()

    def flush(self) -> None:
        """Speak what is buffered now, even mid-sentence (not a number or word still being written)."""
        self._check_open()
        self._submit(self._segmenter.flush(), time.perf_counter())

    def end(self) -> None:
        """No more text: speak the rest; :meth:`output` ends with :class:`SessionDone`."""
        self._check_open()
        self._submit(self._segmenter.end(), time.perf_counter())
        self._ended = True
        self._chunks.put_nowait(None)

    def _check_open(self) -> None:
        if self._ended:
            raise TextError("the session has ended: no text may follow 'end'")
        if not self._parts.ready():
            raise ShuttingDown("the service is shutting down; reconnect to another instance")

    def _submit(self, units: Sequence[TextUnit], arrived: float) -> None:
        if not units:
            return
        chars = sum(len(u.text) for u in units)
        self._parts.grow(chars)
        stages = self._parts.stages
        job = Job(plan=self._plan(units), stages=replace(stages, frontend=_UnitFrontend(stages.frontend, units)))
        chunk = _Chunk(job=job, chars=chars, arrived=arrived)
        self._live.append(chunk)
        self._inflight += chars
        job.start()
        self._chunks.put_nowait(chunk)

    def _plan(self, units: Sequence[TextUnit]) -> RequestPlan:
        """The chunk's plan: the session's, with the chunk's text (its front end reads the units themselves)."""
        text = "".join(u.text for u in units)
        return replace(
            self._parts.plan,
            text=text,
            cost_s=self._parts.plan.cost_s,
            # A chunk may wait behind the session's earlier ones for as long as they take to speak: progress is
            # what has a deadline (:meth:`output`, and the job itself once its first piece is out).
            deadline=asyncio.get_running_loop().time() + _WAITING_S,
        )

    # -- audio out ---------------------------------------------------------------------------------------------

    async def output(self) -> AsyncIterator[SessionAudio | SessionDone]:
        """Encoded audio in order as sentences are ready, then :class:`SessionDone` after :meth:`end`. Raises
        the first error of any stage; :class:`TextError` if the whole session had nothing to speak."""
        timeline = Timeline(sample_rate=self._parts.plan.main.voice.sample_rate)
        held: list[Scheduled] = []  # pure pauses before the first spoken sentence (a whole text holds them too)
        spoken = 0
        while (chunk := await self._chunks.get()) is not None:
            first = True
            pieces = chunk.job.pieces()
            while (piece := await self._progress(pieces)) is not None:
                assert piece.rendered is not None
                self._parts.ticket.consume(len(piece.rendered.waveform) / piece.prepared.voice.sample_rate)
                if not _spoken(piece) and not spoken:
                    held.append(piece)
                    continue
                audio, sentence = self._place(timeline, [*held, piece], spoken)
                held.clear()
                spoken += sentence is not None
                data = await self._encoder.feed(audio)
                if first:
                    self._parts.metrics.session_first_audio.labels(voice=self.voice).observe(
                        time.perf_counter() - chunk.arrived
                    )
                    first = False
                yield SessionAudio(data=data, sentence=sentence)
            self._finish(chunk)
        if not spoken:
            raise TextError("the session's text contains nothing pronounceable")
        tail = await self._encoder.close()
        if tail:
            yield SessionAudio(data=tail, sentence=None)
        self._count(timeline.seconds)
        yield SessionDone(audio_seconds=timeline.seconds)

    async def _progress(self, pieces: AsyncIterator[Scheduled]) -> Scheduled | None:
        """The next piece, within the request timeout (a session's deadline is for progress, as a stream's)."""
        timeout_s = self._parts.plan.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await anext(pieces, None)
        except TimeoutError:
            raise DeadlineExceeded(f"no audio for {timeout_s:g} s: the server is overloaded") from None

    def _place(
        self, timeline: Timeline, pieces: list[Scheduled], index: int
    ) -> tuple[FloatArray, SpokenSentence | None]:
        parts: list[FloatArray] = []
        stamps: list[Timestamp] = []
        for piece in pieces:
            assert piece.rendered is not None
            prepared = piece.prepared
            out = timeline.add(prepared.utterance, piece.rendered, gain=prepared.gain, rate=prepared.voice.sample_rate)
            parts.append(out.audio)
            stamps.extend(out.timestamps)
        last = pieces[-1].prepared
        audio = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if not _spoken(pieces[-1]) or last.utterance.sentence is None:
            return audio, None
        rendered = pieces[-1].rendered
        assert rendered is not None
        end = timeline.seconds
        start = end - len(rendered.waveform) / last.voice.sample_rate  # the same duration at any rate
        return audio, SpokenSentence(index, last.utterance.sentence.text, start, end, stamps)

    def _finish(self, chunk: _Chunk) -> None:
        chunk.job.close()
        if self._live and self._live[0] is chunk:
            self._live.popleft()
        self._inflight -= chunk.chars
        self._room.set()

    def _count(self, audio_s: float) -> None:
        metrics = self._parts.metrics
        metrics.characters.labels(voice=self.voice).inc(self._chars)
        metrics.audio_seconds.labels(voice=self.voice).inc(audio_s)

    def close(self) -> None:
        """End the session however it ends: cancel every queued item of it now and release its admission.
        Synchronous and idempotent (it runs while a connection is torn down)."""
        if self._closed:
            return
        self._closed = True
        while self._live:
            self._live.popleft().job.close()
        self._parts.ticket.close()
        self._room.set()
        self._parts.metrics.sessions_open.dec()
        self._parts.metrics.session_characters.observe(self._chars)


def _spoken(piece: Scheduled) -> bool:
    """The piece reads something (not a pure pause: an emoji, a lone stop)."""
    utterance = piece.prepared.utterance
    return bool(utterance.ids) and (utterance.sentence is None or bool(utterance.sentence.syllables))


class _UnitFrontend:
    """The front end, reading one chunk's units (as segments, so each keeps its pause) instead of a text."""

    def __init__(self, frontend: Frontend, units: Sequence[TextUnit]) -> None:
        self._frontend = frontend
        self._units = units

    def sentences(self, source: str | Sequence[Segment], *, budget: Budgets) -> Iterator[Sentence]:
        return self._read(budget)

    def warmup(self) -> None:
        self._frontend.warmup()

    def _read(self, budget: Budgets) -> Iterator[Sentence]:
        """A chunk with nothing to read (an emoji, a lone stop) is its pauses: in a whole text it would be a
        silent sentence among spoken ones, not an error (the session as a whole is checked at its end)."""
        segments = [Segment(u.text, break_after_s=u.pause_after_s) for u in self._units]
        given = False
        try:
            for sentence in self._frontend.sentences(segments, budget=budget):
                given = True
                yield sentence
        except TextError:
            if given:
                raise
            yield from (Sentence(tokens=(), pause_after_s=u.pause_after_s) for u in self._units)
