"""``POST /tts`` and ``POST /v1/audio/speech``: parse, await one engine call, encode, map errors.

Both routes share one path: body -> (SynthesisRequest, AudioSpec) -> engine.synthesize (whole) or
engine.stream (sentence by sentence, chunked). While the engine works, a watcher task listens for the client's
disconnect and cancels the request task, which cancels the engine call and so the request's queued items.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ttsd.api.deps import EngineDep, StateDep
from ttsd.api.middleware import START_KEY
from ttsd.api.schemas import (
    OPENAI_MODELS,
    OPENAI_VOICES,
    AudioJSON,
    ControlFields,
    SpeechRequest,
    TTSRequest,
    error_responses,
)
from ttsd.audio import AudioSpec, EncodedAudio, StreamEncoder, encode
from ttsd.engine import AudioChunk, SynthesisRequest, TTSEngine
from ttsd.errors import Cancelled, InvalidControl, UnknownVoice
from ttsd.metrics import Metrics
from ttsd.voices.base import Controls, FloatArray, VoiceInfo

router = APIRouter(tags=["speech"])

AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "audio/wav": {},
            "audio/mpeg": {},
            "audio/ogg": {},
            "audio/aac": {},
            "audio/flac": {},
            "audio/pcm": {},
        },
        "description": "The audio file (or a JSON body for encoding=base64).",
    },
    **error_responses(
        {
            400: "Malformed JSON",
            401: "Missing or wrong API key",
            413: "Text too long",
            422: "Invalid parameter or text",
            503: "Queue full or shutting down (Retry-After)",
            504: "Deadline passed",
        }
    ),
}


@router.post("/tts", responses=AUDIO_RESPONSES, summary="Synthesize speech (original ttsd endpoint)")
async def tts(body: TTSRequest, request: Request, engine: EngineDep, state: StateDep) -> Response:
    """Mandarin text in, ``audio/wav`` out (or another ``format``; ``encoding=base64`` for a JSON body)."""
    if body.stream and body.encoding == "base64":
        raise InvalidControl("stream cannot be combined with encoding=base64", param="encoding")
    job = _prepare(body, body.text, body.voice, body.format, engine.info)
    if body.stream:
        return await _stream(request, engine, job, "/tts", state.metrics)
    if body.encoding == "base64":
        return await _synthesize_json(request, engine, job, "/tts", state.metrics)
    return await _synthesize(request, engine, job, "/tts", state.metrics)


@router.post("/v1/audio/speech", responses=AUDIO_RESPONSES, summary="OpenAI-compatible speech synthesis")
async def speech(body: SpeechRequest, request: Request, engine: EngineDep, state: StateDep) -> Response:
    """Works with OpenAI clients: ``model`` (tts-1, tts-1-hd, ttsd), ``input``, ``voice`` (OpenAI voice names
    map to the default voice), ``response_format``, ``speed``; plus ``stream`` and ttsd's controls."""
    _check_model(engine.info, body.model)
    job = _prepare(body, body.input, body.voice, body.response_format, engine.info)
    route = "/v1/audio/speech"
    if body.stream:
        return await _stream(request, engine, job, route, state.metrics)
    return await _synthesize(request, engine, job, route, state.metrics)


@dataclass(frozen=True, slots=True)
class _Job:
    """A validated request: what to ask the engine and how to encode its answer."""

    request: SynthesisRequest
    spec: AudioSpec


def _prepare(body: ControlFields, text: str, voice: str | None, fmt: str, info: VoiceInfo) -> _Job:
    if body.emotion is not None and body.emotion not in info.emotions:
        raise InvalidControl(f"unknown emotion {body.emotion!r} for voice {info.name!r}", param="emotion")
    controls = Controls(
        speed=body.speed,
        pitch=body.pitch,
        intonation=body.intonation,
        energy=body.energy,
        variation=body.variation,
        seed=body.seed,
        speaker=_speaker(info, voice),
        emotion=body.emotion,
    )
    spec = AudioSpec(format=fmt, sample_rate=body.sample_rate, volume=body.volume)
    return _Job(SynthesisRequest(text=text, controls=controls, timeout_s=body.timeout_s), spec)


def _speaker(info: VoiceInfo, voice: str | None) -> str | None:
    """Voice name -> the backend speaker (None = default). OpenAI voice names mean the default voice."""
    if voice is None or voice in ("", "default", info.name) or voice.lower() in OPENAI_VOICES:
        return None
    if voice in info.speakers:
        return voice
    names = ", ".join([info.name, *info.speakers])
    raise UnknownVoice(f"unknown voice {voice!r}; available: {names} (or an OpenAI voice name)")


def _check_model(info: VoiceInfo, model: str) -> None:
    accepted = {*OPENAI_MODELS, "ttsd", info.name, f"ttsd-{info.name}"}
    if model not in accepted:
        raise InvalidControl(f"unknown model {model!r}; use one of {', '.join(sorted(accepted))}", param="model")


@contextlib.asynccontextmanager
async def _cancel_on_disconnect(request: Request) -> AsyncIterator[None]:
    """Run the body; if the client disconnects meanwhile, cancel it and raise :class:`Cancelled`.

    The request body is already read, so the next ASGI message can only be ``http.disconnect``. Everything
    runs on one event loop, so the watcher can only fire while the body is suspended inside this block.
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.create_task(watch(), name="ttsd-disconnect-watch")
    try:
        yield
    except asyncio.CancelledError:
        if gone and task.uncancel() == 0:
            raise Cancelled("the client disconnected") from None
        raise
    finally:
        watcher.cancel()


def _started(request: Request) -> float:
    start = request.scope.get("state", {}).get(START_KEY)
    return float(start) if start is not None else time.perf_counter()


def _audio_headers(fmt: str, **extra: object) -> dict[str, str]:
    headers = {f"X-{k.replace('_', '-').title()}": str(v) for k, v in extra.items()}
    headers["Content-Disposition"] = f'inline; filename="speech.{"wav" if fmt == "ulaw" else fmt}"'
    return headers


# Encoding up to this many samples as wav/pcm at the voice's own rate is a copy and an int16 cast (well under a
# millisecond): done inline, where a worker-thread hop would cost more. Anything else runs off the event loop.
INLINE_ENCODE_SAMPLES = 24_000 * 10


async def _encode(audio: FloatArray, sample_rate: int, spec: AudioSpec) -> EncodedAudio:
    cheap = spec.format in ("wav", "pcm") and spec.sample_rate in (None, sample_rate)
    if cheap and len(audio) <= INLINE_ENCODE_SAMPLES:
        return encode(audio, sample_rate, spec)
    return await run_in_threadpool(encode, audio, sample_rate, spec)


async def _synthesize(request: Request, engine: TTSEngine, job: _Job, route: str, metrics: Metrics) -> Response:
    async with _cancel_on_disconnect(request):
        result = await engine.synthesize(job.request)
        encoded = await _encode(result.audio, result.sample_rate, job.spec)
    elapsed = time.perf_counter() - _started(request)
    metrics.time_to_first_audio.labels(route=route).observe(elapsed)
    headers = _audio_headers(
        job.spec.format,
        audio_duration=f"{encoded.duration_s:.3f}",
        sample_rate=encoded.sample_rate,
        sentences=result.sentences,
        cached_sentences=result.cached_sentences,
        processing_time=f"{elapsed:.3f}",
    )
    return Response(content=encoded.data, media_type=encoded.media_type, headers=headers)


async def _synthesize_json(
    request: Request, engine: TTSEngine, job: _Job, route: str, metrics: Metrics
) -> JSONResponse:
    async with _cancel_on_disconnect(request):
        result = await engine.synthesize(job.request)
        encoded = await _encode(result.audio, result.sample_rate, job.spec)
    metrics.time_to_first_audio.labels(route=route).observe(time.perf_counter() - _started(request))
    body = AudioJSON(
        audio=base64.b64encode(encoded.data).decode("ascii"),
        format=encoded.format,
        media_type=encoded.media_type,
        sample_rate=encoded.sample_rate,
        duration_s=round(encoded.duration_s, 4),
        sentences=result.sentences,
        characters=result.characters,
    )
    return JSONResponse(body.model_dump())


async def _stream(request: Request, engine: TTSEngine, job: _Job, route: str, metrics: Metrics) -> Response:
    """Wait for the first sentence (errors up to here are ordinary HTTP errors), then stream the rest."""
    chunks = aiter(engine.stream(job.request))
    try:
        async with _cancel_on_disconnect(request):
            first = await anext(chunks)
    except BaseException:
        await _aclose(chunks)
        raise
    encoder = StreamEncoder(source_rate=first.sample_rate, spec=job.spec)
    started = _started(request)

    def on_first_bytes() -> None:
        metrics.time_to_first_audio.labels(route=route).observe(time.perf_counter() - started)

    headers = _audio_headers(job.spec.format, sample_rate=encoder.sample_rate)
    body = _stream_body(first, chunks, encoder, on_first_bytes)
    return StreamingResponse(body, media_type=encoder.media_type, headers=headers)


async def _stream_body(
    first: AudioChunk, rest: AsyncIterator[AudioChunk], encoder: StreamEncoder, on_first: Callable[[], None]
) -> AsyncIterator[bytes]:
    """Encoded audio as each sentence arrives. If the client leaves, Starlette cancels this generator and the
    engine stream is closed, which drops the request's remaining queued sentences."""
    first_sent = False
    try:
        pending: AudioChunk | None = first
        while pending is not None:
            data = await run_in_threadpool(encoder.feed, pending.audio)
            if data:
                if not first_sent:
                    first_sent = True
                    on_first()
                yield data
            # Exhaust the engine's stream even after ``last``: it finishes its bookkeeping (metrics) then.
            pending = await anext(rest, None)
        tail = encoder.close()
        if tail:
            yield tail
    finally:
        await _aclose(rest)


async def _aclose(iterator: AsyncIterator[AudioChunk]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
