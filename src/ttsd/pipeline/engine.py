"""TTSEngine: the one object the API talks to. It owns every serving decision:

* lifecycle (:class:`State`: starting -> ready -> draining -> stopped, or failed), read by the probes and
  the CLI;
* admission, in one place and before any work: the request's plan (:func:`ttsd.pipeline.plan.plan_request`:
  length, deadline, voice, controls, cost), then its family lane's budget (:mod:`ttsd.pipeline.admission`),
  the one point where work is refused;
* voice routing: every loaded family has its own lane (:mod:`ttsd.pipeline.lane`); the voice table
  (:class:`ttsd.pipeline.plan.VoiceTable`) maps a request's ``voice`` to a family and a speaker, OpenAI voice
  names to the configured default;
* the pipeline (:mod:`ttsd.pipeline.job`: front-end stage -> per-sentence step -> cache -> batcher), joining and
  timing (:mod:`ttsd.pipeline.timeline`), and the output stage (:mod:`ttsd.pipeline.output`): routes get
  encoded bytes back.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ttsd.audio import AudioSpec
from ttsd.config import BatchConfig
from ttsd.errors import ShuttingDown
from ttsd.metrics import Metrics
from ttsd.pipeline.admission import AdmissionConfig, Ticket
from ttsd.pipeline.cache import SentenceCache, SharedTier
from ttsd.pipeline.drain import finish_admitted
from ttsd.pipeline.job import Job, Stages
from ttsd.pipeline.lane import Lane, LoadedVoice
from ttsd.pipeline.output import ChunkEncoder, check_response_size, encode_whole
from ttsd.pipeline.plan import AUDIO_S_PER_CHAR, RequestPlan, VoiceTable, is_markup, plan_request, read_script
from ttsd.pipeline.request import (
    AudioChunk,
    EncodedChunk,
    EncodedSpeech,
    SpeechStream,
    SynthesisRequest,
    SynthesisResult,
)
from ttsd.pipeline.session import Session, SessionConfig, SessionParts
from ttsd.pipeline.timeline import Timeline
from ttsd.subtitles import Timestamp
from ttsd.text.types import Frontend
from ttsd.voices.base import FloatArray, VoiceInfo

log = logging.getLogger(__name__)


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
    cache_url: str | None = None  # a shared second tier of the sentence cache (redis://...)
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
    workers_ok: bool = True  # every family has at least one live model worker

    @property
    def ready(self) -> bool:
        return self.state is State.READY and self.workers_ok


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
        self._cache = SentenceCache(max_bytes=config.cache_bytes, metrics=metrics, shared=_shared_cache(config))
        self._pool = ThreadPoolExecutor(max_workers=config.frontend_workers, thread_name_prefix="ttsd-frontend")
        self._lanes: dict[str, Lane] = {}
        self._table = VoiceTable([])
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
            self._table = VoiceTable([lane.voice for lane in self._lanes.values()], default=self._config.default_voice)
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
            log.info("ready: voices %s (default %s)", ", ".join(self._lanes), self._table.default)

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
        """Refuse new requests, let every admitted one run to its end (:mod:`ttsd.pipeline.drain`) within
        ``timeout_s`` (default: the configured drain timeout), then stop the lanes and the front-end pool.
        Idempotent."""
        if self.state is State.STOPPED or self._drained:
            return
        self._drained = True
        self.stop_accepting()
        timeout = self._config.drain_timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await finish_admitted([lane.admission for lane in self._lanes.values()], deadline=deadline)
        left = max(0.0, deadline - loop.time())
        await asyncio.gather(*(lane.drain(left) for lane in self._lanes.values()))
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
            workers_ok=all(lane.executor.capacity > 0 for lane in lanes),
        )

    # -- introspection -----------------------------------------------------------------------------------------

    @property
    def config(self) -> EngineConfig:
        return self._config

    @property
    def default_voice(self) -> str:
        return self._table.default

    def voices(self) -> list[VoiceInfo]:
        """The loaded families, the default voice's family first."""
        default = self._table.resolve(None)[0].info.name if self._table.families else ""
        return sorted((lane.voice.info for lane in self._lanes.values()), key=lambda info: info.name != default)

    def voice_names(self) -> list[str]:
        return self._table.names()

    @property
    def queue_depth(self) -> int:
        return sum(lane.batcher.queue_depth for lane in self._lanes.values())

    # -- synthesis ----------------------------------------------------------------------------------------------

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Whole-text synthesis (PCM). Cancelling the awaiting task cancels this request's queued work."""
        return await self._synthesize(*self._admit(request, stream=False))

    async def speak(self, request: SynthesisRequest, spec: AudioSpec) -> EncodedSpeech:
        """:meth:`synthesize`, encoded as ``spec`` asks (the route's one call for a whole response). A text
        whose audio would pass ``max_response_audio_s`` is refused before any work: it is for streaming."""
        plan = self._plan(request, stream=False)
        check_response_size(plan.cost_s, spec, limit_s=self._config.max_response_audio_s)
        result = await self._synthesize(plan, self._admission(plan, request))
        return EncodedSpeech(encoded=await encode_whole(result.audio, result.sample_rate, spec), result=result)

    async def open_stream(self, request: SynthesisRequest, spec: AudioSpec) -> SpeechStream:
        """A stream whose first audio is ready: every error before it is raised here, so a route can still
        answer with an error status; later errors end the body early."""
        plan, ticket = self._admit(request, stream=True)
        run = _Run(job=self._job(plan), ticket=ticket, plan=plan)
        chunks = self._chunks(run)
        try:
            first = await anext(chunks)
        except BaseException:
            run.close()
            raise
        encoder = ChunkEncoder(source_rate=first.sample_rate, spec=spec)
        body = self._encoded(first, chunks, encoder, run)
        return SpeechStream(encoder.media_type, encoder.sample_rate, body, voice=plan.main.family)

    # -- text-in sessions (the session itself: ttsd/pipeline/session.py) ----------------------------------------

    def open_session(self, config: SessionConfig) -> Session:
        """A session that takes text in pieces and speaks each sentence as it completes. It is planned like a
        request (state, voice, controls, before any work) and admitted at zero cost; each chunk of text is priced
        on its ticket when it comes (``Admission.grow``)."""
        request = SynthesisRequest(text="", controls=config.controls, voice=config.voice, input_type="text")
        plan = self._plan(request, stream=True)
        lane = self._lanes[plan.main.family]
        ticket = lane.admission.admit(0.0)
        price = AUDIO_S_PER_CHAR / plan.main.controls.speed
        stages = Stages(table=self._table, lanes=self._lanes, frontend=self._frontend, pool=self._pool,
                        cache=self._cache, tasks=self._tasks, variant=self._config.variant)  # fmt: skip
        parts = SessionParts(
            plan=plan,
            stages=stages,
            lane=lane,
            metrics=self._metrics,
            ticket=ticket,
            grow=lambda chars: lane.admission.grow(ticket, chars * price),
            ready=lambda: self.state is State.READY,
        )
        return Session(config=config, parts=parts)

    # -- internals ---------------------------------------------------------------------------------------------

    def _admit(self, request: SynthesisRequest, *, stream: bool) -> tuple[RequestPlan, Ticket]:
        plan = self._plan(request, stream=stream)
        return plan, self._admission(plan, request)

    def _plan(self, request: SynthesisRequest, *, stream: bool) -> RequestPlan:
        """The request's plan: every check that needs no text processing, before any work."""
        if self.state is not State.READY:
            raise ShuttingDown(f"the service is {self.state.value}; retry shortly")
        return plan_request(
            request,
            self._table,
            max_text_chars=self._config.max_text_chars,
            timeout_s=self._config.request_timeout_s,
            now=asyncio.get_running_loop().time(),
            stream=stream,
        )

    def _admission(self, plan: RequestPlan, request: SynthesisRequest) -> Ticket:
        """The one back-pressure point: the request's family lane admits its cost, or refuses (503) at once
        (a long-form job's sentence: against the lane's background budget, apart from interactive work)."""
        lane = self._lanes[plan.main.family]
        admission = lane.background_admission if plan.background else lane.admission
        return admission.admit(plan.cost_s, label=request.request_id)

    def check(self, request: SynthesisRequest) -> str:
        """Every check a request would pass before any synthesis, without admitting it: voice, controls and, for
        markup, its length, the SSML parse (spoken text held to ``max_text_chars``) and its ``<voice>`` names.
        Returns the family. Long-form jobs call it at submission (their plain text has a length limit of its
        own), so a job never fails late for a reason known at once. Thread-safe (it reads the voice table)."""
        limit = self._config.max_text_chars if is_markup(request) else None
        plan = plan_request(request, self._table, max_text_chars=limit)
        read_script(plan, self._table)
        return plan.main.family

    def resolve(self, name: str | None) -> tuple[Lane, str | None]:
        """A voice name -> (lane, speaker). Blends (``a:0.6,b:0.4``) go to the lane of their first voice."""
        voice, speaker = self._table.resolve(name)
        return self._lanes[voice.info.name], speaker

    async def _synthesize(self, plan: RequestPlan, ticket: Ticket) -> SynthesisResult:
        run = _Run(job=self._job(plan), ticket=ticket, plan=plan)
        parts: list[FloatArray] = []
        stamps: list[Timestamp] = []
        try:
            async for chunk in self._chunks(run):
                parts.append(chunk.audio)
                stamps.extend(chunk.timestamps)
        finally:
            run.close()
        audio = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._count_done(plan, len(audio))
        return SynthesisResult(
            audio=audio,
            sample_rate=plan.main.voice.sample_rate,
            sentences=run.job.sentences,
            characters=len(plan.text),
            cached_sentences=run.job.cached,
            timestamps=stamps,
            voice=plan.main.family,
        )

    def _job(self, plan: RequestPlan) -> Job:
        stages = Stages(table=self._table, lanes=self._lanes, frontend=self._frontend, pool=self._pool,
                        cache=self._cache, tasks=self._tasks, variant=self._config.variant)  # fmt: skip
        job = Job(plan=plan, stages=stages)
        job.start()
        return job

    async def _chunks(self, run: _Run) -> AsyncIterator[AudioChunk]:
        """The job's sentences as timed audio chunks at the response's rate, each as soon as its audio is ready."""
        timeline = Timeline(sample_rate=run.plan.main.voice.sample_rate)
        index = 0
        async for item in run.job.pieces():
            assert item.rendered is not None
            prepared = item.prepared
            rate = prepared.voice.sample_rate
            run.ticket.consume(len(item.rendered.waveform) / rate)
            out = timeline.add(prepared.utterance, item.rendered, gain=prepared.gain, rate=rate)
            yield AudioChunk(index=index, audio=out.audio, sample_rate=timeline.sample_rate, timestamps=out.timestamps)
            index += 1

    async def _encoded(
        self, first: AudioChunk, rest: AsyncIterator[AudioChunk], encoder: ChunkEncoder, run: _Run
    ) -> AsyncGenerator[EncodedChunk, None]:
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
            self._count_done(run.plan, samples)
        finally:
            run.close()

    def _count_done(self, plan: RequestPlan, samples: int) -> None:
        family = plan.main.family
        self._metrics.characters.labels(voice=family).inc(len(plan.text))
        self._metrics.audio_seconds.labels(voice=family).inc(samples / plan.main.voice.sample_rate)


def _shared_cache(config: EngineConfig) -> SharedTier | None:
    if not config.cache_url or config.cache_bytes == 0:
        return None
    from ttsd.pipeline.shared_cache import RedisSentenceCache

    return RedisSentenceCache(config.cache_url)


@dataclass(frozen=True, slots=True)
class _Run:
    """One admitted request in progress: its plan, job and ticket; :meth:`close` releases both, however the
    request ends (done, failed, cancelled, a stream's client gone), without awaiting anything."""

    job: Job
    ticket: Ticket
    plan: RequestPlan

    def close(self) -> None:
        self.job.close()
        self.ticket.close()
