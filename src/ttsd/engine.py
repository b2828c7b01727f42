"""TTSEngine: the facade the API talks to.

Wires the voice's front end, the sentence cache, the batcher and an executor:
text -> voice.frontend (front-end thread) -> per-sentence cache lookup -> batcher items -> executor (model
thread) -> sentences joined in order with their pauses (or yielded one by one when streaming).

Every sentence of a request is its own batch item, so the sentences of a long text are batched with everyone
else's and a short request is never stuck behind a long one. Nothing here blocks the event loop: the front end
(text normalization can take milliseconds) runs on a small thread pool of its own, never on the model thread,
so health checks stay fast while a batch runs. Only texts of at most ``INLINE_FRONTEND_CHARS`` characters are
processed inline: they take well under a millisecond once the voice is warm, less than the thread hop costs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from ttsd import __version__
from ttsd.cache import CacheKey, SentenceCache, cache_key
from ttsd.config import BatchConfig, Settings
from ttsd.errors import (
    BackendUnavailable,
    DeadlineExceeded,
    InvalidControl,
    ShuttingDown,
    TextError,
    TextTooLong,
)
from ttsd.metrics import Metrics
from ttsd.precision import auto_precision
from ttsd.serving.batcher import Batcher, WaveFuture
from ttsd.serving.executors import Executor, make_executor, select_device
from ttsd.voices.base import BatchItem, Controls, FloatArray, Utterance, Voice, VoiceInfo
from ttsd.voices.registry import load_voice

log = logging.getLogger(__name__)

INLINE_FRONTEND_CHARS = 24


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    """One request as the engine sees it (already validated by the API's schemas).

    ``timeout_s``: per-request deadline, at most the server's ``request_timeout_s`` (None = that default).
    """

    text: str
    controls: Controls = field(default_factory=Controls)
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    """Float32 mono PCM at ``sample_rate`` (the voice's own rate), sentences joined with their pauses."""

    audio: FloatArray
    sample_rate: int
    sentences: int
    characters: int
    cached_sentences: int

    @property
    def duration_s(self) -> float:
        return float(len(self.audio)) / self.sample_rate


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One sentence of a streamed request, in order (``index`` from 0); ``last`` marks the final chunk.

    ``audio`` includes the pause after the sentence (none after the last one), so the chunks of a stream
    concatenate to exactly the audio :meth:`TTSEngine.synthesize` returns for the same request.
    """

    index: int
    audio: FloatArray
    sample_rate: int
    last: bool


@dataclass(frozen=True, slots=True)
class Health:
    ready: bool
    draining: bool
    queue_depth: int
    device: str
    executor: str


@dataclass(slots=True, eq=False)
class _Piece:
    """One sentence of a request: cached audio, or the future of its batch item."""

    utterance: Utterance
    key: CacheKey
    audio: FloatArray | None = None
    future: WaveFuture | None = None


@dataclass(slots=True, eq=False)
class _Job:
    pieces: list[_Piece]
    cached: int

    def release(self) -> None:
        """Cancel what is still queued (the batcher drops it) and mark finished futures' errors as seen."""
        for piece in self.pieces:
            future = piece.future
            if future is None:
                continue
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()


class TTSEngine:
    """Synthesis service for one loaded voice. Use from one event loop; call :meth:`start` first."""

    def __init__(
        self,
        *,
        voice: Voice,
        executor: Executor,
        batch_config: BatchConfig,
        metrics: Metrics,
        cache_bytes: int = 0,
        request_timeout_s: float = 60.0,
        max_text_chars: int = 5000,
        warmup: bool = True,
        variant: str = "",
        device_reason: str = "",
        frontend_threads: int = 1,
    ) -> None:
        """``variant`` (e.g. the inference mode) is part of cache keys; ``device_reason`` is informational."""
        if not voice.info.batchable:
            batch_config = replace(batch_config, max_batch_size=1)
        self._voice = voice
        self._executor = executor
        self._metrics = metrics
        self._request_timeout_s = request_timeout_s
        self._max_text_chars = max_text_chars
        self._warmup = warmup
        self._variant = variant
        self._device_reason = device_reason
        self._cache = SentenceCache(max_bytes=cache_bytes, metrics=metrics)
        self._batcher = Batcher(
            executor=executor,
            config=batch_config,
            metrics=metrics,
            estimate_frames=voice.estimate_frames,
            sample_rate=voice.sample_rate,
        )
        self._frontend_pool = ThreadPoolExecutor(max_workers=frontend_threads, thread_name_prefix="ttsd-frontend")
        self._ready = False
        self._draining = False

    # -- introspection -----------------------------------------------------------------------------

    @property
    def info(self) -> VoiceInfo:
        return self._voice.info

    def voices(self) -> list[VoiceInfo]:
        """The voices this engine serves (one per process today)."""
        return [self._voice.info]

    @property
    def batch_config(self) -> BatchConfig:
        return self._batcher.config

    @property
    def request_timeout_s(self) -> float:
        return self._request_timeout_s

    @property
    def max_text_chars(self) -> int:
        return self._max_text_chars

    @property
    def device_reason(self) -> str:
        return self._device_reason

    @property
    def queue_depth(self) -> int:
        return self._batcher.queue_depth

    def health(self) -> Health:
        return Health(
            ready=self._ready and not self._draining,
            draining=self._draining,
            queue_depth=self._batcher.queue_depth,
            device=self._executor.device,
            executor=self._executor.name,
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the batcher loop and warm the voice up; after it returns, ``health().ready`` is True."""
        if self._ready:
            return
        await self._batcher.start()
        if self._warmup:
            await self._executor.call(self._voice.warmup)
        self._ready = True

    async def drain(self, timeout_s: float) -> None:
        """Refuse new work (ShuttingDown), finish what is queued or in flight within ``timeout_s``, stop."""
        self._draining = True
        await self._batcher.drain(timeout_s)
        self._frontend_pool.shutdown(wait=False, cancel_futures=True)
        self._executor.close(wait=False)

    # -- synthesis ---------------------------------------------------------------------------------

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Whole-text synthesis. Raises TextError, TextTooLong, QueueFull, DeadlineExceeded, ShuttingDown,
        BackendError. Cancelling the awaiting task cancels this request's queued items."""
        self._check_admission(request)
        job = await self._prepare(request)
        try:
            chunks = [await self._piece_audio(job, i) for i in range(len(job.pieces))]
        finally:
            job.release()
        audio = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        self._count_done(len(request.text), len(audio))
        return SynthesisResult(
            audio=audio,
            sample_rate=self._voice.sample_rate,
            sentences=len(job.pieces),
            characters=len(request.text),
            cached_sentences=job.cached,
        )

    def stream(self, request: SynthesisRequest) -> AsyncGenerator[AudioChunk, None]:
        """Sentence-by-sentence synthesis; each chunk is yielded as soon as it and all before it are ready.

        ShuttingDown and TextTooLong are raised by this call itself; TextError, QueueFull and
        DeadlineExceeded by the first ``anext()``, before any chunk (so a caller can await the first chunk
        before committing to a response status). Closing the generator early (``aclose()``, or the consumer
        task being cancelled) cancels this request's queued sentences.
        """
        self._check_admission(request)
        return self._stream(request)

    async def _stream(self, request: SynthesisRequest) -> AsyncGenerator[AudioChunk, None]:
        job = await self._prepare(request, stream=True)
        samples = 0
        try:
            for i in range(len(job.pieces)):
                audio = await self._piece_audio(job, i)
                samples += len(audio)
                last = i == len(job.pieces) - 1
                yield AudioChunk(index=i, audio=audio, sample_rate=self._voice.sample_rate, last=last)
        finally:
            job.release()
        self._count_done(len(request.text), samples)

    # -- internals ---------------------------------------------------------------------------------

    def _check_admission(self, request: SynthesisRequest) -> None:
        if self._draining:
            raise ShuttingDown("the service is shutting down")
        if not self._ready:
            raise ShuttingDown("the service is not ready yet")
        length = len(request.text)
        if length > self._max_text_chars:
            raise TextTooLong(
                f"text is {length} characters long; the limit is {self._max_text_chars}",
                limit=self._max_text_chars,
                length=length,
            )
        if request.timeout_s is not None and not request.timeout_s > 0:
            raise InvalidControl("timeout must be a positive number of seconds", param="timeout")

    async def _prepare(self, request: SynthesisRequest, *, stream: bool = False) -> _Job:
        """Front end, cache lookups and submission of the uncached sentences (all or nothing).

        When streaming, the first uncached sentence is submitted urgent: the client's first audio waits for
        it alone, so it must not wait for (or be batched with) the request's other sentences.
        """
        loop = asyncio.get_running_loop()
        timeout_s = min(request.timeout_s or self._request_timeout_s, self._request_timeout_s)
        deadline = loop.time() + timeout_s
        if len(request.text) <= INLINE_FRONTEND_CHARS:
            utterances = self._voice.frontend(request.text)
        else:
            utterances = await loop.run_in_executor(self._frontend_pool, self._voice.frontend, request.text)
        if not utterances:
            raise TextError("the text contains nothing to synthesize")
        if loop.time() >= deadline:
            self._metrics.rejected.labels(reason="timeout").inc()
            raise DeadlineExceeded("the request's deadline passed during text processing")
        job = self._lookup(utterances, request.controls)
        self._submit(job, request.controls, deadline, urgent_head=stream)
        return job

    def _lookup(self, utterances: Sequence[Utterance], controls: Controls) -> _Job:
        pieces: list[_Piece] = []
        cached = 0
        for utterance in utterances:
            key = cache_key(self._voice.info, utterance, controls, variant=self._variant)
            audio = self._cache.get(key)
            cached += audio is not None
            pieces.append(_Piece(utterance=utterance, key=key, audio=audio))
        return _Job(pieces=pieces, cached=cached)

    def _submit(self, job: _Job, controls: Controls, deadline: float, *, urgent_head: bool) -> None:
        # A sentence repeated within one request is synthesized once and shared.
        todo: dict[CacheKey, list[_Piece]] = {}
        for piece in job.pieces:
            if piece.audio is None:
                todo.setdefault(piece.key, []).append(piece)
        max_queue = self._batcher.config.max_queue
        if len(todo) > max_queue:
            raise TextTooLong(
                f"text splits into {len(todo)} sentences; this server queues at most {max_queue}",
                limit=max_queue,
                length=len(todo),
            )
        items = [BatchItem(utterance=group[0].utterance, controls=controls) for group in todo.values()]
        futures = self._batcher.submit(items, deadline=deadline, urgent=1 if urgent_head else 0)
        for group, future in zip(todo.values(), futures, strict=True):
            for piece in group:
                piece.future = future

    async def _piece_audio(self, job: _Job, index: int) -> FloatArray:
        """Sentence ``index``'s audio followed by its pause (none after the last sentence); a fresh array."""
        piece = job.pieces[index]
        if piece.audio is None:
            assert piece.future is not None  # set by _submit for every uncached piece
            piece.audio = await piece.future
            self._cache.put(piece.key, piece.audio)
        last = index == len(job.pieces) - 1
        pause = 0 if last else round(piece.utterance.pause_after_s * self._voice.sample_rate)
        return np.concatenate([piece.audio, np.zeros(pause, dtype=np.float32)])

    def _count_done(self, characters: int, samples: int) -> None:
        name = self._voice.info.name
        self._metrics.characters.labels(voice=name).inc(characters)
        self._metrics.audio_seconds.labels(voice=name).inc(samples / self._voice.sample_rate)


def resolve_precision(
    requested: str, device: str, *, mode: str = "fast", bf16_supported: Callable[[], bool] | None = None
) -> str:
    """``auto`` -> :func:`ttsd.precision.auto_precision` (fp16 on CUDA; mixed on a CPU with bf16 fast paths,
    else fp32; fp32 in exact mode). fp16 on CPU is refused (slow or missing CPU kernels). ``bf16_supported``
    replaces the CPU capability check (tests)."""
    on_cuda = device.startswith("cuda")
    if requested == "auto":
        return auto_precision(device, mode=mode, bf16_supported=bf16_supported)
    if requested == "fp16" and not on_cuda:
        raise BackendUnavailable("precision fp16 needs a CUDA device; use fp32, mixed or bf16 on CPU")
    return requested


async def build_engine(settings: Settings, metrics: Metrics) -> TTSEngine:
    """Resolve device and precision, load the voice off the event loop, build an engine (not started)."""
    device, reason = await asyncio.to_thread(select_device, settings.device)
    log.info("device %s: %s", device, reason)
    precision = resolve_precision(settings.precision, device, mode=settings.mode)
    extra = settings.voice_extra()
    load = partial(
        load_voice,
        settings.voice,
        device,
        precision,
        settings.mode,
        model_dir=settings.model_dir,
        lexicon=settings.lexicon,
        max_phonemes=settings.max_phonemes,
        threads=settings.threads,
        **extra,
    )
    voice = await asyncio.to_thread(load)
    executor = make_executor(device, voice)
    metrics.set_build_info(
        version=__version__, voice=voice.info.name, device=device, precision=precision, executor=executor.name
    )
    log.info("voice %s loaded (%s, %s, executor %s)", voice.info.name, device, precision, executor.name)
    return engine_from_settings(settings, metrics, voice=voice, executor=executor, device_reason=reason)


def engine_from_settings(
    settings: Settings, metrics: Metrics, *, voice: Voice, executor: Executor, device_reason: str = ""
) -> TTSEngine:
    """An engine (not started) for an already loaded voice and its executor, configured from ``settings``."""
    return TTSEngine(
        voice=voice,
        executor=executor,
        batch_config=settings.batch_config(),
        metrics=metrics,
        cache_bytes=settings.cache_bytes,
        request_timeout_s=settings.request_timeout_s,
        max_text_chars=settings.max_text_chars,
        warmup=settings.warmup,
        variant=settings.mode,
        device_reason=device_reason,
    )
