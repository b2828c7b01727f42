"""TTSEngine: the one object the API talks to. It owns every serving decision:

* lifecycle (:class:`State`: starting -> ready -> draining -> stopped, or failed), read by the probes and
  the CLI;
* admission, in one place and before any work (:meth:`TTSEngine._admit`): state, length, deadline, voice,
  controls (``voice.validate``) and cost (:mod:`ttsd.pipeline.admission`);
* voice routing: every loaded family has its own lane (:mod:`ttsd.pipeline.lane`); a request's ``voice`` picks a lane
  and a speaker, OpenAI voice names map to the configured default;
* the pipeline (:mod:`ttsd.pipeline.job`: front-end stage -> cache -> batcher), joining and timing
  (:mod:`ttsd.pipeline.timeline`), and the output stage (:mod:`ttsd.pipeline.output`): routes get encoded bytes back.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from ttsd.audio import AudioSpec
from ttsd.config import BatchConfig
from ttsd.controls import Controls
from ttsd.errors import InvalidControl, ShuttingDown, TextTooLong, UnknownVoice
from ttsd.metrics import Metrics
from ttsd.pipeline.admission import AdmissionConfig, Ticket
from ttsd.pipeline.cache import SentenceCache
from ttsd.pipeline.job import Job, JobPlan
from ttsd.pipeline.lane import Lane, LoadedVoice
from ttsd.pipeline.output import ChunkEncoder, check_response_size, encode_whole
from ttsd.pipeline.request import AudioChunk, EncodedChunk, Speech, SpeechStream, SynthesisRequest, SynthesisResult
from ttsd.pipeline.timeline import Timeline
from ttsd.subtitles import Timestamp
from ttsd.text.types import Frontend, Segment
from ttsd.voices.base import FloatArray, VoiceInfo

log = logging.getLogger(__name__)

# Audio seconds a character of input is priced at before its text is processed (Mandarin is read at about
# 4-5 characters a second; markup and Latin text overestimate, which errs on the safe side).
AUDIO_S_PER_CHAR = 0.25
# OpenAI's voice names: accepted as "voice" and mapped to the default voice.
OPENAI_VOICES = (
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage", "shimmer", "verse"
)  # fmt: skip
# An SSML document may be this many times longer than the text limit (tags and attributes); its text may not.
MARKUP_ALLOWANCE = 10


class State(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """The engine's knobs (the composition root fills them from Settings)."""

    batch: BatchConfig = field(default_factory=BatchConfig)
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)
    request_timeout_s: float = 60.0
    max_text_chars: int = 5000
    cache_bytes: int = 0
    warmup: bool = True
    frontend_workers: int = 1
    variant: str = ""
    default_voice: str | None = None  # a voice name; None = the first loaded family
    drain_timeout_s: float = 25.0
    max_response_audio_s: float = 600.0  # longest whole-file (non-streamed) answer, estimated before any work


@dataclass(frozen=True, slots=True)
class Health:
    state: State
    queue_depth: int
    device: str
    executor: str
    failure: str | None = None

    @property
    def ready(self) -> bool:
        return self.state is State.READY


Loader = Callable[[], Sequence[LoadedVoice]]


class TTSEngine:
    """See the module docstring. Use from one event loop; :meth:`start` loads the voices."""

    def __init__(
        self,
        *,
        config: EngineConfig,
        metrics: Metrics,
        frontend: Frontend,
        load: Loader,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._frontend = frontend
        self._load = load
        self._failure_listeners = [on_failure] if on_failure is not None else []
        self._cache = SentenceCache(max_bytes=config.cache_bytes, metrics=metrics)
        self._pool = ThreadPoolExecutor(max_workers=config.frontend_workers, thread_name_prefix="ttsd-frontend")
        self._lanes: dict[str, Lane] = {}
        self._names: dict[str, tuple[Lane, str | None]] = {}
        self._default = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self.state = State.STARTING
        self.failure: BaseException | None = None
        self._drained = False

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the voices (off the loop), warm them and the front end up; then ``ready``. A failure leaves the
        engine ``failed`` with :attr:`failure` set (and calls ``on_failure``); it is not raised."""
        try:
            loaded = await asyncio.to_thread(self._load)
            for item in loaded:
                lane = Lane(
                    loaded=item,
                    batch=self._config.batch,
                    admission=self._config.admission,
                    metrics=self._metrics,
                    on_fatal=self.fail,
                    on_depth=self._report_depth,
                )
                self._lanes[lane.name] = lane
            self._names = _route_table(self._lanes)
            self._default = self._default_voice()
            if self._config.warmup:
                await asyncio.get_running_loop().run_in_executor(self._pool, self._frontend.warmup)
            for lane in self._lanes.values():
                await lane.start(warmup=self._config.warmup)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.fail(exc)
            return
        if self.state is State.STARTING:
            self.state = State.READY
            log.info("ready: voices %s (default %s)", ", ".join(self._lanes), self._default)

    def fail(self, exc: BaseException) -> None:
        """Go ``failed`` (startup failed, or a model thread hung or died); the process should exit."""
        if self.state is State.FAILED:
            return
        self.state = State.FAILED
        self.failure = exc
        log.critical("engine failed: %s", getattr(exc, "message", None) or exc, exc_info=exc)
        for listener in self._failure_listeners:
            listener(exc)

    def on_failure(self, listener: Callable[[BaseException], None]) -> None:
        """Call ``listener(exc)`` when the engine fails (``ttsd serve`` exits for the orchestrator to restart);
        at once if it already has."""
        self._failure_listeners.append(listener)
        if self.state is State.FAILED and self.failure is not None:
            listener(self.failure)

    def stop_accepting(self) -> None:
        """Go ``draining`` now (probes and admission see it at once); :meth:`drain` does the waiting."""
        if self.state in (State.STARTING, State.READY):
            self.state = State.DRAINING

    async def drain(self, timeout_s: float | None = None) -> None:
        """Refuse new work, finish what is admitted within ``timeout_s`` (default: the configured drain
        timeout), then stop the lanes and the front-end pool. Idempotent."""
        if self.state is State.STOPPED or self._drained:
            return
        self._drained = True
        self.stop_accepting()
        timeout = self._config.drain_timeout_s if timeout_s is None else timeout_s
        await asyncio.gather(*(lane.drain(timeout) for lane in self._lanes.values()))
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.state is State.DRAINING:
            self.state = State.STOPPED

    def _report_depth(self) -> None:
        """``ttsd_queue_depth`` is the sum over every lane (one process, one figure for autoscaling)."""
        self._metrics.queue_depth.set(self.queue_depth)

    def health(self) -> Health:
        lanes = list(self._lanes.values())
        return Health(
            state=self.state,
            queue_depth=sum(lane.batcher.queue_depth for lane in lanes),
            device=",".join(sorted({lane.executor.device for lane in lanes})),
            executor=",".join(sorted({lane.executor.name for lane in lanes})),
            failure=None if self.failure is None else str(getattr(self.failure, "message", self.failure)),
        )

    # -- introspection -----------------------------------------------------------------------------------------

    @property
    def config(self) -> EngineConfig:
        return self._config

    @property
    def default_voice(self) -> str:
        return self._default

    def voices(self) -> list[VoiceInfo]:
        """The loaded families, the default voice's family first."""
        default = self._names[self._default][0].name if self._default in self._names else ""
        return sorted((lane.voice.info for lane in self._lanes.values()), key=lambda info: info.name != default)

    def voice_names(self) -> list[str]:
        return sorted(self._names)

    def lanes(self) -> list[Lane]:
        return list(self._lanes.values())

    @property
    def queue_depth(self) -> int:
        return sum(lane.batcher.queue_depth for lane in self._lanes.values())

    # -- synthesis ---------------------------------------------------------------------------------------------

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Whole-text synthesis (PCM). Cancelling the awaiting task cancels this request's queued work."""
        lane, controls, ticket = self._admit(request)
        job = self._job(request, lane, controls, stream=False)
        timeline = Timeline(sample_rate=lane.voice.sample_rate)
        parts: list[FloatArray] = []
        stamps: list[Timestamp] = []
        try:
            async for chunk in self._chunks(job, ticket, timeline):
                parts.append(chunk.audio)
                stamps.extend(chunk.timestamps)
        finally:
            job.close()
            ticket.close()
        audio = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._count_done(lane, len(request.text), len(audio))
        return SynthesisResult(
            audio=audio,
            sample_rate=lane.voice.sample_rate,
            sentences=job.sentences,
            characters=len(request.text),
            cached_sentences=job.cached,
            timestamps=stamps,
            voice=lane.name,
        )

    def stream(self, request: SynthesisRequest) -> AsyncGenerator[AudioChunk, None]:
        """Sentence-by-sentence synthesis (PCM). Admission errors are raised here; text and queue errors by
        the first ``anext()``. Closing the generator cancels this request's queued work."""
        lane, controls, ticket = self._admit(request)
        return self._stream(request, lane, controls, ticket)

    async def speak(self, request: SynthesisRequest, spec: AudioSpec) -> Speech:
        """:meth:`synthesize`, encoded as ``spec`` asks (the route's one call for a whole response). A text
        whose audio would pass ``max_response_audio_s`` is refused before any work: it is for streaming."""
        estimate = len(request.text) * AUDIO_S_PER_CHAR / request.controls.speed
        check_response_size(estimate, spec, limit_s=self._config.max_response_audio_s)
        result = await self.synthesize(request)
        return Speech(encoded=await encode_whole(result.audio, result.sample_rate, spec), result=result)

    async def open_stream(self, request: SynthesisRequest, spec: AudioSpec) -> SpeechStream:
        """A stream whose first audio is ready: every error before it is raised here, so a route can still
        answer with an error status; later errors end the body early."""
        lane, controls, ticket = self._admit(request)
        job = self._job(request, lane, controls, stream=True)
        chunks = self._chunks(job, ticket, Timeline(sample_rate=lane.voice.sample_rate))
        try:
            first = await anext(chunks)
        except BaseException:
            job.close()
            ticket.close()
            raise
        encoder = ChunkEncoder(source_rate=first.sample_rate, spec=spec)
        body = self._encoded(first, chunks, encoder, _Stream(job=job, ticket=ticket, lane=lane, request=request))
        return SpeechStream(encoder.media_type, encoder.sample_rate, body)

    # -- internals ---------------------------------------------------------------------------------------------

    def _admit(self, request: SynthesisRequest) -> tuple[Lane, Controls, Ticket]:
        """Every check that needs no text processing, and the cost-based admission, in this order."""
        if self.state is not State.READY:
            raise ShuttingDown(f"the service is {self.state.value}; retry shortly")
        length = len(request.text)
        limit = self._config.max_text_chars * (MARKUP_ALLOWANCE if _is_markup(request) else 1)
        if length > limit:
            what = "SSML document" if _is_markup(request) else "text"
            raise TextTooLong(f"{what} is {length} characters long; the limit is {limit}", limit=limit, length=length)
        if request.timeout_s is not None and not request.timeout_s > 0:
            raise InvalidControl("timeout must be a positive number of seconds", param="timeout")
        lane, speaker = self.resolve(request.voice)
        controls = request.controls if speaker is None else _with_speaker(request.controls, speaker)
        lane.voice.validate(controls)
        ticket = lane.admission.admit(length * AUDIO_S_PER_CHAR / controls.speed)
        return lane, controls, ticket

    def resolve(self, name: str | None) -> tuple[Lane, str | None]:
        """A voice name -> (lane, speaker). Blends (``a:0.6,b:0.4``) go to the lane of their first voice."""
        key = self._default if name in (None, "", "default") or name.lower() in OPENAI_VOICES else name
        found = self._names.get(key)
        if found is None and (":" in key or "," in key):
            first = key.split(",")[0].split(":")[0].strip()
            lane = self._names.get(first, (None, None))[0]
            found = (lane, key) if lane is not None else None
        if found is None:
            names = ", ".join(sorted(self._names))
            raise UnknownVoice(f"unknown voice {name!r}; available: {names} (or an OpenAI voice name)")
        return found

    def _job(self, request: SynthesisRequest, lane: Lane, controls: Controls, *, stream: bool) -> Job:
        loop = asyncio.get_running_loop()
        timeout_s = min(request.timeout_s or self._config.request_timeout_s, self._config.request_timeout_s)
        plan = JobPlan(
            lane=lane,
            controls=controls,
            source=lambda: _parse(request, self.voice_names(), max_chars=self._config.max_text_chars),
            route=self.resolve,
            deadline=loop.time() + timeout_s,
            timeout_s=timeout_s,
            stream=stream,
            variant=self._config.variant,
        )
        job = Job(plan=plan, frontend=self._frontend, pool=self._pool, cache=self._cache, tasks=self._tasks)
        job.start()
        return job

    async def _chunks(self, job: Job, ticket: Ticket, timeline: Timeline) -> AsyncIterator[AudioChunk]:
        """Pieces as timed audio chunks, each as soon as its own audio is ready."""
        index = 0
        async for piece in job.pieces():
            assert piece.rendered is not None
            rate = piece.lane.voice.sample_rate
            ticket.consume(len(piece.rendered.waveform) / rate)
            out = timeline.add(piece.utterance, piece.rendered, gain=piece.gain)
            yield AudioChunk(index=index, audio=out.audio, sample_rate=rate, timestamps=out.timestamps)
            index += 1

    async def _stream(
        self, request: SynthesisRequest, lane: Lane, controls: Controls, ticket: Ticket
    ) -> AsyncGenerator[AudioChunk, None]:
        job = self._job(request, lane, controls, stream=True)
        samples = 0
        try:
            async for chunk in self._chunks(job, ticket, Timeline(sample_rate=lane.voice.sample_rate)):
                samples += len(chunk.audio)
                yield chunk
        finally:
            job.close()
            ticket.close()
        self._count_done(lane, len(request.text), samples)

    async def _encoded(
        self, first: AudioChunk, rest: AsyncIterator[AudioChunk], encoder: ChunkEncoder, stream: _Stream
    ) -> AsyncIterator[EncodedChunk]:
        """Encoded chunks as sentences arrive. However it ends (done, an error, the client gone and the
        generator finalized), the job is closed (its queued work dropped) and its ticket released, without
        awaiting anything in the cleanup."""
        samples = 0
        try:
            chunk: AudioChunk | None = first
            while chunk is not None:
                samples += len(chunk.audio)
                yield EncodedChunk(data=await encoder.feed(chunk.audio), timestamps=chunk.timestamps)
                chunk = await anext(rest, None)
            tail = await encoder.close()
            if tail:
                yield EncodedChunk(data=tail, timestamps=[])
            self._count_done(stream.lane, len(stream.request.text), samples)
        finally:
            stream.job.close()
            stream.ticket.close()

    def _count_done(self, lane: Lane, characters: int, samples: int) -> None:
        self._metrics.characters.labels(voice=lane.name).inc(characters)
        self._metrics.audio_seconds.labels(voice=lane.name).inc(samples / lane.voice.sample_rate)

    def _default_voice(self) -> str:
        wanted = self._config.default_voice
        if wanted is not None:
            if wanted not in self._names:
                raise UnknownVoice(f"default voice {wanted!r} is not loaded; loaded: {', '.join(self._names)}")
            return wanted
        return next(iter(self._lanes))


def _route_table(lanes: dict[str, Lane]) -> dict[str, tuple[Lane, str | None]]:
    names: dict[str, tuple[Lane, str | None]] = {}
    for lane in lanes.values():
        names[lane.name] = (lane, None)
        for speaker in lane.voice.info.speakers:
            names.setdefault(speaker, (lane, speaker))
    return names


def _with_speaker(controls: Controls, speaker: str) -> Controls:
    return replace(controls, speaker=speaker)


def _is_markup(request: SynthesisRequest) -> bool:
    if request.input_type == "text":
        return False
    from ttsd.text.ssml import is_ssml

    return request.input_type == "ssml" or is_ssml(request.text)


def _parse(request: SynthesisRequest, voices: Sequence[str], *, max_chars: int) -> str | Sequence[Segment]:
    """Plain text as it is; SSML (explicit, or ``auto`` and starting with ``<speak``) parsed to segments, whose
    spoken text is held to ``max_chars`` (the markup itself may be :data:`MARKUP_ALLOWANCE` times longer)."""
    if not _is_markup(request):
        return request.text
    from ttsd.text.ssml import parse_ssml

    return parse_ssml(request.text, max_chars=max_chars, voices=voices)


@dataclass(frozen=True, slots=True)
class _Stream:
    """What an encoded stream must release when it ends, however it ends."""

    job: Job
    ticket: Ticket
    lane: Lane
    request: SynthesisRequest
